"""Portal indexes chained in the ledger (:mod:`missiva.records.work_files`): the revision
each delivery wrote decides which recorded hash the index must have, whatever order the
deliveries' events were recorded in."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_fixtures import T0, cid, fields

from missiva.channels.base import Delivery
from missiva.channels.portal import PortalInbox
from missiva.records import work_files
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore
from missiva.records.workspace import LocalWorkspace


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", key="work-files-test-key") as ledger:
        yield ledger


def deliver(ledger: Ledger, inbox: PortalInbox, n: int, customer: str) -> dict:
    """Customer ``customer``'s document ``n`` put in the inbox; the note its send left."""
    ledger.add(**fields(n, channel="portal", recipient=customer, customer_id=customer))
    meta = {"customer_id": customer, "title": f"Document {n}"}
    delivery = Delivery(cid(n), f"k{n}", customer, f"doc {n}".encode(), "a/b", meta)
    result = inbox.send(delivery)
    return dict(result.note)


def sent(ledger: Ledger, n: int, note: dict) -> None:
    ledger.transition(cid(n), "composed", "sending", task_id="deliver")
    ledger.transition(cid(n), "sending", "sent", note=note, provider_message_id="p", sent_at=T0)


def test_the_highest_recorded_revision_is_the_index_whatever_the_event_order(
    ledger: Ledger, tmp_path: Path
) -> None:
    store, portal = LocalArtifactStore(tmp_path / "archive"), LocalWorkspace(tmp_path / "portal")
    printed = LocalWorkspace(tmp_path / "print")
    inbox = PortalInbox(
        lambda data, kind, _customer: store.put(data, content_type=kind).uri, portal
    )
    first, second = deliver(ledger, inbox, 1, "C1"), deliver(ledger, inbox, 2, "C1")
    assert (first["portal_index_revision"], second["portal_index_revision"]) == (1, 2)
    sent(ledger, 2, second)  # the second writer recorded its send first
    sent(ledger, 1, first)

    checked = work_files.problems(ledger, printed, portal, after=None)
    assert (checked.problems, checked.indexes, checked.unrecorded) == ([], 1, [])

    # another customer's index no event records: listed apart, not a problem
    (tmp_path / "portal" / "C9.json").write_text('{"documents": []}')
    checked = work_files.problems(ledger, printed, portal, after=None)
    assert checked.problems == []
    assert checked.unrecorded == [f"portal index {tmp_path / 'portal' / 'C9.json'}"]

    # the index rolled back to its first revision (the second document removed)
    index = tmp_path / "portal" / "C1.json"
    index.write_text(index.read_text().replace('"revision": 2', '"revision": 1'))
    (problem,) = work_files.problems(ledger, printed, portal, after=None).problems
    assert problem.startswith(f"portal index {index}: differs from revision 2 recorded in event ")
    # an incremental check sees it too when its events are new
    (problem,) = work_files.problems(ledger, printed, portal, after=0).problems
    assert "differs from revision 2" in problem
    assert work_files.problems(ledger, printed, portal, after=10_000).problems == []
