"""What ``run``, ``export`` and ``import`` share around their library call: logging and the progress display, the
output directory's lock, and SIGINT/SIGTERM meaning "finish the images in flight", then "abandon them"; and how every
line for whoever watches is written (``note``): text, or with ``--log-format json`` one JSON object a line."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import typer


class Session:
    """One copying command. ``stop`` and ``abandon`` go to the runner (``Runner`` or the air-gap functions)."""

    def __init__(self, log_format: str, verbose: bool, quiet: bool = False) -> None:
        from ..sync.progress import Progress, setup_logging  # the library loads when a command needs it

        set_log_format(log_format)
        setup_logging(log_format, verbose)
        self.progress = Progress(log_format=log_format, quiet=quiet)
        global _progress
        _progress = self.progress  # notes go above its live display, never into it
        self.stop = threading.Event()
        # set after ``stop`` (a second signal): images in flight are reported failed and not waited for
        self.abandon = threading.Event()

    @contextlib.contextmanager
    def locked(self, output_dir: Path) -> Iterator[None]:
        """Hold ``output_dir``'s lock, and from now on take signals as stop, then abandon."""
        from ..pipeline.outputs import output_lock

        with output_lock(output_dir):
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
            yield

    def _on_signal(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            note(f"received {name} again: abandoning images in flight")
            self.abandon.set()
            return
        grace = stop_grace()
        note(f"received {name}: finishing images in flight, starting no new ones (again to abandon them; "
             f"abandoned anyway after {grace:g}s)")
        self.stop.set()
        # A transfer stuck on a server that trickles bytes must not outlive the grace a scheduler gives (Kubernetes
        # sends SIGKILL 30 s after SIGTERM by default): then the report would never be written.
        timer = threading.Timer(grace, self._grace_over, args=(grace,))
        timer.daemon = True
        timer.start()

    def _grace_over(self, grace: float) -> None:
        if not self.abandon.is_set():
            note(f"images still in flight {grace:g}s after the signal: abandoning them")
            self.abandon.set()

    @contextlib.contextmanager
    def reporting(self) -> Iterator[None]:
        """Around the summary and exit code. After a second signal the report is written; threads still moving
        abandoned blobs would hold up the interpreter's exit, so leave without waiting for them."""
        try:
            yield
        finally:
            if self.abandon.is_set():
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(1)


DEFAULT_STOP_GRACE = 20.0


def stop_grace() -> float:
    """Seconds from the first SIGINT/SIGTERM to abandoning what is still in flight: ``MIRRORSYNC_STOP_GRACE``, else
    20 (inside the 30 s Kubernetes gives a pod before SIGKILL, with time left to write the report)."""
    try:
        value = float(os.environ.get("MIRRORSYNC_STOP_GRACE", ""))
    except ValueError:
        return DEFAULT_STOP_GRACE
    return value if 0 <= value < float("inf") else DEFAULT_STOP_GRACE


_json_lines = False
_progress = None  # the running command's Progress, whose live display a note must not be written into


def set_log_format(log_format: str) -> None:
    """``json``: from now on ``note`` and ``result_line`` write JSON objects, one a line (``--log-format json``)."""
    global _json_lines
    _json_lines = log_format == "json"


def json_lines() -> bool:
    return _json_lines


def note(text: str, *, level: str = "info", event: str = "message", **fields: Any) -> None:
    """A line on stderr for whoever watches; a stderr nobody reads any more (closed, its reader gone) must not
    change what a sync does or its exit code. With ``--log-format json`` an object: ``event``, ``level``,
    ``message`` (the text line), ``time`` and the ``fields`` given."""
    line = _line(text, level, event, fields)
    if _progress is not None and _progress.print_line(line):
        return
    with contextlib.suppress(OSError, ValueError):
        typer.echo(line, err=True)


def result_line(text: str, *, event: str = "written", **fields: Any) -> None:
    """A line on stdout (a file written, an archive part): the text alone, or with ``--log-format json`` an object
    (``event``, ``time`` and the ``fields``)."""
    if _json_lines:
        typer.echo(json.dumps({"event": event, "time": round(time.time(), 3), **fields}, sort_keys=True))
    else:
        typer.echo(text)


def _line(text: str, level: str, event: str, fields: dict[str, Any]) -> str:
    if not _json_lines:
        return text
    return json.dumps({"event": event, "level": level, "message": text, "time": round(time.time(), 3), **fields},
                      sort_keys=True, default=str)
