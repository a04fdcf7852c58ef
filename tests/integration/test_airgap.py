"""``mirrorsync export`` / ``import`` end to end: real registries on both sides of the gap, checked with skopeo."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import mirrorsync, registry_settings, write_manifest
from support.fault_proxy import Rule

from mirrorsync.registry.retry import ANSWERED_FACTOR

pytestmark = pytest.mark.integration


def plain(*registries) -> dict:
    return {r.host: registry_settings(r) for r in registries}


def layout_files(directory: Path) -> set[str]:
    return {f"sha256:{p.name}" for p in (directory / "blobs" / "sha256").iterdir() if not p.name.startswith(".")}


def sha256sum_check(directory: Path) -> subprocess.CompletedProcess:
    """coreutils' own check of SHA256SUMS: the format users will run by hand."""
    return subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=directory, capture_output=True, text=True)


@pytest.fixture
def far(make_registry):
    """The registry on the disconnected side: it never sees the source."""
    return make_registry("far")


def test_export_import_round_trip(make_registry, far, seed, unique_repo, tmp_path, skopeo):
    registry = make_registry("source")  # stopped half way: the session's shared registry must stay up
    images = {kind: seed(registry, unique_repo(kind), "v1", kind=kind, arches=("amd64", "arm64"))
              for kind in ("oci-index", "oci", "docker-list")}
    untagged = seed(registry, images["oci"].repository, None, kind="oci", arches=("amd64",), seed=5)
    entries = [{"source": f"{registry.host}/{img.repository}", "tags": ["v1"]} for img in images.values()]
    entries[1]["digests"] = [untagged.digest]
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{far.host}/mirror"], images=entries,
                              registries=plain(registry, far), options={"retries": 1})
    export_dir = tmp_path / "export"

    proc = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert proc.returncode == 0, proc.stderr
    assert sha256sum_check(export_dir).returncode == 0
    rep = json.loads((export_dir / "report.json").read_text())
    assert rep["status"] == "Succeeded" and len(rep["images"]) == 4
    assert {d["mirror"] for i in rep["images"] for d in i["destinations"]} == {f"oci:{export_dir}"}

    # skopeo reads the layout by the source reference (OCI content; skopeo 1.9.3 looks up only OCI media types)
    for kind in ("oci-index", "oci"):
        img = images[kind]
        raw = skopeo.run("inspect", "--raw", f"oci:{export_dir}:{registry.host}/{img.repository}:v1").stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == img.digest
    raw = skopeo.run("inspect", "--raw", f"oci:{export_dir}:{registry.host}/{untagged.repository}@{untagged.digest}")
    assert "sha256:" + hashlib.sha256(raw.stdout).hexdigest() == untagged.digest
    # and copies out of it with every digest kept
    oci_index = images["oci-index"]
    skopeo.run("copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
               f"oci:{export_dir}:{registry.host}/{oci_index.repository}:v1", f"docker://{far.host}/by-skopeo:v1")
    assert skopeo.inspect_digest(f"{far.host}/by-skopeo:v1", tls_verify=False) == oci_index.digest

    registry.stop()  # the gap: from here on the source is gone

    out = tmp_path / "out"
    imported = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert imported.returncode == 0, imported.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Succeeded"
    for img in [*images.values(), untagged]:
        ref = f"{far.host}/mirror/{img.repository}" + (f":{img.tag}" if img.tag else f"@{img.digest}")
        assert skopeo.inspect_digest(ref, tls_verify=False) == img.digest
        for child in img.children.values():
            assert skopeo.inspect_digest(f"{far.host}/mirror/{img.repository}@{child}", tls_verify=False) == child
    # the report and the CRs name the original sources, and the far mirror
    assert {i["source"] for i in report["images"]} == {f"{registry.host}/{i.repository}" for i in images.values()}
    import yaml
    idms = list(yaml.safe_load_all((out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text()))
    entries = {e["source"]: e["mirrors"] for obj in idms for e in obj["spec"]["imageDigestMirrors"]}
    assert entries == {f"{registry.host}/{i.repository}": [f"{far.host}/mirror/{i.repository}"]
                       for i in images.values()}

    # a second import sends nothing
    again = mirrorsync("import", str(export_dir), "--output-dir", str(tmp_path / "out2"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "out2" / "report.json").read_text())["totals"]["bytesSent"] == 0


def test_incremental_export_holds_only_new_blobs(registry, far, seed, unique_repo, tmp_path, make_registry):
    repo = unique_repo("inc")
    first = seed(registry, repo, "v1", kind="oci-index", layers=3, layer_size=50_000, seed=1)
    images = [{"source": f"{registry.host}/{repo}", "allTags": True}]
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[far.host], images=images,
                              registries=plain(registry, far), options={"retries": 1})
    full = tmp_path / "full"
    assert mirrorsync("export", str(manifest), "--to", str(full)).returncode == 0

    # next month: a new tag sharing its base layers with the first
    second = seed(registry, repo, "v2", kind="oci-index", layers=3, layer_size=50_000, seed=1)
    assert set(second.blobs) - set(first.blobs)
    monthly = tmp_path / "monthly"
    proc = mirrorsync("export", str(manifest), "--to", str(monthly), "--since", str(full / "report.json"))
    assert proc.returncode == 0, proc.stderr
    new_blobs = set(second.blobs) - set(first.blobs)
    assert layout_files(monthly) == set(first.manifests) | set(second.manifests) | new_blobs
    full_size = sum(p.stat().st_size for p in full.rglob("*") if p.is_file())
    monthly_size = sum(p.stat().st_size for p in monthly.rglob("*") if p.is_file())
    print(f"export sizes: full {full_size} bytes, incremental {monthly_size} bytes")
    assert monthly_size < full_size

    # the chain: a third export --since the monthly one still leaves out what the full one carried
    third = tmp_path / "third"
    assert mirrorsync("export", str(manifest), "--to", str(third), "--since", str(monthly)).returncode == 0
    assert layout_files(third) == set(first.manifests) | set(second.manifests)

    # the monthly export alone cannot fill an empty mirror, and says why
    lonely = make_registry("lonely")
    m2 = write_manifest(tmp_path / "m2.yaml", mirrors=[lonely.host], images=images, registries=plain(lonely))
    proc = mirrorsync("import", str(monthly), "--manifest", str(m2), "--output-dir", str(tmp_path / "o-lonely"))
    assert proc.returncode == 1
    assert "an earlier export carried it" in proc.stderr + (tmp_path / "o-lonely" / "report.json").read_text()

    # imported in order, both arrive
    assert mirrorsync("import", str(full), "--output-dir", str(tmp_path / "o1")).returncode == 0
    proc = mirrorsync("import", str(monthly), "--output-dir", str(tmp_path / "o2"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o2" / "report.json").read_text())
    assert {(i["tag"], i["status"], i["digest"]) for i in report["images"]} == {
        ("v1", "up-to-date", first.digest), ("v2", "copied", second.digest)}


def test_archive_parts_and_damage(registry, far, seed, unique_repo, tmp_path, skopeo):
    img = seed(registry, unique_repo("arch"), "v1", kind="oci-index", layers=2, layer_size=300_000)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[far.host],
                              images=[{"source": f"{registry.host}/{img.repository}:v1"}],
                              registries=plain(registry, far), options={"retries": 1})
    export_dir = tmp_path / "export"
    proc = mirrorsync("export", str(manifest), "--to", str(export_dir), "--archive-size", "1M")
    assert proc.returncode == 0, proc.stderr
    parts = sorted(export_dir.glob("mirrorsync-export-*.tar"))
    assert len(parts) >= 2 and all(p.stat().st_size <= 1 << 20 for p in parts)
    assert not (export_dir / "index.json").exists()
    assert subprocess.run(["sha256sum", "--quiet", "-c", "--ignore-missing", "SHA256SUMS"], cwd=export_dir).returncode == 0

    # a damaged part is refused before anything is pushed
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(export_dir), str(broken)], check=True)
    with open(broken / parts[0].name, "r+b") as f:
        f.seek(600)
        f.write(b"\0garbage\0")
    proc = mirrorsync("import", str(broken), "--output-dir", str(tmp_path / "o-broken"))
    assert proc.returncode == 2
    assert f"{parts[0].name}: checksum mismatch" in proc.stderr
    with pytest.raises(AssertionError):  # skopeo fails: nothing reached the mirror
        skopeo.inspect_digest(f"{far.host}/{img.repository}:v1", tls_verify=False)

    proc = mirrorsync("import", str(export_dir), "--output-dir", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert skopeo.inspect_digest(f"{far.host}/{img.repository}:v1", tls_verify=False) == img.digest
    assert sha256sum_check(export_dir).returncode == 0  # unpacked: every file is back, intact


def test_interrupted_import_finishes_when_run_again(registry, far, seed, unique_repo, tmp_path, skopeo):
    repo = unique_repo("intr")
    pushed = [seed(registry, repo, f"v{i}", kind="oci", arches=("amd64",), layers=2, layer_size=100_000, seed=i)
              for i in range(12)]
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[far.host],
                              images=[{"source": f"{registry.host}/{repo}", "allTags": True}],
                              registries=plain(registry, far), options={"retries": 1, "concurrency": 1})
    export_dir = tmp_path / "export"
    assert mirrorsync("export", str(manifest), "--to", str(export_dir)).returncode == 0

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mirrorsync", "import", str(export_dir), "--output-dir", str(out),
                             "--log-format", "json"], stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    for line in proc.stderr:
        if '"status": "copied"' in line:
            proc.send_signal(signal.SIGKILL)  # no chance to finish anything
            break
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "report.json").exists()

    again = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert again.returncode == 0, again.stderr
    report = json.loads((out / "report.json").read_text())
    statuses = [i["status"] for i in report["images"]]
    assert statuses.count("up-to-date") >= 1 and statuses.count("copied") >= 1, statuses
    for img in pushed:
        assert skopeo.inspect_digest(f"{far.host}/{repo}:{img.tag}", tls_verify=False) == img.digest


def test_a_failed_import_keeps_the_entries_an_earlier_import_put_on_the_mirrors(registry, far, seed, unique_repo,
                                                                                tmp_path, proxies):
    # The disconnected side is where a cluster needs its mirrors most: an image that fails on this import, but
    # that an earlier import put on the mirror, keeps its entry in the CRs (issue 12), as for `run`.
    images = [seed(registry, unique_repo(f"k{i}"), "v1", kind="oci", arches=("amd64",), seed=60 + i)
              for i in range(2)]
    mirror = proxies(far)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/mirror"], registries={registry.host: registry_settings(registry), mirror.host: {"tlsVerify": False}},
                              images=[{"source": f"{registry.host}/{i.repository}", "tags": ["v1"]} for i in images],
                              options={"retries": 1})
    export_dir = tmp_path / "export"
    assert mirrorsync("export", str(manifest), "--to", str(export_dir)).returncode == 0
    out = tmp_path / "out"
    first = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert first.returncode == 0, first.stderr
    crs = {p.name: p.read_bytes() for p in (out / "cluster-resources").iterdir()}

    # the mirror fails every look at the first image on this import (its up-to-date check, then its push), but
    # answers the carry-over's HEAD by digest afterwards. The host answers, and answers the other image, so each of
    # the two requests spends its whole answered budget (1 + ANSWERED_FACTOR * retries attempts), then it recovers.
    failing = f"mirror/{images[0].repository}"
    attempts = 1 + ANSWERED_FACTOR * 1
    mirror.rules = [Rule("500", kinds={"manifest-head", "manifest-get", "manifest-put", "blob-head", "upload-start"},
                         repo=f"^{failing}$", limit=2 * attempts)]
    second = mirrorsync("import", str(export_dir), "--output-dir", str(out))

    assert second.returncode == 1, second.stderr
    report = json.loads((out / "report.json").read_text())
    record = next(i for i in report["images"] if i["source"].endswith(images[0].repository))
    assert record["status"] == "failed" and record["onMirror"] is True, record
    assert record["mirroredDigest"] == images[0].digest
    assert {p.name: p.read_bytes() for p in (out / "cluster-resources").iterdir()} == crs
    assert "removing mirror entry" not in second.stderr
