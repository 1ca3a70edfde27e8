"""Channels fail independently: what one delivery task holds back, and why.

A channel whose adapter cannot open (server down), that is misconfigured, or whose
sends fail transiently :attr:`Holds.limit` times in a row (a provider outage) is held
for the rest of the task: its communications stay ``composed``. A recipient whose
send fails transiently (an SMS number answering 503 forever) holds back only that
communication. Every other channel and recipient of the chunk goes on; at the end
:meth:`Holds.raise_if_any` fails the task with :class:`DeliveryHeld`, naming what was
held, so its retry (or a later run) sends what is left, exactly once.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field

from missiva.channels.base import DeliveryError, TransientFailure
from missiva.records.models import Communication

log = logging.getLogger(__name__)


class DeliveryHeld(TransientFailure):
    """Some communications were held back by a failing channel or recipient; the rest
    went out. Retry the task: it sends only what is still ``composed``."""


@dataclass
class Holds:
    """The channels held during one delivery task and the communications left behind."""

    limit: int = 3
    channels: dict[str, DeliveryError] = field(default_factory=dict)
    held: Counter = field(default_factory=Counter)  # channel -> communications left
    recipients: dict[str, DeliveryError] = field(default_factory=dict)  # id -> last failure
    _streak: Counter = field(default_factory=Counter)

    def holding(self, channel: str) -> bool:
        return channel in self.channels

    def hold_channel(self, comm: Communication, exc: DeliveryError) -> None:
        """``comm``'s channel is down for this task: hold it and everything after it."""
        log.warning("holding back the %s channel: %s", comm.channel, exc)
        self.channels.setdefault(comm.channel, exc)
        self.skip(comm)

    def skip(self, comm: Communication) -> None:
        """``comm`` waits: its channel is held."""
        self.held[comm.channel] += 1

    def failed(self, comm: Communication, exc: DeliveryError) -> None:
        """``comm``'s send failed transiently (it is ``composed`` again)."""
        self._streak[comm.channel] += 1
        if self._streak[comm.channel] >= self.limit:
            self.hold_channel(comm, exc)
        else:
            log.warning("holding back %s: %s", comm.communication_id, exc)
            self.recipients[comm.communication_id] = exc
            self.held[comm.channel] += 1

    def succeeded(self, channel: str) -> None:
        self._streak[channel] = 0

    def summary(self) -> str:
        """What was held and why, one clause per channel and recipient."""
        parts = [
            f"{channel}: {self.held[channel]} held back ({exc})"
            for channel, exc in sorted(self.channels.items())
        ]
        parts += [f"{comm_id}: {exc}" for comm_id, exc in sorted(self.recipients.items())]
        return "; ".join(parts)

    def raise_if_any(self, where: str) -> None:
        """Fail the task with :class:`DeliveryHeld` if anything was held back."""
        if not self.held:
            return
        first = next(iter(self.channels.values()), None) or next(iter(self.recipients.values()))
        raise DeliveryHeld(
            f"{where}: {sum(self.held.values())} communication(s) held back, the rest "
            f"delivered; a retry sends them. {self.summary()}",
            status=first.status,
            provider_error=first.provider_error,
        ) from first
