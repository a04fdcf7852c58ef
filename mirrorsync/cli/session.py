"""What ``run``, ``export`` and ``import`` share around their library call: logging and the progress display, the
output directory's lock, and SIGINT/SIGTERM meaning "finish the images in flight", then "abandon them"."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

import typer


class Session:
    """One copying command. ``stop`` and ``abandon`` go to the runner (``Runner`` or the air-gap functions)."""

    def __init__(self, log_format: str, verbose: bool) -> None:
        from ..sync.progress import Progress, setup_logging  # the library loads when a command needs it

        setup_logging(log_format, verbose)
        self.progress = Progress(log_format=log_format)
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
        note(f"received {name}: finishing images in flight, starting no new ones (again to abandon them)")
        self.stop.set()

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


def note(text: str) -> None:
    """A line on stderr for whoever watches; a stderr nobody reads any more (closed, its reader gone) must not
    change what a sync does or its exit code."""
    with contextlib.suppress(OSError, ValueError):
        typer.echo(text, err=True)
