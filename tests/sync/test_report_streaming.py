"""report.json is written as a stream, one image record at a time: the bytes are exactly those of the whole-dict
serialisation it replaced, memory does not hold every record twice, and a failure while writing leaves the
previous report in place."""

import json
import os
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report, _json_text, load


def old_bytes(report: Report) -> bytes:
    # What Report.save wrote before it streamed: the whole document as one dict, then one string.
    return (json.dumps(report.to_dict(), indent=2) + "\n").encode("utf-8")


def image(n: int, **kw) -> ImageRecord:
    dests = [DestinationRecord("mirror.example:5000/m", f"mirror.example:5000/m/team/app{n % 7}", "copied",
                               bytesSent=n * 1000, blobsSent=2, manifestsPushed=1),
             DestinationRecord("backup.example/m", f"backup.example/m/team/app{n % 7}", "failed",
                               error=f"HTTP 503 for blob {n}", onMirror=bool(n % 2))]
    fields = dict(source=f"quay.io/team/app{n % 7}", tag=f"v{n}", digest=f"sha256:{n:064x}", status="partial",
                  mediaType="application/vnd.oci.image.index.v1+json", children=[f"sha256:{n + 1:064x}"],
                  destinations=dests, bytesRead=n * 1000, retries=n % 3)
    fields.update(kw)
    return ImageRecord(**fields)


def report(images: list[ImageRecord], **kw) -> Report:
    fields = dict(manifest="sync.yaml", engine="native", mirrors=["mirror.example:5000/m", "backup.example/m"],
                  startedAt="2026-11-30T21:00:00Z", finishedAt="2026-11-30T21:01:00Z", status="PartiallyFailed",
                  images=images, retries=4)
    fields.update(kw)
    return Report(**fields)


@pytest.mark.parametrize("rep", [
    report([image(n) for n in (5, 3, 11, 0, 8)],  # unsorted: the file sorts them
           removedEntries=[{"source": "quay.io/old", "mirror": "mirror.example:5000/m", "mirrorSets": ["digest"],
                            "reason": "no longer in the manifest"}]),
    report([]),  # no images: "images": []
    report([image(1, tag=None, error="ünïcode — and \"quotes\"\nand a newline", mirrorSets=[], children=[],
                  mirrorSourcePolicy="NeverContactSource", scope="registry", mirroredDigest="sha256:" + "e" * 64)],
           manifest=None, mirrors=[], finishedAt=None, status="Interrupted"),
], ids=["records", "empty", "odd-values"])
def test_bytes_identical_to_the_whole_dict_serialisation(tmp_path, rep):
    path = tmp_path / "report.json"
    rep.save(str(path))
    assert path.read_bytes() == old_bytes(rep)
    assert rep.to_json().encode() == old_bytes(rep)
    assert load(str(path)).to_dict() == rep.to_dict()


def test_writing_does_not_hold_every_record_twice(tmp_path):
    rep = report([image(n) for n in range(3000)])
    tracemalloc.start()
    try:
        rep.save(str(tmp_path / "streamed.json"))
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        text = json.dumps(rep.to_dict(), indent=2) + "\n"  # the old way: every record as a dict, then all text
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(text) > 3_000_000
    # the whole-dict way peaks at several MB for 3000 records; the stream at a few records (generous bound)
    assert streamed_peak < whole_peak / 10, (streamed_peak, whole_peak)


def test_a_failure_while_writing_leaves_the_previous_report(tmp_path):
    path = tmp_path / "report.json"
    good = report([image(1)])
    good.save(str(path))
    bad = report([image(n) for n in range(50)] + [image(99, mediaType={"not": {"json", "able"}})])
    with pytest.raises(TypeError):
        bad.save(str(path))
    assert path.read_bytes() == old_bytes(good)
    assert os.listdir(tmp_path) == ["report.json"]  # no temporary file left beside it


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    | st.dictionaries(st.integers(), children, max_size=2),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=json_values, depth=st.integers(min_value=0, max_value=3))
def test_record_text_is_json_dumps_text(value, depth):
    indent = "  " * depth
    assert _json_text(value, indent) == json.dumps(value, indent=2).replace("\n", "\n" + indent)
