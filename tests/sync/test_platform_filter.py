"""Platform filters (``platforms``, ``platformMode``) in the copy algorithm and the manifest, over in-memory stores.
The real registry's side (docker-registry refusing a sparse index) is in tests/integration/test_platforms.py."""

from __future__ import annotations

import json
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from mirrorsync.errors import InputError, RegistryError
from mirrorsync.oci.content import OCI_INDEX, OCI_MANIFEST, parse_manifest, sha256_digest
from mirrorsync.sync import manifest
from mirrorsync.sync.copy import Copier, Target
from mirrorsync.sync.platforms import Platform, PlatformFilter, select

from support.memstore import MemoryStore, make_image


class SparseStore(MemoryStore):
    """A registry that accepts an index whose children are not all there (distribution v3 can be set up so)."""

    def put_manifest(self, repo, ref, manifest):
        self.record_manifest(repo, ref, manifest)  # no check that the children are there


class StrictStore(MemoryStore):
    """Refuses an index with a child it does not hold, as docker-registry 2.8 does."""

    def put_manifest(self, repo, ref, manifest):
        for child in manifest.children:
            if child.digest not in self.repo_manifests.get(repo, ()):
                raise RegistryError("PUT: HTTP 400 MANIFEST_BLOB_UNKNOWN: blob unknown to registry", status=400,
                                    code="MANIFEST_BLOB_UNKNOWN")
        super().put_manifest(repo, ref, manifest)


@pytest.fixture
def copier():
    with ThreadPoolExecutor(4) as pool:
        yield Copier(pool)


def image_with(store, repo, tag, platforms: list[dict]):
    """An index over one manifest per platform dict (os, architecture, variant)."""
    entries = []
    for n, plat in enumerate(platforms):
        cfg = store.add_blob(repo, json.dumps({"n": n, **plat}).encode())
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "c", "digest": cfg.digest, "size": cfg.size}, "layers": []})
        m = parse_manifest(body.encode(), OCI_MANIFEST, sha256_digest(body.encode()))
        store.add_manifest(repo, m)
        entries.append({"mediaType": OCI_MANIFEST, "digest": m.digest, "size": len(m.data), "platform": plat})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
                       "annotations": {"keep": "me"}}).encode()
    index = parse_manifest(body, OCI_INDEX, sha256_digest(body))
    store.add_manifest(repo, index, tag)
    return index


def filt(*names, mode="sparse"):
    return PlatformFilter(tuple(Platform.parse(n) for n in names), mode)


def test_sparse_copies_the_original_index_and_only_the_listed_platforms(copier):
    src, dst = MemoryStore("src"), SparseStore("dst")
    index = make_image(src, "app", "v1", arches=("amd64", "arm64", "s390x"))
    amd64 = index.children[0].digest
    result = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1", platforms=filt("linux/amd64"))
    assert result.targets[0].status == "copied", result.targets[0].error
    assert dst.tags[("m/app", "v1")] == index.digest  # the source's digest, unchanged
    assert dst.manifests[index.digest].data == index.data
    assert dst.repo_manifests["m/app"] == {index.digest, amd64}
    assert result.platforms == ["linux/amd64"] and result.rewritten_digest is None
    # only amd64's config and layers were read
    assert set(src.reads) == {b.digest for b in src.manifests[amd64].blobs}

    again = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1", platforms=filt("linux/amd64"))
    assert again.targets[0].status == "up-to-date"
    # adding a platform to the list is not up to date: its manifest is missing
    more = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1",
                       platforms=filt("linux/amd64", "linux/arm64"))
    assert more.targets[0].status == "copied"
    assert index.children[1].digest in dst.repo_manifests["m/app"]


def test_sparse_on_a_registry_that_refuses_it_says_so_and_names_rewrite(copier):
    src, dst = MemoryStore("src"), StrictStore("dst")
    make_image(src, "app", "v1")
    result = copier.copy(src, "app", "v1", [Target(dst, "m/app", "mirror.example")], tag="v1",
                         platforms=filt("linux/arm64"))
    tr = result.targets[0]
    assert tr.status == "failed"
    assert "mirror.example refuses an index whose platforms are not all there" in tr.error
    assert "platformMode: rewrite" in tr.error and "MANIFEST_BLOB_UNKNOWN" in tr.error
    assert ("m/app", "v1") not in dst.tags


def test_rewrite_pushes_an_index_of_the_listed_platforms_and_the_next_run_is_a_no_op(copier):
    src, dst = MemoryStore("src"), StrictStore("dst")
    index = make_image(src, "app", "v1", arches=("amd64", "arm64", "s390x"))
    target = [Target(dst, "m/app", "dst")]
    result = copier.copy(src, "app", "v1", target, tag="v1", platforms=filt("linux/amd64", "linux/arm64",
                                                                              mode="rewrite"))
    assert result.targets[0].status == "copied", result.targets[0].error
    assert result.digest == index.digest
    rewritten = dst.tags[("m/app", "v1")]
    assert result.rewritten_digest == rewritten != index.digest
    pushed = json.loads(dst.manifests[rewritten].data)
    assert [e["digest"] for e in pushed["manifests"]] == [c.digest for c in index.children[:2]]
    assert index.digest not in dst.repo_manifests["m/app"]
    reads = len(src.reads)
    again = copier.copy(src, "app", "v1", target, tag="v1", platforms=filt("linux/amd64", "linux/arm64",
                                                                             mode="rewrite"))
    assert again.targets[0].status == "up-to-date" and again.rewritten_digest == rewritten
    assert len(src.reads) == reads  # no blob read


def test_a_listed_platform_the_index_lacks_is_reported_and_the_others_copied(copier):
    src, dst = MemoryStore("src"), SparseStore("dst")
    make_image(src, "app", "v1", arches=("amd64",))
    result = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1",
                         platforms=filt("linux/amd64", "linux/ppc64le"))
    assert result.targets[0].status == "copied"
    assert result.platforms == ["linux/amd64"] and result.missing_platforms == ["linux/ppc64le"]


def test_none_of_the_listed_platforms_fails_the_image_and_says_what_it_has(copier):
    src, dst = MemoryStore("src"), SparseStore("dst")
    make_image(src, "app", "v1", arches=("amd64", "arm64"))
    result = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1", platforms=filt("linux/s390x"))
    assert result.targets[0].status == "failed"
    assert "none of the listed platforms (linux/s390x)" in result.error
    assert "it has linux/amd64, linux/arm64" in result.error
    assert dst.log == []


def test_a_single_platform_image_is_taken_when_its_config_matches(copier):
    src, dst = MemoryStore("src"), SparseStore("dst")
    cfg = src.add_blob("one", json.dumps({"os": "linux", "architecture": "arm64", "variant": "v8"}).encode())
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "c", "digest": cfg.digest, "size": cfg.size}, "layers": []}).encode()
    image = parse_manifest(body, OCI_MANIFEST, sha256_digest(body))
    src.add_manifest("one", image, "v1")
    ok = copier.copy(src, "one", "v1", [Target(dst, "one", "dst")], tag="v1", platforms=filt("linux/arm64"))
    assert ok.targets[0].status == "copied" and dst.tags[("one", "v1")] == image.digest
    assert ok.platforms == ["linux/arm64/v8"]
    other = copier.copy(src, "one", "v1", [Target(MemoryStore(), "one", "x")], tag="v1",
                        platforms=filt("linux/amd64"))
    assert other.targets[0].status == "failed"
    assert "single-platform image" in other.error and "is linux/arm64/v8" in other.error


@pytest.mark.parametrize("listed, taken", [
    ("linux/arm64", ["linux/arm64", "linux/arm64/v8"]),  # no variant: every variant
    ("linux/arm64/v8", ["linux/arm64", "linux/arm64/v8"]),  # an arm64 entry without a variant is v8
    ("linux/arm/v7", ["linux/arm/v7"]),
    ("linux/arm", ["linux/arm/v6", "linux/arm/v7"]),
])
def test_variants(listed, taken):
    store = MemoryStore()
    index = image_with(store, "r", "t", [{"os": "linux", "architecture": "arm64"},
                                         {"os": "linux", "architecture": "arm64", "variant": "v8"},
                                         {"os": "linux", "architecture": "arm", "variant": "v6"},
                                         {"os": "linux", "architecture": "arm", "variant": "v7"}])
    assert sorted(select(index, filt(listed)).taken) == taken


def test_rewrite_keeps_the_rest_of_the_index_and_is_deterministic():
    store = MemoryStore()
    index = image_with(store, "r", "t", [{"os": "linux", "architecture": "amd64"},
                                         {"os": "windows", "architecture": "amd64"}])
    one = select(index, filt("linux/amd64", mode="rewrite"))
    two = select(index, filt("linux/amd64", mode="rewrite"))
    assert one.rewritten and one.top.digest == two.top.digest
    doc = json.loads(one.top.data)
    assert doc["annotations"] == {"keep": "me"} and doc["mediaType"] == OCI_INDEX
    assert [e["platform"]["os"] for e in doc["manifests"]] == ["linux"]
    # every entry listed: nothing to rewrite, the source's index goes as it is
    assert not select(index, filt("linux/amd64", "windows/amd64", mode="rewrite")).rewritten


HEAD = "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [mirror.example.com]\n"


def load(body: str):
    return manifest.parse(HEAD + textwrap.dedent(body), "m.yaml")


def test_manifest_keys_per_image_and_in_defaults():
    m = load("""
        defaults: {platforms: [linux/amd64, linux/arm64/v8], signatures: true}
        images:
          - source: quay.io/a/b:1
            platformMode: rewrite
            referrers: {artifactTypes: [application/spdx+json]}
          - source: quay.io/a/c:1
            platforms: [linux/s390x]
            signatures: false
            referrers: true
        """)
    first, second = m.images
    assert [str(p) for p in first.platforms] == ["linux/amd64", "linux/arm64/v8"]
    assert first.platform_mode == "rewrite" and first.rewrites_index
    assert first.signatures and first.referrers and first.referrer_types == ("application/spdx+json",)
    assert [str(p) for p in second.platforms] == ["linux/s390x"] and second.platform_mode == "sparse"
    assert not second.signatures and second.referrers and second.referrer_types == ()
    assert not second.rewrites_index


@pytest.mark.parametrize("body, where, text", [
    ("images: [{source: a.io/b:1, platforms: [amd64]}]", "m.yaml:4: images[0].platforms[0]", "not a platform"),
    ("images: [{source: a.io/b:1, platforms: []}]", "m.yaml:4: images[0].platforms", "at least one platform"),
    ("images: [{source: a.io/b:1, platformMode: thin}]", "m.yaml:4: images[0].platformMode",
     "must be one of sparse, rewrite"),
    ("images: [{source: a.io/b:1, signatures: yes please}]", "m.yaml:4: images[0].signatures", "true or false"),
    ("images: [{source: a.io/b:1, referrers: {types: [x]}}]", "m.yaml:4: images[0].referrers.types",
     "unknown field"),
    ("images: [{source: a.io/b:1, referrers: {artifactTypes: []}}]", "m.yaml:4: images[0].referrers.artifactTypes",
     "at least one"),
    ("images:\n- source: 'a.io/b@sha256:" + "a" * 64 + "'\n  platforms: [linux/amd64]\n  platformMode: rewrite",
     "m.yaml:7: images[0].platformMode", "select tags, not digests"),
    ("defaults: {platforms: [linux/amd64], platformMode: rewrite}\nimages: [{source: a.io/b:1, mirrorSets: [digest]}]",
     "m.yaml:4: defaults.platformMode", "mirrorSets must include tag"),
])
def test_manifest_errors_name_file_line_and_field(body, where, text):
    with pytest.raises(InputError) as info:
        manifest.parse(HEAD + body, "m.yaml")
    assert info.value.exit_code == 2
    assert str(info.value).startswith(where), str(info.value)
    assert text in str(info.value)


def test_report_fields_round_trip_and_older_reports_load_without_them():
    from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report, loads

    rec = ImageRecord(source="a.io/b", tag="v1", digest="sha256:" + "1" * 64, status="copied", mirrorSets=["tag"],
                      destinations=[DestinationRecord("m.io", "m.io/b", "copied")], platforms=["linux/amd64"],
                      missingPlatforms=["linux/s390x"], rewrittenDigest="sha256:" + "2" * 64,
                      companions=[{"kind": "signature", "digest": "sha256:" + "3" * 64,
                                   "subject": "sha256:" + "1" * 64, "tag": "sha256-" + "1" * 64 + ".sig"}])
    text = Report(manifest="m.yaml", engine="native", mirrors=["m.io"], startedAt="t", images=[rec]).to_json()
    back = loads(text).images[0]
    assert (back.platforms, back.missingPlatforms, back.rewrittenDigest, back.companions) == (
        rec.platforms, rec.missingPlatforms, rec.rewrittenDigest, rec.companions)
    # the mirror holds the rewritten index: that is what carry-over and verify look for there
    assert back.held_digest(back.destinations[0]) == "sha256:" + "2" * 64
    old = json.loads(text)
    for key in ("platforms", "missingPlatforms", "rewrittenDigest", "companions"):
        del old["images"][0][key]
    older = loads(json.dumps(old)).images[0]
    assert older.platforms is None and older.companions is None and older.rewrittenDigest is None
    assert "companions" not in loads(json.dumps(old)).to_dict()["images"][0]  # written only when used
    assert older.held_digest(older.destinations[0]) == "sha256:" + "1" * 64


def test_verify_walks_only_the_copied_platforms_of_a_sparse_index(copier):
    from mirrorsync.pipeline.verify import Check, verify

    src, dst = MemoryStore("src"), SparseStore("dst")
    index = make_image(src, "app", "v1", arches=("amd64", "arm64"))
    result = copier.copy(src, "app", "v1", [Target(dst, "m/app", "dst")], tag="v1", platforms=filt("linux/amd64"))
    assert result.targets[0].status == "copied"
    sparse = verify([Check("dst/m/app", index.digest, "v1", children=tuple(result.children))], lambda host: dst)
    assert sparse.ok, sparse.problems
    whole = verify([Check("dst/m/app", index.digest, "v1")], lambda host: dst)
    assert whole.problems == [f"missing: dst/m/app@{index.children[1].digest} (manifest of {index.digest})"]
