"""Hostile records among good ones never stop a run (issue 13, items 1 and 2).

A seeded day of onboarding where some customers' data is made hostile: a blank name,
an empty postal code, a 10,001-character field, CR/LF, NUL and a right-to-left
override in text fields, an SMS too long for its segment limit, a display name that
carries a second address, an IDNA domain and a non-ASCII local part. The whole run
(validate, compose, deliver to a real SMTP server and the local SMS provider, print
batches) goes through twice: every record in one chunk against a server without
SMTPUTF8, and one record per chunk against a server that offers it. Good customers
get their message exactly once; each hostile record has its own row with its reason;
letters are still batched.
"""

from __future__ import annotations

import email
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from support import ONBOARDING_RUN, free_port, settings_for

from missiva.channels.sms import SmsSettings, sms_contact
from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools import sms_sink
from missiva.devtools.seed import SeedReport, seed
from missiva.journeys import ONBOARDING
from missiva.print_stage import print_stage
from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.records.run_report import summarize
from missiva.records.store import open_store
from missiva.settings import Settings
from missiva.text_safety import UNSAFE

COMMA_NAME = ("Mario", "Rossi della Valle, attacker@evil.example, di Sopra")
IDNA = ("mario@exämple.org", "mario@xn--exmple-cua.org")
UTF8_LOCAL = "maría@example.org"


@dataclass(frozen=True)
class Hostile:
    """One customer made hostile: the channel it prefers, the changes, what must follow."""

    prefers: str
    changes: dict[str, Any]
    status: str
    reason: str = ""


HOSTILE = {
    "blank_name": Hostile("email", {"first_name": " "}, "quarantined", "first_name is blank"),
    "empty_postcode": Hostile("paper", {"postal_code": ""}, "quarantined", "missing postal_code"),
    "huge_field": Hostile(
        "email",
        {"address_line2": "x" * 10_001},
        "quarantined",
        "address_line2 is 10,001 characters long",
    ),
    "crlf_address": Hostile(
        "paper",
        {"address_line1": "Via Roma 1\r\nBcc: victim@example.com"},
        "quarantined",
        "address_line1 contains U+000A LINE FEED, U+000D CARRIAGE RETURN",
    ),
    "nul_city": Hostile("paper", {"city": "Mi\x00lano"}, "quarantined", "city contains U+0000 NUL"),
    "bidi_name": Hostile(
        "email",
        {"last_name": "Rossi\u202egnp.exe"},
        "quarantined",
        "last_name contains U+202E RIGHT-TO-LEFT OVERRIDE",
    ),
    "long_sms": Hostile(
        "sms",
        {"first_name": "\N{SLIGHTLY SMILING FACE}" * 100},
        "quarantined",
        "cannot be composed from this record",
    ),
    "comma_name": Hostile(
        "email", {"first_name": COMMA_NAME[0], "last_name": COMMA_NAME[1]}, "sent"
    ),
    "idna_domain": Hostile("email", {"email": IDNA[0]}, "sent"),
    "utf8_local_part": Hostile("email", {"email": UTF8_LOCAL}, "depends on the server"),
}


def make_hostile(core_db: Path, report: SeedReport) -> dict[str, int]:
    """Turn good welcome rows of the seeded day into the :data:`HOSTILE` cases (an SMS
    case: a customer with a valid mobile number); their row ids by case. The customer
    with a non-ASCII local part consents to paper too."""
    with closing(sqlite3.connect(core_db)) as db, db:
        rows = db.execute(
            "SELECT row_id, customer_id, preferred_channel, phone, country FROM customers "
            "WHERE joined_at >= '2026-11-02' AND joined_at < '2026-11-03' ORDER BY row_id"
        ).fetchall()
        spare = [
            r[:3]
            for r in rows
            if r[0] not in {*report.defects, *report.suppressions}
            and (r[2] != "sms" or sms_contact({"phone": r[3], "country": r[4]})[0])
        ]
        chosen: dict[str, int] = {}
        for case, hostile in HOSTILE.items():
            row_id, customer_id, _ = next(r for r in spare if r[2] == hostile.prefers)
            spare = [r for r in spare if r[0] != row_id]
            sets = ", ".join(f"{column} = ?" for column in hostile.changes)
            db.execute(
                f"UPDATE customers SET {sets} WHERE row_id = ?", [*hostile.changes.values(), row_id]
            )
            if case == "utf8_local_part":
                db.execute(
                    "INSERT OR REPLACE INTO consents VALUES (?, 'paper', 'transactional', 1, "
                    "'2026-01-01 00:00:00')",
                    [customer_id],
                )
            chosen[case] = row_id
    return chosen


@dataclass
class Day:
    """One hostile day run end to end."""

    settings: Settings
    ledger: Ledger
    hostile: dict[str, int]
    smtp: Any  # the SMTP server (conftest's SmtpServer)
    sms_dir: Path
    batches: list[dict]
    smtputf8: bool

    def comms(self) -> list[Communication]:
        return self.ledger.for_scope("onboarding", "2026-11-02")

    def of(self, case: str) -> list[Communication]:
        return [c for c in self.comms() if c.source_row_id == self.hostile[case]]


def _run_day(
    root: Path, composed_run, server: Any, *, chunk_size: int, smtputf8: bool
) -> Iterator[Day]:
    settings = settings_for(root)
    report = seed(settings.core_db, customers=40, seed=11, joined_on=date(2026, 11, 2))
    hostile = make_hostile(settings.core_db, report)
    day = composed_run(settings, run=ONBOARDING_RUN, chunk_size=chunk_size)
    sms_port, sms_dir = free_port(), root / "sms-received"
    sms = sms_sink.start("127.0.0.1", sms_port, sms_dir)
    smtp = SmtpSettings(server.host, server.port, timeout=10)
    sms_settings = SmsSettings(f"http://127.0.0.1:{sms_port}", "test-token")
    try:
        deliver = replace(ONBOARDING_RUN, task_id="deliver")
        for chunk in day.chunks:
            deliver_stage(
                ONBOARDING, deliver, settings, chunk, lambda: smtp, sms=lambda: sms_settings
            )
        batches = print_stage(ONBOARDING, replace(ONBOARDING_RUN, task_id="print"), settings)
        yield Day(
            settings, Ledger(settings.ledger_url), hostile, server, sms_dir, batches, smtputf8
        )
    finally:
        sms.shutdown()


@pytest.fixture(scope="module", params=["one chunk, no SMTPUTF8", "chunks of 1, SMTPUTF8"])
def day(request, tmp_path_factory, composed_run, smtp_server_factory) -> Iterator[Day]:
    one_chunk = request.param.startswith("one chunk")
    with smtp_server_factory(smtputf8=not one_chunk) as server:
        yield from _run_day(
            tmp_path_factory.mktemp("hostile"),
            composed_run,
            server,
            chunk_size=100 if one_chunk else 1,
            smtputf8=not one_chunk,
        )


def deliveries(day: Day) -> dict[str, Counter]:
    """channel -> how many times each communication id reached the customer: the SMTP
    server's messages, the SMS provider's, the print batches' letters."""
    emails = Counter(
        email.message_from_bytes(m.content, policy=default)["X-Missiva-Communication-Id"]
        for m in day.smtp.handler.messages
    )
    sms = Counter(json.loads(p.read_text())["reference"] for p in day.sms_dir.glob("*.json"))
    return {"email": emails, "paper": printed_ids(day), "sms": sms}


def manifests(day: Day) -> list[dict]:
    folder = day.settings.print_dir / "onboarding" / "2026-11-02" / "batches"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.manifest.json"))]


def printed_ids(day: Day) -> Counter:
    return Counter(
        comm_id
        for manifest in manifests(day)
        for envelope in manifest["envelopes"]
        for comm_id in envelope["communication_ids"]
    )


def test_the_run_went_through_and_every_record_is_accounted_for(day: Day) -> None:
    summary = summarize(day.ledger, ONBOARDING_RUN.dag_id, ONBOARDING_RUN.run_id)
    assert summary.accounted == summary.extracted > len(HOSTILE)
    assert summary.statuses["sent"] > len(HOSTILE)
    assert not {"composed", "sending"} & set(summary.statuses)
    report = "\n".join(summary.lines())
    for case in ("blank_name", "huge_field", "nul_city", "long_sms"):
        assert HOSTILE[case].reason in report


@pytest.mark.parametrize("case", [c for c, h in HOSTILE.items() if h.status == "quarantined"])
def test_each_hostile_record_has_its_own_row_with_the_reason(day: Day, case: str) -> None:
    (comm,) = day.of(case)
    assert comm.status == "quarantined"
    assert HOSTILE[case].reason in comm.reason
    assert comm.artifact_uri is None  # nothing rendered, nothing sent


def test_good_customers_get_their_message_exactly_once(day: Day) -> None:
    sent = [c for c in day.comms() if c.status == "sent"]
    received = deliveries(day)
    assert {c.channel for c in sent} == set(received)
    for comm in sent:
        assert received[comm.channel][comm.communication_id] == 1, comm.communication_id
    for channel, counts in received.items():
        assert sum(counts.values()) == sum(c.channel == channel for c in sent)


def test_letters_are_batched_and_no_unsafe_character_reaches_print_data(day: Day) -> None:
    letters = {
        c.communication_id for c in day.comms() if c.channel == "paper" and c.status == "sent"
    }
    assert day.batches and set(printed_ids(day)) == letters
    folder = day.settings.print_dir / "onboarding" / "2026-11-02"
    envelopes = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    lines = [line for e in envelopes for line in e["address"]]
    lines += [line for m in manifests(day) for e in m["envelopes"] for line in e["address_lines"]]
    assert lines and not [line for line in lines if UNSAFE.search(line)]


def test_a_display_name_with_an_address_in_it_gives_one_recipient(day: Day) -> None:
    (comm,) = day.of("comma_name")
    assert comm.status == "sent" and comm.channel == "email"
    store = sealed(open_store(day.settings.archive_url), day.ledger)
    archived = store.get(comm.artifact_uri, comm.artifact_sha256)
    parsed = email.message_from_bytes(archived, policy=default)
    (address,) = parsed["To"].addresses
    assert address.addr_spec == comm.recipient
    assert address.display_name == " ".join(COMMA_NAME)
    (received,) = [m for m in day.smtp.handler.messages if m.content == archived]
    assert received.rcpt_tos == (comm.recipient,)


def test_an_idna_domain_is_sent_ascii(day: Day) -> None:
    (comm,) = day.of("idna_domain")
    assert (comm.status, comm.recipient) == ("sent", IDNA[1])
    assert [m.rcpt_tos for m in day.smtp.handler.messages].count((IDNA[1],)) == 1


def test_a_non_ascii_local_part_goes_with_smtputf8_or_fails_with_the_reason(day: Day) -> None:
    comms = {c.channel: c for c in day.of("utf8_local_part")}
    rcpts = [m.rcpt_tos for m in day.smtp.handler.messages]
    if day.smtputf8:
        assert comms["email"].status == "sent" and set(comms) == {"email"}
        assert rcpts.count((UTF8_LOCAL,)) == 1
        return
    assert comms["email"].status == "failed"
    assert "does not offer SMTPUTF8" in comms["email"].reason
    assert (UTF8_LOCAL,) not in rcpts
    (fallback,) = [c for channel, c in comms.items() if channel != "email"]
    assert fallback.status == "sent" and "does not offer SMTPUTF8" in fallback.route_reason
    assert deliveries(day)[fallback.channel][fallback.communication_id] == 1
