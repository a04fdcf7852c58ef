"""The live display of a run on a terminal, drawn by rich (as typer's own output is): one bar per image in
flight (bytes moved of its total, rate, time left) under an overall bar (images done of planned, bytes moved, rate).
Lines printed meanwhile (an image that did not get everywhere, a signal's message, a warning) go above the bars
and stay there; the bars are redrawn from each image's ``ImageProgress`` a few times a second."""

from __future__ import annotations

import atexit
from typing import Callable, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from .image_progress import ImageProgress
from .plan import CopyJob

REFRESHES_PER_SECOND = 4


class _Bars(Progress):
    """rich's progress bars, brought up to date from the images' progress just before each redraw."""

    def __init__(self, sync: Callable[[], None], *columns, **kw) -> None:
        self._bring_up_to_date = sync  # before rich's own set-up, which may draw already
        super().__init__(*columns, **kw)

    def get_renderables(self):
        self._bring_up_to_date()
        yield from super().get_renderables()


class LiveDisplay:
    def __init__(self, stream: TextIO, planned: int, moved: Callable[[], int]) -> None:
        self._console = Console(file=stream, highlight=False, soft_wrap=True)
        self._planned = planned
        self._done = 0
        self._moved = moved
        self._images: dict[int, tuple[TaskID, ImageProgress]] = {}  # by id(job)
        self._overall: TaskID | None = None
        self._bars = _Bars(self._sync,
                           *(TextColumn("{task.description}"), BarColumn(bar_width=24), DownloadColumn(),
                             TransferSpeedColumn(), TimeRemainingColumn()),
                           console=self._console, refresh_per_second=REFRESHES_PER_SECOND, transient=False,
                           redirect_stdout=False, redirect_stderr=True)
        self._overall = self._bars.add_task(self._overall_text(), total=None)
        self._bars.start()
        # a command that ends before ``stop`` (an error after planning) must not leave the cursor hidden
        atexit.register(self._bars.stop)

    def _overall_text(self) -> str:
        return f"[bold]{self._done}/{self._planned} images[/bold]"

    def _sync(self) -> None:
        if self._overall is None:  # still being set up
            return
        moved = self._moved()
        ahead = 0  # bytes the images in flight have still to move
        for task, progress in list(self._images.values()):
            done, total = progress.snapshot()
            ahead += total - done
            self._bars.update(task, completed=done, total=total or None)
        # the overall total grows as images start: what moved so far and what those in flight have yet to move
        self._bars.update(self._overall, description=self._overall_text(), completed=moved,
                          total=(moved + ahead) or None)

    def started(self, job: CopyJob, progress: ImageProgress) -> None:
        name = str(job)
        if len(name) > 60:
            name = "…" + name[-59:]
        self._images[id(job)] = (self._bars.add_task(f"  {escape(name)}", total=None), progress)

    def finished(self, job: CopyJob | None, done: int, planned: int) -> None:
        self._done, self._planned = done, planned
        entry = self._images.pop(id(job), None)
        if entry is not None:
            self._bars.remove_task(entry[0])

    def line(self, text: str) -> None:
        """A line above the bars, where it stays."""
        self._console.print(escape(text), markup=True, highlight=False)

    def stop(self) -> None:
        self._sync()
        self._bars.stop()
        atexit.unregister(self._bars.stop)
