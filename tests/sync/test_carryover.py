"""Unit tests of what a run keeps from the previous report (``carryover``); the real registry is in
tests/integration/test_keep_entries.py. Nothing here connects anywhere: the mirror is a set of (repository, digest)."""

from __future__ import annotations

import json

import pytest

from mirrorsync.sync import report as report_mod
from mirrorsync.sync.carryover import reconcile
from mirrorsync.oci.content import Descriptor
from mirrorsync.errors import RegistryError
from mirrorsync.sync.manifest import parse
from mirrorsync.sync.plan import PlanFailure
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report, mirrored_sources

SRC = "src.example.com"
MIRROR = "mirror.example.com"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def manifest(images: str):
    return parse(f"""
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [{MIRROR}/m]
images:
{images}
""")


class FakeMirror:
    """The mirror host's store: holds ``have`` (repository below the host, digest); ``down`` raises."""

    def __init__(self, *have: tuple[str, str], down: bool = False) -> None:
        self.have = set(have)
        self.down = down
        self.asked: list[tuple[str, str]] = []

    def manifest_descriptor(self, repo: str, ref: str):
        self.asked.append((repo, ref))
        if self.down:
            raise RegistryError("connection refused")
        return Descriptor("application/vnd.oci.image.manifest.v1+json", ref, 1) if (repo, ref) in self.have else None


def record(repo: str, tag: str | None, digest: str | None, status: str, **kw) -> ImageRecord:
    dest = DestinationRecord(f"{MIRROR}/m", f"{MIRROR}/m/{repo}", status if status != "partial" else "failed")
    return ImageRecord(source=f"{SRC}/{repo}", tag=tag, digest=digest, status=status, destinations=[dest], **kw)


def rep(*images: ImageRecord) -> Report:
    return Report(manifest="m.yaml", engine="native", mirrors=[f"{MIRROR}/m"], startedAt="", images=list(images))


def run(new: Report, previous: Report | None, m, mirror: FakeMirror, failures=()) -> Report:
    reconcile(new, previous, m, list(failures), lambda host: mirror)
    return new


def sources(r: Report) -> dict[str, tuple[bool, bool]]:
    return {s.source: (s.by_digest, s.by_tag) for s in mirrored_sources([r])}


def test_a_failed_image_on_the_mirror_keeps_its_entry_with_the_digest_kept():
    m = manifest(f"  - source: {SRC}/a:v1")
    new = run(rep(record("a", "v1", D2, "failed")), rep(record("a", "v1", D1, "copied")), m,
              FakeMirror(("m/a", D1)))
    img = new.images[0]
    assert img.status == "failed" and img.onMirror and img.mirroredDigest == D1 and img.digest == D2
    assert img.held_digest(img.destinations[0]) == D1
    assert sources(new) == {f"{SRC}/a": (True, True)}
    assert new.removedEntries == [] and new.status == "Running"


def test_content_the_mirror_no_longer_holds_is_not_kept_and_the_removal_is_recorded():
    m = manifest(f"  - source: {SRC}/a:v1")
    mirror = FakeMirror()
    new = run(rep(record("a", "v1", None, "failed")), rep(record("a", "v1", D1, "up-to-date")), m, mirror)
    assert mirror.asked == [("m/a", D1)]
    assert not new.images[0].onMirror and new.images[0].mirroredDigest is None
    assert sources(new) == {}
    assert new.removedEntries == [{"source": f"{SRC}/a", "mirror": f"{MIRROR}/m/a", "mirrorSets": ["digest", "tag"],
                                   "reason": "this run could not copy its images and the mirror does not hold them"}]


def test_a_mirror_that_cannot_be_asked_keeps_its_entries_unconfirmed(caplog):
    # unknown is not absent: dropping the entry would take the mirror away from nodes that may still reach it
    m = manifest(f"  - source: {SRC}/a:v1")
    new = run(rep(record("a", "v1", None, "skipped")), rep(record("a", "v1", D1, "copied")), m,
              FakeMirror(("m/a", D1), down=True))
    assert new.images[0].onMirror and new.images[0].mirroredDigest == D1
    assert "kept from the previous report unconfirmed" in new.images[0].destinations[0].error
    assert "connection refused" in new.images[0].destinations[0].error
    assert "cannot confirm" in caplog.text
    assert sources(new) == {f"{SRC}/a": (True, True)}
    assert new.removedEntries == []


def test_kept_content_is_kept_again_by_the_next_failed_run():
    m = manifest(f"  - source: {SRC}/a:v1")
    mirror = FakeMirror(("m/a", D1))
    second = run(rep(record("a", "v1", None, "failed")), rep(record("a", "v1", D1, "copied")), m, mirror)
    previous = report_mod.loads(second.to_json())  # through the file, as the next run reads it
    third = run(rep(record("a", "v1", None, "failed")), previous, m, mirror)
    assert third.images[0].onMirror and third.images[0].mirroredDigest == D1


def test_what_this_run_copied_is_not_looked_up():
    m = manifest(f"  - source: {SRC}/a:v1")
    mirror = FakeMirror()
    new = run(rep(record("a", "v1", D2, "copied")), rep(record("a", "v1", D1, "copied")), m, mirror)
    assert mirror.asked == [] and new.images[0].mirroredDigest is None and new.removedEntries == []


def test_digest_images_match_by_digest_not_by_source_alone():
    m = manifest(f"  - source: {SRC}/a\n    digests: ['{D2}']")
    mirror = FakeMirror(("m/a", D1), ("m/a", D2))
    new = run(rep(record("a", None, D2, "failed")), rep(record("a", None, D1, "copied")), m, mirror)
    assert mirror.asked == [] and not new.images[0].onMirror
    assert [e["mirrorSets"] for e in new.removedEntries] == [["digest"]]


def test_unlisted_source_keeps_the_tags_the_manifest_still_selects():
    m = manifest(f"  - source: {SRC}/a\n    include: ['^1[.]']")
    spec = m.images[0]
    failure = PlanFailure(spec, f"listing tags of {SRC}/a: HTTP 503")
    previous = rep(record("a", "1.0", D1, "copied"), record("a", "1.1", D2, "copied"),
                   record("a", "2.0", D3, "copied"))
    planning = ImageRecord(source=f"{SRC}/a", tag=None, digest=None, status="failed", error=failure.error,
                           destinations=[DestinationRecord(f"{MIRROR}/m", f"{MIRROR}/m/a", "failed")])
    mirror = FakeMirror(("m/a", D1))  # 1.1 was deleted from the mirror; 2.0 is no longer selected
    new = run(rep(planning), previous, m, mirror, [failure])
    assert sorted(mirror.asked) == [("m/a", D1), ("m/a", D2)]
    kept = [(i.tag, i.status, i.mirroredDigest, i.error) for i in new.images if i.tag]
    assert kept == [("1.0", "failed", D1, failure.error)]
    assert sources(new) == {f"{SRC}/a": (True, True)}
    assert new.removedEntries == []


def test_an_interrupted_run_keeps_skipped_images_and_drops_nothing():
    m = manifest(f"  - source: {SRC}/a\n    tags: [v2, v1]\n  - source: {SRC}/b:v1")
    previous = rep(record("a", "v1", D1, "copied"), record("b", "v1", D2, "copied"))
    new = run(rep(record("a", "v2", D3, "copied"), record("a", "v1", None, "skipped"),
                  record("b", "v1", None, "skipped")), previous, m, FakeMirror(("m/a", D1), ("m/b", D2)))
    assert [i.onMirror for i in new.images] == [True, True, True]
    assert sources(new) == {f"{SRC}/a": (True, True), f"{SRC}/b": (True, True)}
    assert new.removedEntries == []


def test_removed_entries_name_why_and_which_mirror_sets():
    m = manifest(f"  - source: {SRC}/a:v1\n    mirrorSets: [digest]")
    previous = rep(record("a", "v1", D1, "copied"), record("gone", "v1", D2, "copied"))
    new = run(rep(record("a", "v1", D1, "up-to-date", mirrorSets=["digest"])), previous, m, FakeMirror())
    assert new.removedEntries == [
        {"source": f"{SRC}/a", "mirror": f"{MIRROR}/m/a", "mirrorSets": ["tag"],
         "reason": "no image the manifest selects from this source is on this mirror"},
        {"source": f"{SRC}/gone", "mirror": f"{MIRROR}/m/gone", "mirrorSets": ["digest", "tag"],
         "reason": "the manifest no longer selects this source"}]


def test_no_previous_report_changes_nothing():
    m = manifest(f"  - source: {SRC}/a:v1")
    new = run(rep(record("a", "v1", None, "failed")), None, m, FakeMirror(("m/a", D1)))
    assert not new.images[0].onMirror and new.removedEntries == []


@pytest.mark.parametrize("status,on_mirror", [("copied", True), ("up-to-date", True), ("failed", False),
                                              ("skipped", False)])
def test_reports_written_before_on_mirror_existed_load_with_it_derived(status, on_mirror):
    old = rep(record("a", "v1", D1, status)).to_dict()
    for img in old["images"]:
        del img["onMirror"], img["mirroredDigest"]
        for d in img["destinations"]:
            del d["onMirror"]
    del old["removedEntries"]
    loaded = report_mod.loads(json.dumps(old))
    assert loaded.images[0].destinations[0].onMirror is on_mirror and loaded.images[0].onMirror is on_mirror
    assert loaded.removedEntries == []


def test_a_previous_report_that_cannot_be_read_is_a_warning_and_keeps_nothing(tmp_path, caplog):
    from mirrorsync.pipeline.runner import RunOptions, Runner

    path = tmp_path / "report.json"
    path.write_text('{"kind": "SyncReport", "apiVersion": "mirrorsync.dev/v9"}')
    runner = Runner(manifest(f"  - source: {SRC}/a:v1"), RunOptions(previous_report=path))
    assert runner._previous is None
    assert "cannot read the previous report" in caplog.text and "unsupported report version" in caplog.text
    assert Runner(runner.manifest, RunOptions(previous_report=tmp_path / "none.json"))._previous is None


def test_after_a_second_signal_no_mirror_is_asked_and_the_entries_stay_unconfirmed():
    from mirrorsync.sync.job_runner import not_asked as _not_asked

    m = manifest(f"  - source: {SRC}/a:v1")
    new = rep(record("a", "v1", None, "failed"))
    reconcile(new, rep(record("a", "v1", D1, "copied")), m, [], _not_asked)
    assert new.images[0].onMirror and new.images[0].mirroredDigest == D1
    assert "abandoned by a second signal" in new.images[0].destinations[0].error
    assert new.removedEntries == []
