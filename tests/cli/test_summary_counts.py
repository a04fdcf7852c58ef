"""The summary a sync ends with says what report.json says: counts by the report's statuses, and "kept on the
mirrors from earlier runs" only for what an earlier run really left there."""

from __future__ import annotations

from mirrorsync.cli.outputs import counts_text, kept_from_earlier_runs, status_counts
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report


def _dest(status: str, on_mirror: bool | None = None) -> DestinationRecord:
    return DestinationRecord(mirror="m.example/ns", repository="m.example/ns/app", status=status, onMirror=on_mirror)


def _report(*images: ImageRecord) -> Report:
    return Report(manifest=None, engine="native", mirrors=["m.example/ns"], startedAt="t", images=list(images))


def _image(status: str, *dests: DestinationRecord) -> ImageRecord:
    return ImageRecord(source="s.example/app", tag="v1", digest="sha256:" + "0" * 64, status=status,
                       destinations=list(dests))


def test_a_partial_image_done_this_run_is_not_kept_from_an_earlier_run():
    # two mirrors: one reached this run, the other failed (and held nothing before: a fresh output directory)
    rep = _report(_image("partial", _dest("copied"), _dest("failed")))
    assert kept_from_earlier_runs(rep) == 0


def test_a_failed_destination_an_earlier_run_filled_is_kept():
    rep = _report(_image("failed", _dest("failed", on_mirror=True)), _image("failed", _dest("failed")))
    assert kept_from_earlier_runs(rep) == 1


def test_interrupted_images_count_as_skipped_not_failed():
    rep = _report(_image("copied", _dest("copied")), _image("up-to-date", _dest("up-to-date")),
                  _image("failed", _dest("failed")), _image("skipped"), _image("skipped"),
                  _image("partial", _dest("copied"), _dest("failed")))
    counts = status_counts(rep)
    assert counts == {"copied": 1, "upToDate": 1, "partial": 1, "failed": 1, "skipped": 2}
    assert counts_text(counts, ("copied", "copied"), ("upToDate", "up to date")) == \
        "1 copied, 1 up to date, 1 partial, 1 failed, 2 skipped"
    assert counts_text(status_counts(_report(_image("copied", _dest("copied")))), ("copied", "copied"),
                       ("upToDate", "up to date")) == "1 copied, 0 up to date, 0 failed"
