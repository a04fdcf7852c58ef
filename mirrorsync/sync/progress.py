"""How a run tells a person (or a log collector) what it is doing: a live line on a terminal, plain lines
otherwise, JSON lines with ``--log-format json``. Everything goes to stderr; stdout is for results."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from typing import TextIO

from .report import ImageRecord
from .job_runner import Event
from .status import OK_STATUSES, Status

log = logging.getLogger(__name__)


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def describe(record: ImageRecord) -> str:
    sent = sum(d.bytesSent for d in record.destinations)
    skipped = sum(d.bytesSkipped for d in record.destinations)
    line = f"{record.status:<10} {record.reference}"
    if record.digest and record.tag:
        line += f" ({record.digest[:19]})"
    if record.status in (Status.COPIED, Status.PARTIAL):
        line += f" sent {_human(sent)}, skipped {_human(skipped)}"
    if record.error:
        line += f": {record.error}"
    return line


class Progress:
    def __init__(self, *, log_format: str = "text", stream: TextIO | None = None, quiet: bool = False) -> None:
        # quiet (``-q``): only the images that did not get everywhere (failed, partial, skipped) are printed
        self.quiet = quiet
        self.stream = stream or sys.stderr  # None when the process was started with stderr closed
        self.json = log_format == "json"
        # Progress is a courtesy: once its stream fails (closed, a reader gone), the run goes on without it.
        self.broken = self.stream is None
        try:
            # quiet prints only lines that must stay on screen: plain lines, never a live line overwriting them
            self.live = not self.json and not self.quiet and not self.broken and self.stream.isatty()
        except (OSError, ValueError):
            self.live, self.broken = False, True
        self.total = 0
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "planned":
                self.total = event.total
                if self.quiet:
                    return
                self._emit({"event": "planned", "images": event.total}, f"planned {event.total} image(s)")
            elif event.kind == "done" and event.record is not None:
                self.done += 1
                rec = event.record
                if rec.status not in OK_STATUSES:
                    self.failed += 1
                elif self.quiet:
                    return
                self._emit({"event": "image", "reference": rec.reference, "status": rec.status,
                            "digest": rec.digest, "error": rec.error,
                            "bytesSent": sum(d.bytesSent for d in rec.destinations)},
                           f"[{self.done}/{self.total}] {describe(rec)}")

    def _emit(self, obj: dict, text: str) -> None:
        if self.broken:
            return
        try:
            self._write(obj, text)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
            self.broken = True
            log.warning("progress output failed (%s); the run goes on without it", exc)

    def _write(self, obj: dict, text: str) -> None:
        if self.json:
            obj["time"] = round(time.time(), 3)
            self.stream.write(json.dumps(obj, sort_keys=True) + "\n")
        elif self.live:
            # keep a single status line, but leave failures on screen
            status = f"\r\033[K{text}"
            if self.failed and "failed" in text.split(" ", 3)[1:2]:
                status += "\n"
            self.stream.write(status)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            with self._lock:
                if not self.broken:
                    with contextlib.suppress(OSError, ValueError):
                        self.stream.write("\n")
                        self.stream.flush()


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": round(record.created, 3), "level": record.levelname.lower(),
                           "logger": record.name, "message": record.getMessage()}, sort_keys=True)


def setup_logging(log_format: str, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if log_format == "json" else logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger("mirrorsync")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False
    # httpx logs every request URL at INFO; upload URLs carry session state, keep them out of our logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
