"""``plan`` fails where ``run`` would (issue 35): a relative ``authFile`` is read from the manifest's directory in
both, a missing one is file:line:field and exit 2 in both; a named tag or digest that the source does not have
fails the plan at its manifest line; ``--offline`` reads no registry; an entry that selects no tag is a warning,
with the reason, in both."""

from __future__ import annotations

import json

import pytest

from support.cli import mirrorsync, registry_settings, write_auth_file, write_manifest

pytestmark = pytest.mark.integration

MISSING_DIGEST = "sha256:" + "0" * 64


def _manifest(path, mirror_registry, registries, images):
    settings = {r.host: registry_settings(r) for r in registries}
    return write_manifest(path, mirrors=[mirror_registry.host], registries=settings, images=images,
                          options={"retries": 1})


def test_relative_auth_file_is_read_from_the_manifests_directory(tmp_path, htpasswd_registry, mirror_registry,
                                                                 seed):
    pushed = seed(htpasswd_registry, tag="1.0", kind="oci", arches=("amd64",))
    config = tmp_path / "config"
    config.mkdir()
    write_auth_file(config / "good600.json", htpasswd_registry)
    path = _manifest(config / "sync.yaml", mirror_registry, (htpasswd_registry, mirror_registry),
                     [{"source": f"{htpasswd_registry.host}/{pushed.repository}", "tags": ["1.0"]}])
    doc = path.read_text().replace(f"  {htpasswd_registry.host}:\n",
                                   f"  {htpasswd_registry.host}:\n    authFile: good600.json\n")
    path.write_text(doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # the working directory holds no good600.json

    planned = mirrorsync("plan", str(path), cwd=elsewhere)
    assert planned.returncode == 0, planned.stderr
    assert f"credentials for {htpasswd_registry.host}: found" in planned.stdout.splitlines()
    run = mirrorsync("run", str(path), "-o", str(tmp_path / "out"), cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["images"][0]["status"] == "copied"


def test_missing_auth_file_is_its_manifest_line_in_plan_and_run(tmp_path, registry, mirror_registry):
    path = _manifest(tmp_path / "sync.yaml", mirror_registry, (registry, mirror_registry),
                     [{"source": f"{registry.host}/t/any", "tags": ["1.0"]}])
    lines = path.read_text().splitlines()
    at = lines.index(f"  {mirror_registry.host}:") + 1
    lines.insert(at, "    authFile: nothere/auth.json")
    path.write_text("\n".join(lines) + "\n")
    for args in (("plan",), ("run", "-o", str(tmp_path / "out"))):
        proc = mirrorsync(*args, str(path), cwd=tmp_path.parent)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == (
            f"error: {path}:{at + 1}: registries.{mirror_registry.host}.authFile: {tmp_path}/nothere/auth.json: "
            "auth file not found (a relative path is read from the manifest's directory)")
    assert not (tmp_path / "out").exists()


def test_named_tags_and_digests_missing_on_the_source_fail_the_plan(tmp_path, registry, mirror_registry, seed,
                                                                   unique_repo):
    repo = unique_repo("src")
    pushed = seed(registry, repo, "1.0", kind="oci", arches=("amd64",))
    path = _manifest(tmp_path / "sync.yaml", mirror_registry, (registry, mirror_registry),
                     [{"source": f"{registry.host}/{repo}", "tags": ["1.0", "9.9"],
                       "digests": [pushed.digest, MISSING_DIGEST]}])
    planned = mirrorsync("plan", str(path))
    assert planned.returncode == 1
    lines = planned.stdout.splitlines()
    assert f"{registry.host}/{repo}:1.0 -> {mirror_registry.host}/{repo}" in lines
    assert f"{registry.host}/{repo}@{pushed.digest} -> {mirror_registry.host}/{repo}" in lines
    assert not any("9.9" in line or MISSING_DIGEST in line for line in lines)
    text = path.read_text().splitlines()
    tag_line = text.index("  - '9.9'") + 1
    digest_line = text.index(f"  - {MISSING_DIGEST}") + 1
    errors = planned.stderr.splitlines()
    assert (f"cannot plan {registry.host}/{repo}: {path}:{tag_line}: images[0].tags[1]: "
            f"{registry.host}/{repo}:9.9 is not on the source") in errors
    assert (f"cannot plan {registry.host}/{repo}: {path}:{digest_line}: images[0].digests[1]: "
            f"{registry.host}/{repo}@{MISSING_DIGEST} is not on the source") in errors


def test_offline_plan_reads_no_registry(tmp_path, mirror_registry, closed_port):
    source = f"127.0.0.1:{closed_port}"
    path = write_manifest(tmp_path / "sync.yaml", mirrors=[mirror_registry.host],
                          registries={source: {"tlsVerify": False}},
                          images=[{"source": f"{source}/t/named", "tags": ["1.0"]},
                                  {"source": f"{source}/t/listed", "semver": ">=1"}])
    online = mirrorsync("plan", str(path), env={"MIRRORSYNC_RETRY_WAIT": "0.01"})  # its retries, quickly
    assert online.returncode == 1  # the closed port cannot answer
    planned = mirrorsync("plan", str(path), "--offline", "--output", "json")
    assert planned.returncode == 0, planned.stderr
    out = json.loads(planned.stdout)
    assert [(j["source"], j["tag"]) for j in out["jobs"]] == [(f"{source}/t/named", "1.0")]
    assert out["notPlanned"] == [f"images[1] ({source}/t/listed): not planned (--offline: it selects from the "
                                 "source's tag list)"]
    assert out["failures"] == []


def test_entry_selecting_no_tag_is_a_warning_with_the_reason(tmp_path, registry, mirror_registry, seed,
                                                            unique_repo):
    repo = unique_repo("src")
    for i, tag in enumerate(("1.0.0", "1.1.0", "latest")):
        seed(registry, repo, tag, kind="oci", arches=("amd64",), seed=i)
    path = _manifest(tmp_path / "sync.yaml", mirror_registry, (registry, mirror_registry),
                     [{"source": f"{registry.host}/{repo}", "semver": ">=2"}])
    line = path.read_text().splitlines().index(f"- source: {registry.host}/{repo}") + 1
    want = (f"{path}:{line}: images[0]: {registry.host}/{repo} selects no tag (of the 3 tags its source lists: "
            "2 outside semver '>=2'; 1 not a version, so outside semver '>=2')")
    planned = mirrorsync("plan", str(path))
    assert planned.returncode == 0, planned.stderr
    assert f"warning: {want}" in planned.stderr.splitlines()
    run = mirrorsync("run", str(path), "-o", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert f"WARNING {want}" in run.stderr.splitlines()
