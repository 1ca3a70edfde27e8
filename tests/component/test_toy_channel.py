"""A channel added without touching any module: a toy "pigeon" channel, declared and
registered here with its own template, routes, composes, delivers and audits."""

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import pytest

from missiva import cli
from missiva.channels import registry
from missiva.channels.base import Delivery, SendResult
from missiva.composition import approval, library
from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.flow import compose_stage
from missiva.journeys import ONBOARDING
from missiva.paths import TEMPLATES_DIR
from missiva.privacy.sealing import sealed
from missiva.records import audit
from missiva.records.ledger import Ledger
from missiva.records.store import open_store
from missiva.run_context import RunContext
from missiva.settings import Settings
from missiva.sources.staging import Staging

RUN = RunContext(
    "onboarding", "manual__pigeon", "deliver", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip
JOURNEY = replace(ONBOARDING, channels=("pigeon", "email"))
CUSTOMER = {
    "row_id": 1,
    "customer_id": "C-PIGEON-1",
    "first_name": "Anna",
    "last_name": "Colombo",
    "email": "anna.colombo@example.it",
    "language": "en",
    "country": "IT",
    "address_line1": "Via dei Piccioni 3",
    "postal_code": "20121",
    "city": "Milano",
    "loft": "Milano Centrale",
    "timezone": "Europe/Rome",
    "preferred_channel": "pigeon",
    "consent_pigeon_transactional": True,
    "consent_email_transactional": True,
}


class Loft:
    """The toy adapter: drops each message into a folder, named by communication id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, delivery: Delivery) -> SendResult:
        delivery.recipient.encode("ascii")  # a loft's ring tag takes ASCII only
        target = self.folder / f"{delivery.communication_id}.pigeon"
        target.write_bytes(delivery.payload)
        return SendResult(f"loft:{target.name}")


def loft_contact(record):
    loft = record.get("loft")
    return (loft, None) if loft else (None, "no pigeon loft")


PIGEON = registry.Channel(
    name="pigeon",
    contact=loft_contact,
    extension=".pigeon",
    content_type="text/plain; charset=utf-8",
    rendition="pigeon",
    template="pigeon.txt",
    open_adapter=lambda opening: Loft(opening.provider()),
    needs_provider=True,
    resend_safe=True,
)


@dataclass(frozen=True)
class World:
    settings: Settings
    drop: Path


@pytest.fixture
def world(tmp_path, monkeypatch) -> Iterator[World]:
    """The pigeon registered; the template library copied, with ``welcome`` given a
    pigeon rendition (its template ``pigeon.txt``) and approved again."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    folder = library.communication_dir(templates, "welcome")
    (folder / "pigeon.txt").write_text("{{ subject }}\nCoo, {{ first_name }}!\n")
    meta = json.loads((folder / "meta.json").read_text())
    meta["renditions"].append("pigeon")
    meta["version"] = "1.1.1-pigeon"
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    registry.register(PIGEON)
    try:
        approval.approve(templates, "welcome", meta["version"], "test", check=False)
        monkeypatch.setenv("MISSIVA_HOME", str(tmp_path / "home"))
        for name in ("MISSIVA_LEDGER_URL", "MISSIVA_ARCHIVE_URL", "MISSIVA_PRINT_DIR"):
            monkeypatch.delenv(name, raising=False)
        settings = replace(Settings.from_env(), templates_dir=templates)
        yield World(settings, tmp_path / "loft")
    finally:
        registry.unregister("pigeon")


def test_a_toy_channel_routes_composes_delivers_and_audits(world, capsys):
    settings = world.settings
    (chunk,) = Staging(settings.staging_dir, RUN.dag_id, RUN.run_id).write_chunks([CUSTOMER], 10)
    assert compose_stage(JOURNEY, RUN, settings, chunk) == {"already_recorded": 0, "composed": 1}
    counts = deliver_stage(JOURNEY, RUN, settings, chunk, providers={"pigeon": lambda: world.drop})
    assert counts == {"sent": 1}

    ledger = Ledger(settings.ledger_url)
    (comm,) = ledger.communications()
    assert (comm.status, comm.channel, comm.recipient) == ("sent", "pigeon", "Milano Centrale")
    assert comm.route_reason.startswith("preferred channel pigeon")
    assert comm.template_version == "1.1.1-pigeon"
    store = sealed(open_store(settings.archive_url), ledger)
    archived = store.get(comm.artifact_uri, comm.artifact_sha256)
    assert archived.decode() == "Welcome to Missiva, Anna\nCoo, Anna!\n"
    assert [p.name for p in world.drop.iterdir()] == [f"{comm.communication_id}.pigeon"]
    assert (world.drop / f"{comm.communication_id}.pigeon").read_bytes() == archived
    assert comm.provider_message_id == f"loft:{comm.communication_id}.pigeon"

    assert audit.verify(ledger, store).problems == []
    assert cli.main(["audit", "verify"]) == 0
    assert "verify: intact (full: 1 communications" in capsys.readouterr().out
    pack = zipfile.ZipFile(io.BytesIO(audit.evidence(ledger, store, CUSTOMER["customer_id"])))
    assert pack.read(f"{comm.communication_id}/artifact.pigeon") == archived


def test_a_message_the_channel_cannot_encode_fails_alone_and_falls_back(world, smtp_server):
    """The adapter raises ``UnicodeEncodeError`` for one recipient: that communication
    ends ``failed`` with the reason and goes by e-mail; the other one is delivered."""
    settings = world.settings
    other = {**CUSTOMER, "row_id": 2, "customer_id": "C-PIGEON-2", "loft": "Città Alta"}
    other.update(address_line2=None, policy_id=None, product=None)  # the letter the e-mail attaches
    (chunk,) = Staging(settings.staging_dir, RUN.dag_id, RUN.run_id).write_chunks(
        [CUSTOMER, other], 10
    )
    compose_stage(JOURNEY, RUN, settings, chunk)
    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    providers = {"pigeon": lambda: world.drop, "email": lambda: smtp}
    assert deliver_stage(JOURNEY, RUN, settings, chunk, providers=providers) == {
        "sent": 2,
        "failed": 1,
    }
    comms = {(c.customer_id, c.channel): c for c in Ledger(settings.ledger_url).communications()}
    failed = comms["C-PIGEON-2", "pigeon"]
    assert failed.status == "failed"
    assert failed.reason.startswith("pigeon cannot carry it: UnicodeEncodeError")
    assert comms["C-PIGEON-2", "email"].status == "sent"
    assert comms["C-PIGEON-1", "pigeon"].status == "sent"
    assert sorted(p.name for p in world.drop.iterdir()) == [
        f"{comms['C-PIGEON-1', 'pigeon'].communication_id}.pigeon"
    ]
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [("anna.colombo@example.it",)]
