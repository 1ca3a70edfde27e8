"""How far a send got and who holds it, as the ledger records them: the lease goes in
with ``sending`` (its owner in the chained event), only its holder moves the send on or
ends it, a failure owes its fallback in the same transaction; and whose sender is dead."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ledger_fixtures import fields

from missiva.delivery import leases
from missiva.records.errors import LeaseLost
from missiva.records.ledger import Ledger
from missiva.records.send_progress import (
    BEFORE_DATA,
    FALLBACK_OWED,
    HANDED_OVER,
    Progress,
    SendProgress,
)

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
ONE = fields(1)["communication_id"]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.add(**fields(1, status="composed"))
        yield opened


def test_only_the_lease_holder_moves_a_send_on_or_ends_it(ledger: Ledger) -> None:
    ledger.transition(ONE, "composed", "sending", progress=Progress(BEFORE_DATA, "a", NOW))
    assert json.loads(ledger.events(ONE)[-1].detail)["lease_owner"] == "a"
    with pytest.raises(LeaseLost):
        ledger.advance(ONE, Progress(HANDED_OVER, "b", NOW))
    ledger.advance(ONE, Progress(HANDED_OVER, "a", NOW + timedelta(minutes=1)))
    (row,) = ledger.send_progress([ONE]).values()
    assert (row.stage, row.owner, row.lease_until) == (HANDED_OVER, "a", NOW + timedelta(minutes=1))
    with pytest.raises(LeaseLost):
        ledger.transition(ONE, "sending", "sent", held_by="b")
    assert ledger.get(ONE).status == "sending"
    ledger.transition(ONE, "sending", "review", held_by="a", reason="outcome unknown")
    assert ledger.send_progress([ONE]) == {}, "the send is over"
    assert ledger.verify_chain() == []


def test_a_failure_owes_its_fallback_until_it_is_composed(ledger: Ledger) -> None:
    ledger.transition(ONE, "composed", "sending", progress=Progress(BEFORE_DATA, "a", NOW))
    owed = Progress(FALLBACK_OWED)
    ledger.transition(ONE, "sending", "failed", held_by="a", progress=owed, reason="550")
    (row,) = ledger.send_progress([ONE]).values()
    assert (row.stage, row.owner, row.lease_until) == (FALLBACK_OWED, None, None)
    ledger.fallback_composed(ONE)
    assert ledger.send_progress([ONE]) == {}


def progress(owner: str | None, until: datetime | None) -> SendProgress:
    return SendProgress(communication_id=ONE, stage=BEFORE_DATA, owner=owner, lease_until=until)


def test_a_sender_is_dead_when_its_lease_expired_or_its_process_is_gone() -> None:
    later = NOW + leases.LEASE
    elsewhere = "other-host:1:onboarding/r/deliver#1"
    assert leases.dead(None, NOW), "sending without a lease: recorded before leases"
    assert not leases.dead(progress(elsewhere, later), NOW)
    assert leases.dead(progress(elsewhere, later), later), "expired"
    this_process = f"{socket.gethostname()}:{os.getpid()}:onboarding/r/deliver#1"
    assert leases.dead(progress(this_process, later), NOW), "this process's ended attempt"
    live_here = f"{socket.gethostname()}:1:onboarding/r/deliver#1"  # pid 1 always runs
    assert not leases.dead(progress(live_here, later), NOW)
    assert leases.lease("a", HANDED_OVER, NOW) == Progress(HANDED_OVER, "a", later)
