"""``semver`` and ``latest`` end to end: the real registry's tag list, ``plan``'s reasons, and exactly the
selected tags on the mirror (read back with the real skopeo)."""

from __future__ import annotations

import json

import pytest

from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration

SEEDED = ["1.0.0", "v1.2.3", "1.3.0-rc.1", "1.4.0", "2.0.0", "latest"]


@pytest.fixture
def source_repo(registry, seed, unique_repo):
    repo = unique_repo("src")
    pushed = {t: seed(registry, repo, t, kind="oci", arches=("amd64",), seed=i) for i, t in enumerate(SEEDED)}
    return repo, pushed


def mirror_tags(skopeo, mirror_registry, repo) -> list[str]:
    proc = skopeo.run("list-tags", "--tls-verify=false", f"docker://{mirror_registry.host}/{repo}")
    return sorted(json.loads(proc.stdout)["Tags"])


def sync(tmp_path, registry, mirror_registry, image: dict, name: str):
    path = write_manifest(tmp_path / f"{name}.yaml", mirrors=[mirror_registry.host],
                          registries={r.host: registry_settings(r) for r in (registry, mirror_registry)},
                          images=[image], options={"retries": 1})
    planned = mirrorsync("plan", str(path))
    planned_json = mirrorsync("plan", str(path), "--output", "json")
    run = mirrorsync("run", str(path), "--output-dir", str(tmp_path / f"out-{name}"))
    return planned, json.loads(planned_json.stdout), run


def test_semver_range_mirrors_exactly_the_versions_in_it(tmp_path, registry, mirror_registry, source_repo, skopeo,
                                                        skopeo_inspect_digest):
    repo, pushed = source_repo
    planned, planned_json, run = sync(tmp_path, registry, mirror_registry,
                                      {"source": f"{registry.host}/{repo}", "semver": ">=1.2 <2"}, "semver")
    assert planned.returncode == 0 and run.returncode == 0, (planned.stderr, run.stderr)
    assert mirror_tags(skopeo, mirror_registry, repo) == ["1.4.0", "v1.2.3"]
    for tag in ("1.4.0", "v1.2.3"):
        assert skopeo_inspect_digest(f"{mirror_registry.host}/{repo}:{tag}", tls_verify=False) == pushed[tag].digest

    lines = planned.stdout.splitlines()
    assert f"tags of {registry.host}/{repo} (images[0]): 6 listed, 2 taken" in lines
    assert "  1.0.0: left: outside semver '>=1.2 <2'" in lines
    assert "  v1.2.3: taken: matches semver '>=1.2 <2'" in lines
    assert "  1.3.0-rc.1: left: a pre-release, and semver '>=1.2 <2' names none of 1.3.0" in lines
    assert "  2.0.0: left: outside semver '>=1.2 <2'" in lines
    assert "  latest: left: not a version, so outside semver '>=1.2 <2'" in lines
    (selection,) = planned_json["selections"]
    assert {t["tag"] for t in selection["tags"]} == set(SEEDED)
    assert sorted(t["tag"] for t in selection["tags"] if t["taken"]) == ["1.4.0", "v1.2.3"]
    assert sorted(j["tag"] for j in planned_json["jobs"]) == ["1.4.0", "v1.2.3"]


def test_latest_with_exclude_and_a_prerelease_range(tmp_path, registry, mirror_registry, source_repo, skopeo):
    repo, _ = source_repo
    planned, planned_json, run = sync(tmp_path, registry, mirror_registry,
                                      {"source": f"{registry.host}/{repo}", "semver": ">=1.3.0-rc.0",
                                       "exclude": ["^2\\."], "latest": 2}, "latest")
    assert run.returncode == 0, run.stderr
    assert mirror_tags(skopeo, mirror_registry, repo) == ["1.3.0-rc.1", "1.4.0"]
    reasons = {t["tag"]: t["reason"] for t in planned_json["selections"][0]["tags"]}
    assert reasons["2.0.0"] == "excluded by '^2\\\\.'"
    assert reasons["1.4.0"] == "matches semver '>=1.3.0-rc.0', among the latest 2"
    assert reasons["v1.2.3"] == "outside semver '>=1.3.0-rc.0'"


def test_bad_range_is_one_line_and_nothing_is_written(tmp_path, registry, mirror_registry, unique_repo):
    path = write_manifest(tmp_path / "bad.yaml", mirrors=[mirror_registry.host],
                          images=[{"source": f"{registry.host}/{unique_repo('x')}", "semver": ">=1.2 <"}])
    proc = mirrorsync("run", str(path), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2
    line = path.read_text().splitlines().index("  semver: '>=1.2 <'") + 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}:{line}: images[0].semver: invalid version range '>=1.2 <': '<' needs a version after it"]
    assert not (tmp_path / "out").exists()
