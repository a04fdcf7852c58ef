"""One blob read streamed into several uploads at once (``_tee``), and the small pieces around it: counting what is
read and telling a source error from a sink's (``_Counter``), going on from an offset (``_skip``).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator

from ..registry import retry


class _Counter:
    """Counts bytes pulled through an iterator and remembers an error the source raised (vs. the sink)."""

    def __init__(self, on_chunk: Callable[[int], None] | None = None) -> None:
        self.n = 0
        self.source_error: BaseException | None = None
        self._on_chunk = on_chunk  # told each chunk's size as it passes (an image's progress)

    def wrap(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                self.n += len(chunk)
                if self._on_chunk is not None:
                    self._on_chunk(len(chunk))
                yield chunk
        except GeneratorExit:  # closed by its consumer (an upload going on from a read of its own)
            raise
        except BaseException as exc:
            self.source_error = exc
            raise


def _skip(chunks: Iterable[bytes], n: int) -> Iterator[bytes]:
    """``chunks`` without their first ``n`` bytes."""
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield chunk[n:] if n else chunk
        n = 0


_END = object()


class _Abort:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Feed:
    """One consumer's stream of a ``_tee``. Closing it — done, or by a consumer that goes on from a read of its
    own, even before its first chunk (a generator closed before it started would not say so) — tells the producer
    to feed it no more, so the other consumers are never held up waiting for it."""

    def __init__(self, source: queue.Queue, on_close: Callable[[], None]) -> None:
        self._source = source
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        item = self._source.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Abort):
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        self._closed = True
        self._on_close()


def _tee(chunks: Iterable[bytes], sinks: list[Callable[[Iterator[bytes]], None]]) -> list[BaseException | None]:
    """Feed one stream to several consumers running in their own threads, with bounded buffering.

    A consumer that fails is dropped (the others go on); a source error aborts every consumer.
    """
    queues: list[queue.Queue] = [queue.Queue(maxsize=4) for _ in sinks]
    errors: list[BaseException | None] = [None] * len(sinks)
    alive = [True] * len(sinks)
    owner = retry.current_owner()  # the image the consumers' retries are counted for

    def run(i: int) -> None:
        retry.bind_owner(owner)
        try:
            sinks[i](_Feed(queues[i], lambda: alive.__setitem__(i, False)))
        except BaseException as exc:  # noqa: BLE001
            errors[i] = exc
        finally:
            alive[i] = False

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(sinks))]
    for th in threads:
        th.start()

    def put(i: int, item: object) -> None:
        while alive[i]:
            try:
                queues[i].put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    try:
        for chunk in chunks:
            for i in range(len(sinks)):
                put(i, chunk)
    except BaseException as exc:
        for i in range(len(sinks)):
            put(i, _Abort(exc))
        for th in threads:
            th.join()
        raise
    for i in range(len(sinks)):
        put(i, _END)
    for th in threads:
        th.join()
    return [e if e is not None else None for e in errors]
