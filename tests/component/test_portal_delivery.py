"""The portal channel: the document lands in the customer's inbox in the artifact store,
and a notice with the link goes by e-mail (or SMS) once, through a real SMTP server."""

import email
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from email.policy import default as default_policy

import pytest

from missiva.channels.base import TransientFailure
from missiva.channels.portal import PortalInbox
from missiva.channels.registry import notice_channels
from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools.seed import seed
from missiva.journeys import ONBOARDING
from missiva.records import audit
from missiva.records.keys import fallback_key, notice_key
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.records.store import open_store
from missiva.routing.rules import route
from missiva.run_context import RunContext

#: the welcome pack by law in the customer portal: every customer gets it there
PORTAL_ONLY = replace(ONBOARDING, required_channels={"welcome": "portal"})
RUN = RunContext(
    "onboarding", "manual__portal", "t", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip


def _run(composed_run, settings, smtp, sms) -> None:
    for chunk in composed_run(settings, journey=PORTAL_ONLY, run=RUN, chunk_size=50).chunks:
        dispatch.deliver_stage(PORTAL_ONLY, RUN, settings, chunk, lambda: smtp, sms=sms)


def test_portal_document_in_the_inbox_and_one_notice_with_its_link(
    missiva_home, smtp_server_factory, sms_provider, composed_run
):
    settings = missiva_home
    sms, sms_folder = sms_provider
    seed(settings.core_db, customers=20, seed=5, joined_on=date(2026, 11, 2))
    with smtp_server_factory() as server:
        smtp = SmtpSettings(server.host, server.port, timeout=10)
        _run(composed_run, settings, smtp, sms)
        received = list(server.handler.messages)
        texts = sorted(sms_folder.glob("*.json"))
        _run(
            composed_run, settings, smtp, sms
        )  # a re-run: nothing new in the inbox, no second notice
        assert len(server.handler.messages) == len(received)
        assert sorted(sms_folder.glob("*.json")) == texts

    ledger = Ledger(settings.ledger_url)
    store = open_store(settings.archive_url)
    inbox = PortalInbox(store.put, settings.portal_dir, base_url=settings.portal_url)
    documents = [c for c in ledger.communications() if c.channel == "portal"]
    assert documents and all(c.status == "sent" for c in documents)
    mail = {
        m.rcpt_tos[0]: email.message_from_bytes(m.content, policy=default_policy) for m in received
    }
    notified = 0
    texted = {json.loads(p.read_text())["to"]: json.loads(p.read_text())["text"] for p in texts}
    for doc in documents:
        (entry,) = inbox.inbox(doc.customer_id)
        assert entry["communication_id"] == doc.communication_id
        assert store.get(entry["uri"], entry["sha256"]) == store.get(
            doc.artifact_uri, doc.artifact_sha256
        )  # the inbox holds exactly the archived letter
        link = f"{settings.portal_url}/inbox/{doc.customer_id}/{doc.communication_id}"
        assert doc.provider_message_id == entry["link"] == link
        (notice,) = ledger.by_keys([notice_key(doc.idempotency_key)]).values()
        assert notice.communication == "portal_notice"
        if notice.channel == "email":
            assert notice.status == "sent"
            body = mail[notice.recipient].get_body(("plain",)).get_content()
            assert link in body
            assert list(mail[notice.recipient].iter_attachments()) == []
            notified += 1
        elif notice.channel == "sms":
            assert notice.status == "sent" and link in texted[notice.recipient]
        else:  # no consented e-mail/SMS contact: the document still waits in the inbox
            assert notice.status == "suppressed" and notice.reason
    assert notified == len(received) > 0

    summary = summarize(ledger, "onboarding", "manual__portal")
    assert summary.sent_by_channel == {"portal": len(documents)}
    assert summary.accounted == summary.extracted
    assert summary.notices_by_channel()["email: sent"] == notified
    assert summary.notices_by_channel()["sms: sent"] == len(texts) > 0

    # every index is chained with its revision: verify re-hashes it and names one edited
    checked = audit.verify(ledger, store, settings=settings)
    assert checked.problems == [] and checked.files.unrecorded == []
    assert checked.files.indexes == len(documents)
    index = settings.portal_dir / f"{documents[0].customer_id}.json"
    original = index.read_bytes()
    assert json.loads(original)["revision"] == 1  # one write; the re-run rewrote nothing
    index.write_bytes(original.replace(b'"title": "', b'"title": "Not ', 1))
    (problem,) = audit.verify(ledger, store, settings=settings).problems
    assert problem.startswith(f"portal index {index}: differs from revision 1 recorded in event ")
    index.unlink()
    (problem,) = audit.verify(ledger, store, settings=settings).problems
    assert problem.startswith(f"portal index {index}: missing (recorded in event ")


def test_a_refused_notice_falls_back_to_sms_and_a_retry_sends_it_once(
    missiva_home, smtp_server_factory, scripted_sms_provider, composed_run
):
    """The notice's e-mail is refused, its SMS fallback meets a provider outage and the
    task fails; the retry finds that fallback among the run's keys and sends it, once."""
    settings = missiva_home
    composed = composed_run(
        settings, customers=30, seed=5, journey=PORTAL_ONLY, run=RUN, chunk_size=50
    )
    chunks = composed.chunks
    ledger, store = Ledger(settings.ledger_url), open_store(settings.archive_url)

    def notice_by_email_then_sms(doc) -> bool:
        record = json.loads(store.get(doc.input_uri, doc.data_sha256))
        purpose = PORTAL_ONLY.purpose
        return (
            route(record, notice_channels(), purpose).channel == "email"
            and route(record, ("sms",), purpose).channel == "sms"
        )

    documents = [c for c in ledger.communications() if c.channel == "portal"]
    doc = next(c for c in documents if notice_by_email_then_sms(c))
    email_key = notice_key(doc.idempotency_key)
    sms_key = fallback_key(email_key, "sms")
    record = json.loads(store.get(doc.input_uri, doc.data_sha256))
    scripted_sms_provider.status_for[sms_key] = 503  # the provider is down for it
    with smtp_server_factory() as server:
        server.handler.refuse.add(record["email"])
        smtp = SmtpSettings(server.host, server.port, timeout=10)

        def deliver() -> None:
            for chunk in chunks:
                dispatch.deliver_stage(
                    PORTAL_ONLY,
                    RUN,
                    settings,
                    chunk,
                    lambda: smtp,
                    sms=scripted_sms_provider.settings,
                )

        with pytest.raises(TransientFailure):
            deliver()
        (waiting,) = ledger.by_keys([sms_key]).values()
        assert waiting.status == "composed" and waiting.channel == "sms"
        scripted_sms_provider.status_for.clear()  # back up: the task is retried
        deliver()
        deliver()  # and once more: nothing twice

    notices = ledger.by_keys([email_key, sms_key])
    assert notices[email_key].status == "failed" and "550" in notices[email_key].reason
    assert notices[sms_key].status == "sent"
    texts = [m for m in scripted_sms_provider.accepted if m["idempotency_key"] == sms_key]
    assert len(texts) == 1 and doc.communication_id in texts[0]["text"]
    assert all(c.status == "sent" for c in ledger.communications() if c.channel == "portal")
    summary = summarize(ledger, "onboarding", "manual__portal")
    assert summary.notices_by_channel()["sms: sent"] >= 1
    assert summary.accounted == summary.extracted
