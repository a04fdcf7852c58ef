"""``platforms`` and ``platformMode`` against the real docker-registry (2.8, which refuses an index whose children
are not all there) and the real skopeo, with the registries.conf rendered from the CRs."""

from __future__ import annotations

import hashlib
import json

import pytest

from support.cli import Run, mirrorsync, registry_settings, run_images, write_manifest
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration

ARCHES = ("amd64", "arm64", "s390x")


@pytest.fixture
def sync(tmp_path, mirror_registry):
    def go(source, images, *, args=(), out=None) -> Run:
        return run_images(tmp_path, [source, mirror_registry], f"{mirror_registry.host}/p", images, args=args,
                          out=out)

    return go


def raw(skopeo, ref: str, conf=None) -> bytes:
    opts = ["--registries-conf", str(conf)] if conf else []
    return skopeo.run(*opts, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_sparse_fails_on_docker_registry_and_names_rewrite(sync, registry, mirror_registry, seed, skopeo):
    img = seed(registry, arches=ARCHES)
    run = sync(registry, [{"source": f"{registry.host}/{img.repository}:latest", "platforms": ["linux/arm64"]}])
    assert run.returncode == 1
    rec = run.image(img.repository)
    assert rec["status"] == "failed" and rec["digest"] == img.digest
    error = rec["destinations"][0]["error"]
    assert "refuses an index whose platforms are not all there (a sparse index)" in error
    assert "MANIFEST_BLOB_UNKNOWN" in error and "platformMode: rewrite" in error
    assert rec["error"] == error and error in run.stderr
    mirror = f"{mirror_registry.host}/p/{img.repository}"
    with pytest.raises(SkopeoError):
        raw(skopeo, f"{mirror}:latest")  # no tag points at incomplete content
    assert not (run.crs_dir / "imagedigestmirrorset.yaml").exists()


def test_rewrite_pushes_the_listed_platforms_reports_both_digests_and_feeds_itms_only(
        sync, make_registry, mirror_registry, seed, skopeo, tmp_path):
    source = make_registry("source")
    img = seed(source, arches=ARCHES)
    entry = {"source": f"{source.host}/{img.repository}:latest", "platforms": ["linux/amd64", "linux/arm64",
                                                                              "linux/ppc64le"],
             "platformMode": "rewrite"}
    run = sync(source, [entry])
    assert run.returncode == 0, run.stderr
    rec = run.image(img.repository)
    mirror = f"{mirror_registry.host}/p/{img.repository}"
    pushed = raw(skopeo, f"{mirror}:latest")
    assert rec["digest"] == img.digest and rec["rewrittenDigest"] == digest(pushed) != img.digest
    assert rec["platforms"] == ["linux/amd64", "linux/arm64"] and rec["missingPlatforms"] == ["linux/ppc64le"]
    assert "linux/ppc64le" in run.stderr  # said, not only recorded
    assert rec["mirrorSets"] == ["tag"]
    entries = json.loads(pushed)["manifests"]
    assert [e["digest"] for e in entries] == [img.children["linux/amd64"], img.children["linux/arm64"]]
    for child in entries:
        assert digest(raw(skopeo, f"{mirror}@{child['digest']}")) == child["digest"]
    with pytest.raises(SkopeoError):
        raw(skopeo, f"{mirror}@{img.children['linux/s390x']}")
    assert not (run.crs_dir / "imagedigestmirrorset.yaml").exists()
    itms = run.cr("imagetagmirrorset.yaml")
    assert [e["source"] for e in itms[0]["spec"]["imageTagMirrors"]] == [f"{source.host}/{img.repository}"]

    verified = mirrorsync("verify", str(run.output_dir / "report.json"))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A second run copies nothing: the no-op check knows the rewritten digest.
    again = sync(source, [entry])
    assert again.returncode == 0, again.stderr
    rec = again.image(img.repository)
    assert rec["status"] == "up-to-date" and rec["rewrittenDigest"] == digest(pushed)
    assert again.report["totals"]["bytesRead"] == 0 and rec["destinations"][0]["manifestsPushed"] == 0

    # A node pulling the tag through the rendered registries.conf gets the rewritten index from the mirror.
    conf = tmp_path / "registries.conf"
    rendered = mirrorsync("registries-conf", str(run.output_dir), "--insecure", mirror_registry.host, "--output",
                          str(conf))
    assert rendered.returncode == 0, rendered.stderr
    source.stop()
    assert digest(raw(skopeo, f"{source.host}/{img.repository}:latest", conf)) == digest(pushed)

    # The source down: the run fails, and the tag entry is kept from the previous report (confirmed by the
    # rewritten digest on the mirror, not the source's).
    down = sync(source, [entry])
    assert down.returncode == 1
    rec = down.image(img.repository)
    assert rec["status"] == "failed" and rec["destinations"][0]["onMirror"] is True
    assert rec["mirroredDigest"] == digest(pushed)
    itms_file = "imagetagmirrorset.yaml"
    assert (down.crs_dir / itms_file).read_bytes() == (run.crs_dir / itms_file).read_bytes()


def test_single_platform_images_are_taken_when_they_match(sync, registry, mirror_registry, seed, skopeo):
    arm = seed(registry, kind="docker", arches=("arm64",))
    amd = seed(registry, kind="oci", arches=("amd64",))
    run = sync(registry, [{"source": f"{registry.host}/{i.repository}:latest", "platforms": ["linux/arm64"]}
                          for i in (arm, amd)])
    assert run.returncode == 1
    assert run.image(arm.repository)["status"] == "copied"
    assert digest(raw(skopeo, f"{mirror_registry.host}/p/{arm.repository}:latest")) == arm.digest
    rec = run.image(amd.repository)
    assert rec["status"] == "failed"
    assert "single-platform image" in rec["error"] and "is linux/amd64" in rec["error"]


def test_the_skopeo_engine_refuses_platforms_at_their_line(sync, registry, seed):
    img = seed(registry)
    run = sync(registry, [{"source": f"{registry.host}/{img.repository}:latest", "platforms": ["linux/amd64"]}],
               args=("--engine", "skopeo"))
    assert run.returncode == 2
    line = [ln for ln in run.stderr.splitlines() if "platforms need engine native" in ln]
    assert line and ": images[0].platforms:" in line[0] and ".yaml:" in line[0]
    assert not (run.output_dir / "report.json").exists()


def test_rewritten_platforms_cross_the_air_gap(make_registry, seed, skopeo, tmp_path):
    source, far = make_registry("source"), make_registry("far")
    img = seed(source, arches=ARCHES)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{far.host}/gap"],
                              registries={r.host: registry_settings(r) for r in (source, far)},
                              images=[{"source": f"{source.host}/{img.repository}:latest",
                                       "platforms": ["linux/arm64"], "platformMode": "rewrite"}],
                              options={"retries": 1})
    exported = mirrorsync("export", str(manifest), "--to", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    export_rec = json.loads((tmp_path / "export" / "report.json").read_text())["images"][0]
    assert export_rec["digest"] == img.digest and export_rec["rewrittenDigest"] != img.digest
    source.stop()
    imported = mirrorsync("import", str(tmp_path / "export"), "--output-dir", str(tmp_path / "out"))
    assert imported.returncode == 0, imported.stderr
    pushed = raw(skopeo, f"{far.host}/gap/{img.repository}:latest")
    assert digest(pushed) == export_rec["rewrittenDigest"]
    assert [e["digest"] for e in json.loads(pushed)["manifests"]] == [img.children["linux/arm64"]]
    rec = json.loads((tmp_path / "out" / "report.json").read_text())["images"][0]
    # the import reads the rewritten index from the layout: it is the digest the import knows
    assert rec["digest"] == export_rec["rewrittenDigest"] and rec["mirrorSets"] == ["tag"]
    assert not (tmp_path / "out" / "cluster-resources" / "imagedigestmirrorset.yaml").exists()
    assert (tmp_path / "out" / "cluster-resources" / "imagetagmirrorset.yaml").exists()


def test_sparse_succeeds_into_a_layout_with_the_original_index_and_only_the_listed_platforms(
        make_registry, seed, skopeo, tmp_path):
    """An OCI layout takes an index whose platforms are not all there: the export keeps the source's index digest,
    and skopeo reads and copies the listed platform from it."""
    source = make_registry("source")
    img = seed(source, arches=ARCHES)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=["unused.invalid/gap"],
                              registries={source.host: registry_settings(source)},
                              images=[{"source": f"{source.host}/{img.repository}:latest",
                                       "platforms": ["linux/arm64"]}], options={"retries": 1})
    layout = tmp_path / "export"
    exported = mirrorsync("export", str(manifest), "--to", str(layout))
    assert exported.returncode == 0, exported.stderr
    rec = json.loads((layout / "report.json").read_text())["images"][0]
    assert rec["digest"] == img.digest and rec.get("rewrittenDigest") is None
    assert rec["platforms"] == ["linux/arm64"]
    ref = f"oci:{layout}:{source.host}/{img.repository}:latest"
    assert digest(skopeo.run("inspect", "--raw", ref).stdout) == img.digest  # the source's index, unchanged
    blobs = {p.name for p in (layout / "blobs" / "sha256").iterdir()}
    assert img.children["linux/arm64"].split(":")[1] in blobs
    assert not {img.children[p].split(":")[1] for p in ("linux/amd64", "linux/s390x")} & blobs
    # a client that picks the listed platform finds all of it
    skopeo.run("copy", "--override-arch", "arm64", ref, f"dir:{tmp_path / 'arm64'}")
    assert digest((tmp_path / "arm64" / "manifest.json").read_bytes()) == img.children["linux/arm64"]
