"""Print: the day's letters (spooled by ``missiva.channels.paper.drop_for_print``)
merged into print-ready batch PDFs.

``build_print_batches`` takes the run's letters and writes, into one folder:

- ``<run_label>-b0001.pdf``: envelopes in postal order (country, then postal code),
  each envelope's letters concatenated; with ``duplex`` every letter is padded to an
  even page count with a blank page, so each letter starts on its own sheet;
- ``<run_label>-b0001.manifest.json``: for each envelope its number, address lines,
  communication ids, pages, sheets and first page in the batch PDF; totals; the
  PDF's SHA-256. The manifest is written after its PDF: a manifest means "complete".

Householding puts several letters for the same addressee at the same normalised
address into one envelope. The addressee (the address block's name line) is part of
the key on purpose: a letter for one person is never posted inside another's envelope.

Output is a pure function of the input (order of ``letters`` included: it is sorted
away): no timestamps unless ``created_at`` is given. Re-running with the same input
rewrites nothing; with different input for the same ``run_label`` it refuses
(``PrintBatchConflict``), since earlier batches may already be at the printer.

``batch_unprinted`` is what a run uses: it batches only the letters no manifest in the
folder holds yet, under the run's label the first time and as ``<label>-late1``,
``-late2``, ... for letters sent after the run's batches were made (e.g. deferred by the
contact policy), so a letter is neither printed twice nor left out.
"""

import hashlib
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pypdf import PdfReader, PdfWriter

from missiva.records.workspace import LocalWorkspace, Workspace, as_workspace

MANIFEST_FORMAT = "missiva-print-manifest/1"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PrintBatchError(ValueError):
    """The letters cannot be batched (unreadable PDF, duplicate id, bad options)."""


class PrintBatchConflict(PrintBatchError):
    """The folder already holds different batches for this run label."""


@dataclass(frozen=True)
class Letter:
    """One letter: its PDF and the envelope address (window block, one line each).

    ``pdf`` may be a loader of the PDF, called when the letter is counted and when its
    batch is written, so a day's letters are never all in memory; ``pdf_sha256`` (e.g.
    the archive's) spares loading it to fingerprint the run."""

    communication_id: str
    pdf: bytes | Callable[[], bytes]
    address_lines: tuple[str, ...]
    postal_code: str
    country: str
    pdf_sha256: str | None = None

    def pdf_bytes(self) -> bytes:
        return self.pdf() if callable(self.pdf) else self.pdf

    def digest(self) -> str:
        return self.pdf_sha256 or hashlib.sha256(self.pdf_bytes()).hexdigest()


@dataclass(frozen=True)
class PrintBatch:
    batch_id: str
    pdf_path: Path | str  # a path in a local folder, else the object's ``s3://`` URI
    manifest_path: Path | str
    manifest: dict[str, Any]


def _fold(text: str) -> str:
    """Fold case, accents, punctuation, spacing: ``Via Libertà, 1`` -> ``via liberta 1``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def _postal(code: str) -> str:
    return re.sub(r"[\W_]+", "", code).upper()


def household_key(letter: Letter) -> str:
    """Letters with equal keys share an envelope: same addressee, same address."""
    lines = [folded for line in letter.address_lines if (folded := _fold(line))]
    return "|".join([letter.country.strip().upper(), _postal(letter.postal_code), *lines])


def _safe_name(value: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(value):
        raise PrintBatchError(f"{what} {value!r} is not usable as a file name")
    return value


def _dumps(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


@dataclass
class _Parsed:
    """A letter's page count (its PDF read again when its batch is written)."""

    letter: Letter
    pages: int
    blank_pages: int


def _read(letter: Letter) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(letter.pdf_bytes()))
        pages = len(reader.pages)
    except Exception as exc:  # pypdf raises many types for a damaged file
        raise PrintBatchError(f"letter {letter.communication_id}: unreadable PDF ({exc})") from exc
    if pages == 0:
        raise PrintBatchError(f"letter {letter.communication_id}: PDF has no pages")
    return reader


def _parse(letter: Letter, duplex: bool) -> _Parsed:
    pages = len(_read(letter).pages)
    return _Parsed(letter, pages, 1 if duplex and pages % 2 else 0)


def _fingerprint(letters: Sequence[Letter], options: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for letter in sorted(letters, key=lambda x: x.communication_id):
        entry = [
            letter.communication_id,
            letter.digest(),
            list(letter.address_lines),
            letter.postal_code,
            letter.country,
        ]
        digest.update(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def _envelopes(parsed: Iterable[_Parsed]) -> list[list[_Parsed]]:
    """Householded envelopes in postal order; letters in an envelope by communication id."""
    households: dict[str, list[_Parsed]] = {}
    for item in parsed:
        households.setdefault(household_key(item.letter), []).append(item)
    ordered = sorted(households.items(), key=lambda kv: (*kv[0].split("|", 2)[:2], kv[0]))
    return [sorted(items, key=lambda p: p.letter.communication_id) for _, items in ordered]


def _render_batch(
    batch_id: str, envelopes: Sequence[list[_Parsed]], duplex: bool
) -> tuple[bytes, list[dict[str, Any]]]:
    writer = PdfWriter()
    entries = []
    page = 1
    for number, envelope in enumerate(envelopes, start=1):
        start = page
        letters = []
        for item in envelope:
            letters.append(
                {
                    "communication_id": item.letter.communication_id,
                    "pages": item.pages,
                    "blank_pages": item.blank_pages,
                    "start_page": page,
                }
            )
            reader = _read(item.letter)
            for pdf_page in reader.pages:
                writer.add_page(pdf_page)
            if item.blank_pages:
                box = reader.pages[-1].mediabox
                writer.add_blank_page(width=box.width, height=box.height)
            page += item.pages + item.blank_pages
        pages = page - start
        first = envelope[0].letter
        entries.append(
            {
                "envelope_number": number,
                "address_lines": list(first.address_lines),
                "postal_code": first.postal_code,
                "country": first.country,
                "communication_ids": [item.letter.communication_id for item in envelope],
                "pages": pages,
                "sheets": sum(_sheets(i.pages + i.blank_pages, duplex) for i in envelope),
                "start_page": start,
                "letters": letters,
            }
        )
    writer.add_metadata({"/Title": batch_id, "/Producer": "missiva"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), entries


def _sheets(pages: int, duplex: bool) -> int:
    return (pages + 1) // 2 if duplex else pages


def _check(letters: Sequence[Letter], run_label: str, max_envelopes: int) -> None:
    _safe_name(run_label, "run label")
    if max_envelopes < 1:
        raise PrintBatchError("max_envelopes must be at least 1")
    seen: set[str] = set()
    for letter in letters:
        if letter.communication_id in seen:
            raise PrintBatchError(f"letter {letter.communication_id} appears twice")
        seen.add(letter.communication_id)


def _contents(
    pdf: bytes, batch_id: str, entries: list[dict[str, Any]], created_at: datetime | None
) -> dict[str, Any]:
    """The manifest's description of one batch PDF: file, (creation time), envelopes, totals."""
    described: dict[str, Any] = {
        "pdf": {
            "file": f"{batch_id}.pdf",
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "pages": sum(e["pages"] for e in entries),
        }
    }
    if created_at is not None:
        described["created_at"] = created_at.isoformat()
    described["envelopes"] = entries
    described["totals"] = {
        "envelopes": len(entries),
        "letters": sum(len(e["communication_ids"]) for e in entries),
        "pages": described["pdf"]["pages"],
        "sheets": sum(e["sheets"] for e in entries),
    }
    return described


def _where(space: Workspace, key: str) -> Path | str:
    return space.path(key) if isinstance(space, LocalWorkspace) else space.location(key)


def _manifests(space: Workspace, run_label: str) -> list[str]:
    """The keys of the manifests named after ``run_label`` (its own and its late ones)."""
    return [
        k for k in space.list_keys(f"{run_label}-") if "/" not in k and k.endswith(".manifest.json")
    ]


def build_print_batches(
    letters: Iterable[Letter],
    folder: Path | Workspace,
    *,
    run_label: str,
    max_envelopes: int = 500,
    duplex: bool = True,
    created_at: datetime | None = None,
) -> list[PrintBatch]:
    """Write the print-ready batches and manifests for ``letters`` into ``folder`` (a
    folder, or a workspace such as the S3 one). Every PDF is read once to count its
    pages (a bad one refuses the run before anything is written), then again when its
    batch is written: one batch's PDFs in memory at a time."""
    space = as_workspace(folder)
    letters = list(letters)
    _check(letters, run_label, max_envelopes)
    if not letters:
        return []
    options = {"format": MANIFEST_FORMAT, "max_envelopes": max_envelopes, "duplex": duplex}
    fingerprint = _fingerprint(letters, options)
    _refuse_conflicts(space, run_label, fingerprint)

    envelopes = _envelopes(_parse(letter, duplex) for letter in letters)
    chunks = [envelopes[i : i + max_envelopes] for i in range(0, len(envelopes), max_envelopes)]
    batches = []
    for number, chunk in enumerate(chunks, start=1):
        batch_id = f"{run_label}-b{number:04d}"
        pdf, entries = _render_batch(batch_id, chunk, duplex)
        manifest = {
            "format": MANIFEST_FORMAT,
            "batch_id": batch_id,
            "run_label": run_label,
            "batch_number": number,
            "batch_count": len(chunks),
            "run_fingerprint": fingerprint,
            "duplex": duplex,
            **_contents(pdf, batch_id, entries, created_at),
        }
        pdf_key, manifest_key = f"{batch_id}.pdf", f"{batch_id}.manifest.json"
        space.put(pdf_key, pdf)  # the PDF first: a manifest announces a complete batch
        space.put(manifest_key, _dumps(manifest))
        batches.append(
            PrintBatch(batch_id, _where(space, pdf_key), _where(space, manifest_key), manifest)
        )
    return batches


def batch_unprinted(
    letters: Iterable[Letter], folder: Path | Workspace, *, run_label: str, **options: Any
) -> list[PrintBatch]:
    """Batch the ``letters`` that no batch of ``run_label`` (or of its late labels) in
    ``folder`` holds yet; the new batches (none when every letter is batched). A lock
    (``.batching``) in the folder serialises callers: two processes, on one machine or
    on two sharing an S3 workspace, never batch a letter twice."""
    _safe_name(run_label, "run label")
    space = as_workspace(folder)
    with space.lock(".batching"):
        family = re.compile(re.escape(run_label) + r"(-late\d+)?")
        batched: dict[str, set[str]] = {}  # label -> letters in its manifests
        written: Counter = Counter()  # label -> manifests on disk
        expected: dict[str, int] = {}  # label -> batches it was cut into
        for key in _manifests(space, run_label):
            manifest = json.loads(space.get(key))
            label = manifest.get("run_label", "")
            if family.fullmatch(label):
                batched.setdefault(label, set()).update(
                    c for e in manifest["envelopes"] for c in e["communication_ids"]
                )
                written[label] += 1
                expected[label] = manifest["batch_count"]
        # a label whose last batches were never written (crash): write them again
        unfinished = [label for label in written if written[label] < expected[label]]
        label = unfinished[0] if unfinished else None
        elsewhere = {c for other, ids in batched.items() if other != label for c in ids}
        unprinted = [letter for letter in letters if letter.communication_id not in elsewhere]
        if label is None:
            if not unprinted:
                return []
            label = f"{run_label}-late{len(batched)}" if batched else run_label
        return build_print_batches(unprinted, space, run_label=label, **options)


def _refuse_conflicts(space: Workspace, run_label: str, fingerprint: str) -> None:
    for key in _manifests(space, run_label):
        if not key.startswith(f"{run_label}-b"):
            continue
        try:
            existing = json.loads(space.get(key))
        except ValueError as exc:
            raise PrintBatchConflict(f"{space.location(key)} is not a readable manifest") from exc
        if existing.get("run_label") != run_label:
            continue
        if existing.get("run_fingerprint") != fingerprint:
            raise PrintBatchConflict(
                f"{key} was written for different letters or options; batches of "
                f"{run_label!r} may already be printed: use a new run label or remove them"
            )
