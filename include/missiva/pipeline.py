"""The stages of a journey run, free of Airflow: extract, validate, compose, deliver.

Each stage is idempotent. The ledger's unique idempotency key decides whether a
communication already exists; only ``composed`` communications are ever sent, and
each send is bracketed by ``sending`` and ``sent``/``failed`` (outbox pattern).
"""

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from missiva.channels.base import Delivery, PermanentFailure
from missiva.channels.smtp import SmtpAdapter
from missiva.composition import Provenance
from missiva.delivery import SmtpSettings, drop_for_print
from missiva.extract import extract
from missiva.journeys import Journey
from missiva.ledger import Communication, Ledger, fallback_key
from missiva.ledger import canonical_json as ledger_json
from missiva.mime import build_email
from missiva.routing import Route, route, routing_inputs
from missiva.run_context import RunContext
from missiva.settings import Settings
from missiva.staging import Staging
from missiva.store import ArtifactStore, open_store
from missiva.validation import validate

log = logging.getLogger(__name__)
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://missiva.example/communications")


def canonical_json(record: dict[str, Any]) -> bytes:
    """The input record as archived: the ledger's canonical JSON, UTF-8."""
    return ledger_json(record).encode()


def business_key(run: RunContext) -> str:
    """The business scope of a run: its data interval's day."""
    return run.interval_start.strftime("%Y-%m-%d")


def idempotency_key(journey: Journey, run: RunContext, record: dict[str, Any]) -> str:
    """Deterministic: journey, communication, customer, business day."""
    return f"{journey.name}/{journey.communication}/{record['customer_id']}/{business_key(run)}"


def communication_id(key: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, key))


def _base_fields(
    journey: Journey, run: RunContext, record: dict[str, Any], key: str, store: ArtifactStore
) -> dict:
    """What every ledger row carries, the input record archived as canonical JSON."""
    data = store.put(canonical_json(record), content_type="application/json")
    return {
        "communication_id": communication_id(key),
        "idempotency_key": key,
        "journey": journey.name,
        "communication": journey.communication,
        "business_key": business_key(run),
        "customer_id": record.get("customer_id"),
        "source_row_id": record.get("row_id"),
        "data_sha256": data.sha256,
        "input_uri": data.uri,
        "consent_state": routing_inputs(record, journey.purpose),
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "task_id": run.task_id,
        "try_number": run.try_number,
    }


def extract_stage(journey: Journey, run: RunContext, settings: Settings, source_url: str) -> int:
    """Extract the interval's records into staging; record the count in the ledger."""
    records = extract(source_url, journey.extract_sql, run.interval_start, run.interval_end)
    rows = records.to_dict(orient="records")
    Staging(settings.staging_dir, run.dag_id, run.run_id).write_extract(list(records.columns), rows)
    with Ledger(settings.ledger_url) as ledger:
        ledger.record_run(
            dag_id=run.dag_id,
            run_id=run.run_id,
            journey=journey.name,
            business_key=business_key(run),
            interval_start=run.interval_start,
            interval_end=run.interval_end,
            extracted=len(rows),
        )
    log.info("extracted %d records for [%s, %s)", len(rows), run.interval_start, run.interval_end)
    return len(rows)


def validate_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk_size: int,
    *,
    store: ArtifactStore | None = None,
) -> list[int]:
    """Gate the batch, quarantine failing records, cut the valid ones into chunks."""
    staging = Staging(settings.staging_dir, run.dag_id, run.run_id)
    columns, records = staging.read_extract()
    outcome = validate(records, journey.suite, columns)
    store = store or open_store(settings.archive_url)
    with Ledger(settings.ledger_url) as ledger:
        for record in records:
            reasons = outcome.quarantined.get(int(record["row_id"]))
            if reasons:
                key = f"{idempotency_key(journey, run, record)}/row-{record['row_id']}"
                ledger.add(
                    **_base_fields(journey, run, record, key, store),
                    status="quarantined",
                    reason="; ".join(reasons),
                )
    return staging.write_chunks(outcome.valid, chunk_size)


class Composition:
    """Renders and archives one communication for its routed channel."""

    def __init__(
        self,
        journey: Journey,
        run: RunContext,
        settings: Settings,
        store: ArtifactStore | None = None,
    ) -> None:
        from missiva.composition import Composer

        self.journey, self.run, self.settings = journey, run, settings
        self.composer = Composer()
        self.composer.template_version(journey.communication)  # refuses a draft up front
        self.store = store or open_store(settings.archive_url)

    def artifact(
        self, record: dict[str, Any], comm_id: str, chosen: Route
    ) -> tuple[bytes, str, Provenance, dict[str, str]]:
        """The exact bytes to deliver, their content type, and what rendered them."""
        context = {
            **record,
            "communication_id": comm_id,
            "letter_date": self.run.interval_end.date(),
        }
        letter = self.composer.render_letter(self.journey.communication, context)
        if chosen.channel == "paper":
            return letter.pdf, "application/pdf", letter.provenance, letter.provenance.blocks
        email = self.composer.render_email(self.journey.communication, context)
        message = build_email(
            sender=self.settings.sender,
            to_name=f"{record['first_name']} {record['last_name']}",
            to_address=chosen.recipient,
            subject=email.subject,
            text=email.text,
            html=email.html,
            message_id=f"<{comm_id}@{self.settings.message_id_domain}>",
            date=self.run.interval_end,
            attachments={self.journey.letter_filename: letter.pdf},
            headers={"X-Missiva-Communication-Id": comm_id},
        )
        blocks = {**letter.provenance.blocks, **email.provenance.blocks}
        return message, "message/rfc822", email.provenance, blocks

    def __call__(
        self,
        ledger: Ledger,
        record: dict[str, Any],
        key: str,
        chosen: Route | None = None,
        invalid: Collection[tuple[str, str]] = (),
    ) -> str:
        """Record the communication ``key`` as composed (or suppressed), once; ``invalid``
        are the customer's (channel, address) pairs that hard-bounced before."""
        fields = _base_fields(self.journey, self.run, record, key, self.store)
        chosen = chosen or route(
            record,
            self.journey.channels,
            self.journey.purpose,
            required_channel=self.journey.required_channel,
            invalid=invalid,
        )
        if chosen.suppressed:
            ledger.add(**fields, status="suppressed", reason=chosen.reason)
            return "suppressed"
        comm_id = fields["communication_id"]
        data, content_type, provenance, blocks = self.artifact(record, comm_id, chosen)
        metadata = {"journey": self.journey.name, "communication-id": comm_id}
        archived = self.store.put(data, content_type=content_type, metadata=metadata)
        ledger.add(
            **fields,
            status="composed",
            channel=chosen.channel,
            recipient=chosen.recipient,
            route_reason=chosen.reason,
            template=provenance.template,
            template_version=provenance.template_version,
            blocks=blocks,
            artifact_uri=archived.uri,
            artifact_sha256=archived.sha256,
        )
        return "composed"


def compose_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk: int,
    *,
    store: ArtifactStore | None = None,
) -> dict:
    """Route, render and archive every record of a chunk not yet in the ledger."""
    records = Staging(settings.staging_dir, run.dag_id, run.run_id).read_chunk(chunk)
    keys = {idempotency_key(journey, run, r): r for r in records}
    with Ledger(settings.ledger_url) as ledger:
        existing = ledger.by_keys(keys)
        todo = [(k, r) for k, r in keys.items() if k not in existing]
        counts = Counter({"already_recorded": len(keys) - len(todo)})
        if todo:
            composition = Composition(journey, run, settings, store)
            invalid = ledger.invalid_contacts([r["customer_id"] for _, r in todo])
            counts.update(
                composition(ledger, record, key, invalid=invalid.get(record["customer_id"], ()))
                for key, record in todo
            )
    log.info("chunk %d composed: %s", chunk, dict(counts))
    return dict(counts)


# Channels whose send can be repeated without a second effect on the customer.
RESENDABLE_CHANNELS = frozenset({"paper"})


class _ChunkDelivery:
    """Sends a chunk's composed communications once; a permanent refusal (e.g. the mail
    server rejects the address) marks it failed and composes its fallback channel."""

    def __init__(
        self,
        journey: Journey,
        run: RunContext,
        settings: Settings,
        store: ArtifactStore,
        ledger: Ledger,
        email: SmtpAdapter | None,
    ) -> None:
        self.journey, self.run, self.settings = journey, run, settings
        self.store, self.ledger, self.email = store, ledger, email
        self._composition: Composition | None = None

    def _send(self, comm: Communication, data: bytes) -> str:
        if comm.channel == "email":
            if self.email is None:
                raise RuntimeError("an e-mail is pending but no SMTP connection is open")
            delivery = Delivery(
                comm.communication_id, comm.idempotency_key, comm.recipient, data, "message/rfc822"
            )
            return self.email.send(delivery).provider_message_id
        folder = self.settings.print_dir / self.run.dag_id / business_key(self.run)
        return str(drop_for_print(folder, comm.communication_id, data, comm.recipient))

    def recover(self, comm: Communication) -> None:
        """A communication left ``sending`` by a worker that died mid-send. Printing is
        idempotent (same file, same name): send again. An e-mail may or may not have been
        accepted by the server: never resend it; flag it for review."""
        if comm.channel in RESENDABLE_CHANNELS:
            self.ledger.transition(comm.communication_id, "sending", "composed")
            self.deliver(self.ledger.get(comm.communication_id))
            return
        reason = (
            "outcome unknown: the worker stopped after handing the message to the server and "
            f"before recording the result (try {comm.try_number}); not resent — its "
            "Message-ID lets the mail system de-duplicate; check the server log"
        )
        self.ledger.transition(comm.communication_id, "sending", "review", reason=reason)

    def deliver(self, comm: Communication) -> None:
        """Send one ``composed`` communication: ``sending`` before, ``sent``/``failed`` after."""
        data = self.store.get(comm.artifact_uri, comm.artifact_sha256)
        who = {"task_id": self.run.task_id, "try_number": self.run.try_number}
        self.ledger.transition(comm.communication_id, "composed", "sending", **who)
        try:
            provider_id = self._send(comm, data)
        except PermanentFailure as exc:
            reason = f"{comm.channel} refused: {exc}"
            self.ledger.transition(comm.communication_id, "sending", "failed", reason=reason)
            self._fall_back(comm, reason)
            return
        except BaseException:  # outcome known not to be a send: retry later
            self.ledger.transition(comm.communication_id, "sending", "composed")
            raise
        self.ledger.transition(
            comm.communication_id,
            "sending",
            "sent",
            provider_message_id=provider_id,
            sent_at=datetime.now(UTC),
        )

    def _fall_back(self, failed: Communication, why: str) -> None:
        record = json.loads(self.store.get(failed.input_uri, failed.data_sha256))
        if self.journey.required_channel:
            return  # no substitute for a legally required channel
        others = tuple(c for c in self.journey.channels if c != failed.channel)
        chosen = route(record, others, self.journey.purpose)
        if chosen.suppressed:
            return
        key = fallback_key(failed.idempotency_key, chosen.channel)
        if self._composition is None:
            self._composition = Composition(self.journey, self.run, self.settings, self.store)
        reason = f"fallback after {why}; {chosen.reason}"
        self._composition(self.ledger, record, key, Route(chosen.channel, chosen.recipient, reason))
        (fallback,) = self.ledger.by_keys([key]).values()
        if fallback.status == "composed":
            self.deliver(fallback)


def deliver_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk: int,
    smtp: Callable[[], SmtpSettings],
    *,
    store: ArtifactStore | None = None,
) -> dict:
    """Send every ``composed`` communication of a chunk (and its fallbacks), e-mail over
    one SMTP connection."""
    records = Staging(settings.staging_dir, run.dag_id, run.run_id).read_chunk(chunk)
    store = store or open_store(settings.archive_url)
    keys = [idempotency_key(journey, run, r) for r in records]
    keys += [fallback_key(k, channel) for k in keys for channel in journey.channels]
    with Ledger(settings.ledger_url) as ledger:
        comms = ledger.by_keys(keys).values()
        pending = [c for c in comms if c.status == "composed"]
        interrupted = [c for c in comms if c.status == "sending"]
        needs_smtp = any(c.channel == "email" for c in pending)
        with SmtpAdapter(smtp(), settings.sender) if needs_smtp else nullcontext() as email:
            chunk_delivery = _ChunkDelivery(journey, run, settings, store, ledger, email)
            for comm in interrupted:
                chunk_delivery.recover(comm)
            for comm in pending:
                chunk_delivery.deliver(comm)
        counts = Counter(c.status for c in ledger.by_keys(keys).values())
    log.info("chunk %d delivered: %s", chunk, dict(counts))
    return dict(counts)


def print_stage(
    journey: Journey, run: RunContext, settings: Settings, *, store: ArtifactStore | None = None
) -> list[dict]:
    """Merge the day's printed letters into print-ready batches with manifests
    (householded, sorted by postal code); the same letters always give the same files."""
    from missiva.channels.print_batch import Letter, build_print_batches

    store = store or open_store(settings.archive_url)
    letters = []
    with Ledger(settings.ledger_url) as ledger:
        for comm in ledger.for_scope(journey.name, business_key(run)):
            if comm.channel != "paper" or comm.status != "sent":
                continue
            record = json.loads(store.get(comm.input_uri, comm.data_sha256))
            letters.append(
                Letter(
                    communication_id=comm.communication_id,
                    pdf=store.get(comm.artifact_uri, comm.artifact_sha256),
                    address_lines=tuple(comm.recipient.split("\n")),
                    postal_code=record["postal_code"],
                    country=record["country"],
                )
            )
    folder = settings.print_dir / run.dag_id / business_key(run) / "batches"
    label = f"{run.dag_id}-{business_key(run)}"
    batches = build_print_batches(letters, folder, run_label=label)
    log.info("%d letters in %d print batches in %s", len(letters), len(batches), folder)
    return [{"batch": b.batch_id, **b.manifest["totals"]} for b in batches]
