"""The one interface every delivery channel implements, and its failure taxonomy.

A ``ChannelAdapter`` is a context manager (it opens its connection once per batch)
with a single ``send(delivery) -> SendResult``. Failures are split by what the caller
must do next:

- ``PermanentFailure``: this delivery can never succeed on this channel (recipient
  rejected, payload refused). Do not retry; record ``failed`` and route the fallback.
- ``TransientFailure``: it may succeed later (provider overloaded, timeout, connection
  lost). The adapter has already retried within its bounds; the caller leaves the
  communication sendable and lets the task retry. Retrying is safe: every attempt
  carries the same idempotency key.
- ``ChannelConfigurationError``: the channel itself is broken for everyone (bad
  credentials, wrong endpoint). Neither retry each message nor fall back customer by
  customer: fail the task so operations fix the connection.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable


@dataclass(frozen=True)
class Delivery:
    """One communication ready to leave: the archived bytes and where they go."""

    communication_id: str
    idempotency_key: str
    recipient: str
    payload: bytes
    content_type: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the channel answered: the provider's id for the message (for the ledger), and
    what the ``sent`` event should chain besides (e.g. the hash of the portal index the
    delivery wrote)."""

    provider_message_id: str
    note: Mapping[str, Any] = field(default_factory=dict)


def require_metadata(delivery: Delivery, channel: str, *keys: str) -> Mapping[str, Any]:
    """``delivery.metadata``, once it has a value for each of ``keys`` (else ``ValueError``)."""
    meta = delivery.metadata
    missing = [k for k in keys if not meta.get(k)]
    if missing:
        raise ValueError(
            f"{channel} delivery {delivery.communication_id} lacks metadata {', '.join(missing)}"
        )
    return meta


class DeliveryError(Exception):
    """A send did not succeed. ``status`` and ``provider_error`` as the provider said."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider_error: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider_error = provider_error
        self.attempts = attempts


class PermanentFailure(DeliveryError):
    """Never retry this delivery on this channel; use the fallback channel."""


class TransientFailure(DeliveryError):
    """Retry later with the same idempotency key (the adapter's own retries are spent)."""


class ChannelConfigurationError(DeliveryError):
    """The channel is misconfigured for every recipient (credentials, endpoint)."""


@runtime_checkable
class ChannelAdapter(Protocol):
    """``with adapter: adapter.send(delivery)`` — one connection for the whole batch."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, delivery: Delivery) -> SendResult: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    Attempt ``n`` (1-based) failing waits ``base * 2**(n-1)`` capped at ``max_delay``,
    jittered into [half, full] of that, and never less than a server's Retry-After.
    At most ``max_attempts`` attempts, and no wait that would end after ``max_total``
    seconds from the first attempt.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = backoff / 2 + rng.uniform(0, backoff / 2)
        return max(jittered, retry_after or 0.0)
