"""The print stage of a journey run: the day's sent letters into print-ready batches."""

import json
import logging
from functools import partial

from missiva.channels import registry
from missiva.journey import Journey
from missiva.paths import safe_name
from missiva.privacy.keys import CustomerErased
from missiva.privacy.sealing import sealed
from missiva.records.keys import business_key
from missiva.records.ledger import Ledger
from missiva.records.status import SENT
from missiva.records.store import ArtifactStore, open_store
from missiva.records.workspace import workspace
from missiva.run_context import RunContext
from missiva.settings import Settings

log = logging.getLogger(__name__)

#: what the print stage reads of each sent communication
LETTER_COLUMNS = (
    "communication_id",
    "channel",
    "recipient",
    "input_uri",
    "data_sha256",
    "artifact_uri",
    "artifact_sha256",
)


def print_stage(
    journey: Journey, run: RunContext, settings: Settings, *, store: ArtifactStore | None = None
) -> list[dict]:
    """Merge the day's printed letters that no batch holds yet into print-ready batches
    with manifests (householded, sorted by postal code); the same letters always give
    the same files, and a letter sent later (deferred) goes into a late batch. The
    letters' PDFs are read from the archive when needed, not held all at once; each
    manifest's hash is chained in the ledger (:mod:`missiva.records.work_files`)."""
    from missiva.channels.print_batch import Letter, batch_unprinted
    from missiva.records.work_files import record_batches

    store = store or open_store(settings.archive_url)
    scope = business_key(journey, run)
    letters = []
    printed = registry.names(printed=True)
    with Ledger(settings.ledger_url) as ledger:
        store = sealed(store, ledger)
        for comm in ledger.scope_rows(journey.name, scope, LETTER_COLUMNS, status=SENT):
            if comm.channel not in printed:
                continue
            try:
                record = json.loads(store.get(comm.input_uri, comm.data_sha256))
            except CustomerErased as exc:  # erased after it was sent: never printed
                log.warning("letter %s not printed: customer %s", comm.communication_id, exc)
                continue
            letters.append(
                Letter(
                    communication_id=comm.communication_id,
                    pdf=partial(store.get, comm.artifact_uri, comm.artifact_sha256),
                    address_lines=tuple(comm.recipient.split("\n")),
                    postal_code=record["postal_code"],
                    country=record["country"],
                    pdf_sha256=comm.artifact_sha256,
                )
            )
    space, folder_key = (
        workspace(store, settings.print_dir, "print"),
        f"{run.dag_id}/{scope}/batches",
    )
    folder = space.sub(folder_key)
    label = safe_name(f"{run.dag_id}-{scope}")  # a run id has : and +
    batches = batch_unprinted(letters, folder, run_label=label)
    with Ledger(settings.ledger_url) as ledger:  # the manifests' hashes, chained
        record_batches(ledger, space, folder_key)
    log.info(
        "%d letters sent to paper, %d in %d new print batches in %s",
        len(letters),
        sum(b.manifest["totals"]["letters"] for b in batches),
        len(batches),
        folder,
    )
    return [{"batch": b.batch_id, **b.manifest["totals"]} for b in batches]
