"""How far one image in flight is, as the engine tells it: the bytes it has to move (known once its manifests are
read) and the bytes moved so far. The engine only adds to it (from its blob threads); whoever shows progress reads
it when it likes, so a fast copy costs a lock and an addition per chunk, no event."""

from __future__ import annotations

import threading
import time


class ImageProgress:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0  # bytes this image's blobs come to (those a mirror already holds count as moved at once)
        self.done = 0
        self.started = time.monotonic()

    def expect(self, n: int) -> None:
        """``n`` more bytes to move."""
        with self._lock:
            self.total += n

    def add(self, n: int) -> None:
        """``n`` more bytes moved (read from the source, or found on every mirror already)."""
        with self._lock:
            self.done += n

    def snapshot(self) -> tuple[int, int]:
        """(done, total); done never past total (a blob read again after a digest mismatch)."""
        with self._lock:
            return min(self.done, max(self.total, self.done)), max(self.total, self.done)
