"""Print batches: householding, postal order, duplex padding, manifests, read back with pypdf."""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from print_letters import batched_ids, letter, six_letters
from pypdf import PdfReader

from missiva.channels.print_batch import (
    Letter,
    PrintBatchConflict,
    PrintBatchError,
    batch_unprinted,
    build_print_batches,
    household_key,
)

LETTER_US = (612, 792)


def texts(path: Path) -> list[str]:
    return [page.extract_text().strip() for page in PdfReader(path).pages]


def folder_state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture
def letters() -> list[Letter]:
    """Six letters, five envelopes: c-02 and c-05 share one (same addressee, spelled apart)."""
    return six_letters()


def test_household_key_folds_spelling_but_keeps_the_addressee(letters: list[Letter]) -> None:
    by_id = {x.communication_id: x for x in letters}
    assert household_key(by_id["c-02"]) == household_key(by_id["c-05"])
    assert household_key(by_id["c-02"]) != household_key(by_id["c-04"])  # another person
    spaced = Letter("x", b"", ("A B", "Road 1"), "sw1a 2aa", "GB")
    tight = Letter("y", b"", ("a b", "road 1"), "SW1A2AA", "gb")
    assert household_key(spaced) == household_key(tight)


def test_householding_sorting_pages_and_sheets(tmp_path: Path, letters: list[Letter]) -> None:
    (batch,) = build_print_batches(letters, tmp_path, run_label="welcome-2026-11-03")
    manifest = json.loads(batch.manifest_path.read_bytes())
    assert manifest == batch.manifest
    envelopes = manifest["envelopes"]
    # country, then postal code: DE 10115, GB SW1A 2AA, IT 00184 (x2 households), IT 20121
    assert [e["communication_ids"] for e in envelopes] == [
        ["c-06"],
        ["c-03"],
        ["c-02", "c-05"],
        ["c-04"],
        ["c-01"],
    ]
    assert [e["envelope_number"] for e in envelopes] == [1, 2, 3, 4, 5]
    # duplex: every letter padded to an even page count
    assert [e["pages"] for e in envelopes] == [2, 2, 6, 2, 2]
    assert [e["sheets"] for e in envelopes] == [1, 1, 3, 1, 1]
    assert [e["start_page"] for e in envelopes] == [1, 3, 5, 11, 13]
    giulia = envelopes[2]
    assert giulia["address_lines"] == ["Giulia Bianchi", "Via della Libertà, 1", "00184 Roma", "IT"]
    assert giulia["letters"] == [
        {"communication_id": "c-02", "pages": 3, "blank_pages": 1, "start_page": 5},
        {"communication_id": "c-05", "pages": 2, "blank_pages": 0, "start_page": 9},
    ]
    assert manifest["totals"] == {"envelopes": 5, "letters": 6, "pages": 14, "sheets": 7}

    pages = texts(batch.pdf_path)
    assert len(pages) == 14 == manifest["pdf"]["pages"]
    assert pages[4:10] == [
        "c-02 page 1",
        "c-02 page 2",
        "c-02 page 3",
        "",  # the duplex blank: c-05 starts on its own sheet
        "c-05 page 1",
        "c-05 page 2",
    ]
    for envelope in envelopes:  # every envelope starts where the manifest says
        first = envelope["communication_ids"][0]
        assert pages[envelope["start_page"] - 1] == f"{first} page 1"
    assert manifest["pdf"]["sha256"] == hashlib.sha256(batch.pdf_path.read_bytes()).hexdigest()
    assert manifest["pdf"]["file"] == batch.pdf_path.name == "welcome-2026-11-03-b0001.pdf"


def test_blank_page_matches_the_letter_size(tmp_path: Path) -> None:
    us = letter("c-us", 1, "Jane Roe", "1 Main St", "10001", "New York", "US", LETTER_US)
    (batch,) = build_print_batches([us], tmp_path, run_label="r")
    reader = PdfReader(batch.pdf_path)
    assert [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages] == [
        LETTER_US,
        LETTER_US,
    ]


def test_simplex_adds_no_blank_pages(tmp_path: Path, letters: list[Letter]) -> None:
    (batch,) = build_print_batches(letters, tmp_path, run_label="r", duplex=False)
    envelopes = batch.manifest["envelopes"]
    assert [e["pages"] for e in envelopes] == [1, 2, 5, 1, 1]
    assert [e["sheets"] for e in envelopes] == [1, 2, 5, 1, 1]
    assert batch.manifest["totals"]["pages"] == 10 == len(PdfReader(batch.pdf_path).pages)
    assert "" not in texts(batch.pdf_path)


def test_batches_hold_at_most_n_envelopes(tmp_path: Path, letters: list[Letter]) -> None:
    batches = build_print_batches(letters, tmp_path, run_label="r", max_envelopes=2)
    assert [b.batch_id for b in batches] == ["r-b0001", "r-b0002", "r-b0003"]
    assert [len(b.manifest["envelopes"]) for b in batches] == [2, 2, 1]
    assert [b.manifest["batch_count"] for b in batches] == [3, 3, 3]
    second = batches[1]
    assert [e["envelope_number"] for e in second.manifest["envelopes"]] == [1, 2]
    assert [e["start_page"] for e in second.manifest["envelopes"]] == [1, 7]
    assert texts(second.pdf_path)[0] == "c-02 page 1"
    assert len(PdfReader(second.pdf_path).pages) == second.manifest["totals"]["pages"] == 8
    ids = [c for b in batches for e in b.manifest["envelopes"] for c in e["communication_ids"]]
    assert sorted(ids) == [f"c-0{n}" for n in range(1, 7)]  # each letter exactly once
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"r-b000{n}{suffix}" for n in (1, 2, 3) for suffix in (".manifest.json", ".pdf")
    ]


def test_deterministic_whatever_the_input_order(tmp_path: Path, letters: list[Letter]) -> None:
    shuffled = letters[:]
    random.Random(3).shuffle(shuffled)
    assert shuffled != letters
    build_print_batches(letters, tmp_path / "a", run_label="r", max_envelopes=3)
    build_print_batches(shuffled, tmp_path / "b", run_label="r", max_envelopes=3)
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b
    assert len(a) == 4
    assert b"created_at" not in b"".join(a.values())


def test_rerun_is_idempotent(tmp_path: Path, letters: list[Letter]) -> None:
    first = build_print_batches(letters, tmp_path, run_label="r", max_envelopes=2)
    before = folder_state(tmp_path)
    again = build_print_batches(list(reversed(letters)), tmp_path, run_label="r", max_envelopes=2)
    assert folder_state(tmp_path) == before  # same names, same bytes, not even rewritten
    assert [b.manifest for b in again] == [b.manifest for b in first]


def test_rerun_repairs_a_batch_whose_manifest_was_never_written(
    tmp_path: Path, letters: list[Letter]
) -> None:
    (batch,) = build_print_batches(letters, tmp_path, run_label="r")
    manifest = batch.manifest_path.read_bytes()
    batch.manifest_path.unlink()  # crashed between the PDF and its manifest
    build_print_batches(letters, tmp_path, run_label="r")
    assert batch.manifest_path.read_bytes() == manifest


def test_different_letters_for_the_same_run_are_refused(
    tmp_path: Path, letters: list[Letter]
) -> None:
    build_print_batches(letters, tmp_path, run_label="r")
    before = folder_state(tmp_path)
    with pytest.raises(PrintBatchConflict, match="may already be printed"):
        build_print_batches(letters[:-1], tmp_path, run_label="r")
    with pytest.raises(PrintBatchConflict):
        build_print_batches(letters, tmp_path, run_label="r", duplex=False)
    assert folder_state(tmp_path) == before
    build_print_batches(letters[:-1], tmp_path, run_label="r2")  # a new label is fine


def test_files_readable_by_the_print_pickup(tmp_path: Path, letters: list[Letter]) -> None:
    old = os.umask(0o022)
    try:
        (batch,) = build_print_batches(letters, tmp_path, run_label="r")
    finally:
        os.umask(old)
    assert stat.S_IMODE(batch.pdf_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(batch.manifest_path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r-b0001.manifest.json", "r-b0001.pdf"]


def test_created_at_only_when_given(tmp_path: Path, letters: list[Letter]) -> None:
    when = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
    (batch,) = build_print_batches(letters, tmp_path, run_label="r", created_at=when)
    assert batch.manifest["created_at"] == "2026-11-03T06:00:00+00:00"


def test_no_letters_no_files(tmp_path: Path) -> None:
    assert build_print_batches([], tmp_path / "out", run_label="r") == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"run_label": "../etc"}, "file name"),
        ({"max_envelopes": 0}, "at least 1"),
    ],
)
def test_bad_options_refused(tmp_path: Path, letters: list[Letter], change, message) -> None:
    options = {"run_label": "r", **change}
    with pytest.raises(PrintBatchError, match=message):
        build_print_batches(letters, tmp_path, **options)


def test_bad_letters_refused_by_name(tmp_path: Path, letters: list[Letter]) -> None:
    with pytest.raises(PrintBatchError, match="c-01 appears twice"):
        build_print_batches([*letters, letters[0]], tmp_path, run_label="r")
    broken = Letter("c-bad", b"not a pdf", ("X",), "1", "IT")
    with pytest.raises(PrintBatchError, match="c-bad: unreadable PDF"):
        build_print_batches([*letters, broken], tmp_path, run_label="r")
    assert list(tmp_path.iterdir()) == []


def test_letters_sent_later_go_into_late_batches_once(
    tmp_path: Path, letters: list[Letter]
) -> None:
    (first,) = batch_unprinted(letters[:3], tmp_path, run_label="r")
    assert first.batch_id == "r-b0001"
    before = folder_state(tmp_path)
    assert batch_unprinted(letters[:3], tmp_path, run_label="r") == []  # nothing new
    assert folder_state(tmp_path) == before
    (late,) = batch_unprinted(letters[:4], tmp_path, run_label="r")
    assert late.batch_id == "r-late1-b0001" and late.manifest["totals"]["letters"] == 1
    (later,) = batch_unprinted(list(reversed(letters)), tmp_path, run_label="r")
    assert later.batch_id == "r-late2-b0001"
    assert batch_unprinted(letters, tmp_path, run_label="r") == []
    found = batched_ids(tmp_path)
    assert sorted(c for ids in found.values() for c in ids) == [x.communication_id for x in letters]
    assert set(found) == {"r", "r-late1", "r-late2"}
    assert batch_unprinted(letters[:1], tmp_path, run_label="r2")[0].batch_id == "r2-b0001"


def test_batches_never_written_are_written_again(tmp_path: Path, letters: list[Letter]) -> None:
    batches = batch_unprinted(letters, tmp_path, run_label="r", max_envelopes=2)
    last = batches[-1].manifest_path.read_bytes()
    batches[-1].manifest_path.unlink()  # crashed before the run's last manifest
    (again,) = batch_unprinted(letters, tmp_path, run_label="r", max_envelopes=2)[-1:]
    assert again.manifest_path.read_bytes() == last
    assert set(batched_ids(tmp_path)) == {"r"}


def test_letters_loaded_from_the_archive_a_batch_at_a_time(
    tmp_path: Path, letters: list[Letter]
) -> None:
    """Letters whose PDF is a loader (as a run reads them from the archive): the same
    files as with the bytes, each PDF loaded once to count it and once more when its
    batch is written, after the batches before it are complete."""
    eager = build_print_batches(letters, tmp_path / "eager", run_label="r", max_envelopes=2)
    lazy_folder = tmp_path / "lazy"
    loads: list[tuple[str, int]] = []  # (letter, manifests on disk when loaded)

    def loader(item: Letter):
        def load() -> bytes:
            loads.append((item.communication_id, len(list(lazy_folder.glob("*.manifest.json")))))
            return item.pdf

        return load

    lazy_letters = [
        Letter(
            item.communication_id,
            loader(item),
            item.address_lines,
            item.postal_code,
            item.country,
            pdf_sha256=hashlib.sha256(item.pdf).hexdigest(),
        )
        for item in letters
    ]
    lazy = build_print_batches(lazy_letters, lazy_folder, run_label="r", max_envelopes=2)
    assert [b.manifest for b in lazy] == [b.manifest for b in eager]
    counted, written = loads[: len(letters)], loads[len(letters) :]
    assert sorted(c for c, _ in counted) == sorted(x.communication_id for x in letters)
    assert {n for _, n in counted} == {0}, "every PDF checked before anything is written"
    for number, batch in enumerate(lazy):
        ids = [c for e in batch.manifest["envelopes"] for c in e["communication_ids"]]
        assert [(c, number) for c in ids] == written[: len(ids)]
        written = written[len(ids) :]
    assert written == []
