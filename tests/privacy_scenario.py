"""Erasure by crypto-shredding, as both archive backends must show it.

:func:`delivered_day` runs one onboarding day through the core stages (real PDFs, e-mails
to a real SMTP sink); :func:`erase_and_check` then erases one e-mailed customer and
checks what the customer, the ledger and an auditor see, and that another customer is
untouched. The local-folder and the S3 (Object Lock) tests call both.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from datetime import date, timedelta

import pytest
from support import ONBOARDING_RUN, compose_run, free_port

from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools import smtp_sink
from missiva.flow import Composition
from missiva.journeys import ONBOARDING
from missiva.privacy import holds
from missiva.privacy.erase import ErasureRefused, erase
from missiva.privacy.keys import CustomerErased
from missiva.privacy.sealing import MAGIC, address_of, sealed
from missiva.records.artifacts import ArtifactStore
from missiva.records.audit import AuditError, evidence, rerender, verify
from missiva.records.keys import idempotency_key
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.records.status import COMPOSED, SUPPRESSED
from missiva.settings import Settings

DPO = "dpo@missiva.example"
WHY = "right to erasure, request 2026-118"
#: what erasure keeps of every row: hashes, status, dates, channel, template, clauses
KEPT = (
    "data_sha256",
    "artifact_sha256",
    "input_uri",
    "artifact_uri",
    "status",
    "channel",
    "template",
    "template_version",
    "block_versions",
    "created_at",
    "sent_at",
    "provider_message_id",
)


def delivered_day(settings: Settings, customers: int = 16) -> list[Communication]:
    """One onboarding day composed, archived and delivered; the ledger's rows."""
    port = free_port()
    controller = smtp_sink.start("127.0.0.1", port, settings.home / "mail")
    try:
        day = compose_run(settings, customers=customers, joined_on=date(2026, 11, 2), chunk_size=50)
        smtp = SmtpSettings("127.0.0.1", port, timeout=10)
        deliver = replace(ONBOARDING_RUN, task_id="deliver")
        for chunk in day.chunks:
            deliver_stage(ONBOARDING, deliver, settings, chunk, lambda: smtp)
    finally:
        controller.stop()
    with Ledger(settings.ledger_url) as ledger:
        return ledger.communications()


def _ciphertext(raw: ArtifactStore, uri: str) -> bytes:
    return raw.get(uri, address_of(uri))


def erase_and_check(settings: Settings, ledger: Ledger, raw: ArtifactStore) -> Communication:
    """Erase an e-mailed customer through ``raw`` (the store as the journeys opened it)
    and check every promise of erasure; the erased customer's first communication."""
    store = sealed(raw, ledger)
    emailed = [c for c in ledger.communications() if c.status == "sent" and c.channel == "email"]
    target, other = emailed[0], emailed[1]
    record = json.loads(store.get(target.input_uri, target.data_sha256))
    personal = [record["email"].encode(), record["last_name"].encode()]

    # at rest, personal data is ciphertext only, at an address that is not the ledger's hash
    for uri in (target.input_uri, target.artifact_uri):
        assert address_of(uri) not in (target.data_sha256, target.artifact_sha256)
        sealed_bytes = _ciphertext(raw, uri)
        assert sealed_bytes.startswith(MAGIC)
        assert not [p for p in personal if p in sealed_bytes]
    ciphertext = _ciphertext(raw, target.artifact_uri)
    reader = sealed(raw, ledger)  # a long-lived reader (the auditor page's) that opened it
    assert reader.get(target.artifact_uri, target.artifact_sha256)
    before = {c.communication_id: c.as_dict() for c in ledger.trace(target.customer_id)}
    assert verify(ledger, raw, full=True).problems == []

    # a legal hold refuses erasure, with its reason, and changes nothing
    holds.place(ledger, other.customer_id, "legal@missiva.example", "litigation 2026/17")
    with pytest.raises(ErasureRefused, match=r"legal hold .*litigation 2026/17"):
        erase(ledger, store, other.customer_id, DPO, WHY)

    done = erase(ledger, store, target.customer_id, DPO, WHY)
    assert (done.keys_destroyed, done.communications) == (1, len(before))

    # the ledger: personal fields pseudonymised, everything else kept, erasure chained
    result = verify(ledger, raw, full=True)
    assert result.problems == [] and result.communications == len(ledger.communications())
    for comm in ledger.trace(target.customer_id):
        row, was = comm.as_dict(), before[comm.communication_id]
        assert {k: row[k] for k in KEPT} == {k: was[k] for k in KEPT}
        assert row["recipient"].startswith("erased-") and row["recipient"] != was["recipient"]
        assert not [p for p in personal if p.decode() in json.dumps(row)]
        last = ledger.events(comm.communication_id)[-1]
        assert last.kind == "erased"
        assert json.loads(last.detail) | {"by": DPO, "reason": WHY} == json.loads(last.detail)

    # the objects remain, intact, but no key opens them
    assert _ciphertext(raw, target.artifact_uri) == ciphertext
    with pytest.raises(CustomerErased, match=f"erased on .* by {DPO}"):
        reader.get(target.artifact_uri, target.artifact_sha256)
    with pytest.raises(AuditError, match=f"cannot be re-rendered: customer erased on .* {DPO}"):
        rerender(ledger, settings, target.communication_id)
    pack = zipfile.ZipFile(io.BytesIO(evidence(ledger, raw, target.customer_id)))
    manifest = json.loads(pack.read("manifest.json"))
    assert manifest["erasure"]["erased_by"] == DPO and manifest["erasure"]["reason"] == WHY
    assert all(name.endswith("communication.json") for name in manifest["files"])
    assert not [p for n in pack.namelist() for p in personal if p in pack.read(n)]

    # another customer is untouched: readable, re-rendered identical
    assert holds.release(ledger, other.customer_id)
    assert store.get(other.artifact_uri, other.artifact_sha256)
    assert rerender(ledger, settings, other.communication_id).identical

    # never contacted again: the same person in a later extract is suppressed, with the
    # reason, and nothing personal archived; a new identity the source declares is not
    later = replace(
        ONBOARDING_RUN,
        run_id="scheduled__2026-11-03T00:00:00+00:00",
        task_id="compose",
        interval_start=ONBOARDING_RUN.interval_end,
        interval_end=ONBOARDING_RUN.interval_end + timedelta(days=1),
    )
    compose = Composition(ONBOARDING, later, settings, raw)
    key = idempotency_key(ONBOARDING, later, record)
    assert compose(ledger, record, key) == SUPPRESSED
    (again,) = ledger.by_keys([key]).values()
    assert again.reason.startswith("customer erased on ") and DPO in again.reason
    withheld = json.loads(store.get(again.input_uri, again.data_sha256))
    assert withheld == {
        "customer_id": target.customer_id,
        "row_id": record["row_id"],
        "withheld": "erased",
    }
    renewed = record | {"new_identity": True}
    key = f"{key}/new-identity"
    assert Composition(ONBOARDING, later, settings, raw)(ledger, renewed, key) == COMPOSED
    (fresh,) = ledger.by_keys([key]).values()
    assert json.loads(store.get(fresh.input_uri, fresh.data_sha256))["email"] == record["email"]
    assert verify(ledger, raw, full=True).problems == []
    return target
