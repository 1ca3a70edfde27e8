"""Delivery channels behind one interface: ``with adapter: adapter.send(delivery)``.

``base`` holds the interface and the failure taxonomy; ``smtp``, ``sms``,
``print_batch`` and ``portal`` the adapters. Import the adapter module you need
(httpx and pypdf load only with their channel).
"""

from missiva.channels.base import (
    ChannelAdapter,
    ChannelConfigurationError,
    Delivery,
    DeliveryError,
    PermanentFailure,
    RetryPolicy,
    SendResult,
    TransientFailure,
)

__all__ = [
    "ChannelAdapter",
    "ChannelConfigurationError",
    "Delivery",
    "DeliveryError",
    "PermanentFailure",
    "RetryPolicy",
    "SendResult",
    "TransientFailure",
]
