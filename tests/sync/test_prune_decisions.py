"""Unit tests of what ``prune`` decides to remove and what it deletes (``sync/prune.py``), over in-memory mirrors
that delete as docker-registry does (a manifest with all its tags). The real registry is in
tests/integration/test_prune.py (this file has another name: pytest imports test modules by
basename)."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from mirrorsync.errors import NotFound, RegistryError
from mirrorsync.oci.content import OCI_INDEX, parse_manifest, sha256_digest
from mirrorsync.sync import plan as plan_mod
from mirrorsync.sync import report as report_mod
from mirrorsync.sync.manifest import parse
from mirrorsync.pipeline.prune import Removal, decide, delete, inspect
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report, mirrored_sources
from support.memstore import MemoryStore, make_image

SRC = "src.example.com"
MIRROR = "mirror.example.com"
OTHER = "other.example.com"


class DeletingStore(MemoryStore):
    """docker-registry's DELETE /v2/<name>/manifests/<digest>: the manifest goes, and every tag naming it."""

    def __init__(self, name: str = "mem", *, refuse: bool = False) -> None:
        super().__init__(name)
        self.refuse = refuse
        self.deleted: list[tuple[str, str]] = []

    def delete_manifest(self, repo: str, digest: str) -> None:
        if self.refuse:
            raise RegistryError(f"deleting {self.name}/{repo}@{digest}: HTTP 405 UNSUPPORTED: The operation is "
                                "unsupported.", status=405, code="UNSUPPORTED")
        if digest not in self.repo_manifests.get(repo, ()):
            raise NotFound(f"{repo}@{digest}")
        self.repo_manifests[repo].discard(digest)
        for key in [k for k, d in self.tags.items() if k[0] == repo and d == digest]:
            del self.tags[key]
        self.deleted.append((repo, digest))


def manifest(images: str, mirrors: str = f"[{MIRROR}/m]"):
    return parse(f"""
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: {mirrors}
images:
{images}
""")


def record(repo: str, tag: str | None, digest: str, *, status: str = "copied", mirror: str = f"{MIRROR}/m",
           children=()) -> ImageRecord:
    dest = DestinationRecord(mirror, f"{mirror}/{repo}", status)
    return ImageRecord(source=f"{SRC}/{repo}", tag=tag, digest=digest, status=status, destinations=[dest],
                       children=list(children))


def rep(*images: ImageRecord) -> Report:
    return Report(manifest="m.yaml", engine="native", mirrors=[f"{MIRROR}/m"], startedAt="", images=list(images))


def plan(m, tags: dict[str, list[str]] | None = None, down: tuple[str, ...] = ()):
    def list_tags(source):
        if source.name in down:
            raise RegistryError(f"listing tags of {source.name}: HTTP 503")
        return (tags or {})[source.name]

    return plan_mod.build(m, list_tags)


def prune(report: Report, m, stores: dict[str, DeletingStore], tags=None, *, unfinished=(), stop=None):
    the_plan = plan(m, tags)
    removals, unlisted, pruned = decide(report, m, the_plan, unfinished)
    inspect(removals, pruned or report, m, stores.__getitem__, workers=2)
    finished = delete(removals, stores.__getitem__, stop)
    return removals, pruned, finished


def actions(removals: list[Removal]) -> dict[str, str]:
    return {r.tag or r.digest: r.action for r in removals}


# --- deciding ---------------------------------------------------------------------------------------------------

def test_what_the_manifest_no_longer_selects_goes_with_the_reason_and_nothing_else():
    m = manifest(f"""  - source: {SRC}/a
    semver: ">=1"
    latest: 1
  - source: {SRC}/c
    tags: [v1]""")
    report = rep(record("a", "1.0.0", "sha256:" + "1" * 64), record("a", "2.0.0", "sha256:" + "2" * 64),
                 record("b", "v1", "sha256:" + "3" * 64), record("c", "v1", "sha256:" + "4" * 64),
                 record("c", "v0", "sha256:" + "5" * 64), record("c", None, "sha256:" + "6" * 64))
    before = report.to_json()
    removals, unlisted, pruned = decide(report, m, plan(m, {f"{SRC}/a": ["1.0.0", "2.0.0"]}))
    assert [(r.repository, r.tag or r.digest, r.reason) for r in removals] == [
        (f"{MIRROR}/m/a", "1.0.0", "tag 1.0.0 is left by images[0]: not among the latest 1"),
        (f"{MIRROR}/m/b", "v1", f"the manifest no longer selects {SRC}/b"),
        (f"{MIRROR}/m/c", "sha256:" + "6" * 64, f"the manifest no longer names {SRC}/c@sha256:" + "6" * 64),
        (f"{MIRROR}/m/c", "v0", f"the manifest no longer names tag v0 of {SRC}/c"),
    ]
    assert unlisted == []
    assert [(i.source, i.tag) for i in pruned.images] == [(f"{SRC}/a", "2.0.0"), (f"{SRC}/c", "v1")]
    assert report.to_json() == before  # the report read is not changed under the caller
    assert [s.source for s in mirrored_sources([pruned])] == [f"{SRC}/a", f"{SRC}/c"]


def test_a_mirror_the_manifest_no_longer_names_loses_what_is_on_it():
    m = manifest(f"  - source: {SRC}/a:v1", mirrors=f"[{MIRROR}/m]")
    report = rep(ImageRecord(source=f"{SRC}/a", tag="v1", digest="sha256:" + "1" * 64, status="copied",
                             destinations=[DestinationRecord(f"{MIRROR}/m", f"{MIRROR}/m/a", "copied"),
                                           DestinationRecord(f"{OTHER}", f"{OTHER}/a", "copied")]))
    removals, _, pruned = decide(report, m, plan(m))
    assert [(r.repository, r.reason) for r in removals] == [
        (f"{OTHER}/a", f"the manifest no longer mirrors {SRC}/a to {OTHER}/a")]
    assert [d.repository for d in pruned.images[0].destinations] == [f"{MIRROR}/m/a"]
    assert pruned.images[0].onMirror


def test_a_source_whose_tags_cannot_be_listed_loses_nothing():
    m = manifest(f"  - source: {SRC}/a\n    include: ['^1']")
    report = rep(record("a", "1.0", "sha256:" + "1" * 64), record("a", "0.9", "sha256:" + "2" * 64))
    removals, unlisted, pruned = decide(report, m, plan(m, down=(f"{SRC}/a",)))
    assert removals == [] and unlisted == [f"{SRC}/a"] and pruned is None


def test_only_content_on_the_mirror_is_a_candidate_but_the_report_forgets_the_rest_too():
    m = manifest(f"  - source: {SRC}/a:v1")
    report = rep(record("a", "v1", "sha256:" + "1" * 64), record("a", "v0", "sha256:" + "2" * 64, status="failed"))
    removals, _, pruned = decide(report, m, plan(m))
    assert removals == []
    assert [i.tag for i in pruned.images] == ["v1"]


def test_an_earlier_prune_left_over_is_finished_unless_the_manifest_selects_it_again():
    m = manifest(f"  - source: {SRC}/a:v1")
    left = [Removal(f"{SRC}/a", f"{MIRROR}/m", f"{MIRROR}/m/a", "v0", "sha256:" + "2" * 64, "was pruned",
                    action="failed", manifests=["sha256:" + "2" * 64, "sha256:" + "3" * 64],
                    deleted=["sha256:" + "2" * 64]),
            Removal(f"{SRC}/a", f"{MIRROR}/m", f"{MIRROR}/m/a", "v1", "sha256:" + "1" * 64, "was pruned")]
    removals, _, _ = decide(rep(), m, plan(m), left)
    assert [(r.tag, r.action, r.manifests) for r in removals] == [("v0", "delete", ["sha256:" + "3" * 64])]
    assert removals[0].reason == f"the manifest no longer names tag v0 of {SRC}/a"  # as the manifest says now


# --- on the mirror --------------------------------------------------------------------------------------------------

def test_a_pruned_tag_sharing_its_manifest_with_a_kept_tag_stays_and_says_why():
    store = DeletingStore()
    index = make_image(store, "m/a", "1.0")
    store.tags[("m/a", "old")] = index.digest
    m = manifest(f"  - source: {SRC}/a:1.0")
    removals, pruned, _ = prune(rep(record("a", "1.0", index.digest), record("a", "old", index.digest)), m,
                                {MIRROR: store})
    assert actions(removals) == {"old": "kept"}
    assert "tag 1.0 names it and stays" in removals[0].detail
    assert store.deleted == [] and store.list_tags("m/a") == ["1.0", "old"]
    assert [i.tag for i in pruned.images] == ["1.0"]


def test_an_index_goes_before_its_children_and_a_child_someone_else_tagged_stays():
    store = DeletingStore()
    keep = make_image(store, "m/a", "1.0")
    gone = make_image(store, "m/a", "2.0")
    theirs, ours = (c.digest for c in gone.children)
    store.tags[("m/a", "theirs")] = theirs
    m = manifest(f"  - source: {SRC}/a:1.0")
    removals, _, finished = prune(rep(record("a", "1.0", keep.digest), record("a", "2.0", gone.digest)), m,
                                  {MIRROR: store})
    assert finished and actions(removals) == {"2.0": "deleted"}
    assert store.deleted == [("m/a", gone.digest), ("m/a", ours)]
    assert store.list_tags("m/a") == ["1.0", "theirs"]
    assert "tag theirs names it and stays" in removals[0].detail
    assert all(store.manifest_descriptor("m/a", c.digest) for c in keep.children)


def test_a_child_a_kept_index_shares_is_not_deleted():
    store = DeletingStore()
    keep = make_image(store, "m/a", "1.0", arches=("amd64",))
    gone = make_image(store, "m/a", None, arches=("arm64",))  # only for its child
    # an index of both: its amd64 child is the kept image's
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": c.media_type, "digest": c.digest, "size": c.size} for c in (*keep.children, *gone.children)]})
    both = parse_manifest(body.encode(), OCI_INDEX, sha256_digest(body.encode()))
    store.add_manifest("m/a", both, "both")
    m = manifest(f"  - source: {SRC}/a:1.0")
    removals, _, _ = prune(rep(record("a", "1.0", keep.digest), record("a", "both", both.digest)), m,
                           {MIRROR: store})
    assert actions(removals) == {"both": "deleted"}
    assert store.deleted == [("m/a", both.digest), ("m/a", gone.children[0].digest)]
    assert store.manifest_descriptor("m/a", keep.children[0].digest)


def test_a_digest_the_manifest_still_names_is_never_deleted_under_a_pruned_tag():
    store = DeletingStore()
    img = make_image(store, "m/a", "v1")
    m = manifest(f"  - source: {SRC}/a\n    digests: ['{img.digest}']")
    removals, _, _ = prune(rep(record("a", "v1", img.digest)), m, {MIRROR: store})
    assert actions(removals) == {"v1": "kept"} and store.deleted == []
    assert f"the manifest selects {SRC}/a@{img.digest}" in removals[0].detail


def test_a_tag_moved_by_someone_else_is_left_alone_and_gone_content_is_only_reported():
    store = DeletingStore()
    before = make_image(store, "m/a", "v1")
    after = make_image(store, "m/a", "v1", arches=("s390x",))  # someone pushed another image as v1
    m = manifest(f"  - source: {SRC}/b:v1")
    removals, _, _ = prune(rep(record("a", "v1", before.digest), record("a", "v0", "sha256:" + "9" * 64)), m,
                           {MIRROR: store})
    assert actions(removals) == {"v1": "moved", "v0": "gone"}
    assert after.digest in removals[1].detail
    assert store.deleted == [] and store.list_tags("m/a") == ["v1"]


def test_a_registry_refusing_delete_fails_its_removals_with_the_setting_to_change_and_others_go_on():
    refusing, other = DeletingStore(refuse=True), DeletingStore()
    a1, a2 = make_image(refusing, "m/a", "v1"), make_image(refusing, "m/b", "v1")
    b = make_image(other, "a", "v1")
    m = manifest(f"  - source: {SRC}/z:v1", mirrors=f"[{MIRROR}/m, {OTHER}]")
    report = rep(record("a", "v1", a1.digest), record("b", "v1", a2.digest), record("a", "v1", b.digest, mirror=OTHER))
    removals, _, _ = prune(report, m, {MIRROR: refusing, OTHER: other})
    assert [(r.repository, r.action) for r in removals] == [
        (f"{MIRROR}/m/a", "failed"), (f"{MIRROR}/m/b", "failed"), (f"{OTHER}/a", "deleted")]
    for r in removals[:2]:
        assert f"{MIRROR} refuses to delete manifests" in r.detail and "storage.delete.enabled: true" in r.detail
    assert "run prune --apply again" in removals[0].lines(True)[0]


def test_stopped_between_deletions_the_rest_stays_to_do():
    store = DeletingStore()
    one, two = make_image(store, "m/a", "v1", arches=("amd64",)), make_image(store, "m/b", "v1", arches=("amd64",))
    stop = threading.Event()
    original = store.delete_manifest

    def then_stop(repo, digest):
        original(repo, digest)
        stop.set()

    store.delete_manifest = then_stop
    m = manifest(f"  - source: {SRC}/z:v1")
    removals, _, finished = prune(rep(record("a", "v1", one.digest), record("b", "v1", two.digest)), m,
                                  {MIRROR: store}, stop=stop)
    assert not finished
    assert store.deleted == [("m/a", one.digest)]
    assert [r.action for r in removals] == ["delete", "delete"]
    assert removals[0].deleted == [one.digest]


def test_a_pruned_report_loads_back_as_the_same_report():
    m = manifest(f"  - source: {SRC}/a:v1")
    report = rep(record("a", "v1", "sha256:" + "1" * 64), record("a", "v0", "sha256:" + "2" * 64))
    _, _, pruned = decide(report, m, plan(m))
    assert report_mod.loads(pruned.to_json()).to_json() == pruned.to_json()


@pytest.mark.parametrize("action", ["delete", "kept", "failed"])
def test_unfinished_removals_round_trip_through_the_prune_report(tmp_path, action):
    from mirrorsync.pipeline.prune import PRUNE_REPORT_FILE, PruneResult, load_unfinished

    r = Removal(f"{SRC}/a", f"{MIRROR}/m", f"{MIRROR}/m/a", "v0", "sha256:" + "2" * 64, "why", action=action,
                manifests=["sha256:" + "2" * 64])
    done = Removal(f"{SRC}/a", f"{MIRROR}/m", f"{MIRROR}/m/a", "v9", "sha256:" + "3" * 64, "why", action="deleted")
    path = tmp_path / PRUNE_REPORT_FILE
    path.write_text(PruneResult(manifest="m.yaml", applied=True, startedAt="", removals=[r, done]).to_json())
    assert [x.to_dict() for x in load_unfinished(path)] == [r.to_dict()]


def test_a_removal_with_companions_round_trips_through_the_prune_report_and_one_without_keeps_its_bytes():
    plain = Removal("src/a", "m", "m/a", "1.0", "sha256:" + "1" * 64, "gone from the manifest")
    signed = dataclasses.replace(plain, companions=[{"kind": "signature", "digest": "sha256:" + "2" * 64,
                                                     "subject": plain.digest, "tag": "sha256-" + "1" * 64 + ".sig"}])
    assert "companions" not in plain.to_dict()  # prune reports written before the key read as before
    for r in (plain, signed):
        assert Removal.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert f"m/a@{'2' * 64}" not in "\n".join(signed.lines(False))
    signed.manifests = [signed.digest, "sha256:" + "2" * 64]
    assert signed.lines(False)[-1] == f"would delete: m/a@sha256:{'2' * 64} (signature of {plain.digest})"


def test_signatures_go_after_their_image_and_a_prune_stopped_in_between_finishes_them_next_time():
    stop = threading.Event()

    class StoppingStore(DeletingStore):
        def delete_manifest(self, repo, digest):
            super().delete_manifest(repo, digest)
            stop.set()  # as a SIGTERM during the first DELETE: it finishes, nothing more starts

    store = StoppingStore()
    keep = make_image(store, "m/a", "1.0", arches=("amd64",))
    gone = make_image(store, "m/a", "2.0", arches=("amd64",))
    sig_tag = gone.digest.replace(":", "-") + ".sig"
    sig = make_image(store, "m/a", None, arches=("amd64",)).children[0]  # a plain manifest, as cosign's are
    store.tags[("m/a", sig_tag)] = sig.digest
    gone_rec = record("a", "2.0", gone.digest)
    gone_rec.companions = [{"kind": "signature", "digest": sig.digest, "subject": gone.digest, "tag": sig_tag}]
    m = manifest(f"  - source: {SRC}/a:1.0")
    removals, pruned, finished = prune(rep(record("a", "1.0", keep.digest), gone_rec), m, {MIRROR: store},
                                       stop=stop)
    assert not finished and store.deleted == [("m/a", gone.digest)]  # the image first: never a signature alone
    assert store.manifest_descriptor("m/a", sig_tag).digest == sig.digest
    stop.clear()
    removals, _, finished = prune(pruned, m, {MIRROR: store}, unfinished=removals)
    assert finished and actions(removals) == {"2.0": "deleted"}
    assert store.deleted[1:] == [("m/a", gone.children[0].digest), ("m/a", sig.digest)]
    assert store.list_tags("m/a") == ["1.0"]
