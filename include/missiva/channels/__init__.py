"""Delivery channels behind one interface: ``with adapter: adapter.send(delivery)``.

``base`` holds the interface and the failure taxonomy; ``registry`` the channel
declarations. ``smtp`` (e-mail), ``sms``, ``paper`` and ``portal`` declare and register
their channel when this package is imported. ``print_batch`` (pypdf) loads only when
the print stage runs.
"""

from missiva.channels import paper, portal, registry, sms, smtp
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
    "paper",
    "portal",
    "registry",
    "sms",
    "smtp",
]
