"""Against the real registry: every `run` says in report.json, on its summary's last line and in its metrics what
applying the cluster resources it wrote, in place of the ones its output directory held, does to the nodes; and
`mirrorsync diff` of the two directories agrees."""

from __future__ import annotations

import json
import shutil

import pytest

from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration


def test_second_run_adding_a_tag_mirrored_repo_reports_a_drain(tmp_path, registry, mirror_registry, seed,
                                                                 unique_repo):
    app, extra, digests = (seed(registry, unique_repo(name), "v1", kind="oci", arches=("amd64",), seed=i)
                           for i, name in enumerate(("app", "extra", "digests")))
    settings = {r.host: registry_settings(r) for r in (registry, mirror_registry)}
    mirror = f"{mirror_registry.host}/m"

    def run(*images: dict, name: str):
        manifest = write_manifest(tmp_path / f"{name}.yaml", mirrors=[mirror], images=list(images),
                                  registries=settings, options={"retries": 1})
        proc = mirrorsync("run", str(manifest), "--output-dir", str(out), "--metrics-file", str(tmp_path / "m.prom"))
        assert proc.returncode == 0, proc.stderr
        snapshot = tmp_path / f"after-{name}"
        shutil.copytree(out, snapshot)
        return json.loads((out / "report.json").read_text())["nodeImpact"], proc.stderr.splitlines()[-1], snapshot

    out = tmp_path / "out"
    app_entry = {"source": f"{registry.host}/{app.repository}:v1", "mirrorSets": ["digest"]}
    first, line, first_dir = run(app_entry, name="first")
    # into an empty directory: one new registry whose only mirror is digest-only
    assert first == {"verdict": "reload", "reasons": []}
    assert line == f"applying {out}/cluster-resources/: CRI-O reload, no drain"

    extra_entry = {"source": f"{registry.host}/{extra.repository}:v1"}  # digest and tag: IDMS and ITMS
    second, line, second_dir = run(app_entry, extra_entry, name="second")
    extra_source = f"{registry.host}/{extra.repository}"
    reason = f"{extra_source}: registry added with mirrors not all digest-only (digest-only, tag-only)"
    # only the new repository's registry: the app's entry is not rewritten
    assert second == {"verdict": "drain", "reasons": [reason]}
    assert line == f"applying {out}/cluster-resources/: drain: {reason}"
    assert 'mirrorsync_last_run_apply_verdict{verdict="drain"} 1' in (tmp_path / "m.prom").read_text()

    diff = mirrorsync("diff", str(first_dir), str(second_dir), "--output", "json")
    assert diff.returncode == 3, diff.stderr
    data = json.loads(diff.stdout)
    assert (data["verdict"], data["reasons"]) == ("drain", [reason])
    assert sorted((a["kind"], a["source"]) for a in data["added"]) == [
        ("ImageDigestMirrorSet", extra_source), ("ImageTagMirrorSet", extra_source)]
    assert data["removed"] == [] and data["changed"] == []

    third, line, _ = run(app_entry, extra_entry, name="third")
    assert third == {"verdict": "none", "reasons": []}
    assert line == f"applying {out}/cluster-resources/: no change"
    assert 'mirrorsync_last_run_apply_verdict{verdict="none"} 1' in (tmp_path / "m.prom").read_text()

    digest_entry = {"source": f"{registry.host}/{digests.repository}:v1", "mirrorSets": ["digest"]}
    fourth, line, _ = run(app_entry, extra_entry, digest_entry, name="fourth")
    assert fourth == {"verdict": "reload", "reasons": []}
