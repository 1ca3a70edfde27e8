"""Leases on sends: who is sending a communication, until when, and whether that sender
is dead (so that recovery never acts on a live send).

A sender takes the lease when it marks a communication ``sending`` and renews it at each
stage. It is dead when its lease has expired, or when it ran on this host as a process
that no longer exists (a killed worker is recovered at once, without waiting out the
lease) or as this very process (a task process runs one task at a time: that attempt
has ended). A ``sending`` row without a lease (recorded before leases existed) is a
dead sender's.
"""

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from missiva.records.send_progress import HANDED_OVER, Progress, SendProgress
from missiva.run_context import RunContext

if TYPE_CHECKING:
    from missiva.records.ledger import Ledger

#: how long a send may take before another worker may take it over (SMTP: a few
#: timeouts of 30 s at most); renewed at each stage
LEASE = timedelta(minutes=10)


def owner(run: RunContext) -> str:
    """``host:pid:dag/run/task#try``: the process sending, and the task it sends for."""
    task = f"{run.dag_id}/{run.run_id}/{run.task_id}#{run.try_number}"
    return f"{socket.gethostname()}:{os.getpid()}:{task}"


def lease(holder: str, stage: str, now: datetime) -> Progress:
    return Progress(stage, holder, now + LEASE)


def _process_gone(holder: str) -> bool:
    """The holder ran on this host as a process that no longer exists, or as this one
    (which recovers before it sends: that attempt is over)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


def dead(progress: SendProgress | None, now: datetime) -> bool:
    """Whether the sender holding this send is gone (see the module's docstring)."""
    if progress is None or progress.owner is None or progress.lease_until is None:
        return True
    return progress.lease_until <= now or _process_gone(progress.owner)


class SendStage:
    """One send's lease and stage: the adapter reports the hand-over through it."""

    def __init__(
        self, ledger: "Ledger", owner: str, now: Callable[[], datetime], communication_id: str
    ) -> None:
        self.ledger, self.owner, self.now = ledger, owner, now
        self.communication_id = communication_id
        self.handed_over = False

    def lease(self, stage: str) -> Progress:
        return lease(self.owner, stage, self.now())

    def handing_over(self) -> None:
        """Recorded before the data leaves (:class:`LeaseLost` if no longer ours)."""
        self.ledger.advance(self.communication_id, self.lease(HANDED_OVER))
        self.handed_over = True
