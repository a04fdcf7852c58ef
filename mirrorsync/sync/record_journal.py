"""A run's image records on disk as they finish: ``report-records.jsonl`` in the output directory, one record a
line (the JSON object report.json's ``images`` holds), in the order the images finished.

report.json is written once, at the end of a run, sorted; until then this file says what the run has done, so a
run that is killed (SIGKILL, out of memory, a node going away) leaves its finished records behind. The file is
removed when report.json is written, and started afresh by the next run when its first image finishes: a run
that stops before that (bad input, a failed preflight) writes no file, and leaves an earlier run's as it was.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from ..errors import InputError
from .job_runner import Event
from .report import ImageRecord, record_dict, record_from_dict

log = logging.getLogger(__name__)

RECORDS_FILE = "report-records.jsonl"  # its name in an output directory


class RecordJournal:
    """Appends each record to the file as one line, flushed, from any thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: TextIO | None = None  # opened with the first record: no records, no file
        self._failed = False
        self._closed = False

    def write(self, record: ImageRecord) -> None:
        line = json.dumps(record_dict(record), separators=(",", ":")) + "\n"
        with self._lock:
            if self._failed or self._closed:
                return
            try:
                if self._file is None:
                    self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - open for the rest of the run
                self._file.write(line)
                self._file.flush()
            except OSError as exc:  # only the record of an interrupted run is lost; report.json still says all
                self._failed = True
                log.warning("cannot write %s (%s): records are no longer written as they finish", self.path, exc)

    def listener(self, on_event: Callable[[Event], None]) -> Callable[[Event], None]:
        """``on_event`` that also writes the record of each image done."""
        def listen(event: Event) -> None:
            if event.kind == "done" and event.record is not None:
                self.write(event.record)
            on_event(event)
        return listen

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()


def records_in(path: str | Path) -> Iterator[ImageRecord]:
    """The records a journal holds, one line at a time; a line cut off by a kill (the last) is left out."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.endswith("\n"):
                return  # written in part when the run was killed
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise InputError(f"not a record ({exc})", file=str(path), line=n + 1) from None
            yield record_from_dict(data, n, n + 1, str(path))


def remove(output_dir: str | Path) -> None:
    """Remove the journal once report.json holds every record."""
    (Path(output_dir) / RECORDS_FILE).unlink(missing_ok=True)
