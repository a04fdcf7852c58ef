from concurrent.futures import ThreadPoolExecutor

import pytest

from mirrorsync.sync.copy import BlobLedger, Copier, Target
from mirrorsync.registry.retry import RetryPolicy
from support.memstore import MemoryStore, make_image


@pytest.fixture
def copier():
    with ThreadPoolExecutor(4) as pool:
        yield Copier(pool, policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))


def test_copies_index_children_first_tag_last(copier):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    index = make_image(src, "app", "v1")
    result = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1")
    assert result.error is None and result.digest == index.digest
    assert result.targets[0].status == "copied"
    assert dst.tags[("m/app", "v1")] == index.digest
    assert dst.log[-1] == ("manifest", "m/app", "v1"), "the tag must be the last write"
    assert all(e[0] == "blob" for e in dst.log[:-3])
    assert len(result.children) == 2
    assert result.targets[0].blobs_sent == 5  # 2 configs, 1 shared base, 2 layers
    assert result.targets[0].manifests_pushed == 3


def test_fan_out_reads_each_blob_once(copier):
    src, a, b = MemoryStore("src"), MemoryStore("a"), MemoryStore("b")
    make_image(src, "app", "v1")
    result = copier.copy(src, "app", "v1", [Target(a, "app", "a"), Target(b, "x/app", "b")], tag="v1")
    assert [t.status for t in result.targets] == ["copied", "copied"]
    assert len(src.reads) == len(set(src.reads)) == 5
    assert a.tags[("app", "v1")] == b.tags[("x/app", "v1")]
    assert result.bytes_read == sum(len(src.blobs[d]) for d in src.reads)


def test_up_to_date_reads_no_blob(copier):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    make_image(src, "app", "v1")
    copier.copy(src, "app", "v1", [Target(dst, "app", "dst")], tag="v1")
    src.reads.clear()
    writes = len(dst.log)
    result = copier.copy(src, "app", "v1", [Target(dst, "app", "dst")], tag="v1")
    assert result.targets[0].status == "up-to-date"
    assert src.reads == [] and len(dst.log) == writes


def test_shared_blobs_are_mounted_across_repositories(copier):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    make_image(src, "one", "v1")
    make_image(src, "two", "v1")
    copier.copy(src, "one", "v1", [Target(dst, "one", "dst")], tag="v1")
    result = copier.copy(src, "two", "v1", [Target(dst, "two", "dst")], tag="v1")
    assert result.targets[0].blobs_mounted == 3  # the shared base layer and the two identical configs
    assert ("mount", "two", next(d for d in src.blobs if src.blobs[d] == b"base" * 100)) in dst.log
    mounted = {e[2] for e in dst.log if e[0] == "mount"}
    assert not [a for a in dst.asked if a[0] == "two" and a[1] in mounted], "a known blob is mounted, not asked about"


def test_one_failing_target_does_not_stop_the_other(copier):
    src, good, bad = MemoryStore("src"), MemoryStore("good"), MemoryStore("bad")
    index = make_image(src, "app", "v1")
    bad.fail_writes_to.add("app")
    result = copier.copy(src, "app", "v1", [Target(bad, "app", "bad"), Target(good, "app", "good")], tag="v1")
    assert [t.status for t in result.targets] == ["failed", "copied"]
    assert "write refused" in result.targets[0].error
    assert good.tags[("app", "v1")] == index.digest
    assert ("app", "v1") not in bad.tags


def test_corrupt_source_blob_fails_and_tags_nothing(copier):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    index = make_image(src, "app", "v1")
    child = src.manifests[index.children[0].digest]
    src.corrupt.add(child.blobs[1].digest)
    result = copier.copy(src, "app", "v1", [Target(dst, "app", "dst")], tag="v1")
    assert result.targets[0].status == "failed"
    assert "expected " + child.blobs[1].digest in result.targets[0].error
    assert ("app", "v1") not in dst.tags
    assert child.blobs[1].digest not in dst.blobs


def test_copy_by_digest_pushes_no_tag(copier):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    index = make_image(src, "app", None)
    result = copier.copy(src, "app", index.digest, [Target(dst, "app", "dst")])
    assert result.targets[0].status == "copied"
    assert dst.list_tags("app") == []
    assert index.digest in dst.repo_manifests["app"]


def test_missing_source_tag_is_a_failed_image(copier):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    result = copier.copy(src, "app", "nope", [Target(dst, "app", "dst")], tag="nope")
    assert result.targets[0].status == "failed" and "not found" in result.error


def test_a_repository_said_to_hold_a_blob_is_mounted_from_never_taken_as_there():
    ledger, store = BlobLedger(), object()
    ledger.said_to_hold(store, "encl/app", "sha256:a")
    assert not ledger.has(store, "encl/app", "sha256:a")  # the store is asked whether it is there
    assert ledger.elsewhere(store, "encl/copy", "sha256:a") == "encl/app"
    assert ledger.elsewhere(store, "encl/app", "sha256:a") is None
    ledger.add(store, "encl/seen", "sha256:a")  # what this run saw comes first
    assert ledger.elsewhere(store, "encl/copy", "sha256:a") == "encl/seen"
