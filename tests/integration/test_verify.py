"""``mirrorsync verify`` against a real mirror that is then damaged: a deleted blob, a retagged manifest."""

from __future__ import annotations

import json

import httpx
import pytest

from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration


def test_verify_catches_a_deleted_blob_and_a_retagged_manifest(registry, make_registry, seed, unique_repo,
                                                                tmp_path, pusher_for):
    mirror = make_registry("verify-mirror")
    index = seed(registry, unique_repo("multi"), "v1", kind="oci-index")
    single = seed(registry, unique_repo("single"), "v1", kind="docker")
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/m"],
                              images=[{"source": f"{registry.host}/{i.repository}:v1"} for i in (index, single)],
                              registries={r.host: registry_settings(r) for r in (registry, mirror)},
                              options={"retries": 1})
    out = tmp_path / "out"
    run = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert run.returncode == 0, run.stderr
    report = str(out / "report.json")

    ok = mirrorsync("verify", report)  # settings from the manifest the report names
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == ""
    assert "OK: 2 image(s)" in ok.stderr and "4 manifest(s)" in ok.stderr
    assert "2 of 2 CR entries have all their images on the mirrors" in ok.stderr
    assert mirrorsync("verify", str(manifest)).returncode == 0
    ok_json = mirrorsync("verify", report, "--output", "json")
    assert ok_json.returncode == 0, ok_json.stderr
    assert json.loads(ok_json.stdout) == {"ok": True, "images": 2, "manifests": 4, "blobs": json.loads(
        ok_json.stdout)["blobs"], "problems": [], "entries": 2, "entriesOk": 2, "entryGaps": []}
    assert json.loads(ok_json.stdout)["blobs"] > 0

    # damage 1: a layer of one child of the index disappears from the mirror
    layer = index.blobs[-1]
    gone = httpx.delete(f"{mirror.url}/v2/m/{index.repository}/blobs/{layer}")
    assert gone.status_code == 202, gone.text
    # damage 2: someone pushes other content under the tag on the mirror
    other = seed(mirror, f"m/{single.repository}", "v1", kind="docker", seed=42)
    assert other.digest != single.digest

    for target in (report, str(manifest)):
        bad = mirrorsync("verify", target, "--manifest", str(manifest))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        lines = bad.stdout.splitlines()
        assert f"missing: {mirror.host}/m/{index.repository}@{layer} (blob of " in bad.stdout, lines
        assert (f"wrong: {mirror.host}/m/{single.repository}:v1 names {other.digest}, expected {single.digest}"
                in bad.stdout), lines
        assert len(lines) == 2, lines
        assert "FAILED" in bad.stderr and "2 problem(s)" in bad.stderr
        if target == report:  # both CR entries lost content, and stderr names them
            assert "0 of 2 CR entries have all their images on the mirrors" in bad.stderr
            for img in (index, single):
                assert (f"entry {registry.host}/{img.repository} -> {mirror.host}/m/{img.repository}: 1 of 1 "
                        "image(s) not on the mirror") in bad.stderr
        bad_json = mirrorsync("verify", target, "--manifest", str(manifest), "--output", "json")
        assert bad_json.returncode == 1, bad_json.stderr
        got = json.loads(bad_json.stdout)
        assert got["ok"] is False and got["problems"] == sorted(lines)
        if target == report:
            assert got["entries"] == 2 and got["entriesOk"] == 0 and len(got["entryGaps"]) == 2


def test_verify_bad_input_exits_2(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"kind": "SyncReport", "apiVersion": "nope/v0"}')
    proc = mirrorsync("verify", str(path))
    assert proc.returncode == 2 and "unsupported report version" in proc.stderr

    export_report = tmp_path / "export-report.json"
    export_report.write_text(json.dumps({"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport",
                                         "engine": "native", "mirrors": ["oci:/media/export"], "images": []}))
    proc = mirrorsync("verify", str(export_report))
    assert proc.returncode == 2 and "report of an export" in proc.stderr
