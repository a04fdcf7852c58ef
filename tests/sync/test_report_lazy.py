"""A report file is read lazily: ``load`` checks every record in one pass and holds none, its ``images`` are read
from the file again on each pass, whatever the file's whitespace, and a bad record deep in the file is a one-line
error naming its line and ``images[n]``. A report of 100,000 images goes through generate's path (the mirror sets)
and carry-over's index in a fraction of what loading it whole costs."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from mirrorsync.errors import InputError
from mirrorsync.sync.carryover import held_index
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report, load, loads, mirrored_sources

N = 100_000


def image(n: int, repos: int) -> ImageRecord:
    repo = f"team{n % repos:05d}/app"
    return ImageRecord(
        source=f"quay.io/{repo}", tag=f"v{n}", digest=f"sha256:{n:064x}", status="up-to-date",
        mediaType="application/vnd.oci.image.manifest.v1+json",
        destinations=[DestinationRecord("mirror.example:5000/m", f"mirror.example:5000/m/{repo}", "up-to-date",
                                        bytesSkipped=1000, blobsSkipped=2)])


def report(n: int, repos: int) -> Report:
    return Report(manifest="sync.yaml", engine="native", mirrors=["mirror.example:5000/m"],
                  startedAt="2026-12-04T21:00:00Z", finishedAt="2026-12-04T21:30:00Z", status="Succeeded",
                  images=[image(i, repos) for i in range(n)])


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "report.json"
    report(N, repos=N // 5).save(str(path))  # 20,000 repositories x 5 tags
    return path


def peak(work) -> int:
    tracemalloc.start()
    try:
        result = work()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_a_report_of_100000_images_is_read_without_holding_it(big):
    def lazily():
        rep = load(str(big))
        return len(rep.images), mirrored_sources([rep]), len(held_index(rep))

    lazy_peak, (count, sources, held) = peak(lazily)
    whole_peak, whole = peak(lambda: loads(big.read_text(), str(big)))
    assert (count, held) == (N, N)
    assert len(whole.images) == N
    assert lazy_peak < 60_000_000, lazy_peak
    assert whole_peak > 2 * 60_000_000, whole_peak  # what the bound saves: the old whole load is past it
    # the same mirror sets as a small report of the same repositories gives
    assert len(sources) == N // 5
    assert sources == mirrored_sources([report(N // 5, repos=N // 5)])


def test_each_pass_reads_the_same_records_as_loading_the_text_whole(tmp_path):
    path = tmp_path / "report.json"
    rep = report(50, repos=7)
    rep.save(str(path))
    lazy = load(str(path))
    assert list(lazy.images) == list(lazy.images) == loads(path.read_text()).images
    assert lazy.to_json() == path.read_text()  # written again as it was (the file's order: no sort needed)
    assert lazy.images.in_order


@pytest.mark.parametrize("layout", ["compact", "crlf", "indent-4", "jq-like"])
def test_reports_of_any_whitespace_load_lazily_with_the_same_records(tmp_path, layout):
    rep = report(30, repos=4)
    rep.removedEntries = [{"source": "quay.io/old", "mirror": "mirror.example:5000/m", "mirrorSets": ["tag"],
                           "reason": "gone"}]
    data = rep.to_dict()
    text = {"compact": json.dumps(data, separators=(",", ":")),
            "crlf": json.dumps(data, indent=2).replace("\n", "\r\n") + "\r\n",
            "indent-4": json.dumps(data, indent=4),
            "jq-like": "\n\t " + json.dumps(data, indent="\t").replace(": ", " :  ") + "\n\n"}[layout]
    path = tmp_path / "report.json"
    path.write_bytes(text.encode())
    lazy = load(str(path))
    assert len(lazy.images) == 30
    assert list(lazy.images) == loads(text).images  # in the file's order: the report's, sorted
    assert lazy.to_dict() == rep.to_dict()


def test_a_window_boundary_inside_a_record_or_a_number_is_read_on(tmp_path):
    # records far larger than the reading window, and a top-level number cut by a window's end
    rep = report(3, repos=1)
    rep.images[1].error = "x" * 300_000
    rep.retries = 123456789
    data = rep.to_dict()
    path = tmp_path / "report.json"
    text = json.dumps(data)
    cut = (1 << 16) - text.index('"retries": 123456789') - len('"retries": 1234')
    path.write_text(" " * cut + text)
    lazy = load(str(path))
    assert list(lazy.images) == loads(path.read_text()).images and lazy.retries == 123456789


def lines_report(records: list[str]) -> str:
    """A report with one compact record per line: record n is on line n + 2."""
    head = json.dumps({"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport", "engine": "native",
                       "mirrors": ["mirror.example:5000/m"], "startedAt": ""})[:-1]
    return head + ', "images": [\n' + ",\n".join(records) + '\n]}\n'


@pytest.fixture(scope="module")
def records():
    one = json.dumps(report(1, repos=1).to_dict()["images"][0])
    return [one.replace('"v0"', f'"v{n}"') for n in range(N)]


def test_a_malformed_record_at_70000_names_its_line_and_index(tmp_path, records):
    bad = list(records)
    bad[70_000] = bad[70_000].replace('"status"', '"statu"', 1)
    path = tmp_path / "report.json"
    path.write_text(lines_report(bad))
    with pytest.raises(InputError) as exc:
        load(str(path))
    assert (exc.value.line, exc.value.field) == (70_002, "images[70000]")
    assert str(exc.value).startswith(f"{path}:70002: images[70000]: malformed report: ")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("damage", [('"tag": "v70000",', '"tag": "v70000"'),  # a comma lost
                                    ('"digest": ', '"digest" '),  # a colon lost
                                    ('"bytesRead": 0', '"bytesRead": 0x'),  # not a number
                                    ('"mirroredDigest": null}', '"mirroredDigest": "null}')])  # a quote too many
def test_invalid_json_at_record_70000_is_the_error_json_gives(tmp_path, records, damage):
    bad = list(records)
    bad[70_000] = bad[70_000].replace(*damage, 1)
    assert bad[70_000] != records[70_000]
    text = lines_report(bad).replace("\n", "\n  ")  # and whitespace that is not one record a line
    path = tmp_path / "report.json"
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(InputError) as exc:
        load(str(path))
    assert exc.value.line == expected.value.lineno == 70_002
    assert exc.value.message == f"not a mirrorsync report: invalid JSON ({expected.value.msg})"


@pytest.mark.parametrize("text, message", [
    ("", "invalid JSON (Expecting value)"),
    ("[]", "kind must be SyncReport"),
    ('{"kind": "SyncReport"} x', "invalid JSON (Extra data)"),
    ('{"kind": "SyncReport", "apiVersion": "mirrorsync.dev/v1alpha1", "images": [{}]', "invalid JSON"),
    ('{"kind": "Other", "images": [{"bogus": 1}]}', "kind must be SyncReport"),
])
def test_files_that_are_no_report_are_the_errors_they_were(tmp_path, text, message):
    path = tmp_path / "report.json"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load(str(path))
    with pytest.raises(InputError) as whole:
        loads(text, str(path))
    assert message in str(exc.value)
    assert exc.value.message.split(" (")[0] == whole.value.message.split(" (")[0]
