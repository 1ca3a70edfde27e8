"""Paper: the letter PDF dropped into the print folder, with its envelope address.

Each run's letters go to ``<print_dir>/<dag_id>/<business_key>/``; the print stage
(:mod:`missiva.channels.print_batch`) merges them into print-ready batches.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from missiva.channels import registry
from missiva.channels.base import Delivery, SendResult, require_metadata
from missiva.files import write_atomic

ADDRESS_FIELDS = ("address_line1", "postal_code", "city")


def postal_address(record: Mapping[str, Any]) -> str:
    """The address block as printed in the envelope window, one line per field."""
    name = f"{record['first_name']} {record['last_name']}"
    town = f"{record['postal_code']} {record['city']}"
    lines = [name, record["address_line1"], record.get("address_line2"), town, record["country"]]
    return "\n".join(line for line in lines if line)


def paper_contact(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The envelope address block, or the address fields it lacks."""
    missing = [f for f in ADDRESS_FIELDS if not record.get(f)]
    if missing:
        return None, f"incomplete postal address (missing {', '.join(missing)})"
    return postal_address(record), None


def drop_for_print(folder: Path, name: str, pdf: bytes, address_block: str) -> Path:
    """Place a letter and its envelope address in the print folder (atomic, idempotent)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.pdf"
    for path, data in (  # the address first: a letter is never in the folder without one
        (folder / f"{name}.json", json.dumps({"address": address_block.split("\n")}).encode()),
        (target, pdf),
    ):
        write_atomic(path, data)
    return target


class PrintDrop:
    """``ChannelAdapter`` for paper: ``metadata`` carries ``dag_id`` and ``business_key``
    (the run's folder); ``recipient`` is the address block; the result the PDF's path."""

    def __init__(self, print_dir: Path) -> None:
        self.print_dir = Path(print_dir)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, delivery: Delivery) -> SendResult:
        meta = require_metadata(delivery, "paper", "dag_id", "business_key")
        folder = self.print_dir / meta["dag_id"] / meta["business_key"]
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
        open_adapter=lambda opening: PrintDrop(opening.settings.print_dir),
        resend_safe=True,  # the same file under the same name
        printed=True,
    )
)
