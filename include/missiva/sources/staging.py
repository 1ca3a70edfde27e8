"""The staging area of one DAG run: the extract and its chunks as JSON lines.

XCom carries only chunk numbers and counts; the records live here, in a
:mod:`workspace <missiva.records.workspace>` every worker sees: the local folder
``settings.staging_dir`` with a local archive, ``<prefix>/work/staging/`` of the
archive's bucket with S3 (objects without retention). Keys are
``<dag_id>/<run_id>/<name>.jsonl``.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from missiva.paths import safe_name
from missiva.records.workspace import Workspace, as_workspace


def chunk_size_within(records: int, requested: int, max_chunks: int) -> int:
    """The chunk size for ``records``: ``requested``, grown just enough that the records
    make at most ``max_chunks`` chunks (Airflow maps at most ``[core] max_map_length``)."""
    if requested < 1 or max_chunks < 1:
        raise ValueError(f"chunk size {requested} and chunk count {max_chunks} must be >= 1")
    return max(requested, -(-records // max_chunks))


class Staging:
    """The staged records of one (dag_id, run_id) in ``root`` (a folder or a workspace)."""

    def __init__(self, root: Path | Workspace, dag_id: str, run_id: str) -> None:
        self.space = as_workspace(root).sub(f"{dag_id}/{safe_name(run_id)}")

    def _write(self, name: str, records: Iterable[Mapping[str, Any]]) -> str:
        lines = (json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records)
        return self.space.put(name, "".join(lines).encode())

    def _read(self, name: str) -> Iterator[dict[str, Any]]:
        for line in self.space.get(name).decode("utf-8").splitlines():
            yield json.loads(line)

    def write_extract(self, columns: list[str], records: Iterable[Mapping[str, Any]]) -> int:
        """The extracted records, and their columns (kept even when there are no rows)."""
        return self.write_extract_parts([(columns, list(records))])

    def write_extract_parts(
        self, batches: Iterable[tuple[list[str], list[Mapping[str, Any]]]]
    ) -> int:
        """Stage each (columns, records) batch as it comes, one part each (an S3 object
        cannot be appended to), replacing an earlier try's; how many records."""
        for old in self.space.list_keys("extract-"):
            self.space.delete(old)
        count, columns = 0, []
        for number, (batch_columns, records) in enumerate(batches):
            columns = batch_columns  # the same in every batch
            if records:
                self._write(f"extract-{number:05d}.jsonl", records)
                count += len(records)
        self._write("columns.jsonl", [{"columns": columns}])
        return count

    def extract_parts(self) -> Iterator[list[dict[str, Any]]]:
        """The staged extract, one part (a source batch) at a time, in order."""
        for key in sorted(self.space.list_keys("extract-")):
            yield list(self._read(key))

    def columns(self) -> list[str]:
        """The extract's columns."""
        (header,) = self._read("columns.jsonl")
        return header["columns"]

    def extract_records(self) -> Iterator[dict[str, Any]]:
        """The staged extract, a record at a time (one part in memory)."""
        for part in self.extract_parts():
            yield from part

    def read_extract(self) -> tuple[list[str], list[dict[str, Any]]]:
        return self.columns(), list(self.extract_records())

    def write_chunks(self, records: Iterable[Mapping[str, Any]], size: int) -> list[int]:
        """Cut ``records`` into chunks of ``size``, writing each as it fills (one chunk in
        memory); return the chunk numbers."""
        for old in self.space.list_keys("chunk-"):
            self.space.delete(old)
        numbers, rest = [], iter(records)
        while chunk := list(islice(rest, size)):
            numbers.append(len(numbers))
            self._write(f"chunk-{numbers[-1]:05d}.jsonl", chunk)
        return numbers

    def read_chunk(self, number: int) -> list[dict[str, Any]]:
        return list(self._read(f"chunk-{number:05d}.jsonl"))
