"""Progress without a terminal: one line per image finished, a heartbeat line while images move (bytes from the
engine's ``ImageProgress``), JSON objects with ``--log-format json``, nothing but failures with ``quiet``."""

import io
import json
import time

from mirrorsync.sync.image_progress import ImageProgress
from mirrorsync.sync.job_runner import Event
from mirrorsync.sync.progress import Progress
from mirrorsync.sync.report import ImageRecord


def beat_until(progress: Progress, stream: io.StringIO, needle: str) -> str:
    deadline = time.monotonic() + 30
    while needle not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream.getvalue()


def run_one(log_format: str, quiet: bool = False, status: str = "copied") -> str:
    stream = io.StringIO()
    progress = Progress(log_format=log_format, stream=stream, quiet=quiet, heartbeat=0.02)
    job, moving = object(), ImageProgress()
    progress(Event("planned", total=2))
    progress(Event("start", job=job, progress=moving))  # type: ignore[arg-type]
    moving.expect(3 << 20)
    moving.add(1 << 20)
    if not quiet:
        beat_until(progress, stream, "heartbeat" if log_format == "json" else "... ")
    record = ImageRecord(source="quay.io/a/b", tag="v1", digest="sha256:" + "1" * 64, status=status)
    progress(Event("done", job=job, record=record))  # type: ignore[arg-type]
    progress.finish()
    return stream.getvalue()


def test_a_heartbeat_says_images_and_bytes_moved_and_the_finished_image_has_its_line():
    text = run_one("text")
    beats = [line for line in text.splitlines() if line.startswith("... ")]
    assert beats and beats[0].startswith("... 0/2 images done, 1 in flight, 1.0 MiB moved, "), text
    assert "[1/2] copied     quay.io/a/b:v1" in text


def test_json_heartbeats_are_objects_with_the_counts():
    lines = [json.loads(line) for line in run_one("json").splitlines()]
    beat = next(line for line in lines if line["event"] == "heartbeat")
    assert (beat["images"], beat["total"], beat["inFlight"], beat["bytes"]) == (0, 2, 1, 1 << 20)
    assert lines[-1]["event"] == "image" and lines[-1]["status"] == "copied"


def test_quiet_prints_no_heartbeat_and_only_what_failed():
    assert run_one("text", quiet=True) == ""
    assert run_one("text", quiet=True, status="failed").startswith("[1/2] failed")


def test_an_image_progress_never_says_more_done_than_its_total():
    moving = ImageProgress()
    moving.expect(10)
    moving.add(15)  # a blob read again after a digest mismatch
    assert moving.snapshot() == (15, 15)
