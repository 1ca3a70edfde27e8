"""The staging area of one DAG run: the extract and its chunks as JSON lines.

XCom carries only chunk numbers and counts; the records live here.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from missiva.files import write_atomic
from missiva.paths import safe_name


class Staging:
    """Files of one (dag_id, run_id) under ``root``."""

    def __init__(self, root: Path, dag_id: str, run_id: str) -> None:
        self.dir = Path(root) / dag_id / safe_name(run_id)

    def _write(self, name: str, records: Iterable[Mapping[str, Any]]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / name
        lines = (json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records)
        write_atomic(path, "".join(lines).encode())
        return path

    def _read(self, name: str) -> Iterator[dict[str, Any]]:
        with (self.dir / name).open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)

    def write_extract(self, columns: list[str], records: Iterable[Mapping[str, Any]]) -> Path:
        """The extracted records, and their columns (kept even when there are no rows)."""
        self._write("columns.jsonl", [{"columns": columns}])
        return self._write("extract.jsonl", records)

    def read_extract(self) -> tuple[list[str], list[dict[str, Any]]]:
        (header,) = self._read("columns.jsonl")
        return header["columns"], list(self._read("extract.jsonl"))

    def write_chunks(self, records: list[Mapping[str, Any]], size: int) -> list[int]:
        """Cut ``records`` into chunks of ``size``; return the chunk numbers."""
        for old in self.dir.glob("chunk-*.jsonl"):
            old.unlink()
        numbers = []
        for number, start in enumerate(range(0, len(records), size)):
            self._write(f"chunk-{number:05d}.jsonl", records[start : start + size])
            numbers.append(number)
        return numbers

    def read_chunk(self, number: int) -> list[dict[str, Any]]:
        return list(self._read(f"chunk-{number:05d}.jsonl"))
