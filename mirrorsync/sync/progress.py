"""How a run tells a person (or a log collector) what it is doing: live bars on a terminal, plain lines and a
heartbeat otherwise, JSON lines with ``--log-format json``. Everything goes to stderr; stdout is for results."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from typing import TextIO

from .image_progress import ImageProgress
from .job_runner import Event
from .live_display import LiveDisplay
from .report import ImageRecord
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


DEFAULT_HEARTBEAT = 30.0


def heartbeat_interval() -> float:
    """Seconds between two heartbeat lines when stderr is no terminal: ``MIRRORSYNC_HEARTBEAT``, else 30 (0: none)."""
    try:
        value = float(os.environ.get("MIRRORSYNC_HEARTBEAT", ""))
    except ValueError:
        return DEFAULT_HEARTBEAT
    return value if 0 <= value < float("inf") else DEFAULT_HEARTBEAT


class Progress:
    """What a run says as it goes, from the job runner's events (``Event``) and what the engine tells each image's
    ``ImageProgress``. On a terminal: a live display (``live_display.py``) of every image in flight (bytes of its
    total, rate, ETA) under an overall bar, with the lines that matter (``partial``, ``skipped``, ``failed``)
    printed above it, where they stay. Otherwise (a file, a pipe, a CronJob's log, ``--log-format json``): one
    line per image finished and, every ``heartbeat`` seconds, one line of how far the run is (images, bytes,
    rate). ``quiet`` (``-q``): only the images that did not get everywhere."""

    def __init__(self, *, log_format: str = "text", stream: TextIO | None = None, quiet: bool = False,
                 heartbeat: float | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr  # None when the process was started with stderr closed
        self.json = log_format == "json"
        # Progress is a courtesy: once its stream fails (closed, a reader gone), the run goes on without it.
        self.broken = self.stream is None
        try:
            # quiet prints only lines that must stay on screen: plain lines, never a live display
            self.live = not self.json and not self.quiet and not self.broken and self.stream.isatty()
        except (OSError, ValueError):
            self.live, self.broken = False, True
        self.heartbeat = heartbeat_interval() if heartbeat is None else heartbeat
        self.total = 0
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._in_flight: dict[int, ImageProgress] = {}  # by id(job)
        self._bytes_finished = 0  # bytes moved by the images done
        self._display: LiveDisplay | None = None
        self._stopped = threading.Event()
        self._beats: threading.Thread | None = None

    # --- what the run tells ---------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "planned":
                self.total = event.total
                self._start()
                if self.quiet:
                    return
                self._emit({"event": "planned", "images": event.total}, f"planned {event.total} image(s)")
            elif event.kind == "start" and event.job is not None and event.progress is not None:
                self._in_flight[id(event.job)] = event.progress
                if self._display is not None:
                    self._display.started(event.job, event.progress)
            elif event.kind == "done" and event.record is not None:
                self.done += 1
                rec = event.record
                moved = self._in_flight.pop(id(event.job), None)
                if moved is not None:
                    self._bytes_finished += moved.snapshot()[0]
                if self._display is not None:
                    self._display.finished(event.job, self.done, self.total)
                if rec.status not in OK_STATUSES:
                    self.failed += 1
                elif self.quiet or self._display is not None:
                    return  # on a terminal the bars say it; a line stays for what did not get everywhere
                self._emit({"event": "image", "reference": rec.reference, "status": rec.status,
                            "digest": rec.digest, "error": rec.error,
                            "bytesSent": sum(d.bytesSent for d in rec.destinations)},
                           f"[{self.done}/{self.total}] {describe(rec)}")

    def moved(self) -> int:
        """Bytes moved so far by the run: the images done and those in flight."""
        return self._bytes_finished + sum(p.snapshot()[0] for p in list(self._in_flight.values()))

    # --- the live display, or the heartbeat -----------------------------------------------------------------------

    def _start(self) -> None:
        if self.broken or self._display is not None or self._beats is not None:
            return
        if self.live:
            try:
                self._display = LiveDisplay(self.stream, self.total, self.moved)
            except (OSError, ValueError) as exc:
                self.live, self.broken = False, True
                log.warning("progress output failed (%s); the run goes on without it", exc)
        elif not self.quiet and self.heartbeat > 0:
            self._beats = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
            self._beats.start()

    def _beat(self) -> None:
        last_time, last_bytes = time.monotonic(), 0
        while not self._stopped.wait(self.heartbeat):
            with self._lock:
                now, moved = time.monotonic(), self.moved()
                rate = (moved - last_bytes) / max(now - last_time, 1e-6)
                last_time, last_bytes = now, moved
                self._emit({"event": "heartbeat", "images": self.done, "total": self.total,
                            "inFlight": len(self._in_flight), "bytes": moved, "bytesPerSecond": round(rate)},
                           f"... {self.done}/{self.total} images done, {len(self._in_flight)} in flight, "
                           f"{_human(moved)} moved, {_human(int(rate))}/s")

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
        elif self._display is not None:
            self._display.line(text)  # above the bars, where it stays
            return
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def print_line(self, text: str) -> bool:
        """Print ``text`` above the live display, on a line of its own (a signal's message, a note); False when
        there is no live display to print through."""
        display = self._display
        if display is None:
            return False
        with contextlib.suppress(OSError, ValueError):
            display.line(text)
        return True

    def finish(self) -> None:
        """The run is done: the live display ends with its last state, the heartbeat stops."""
        self._stopped.set()
        with self._lock:
            display, self._display = self._display, None
        if display is not None:
            with contextlib.suppress(OSError, ValueError):
                display.stop()


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": round(record.created, 3), "level": record.levelname.lower(),
                           "logger": record.name, "message": record.getMessage()}, sort_keys=True)


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written: while the live display runs, its proxy, which prints
    the line above the bars instead of into them."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def setup_logging(log_format: str, verbose: bool) -> None:
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(JsonLogFormatter() if log_format == "json" else logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger("mirrorsync")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False
    # httpx logs every request URL at INFO; upload URLs carry session state, keep them out of our logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
