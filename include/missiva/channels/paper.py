"""Paper: the letter PDF dropped into the print folder, with its envelope address.

Each run's letters go to ``<dag_id>/<business_key>/`` of the print workspace
(:mod:`missiva.records.workspace`): the folder ``settings.print_dir`` with a local
archive, ``<prefix>/work/print/`` of the archive's bucket with S3. The print stage
(:mod:`missiva.channels.print_batch`) merges the run's letters into print-ready batches
beside them, in ``batches/``.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from missiva.channels import registry
from missiva.channels.base import Delivery, SendResult, require_metadata
from missiva.composition.postal import window_lines
from missiva.records.workspace import LocalWorkspace, Workspace, as_workspace, workspace

ADDRESS_FIELDS = ("address_line1", "postal_code", "city")
#: Characters per line the DL envelope window shows (85 mm at 10.5 pt, see
#: ``styles/letter.css``); its six lines hold the block's five (line breaks inside a
#: field are refused by validation, :mod:`missiva.sources.record_checks`).
WINDOW_LINE_CHARS = 38


def postal_address(record: Mapping[str, Any]) -> str:
    """The address block as printed in the envelope window, one line per line."""
    return "\n".join(window_lines(record))


def window_misfit(record: Mapping[str, Any]) -> str | None:
    """Why the record's address block cannot show whole in the envelope window, if so."""
    for number, line in enumerate(window_lines(record), 1):
        if len(line) > WINDOW_LINE_CHARS:
            return (
                f"postal address line {number} has {len(line):,} characters; the envelope "
                f"window shows {WINDOW_LINE_CHARS} per line"
            )
    return None


def paper_contact(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The envelope address block, or the address fields it lacks."""
    missing = [f for f in ADDRESS_FIELDS if not str(record.get(f) or "").strip()]
    if missing:
        return None, f"incomplete postal address (missing {', '.join(missing)})"
    if misfit := window_misfit(record):
        return None, misfit
    return postal_address(record), None


def drop_for_print(
    folder: Path | Workspace, name: str, pdf: bytes, address_block: str
) -> Path | str:
    """Place a letter and its envelope address in the print folder (atomic, idempotent);
    the letter's path (a local folder) or URI (a workspace on S3)."""
    space = as_workspace(folder)
    address = json.dumps({"address": address_block.split("\n")}).encode()
    space.put(f"{name}.json", address)  # first: a letter is never there without one
    where = space.put(f"{name}.pdf", pdf)
    return space.path(f"{name}.pdf") if isinstance(space, LocalWorkspace) else where


class PrintDrop:
    """``ChannelAdapter`` for paper: ``metadata`` carries ``dag_id`` and ``business_key``
    (the run's folder); ``recipient`` is the address block; the result the PDF's path."""

    def __init__(self, print_dir: Path | Workspace) -> None:
        self.print_dir = as_workspace(print_dir)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, delivery: Delivery) -> SendResult:
        meta = require_metadata(delivery, "paper", "dag_id", "business_key")
        folder = self.print_dir.sub(f"{meta['dag_id']}/{meta['business_key']}")
        path = drop_for_print(
            folder, delivery.communication_id, delivery.payload, delivery.recipient
        )
        return SendResult(str(path))


def compose_letter(request: registry.Rendering) -> registry.Rendered:
    letter = request.composer.render_letter(request.communication, request.context)
    return registry.Rendered(letter.pdf, letter.provenance, letter.provenance.blocks)


PAPER = registry.register(
    registry.Channel(
        name="paper",
        contact=paper_contact,
        extension=".pdf",
        content_type="application/pdf",
        rendition="letter_pdf",
        compose=compose_letter,
        open_adapter=lambda opening: PrintDrop(
            workspace(opening.store, opening.settings.print_dir, "print")
        ),
        resend_safe=True,  # the same file under the same name
        printed=True,
    )
)
