"""The fan-out of one source read to several mirrors (``copy._tee``)."""

from __future__ import annotations

import threading

from mirrorsync.sync.copy import _tee


def test_a_consumer_that_closes_its_stream_before_reading_never_holds_up_the_others():
    # A mirror whose first PATCH/PUT fails at connect closes the shared stream unread and goes on from a read of
    # its own (a resumed upload); the producer must stop feeding it at once, not when that upload ends.
    chunks = [bytes([i]) * 10 for i in range(50)]  # far more than the per-consumer buffer
    others_done = threading.Event()
    received: list[bytes] = []

    def resumes_on_its_own(stream) -> None:
        stream.close()
        assert others_done.wait(10), "the other consumer was held up by this one"

    def reads_everything(stream) -> None:
        received.extend(stream)
        others_done.set()

    errors = _tee(iter(chunks), [resumes_on_its_own, reads_everything])

    assert errors == [None, None]
    assert received == chunks
