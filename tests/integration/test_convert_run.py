"""``convert`` then ``run`` against the real registry: the mirror holds what the real ``skopeo sync`` copies from
the same file (and, for images-by-semver, which this Debian's skopeo predates, the versions the range names)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import mirrorsync
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration

SECRET = "s3cret-never-copied"


def tags_on(skopeo, registry, repo) -> list[str]:
    proc = skopeo.run("list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}")
    return sorted(json.loads(proc.stdout)["Tags"])


def test_convert_then_run_copies_what_skopeo_sync_copies(tmp_path: Path, registry, mirror_registry, seed,
                                                          unique_repo, skopeo):
    repos = {name: unique_repo(name) for name in ("listed", "all", "regex", "semver")}
    seeded = {"listed": ["v1", "v2"], "all": ["x", "y"], "regex": ["1.0", "1.1", "2.0"],
              "semver": ["1.0.0", "v1.2.3", "1.3.0-rc.1", "2.0.0", "latest"]}
    digests = {}
    for name, tags in seeded.items():
        for i, tag in enumerate(tags):
            digests[(name, tag)] = seed(registry, repos[name], tag, kind="oci", arches=("amd64",), seed=i).digest

    skopeo_part = (f"{registry.host}:\n"
                   f"  tls-verify: false\n"
                   f"  images:\n"
                   f"    {repos['listed']}: [v1]\n"
                   f"    {repos['all']}: []\n"
                   f"  images-by-tag-regex:\n"
                   f"    {repos['regex']}: ^1\\.\n")
    for_skopeo = tmp_path / "skopeo-sync.yml"
    for_skopeo.write_text(skopeo_part)
    full = tmp_path / "sync.yml"
    full.write_text(skopeo_part + f"  images-by-semver:\n    {repos['semver']}: '>=1.2 <2'\n"
                                  f"  credentials:\n    username: someone\n    password: {SECRET}\n")

    skopeo.run("sync", "--policy", str(skopeo.policy), "--all", "--src", "yaml", "--dest", "docker",
               "--dest-tls-verify=false", str(for_skopeo), f"{mirror_registry.host}/sk", timeout=300)

    out = tmp_path / "manifest.yaml"
    converted = mirrorsync("convert", str(full), "--output", str(out), "--mirror", f"{mirror_registry.host}/ms",
                           "--insecure-mirror")
    assert converted.returncode == 0, converted.stderr
    assert SECRET not in out.read_text()
    run = mirrorsync("run", str(out), "--output-dir", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert SECRET not in run.stderr + run.stdout + (tmp_path / "out" / "report.json").read_text()

    # skopeo sync puts a repository at <destination>/<last path component>, and so does the converted manifest
    at = {name: repo.rsplit("/", 1)[-1] for name, repo in repos.items()}
    for name in ("listed", "all", "regex"):
        by_skopeo = tags_on(skopeo, mirror_registry, f"sk/{at[name]}")
        assert tags_on(skopeo, mirror_registry, f"ms/{at[name]}") == by_skopeo, name
    assert tags_on(skopeo, mirror_registry, f"ms/{at['listed']}") == ["v1"]
    assert tags_on(skopeo, mirror_registry, f"ms/{at['all']}") == ["x", "y"]
    assert tags_on(skopeo, mirror_registry, f"ms/{at['regex']}") == ["1.0", "1.1"]
    assert tags_on(skopeo, mirror_registry, f"ms/{at['semver']}") == ["v1.2.3"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    for image in report["images"]:
        name = next(n for n, r in repos.items() if image["source"].endswith(r))
        assert image["digest"] == digests[(name, image["tag"])]


def test_convert_image_set_configuration_then_run(tmp_path: Path, registry, mirror_registry, seed, unique_repo,
                                                  skopeo):
    app, blocked, untagged = unique_repo("app"), unique_repo("blocked"), unique_repo("bydigest")
    v1 = seed(registry, app, "v1", kind="oci-index")
    seed(registry, app, "v2", kind="oci", arches=("amd64",), seed=2)
    seed(registry, blocked, "v1", kind="oci", arches=("amd64",), seed=3)
    pinned = seed(registry, untagged, None, kind="oci", arches=("amd64",), seed=4)
    isc = tmp_path / "imageset-config.yaml"
    isc.write_text("kind: ImageSetConfiguration\n"
                   "apiVersion: mirror.openshift.io/v2alpha1\n"
                   "mirror:\n"
                   "  samples: [{image: registry.example.com/s:1}]\n"
                   "  additionalImages:\n"
                   f"  - name: {registry.host}/{app}:v1\n"
                   f"  - name: {registry.host}/{blocked}:v1\n"
                   f"  - name: {registry.host}/{untagged}@{pinned.digest}\n"
                   "  blockedImages:\n"
                   f"  - name: {registry.host}/{blocked}\n")
    out = tmp_path / "manifest.yaml"
    converted = mirrorsync("convert", str(isc), "--output", str(out), "--mirror", f"{mirror_registry.host}/isc",
                           "--insecure-mirror")
    assert converted.returncode == 0, converted.stderr
    text = out.read_text()
    assert "imageset-config.yaml:4: mirror.samples: not supported" in text
    assert f"imageset-config.yaml:7: mirror.additionalImages[1].name: {registry.host}/{blocked}:v1 left out" in text
    # the source registry speaks plain HTTP: the one setting an ImageSetConfiguration cannot say
    out.write_text(text.replace("registries:\n", f"registries:\n  {registry.host}:\n    tlsVerify: false\n", 1))
    run = mirrorsync("run", str(out), "--output-dir", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert tags_on(skopeo, mirror_registry, f"isc/{app}") == ["v1"]
    assert skopeo.inspect_digest(f"{mirror_registry.host}/isc/{app}:v1", tls_verify=False) == v1.digest
    assert skopeo.inspect_digest(f"{mirror_registry.host}/isc/{untagged}@{pinned.digest}",
                                 tls_verify=False) == pinned.digest
    with pytest.raises(SkopeoError, match="404"):  # the blocked image never reached the mirror
        tags_on(skopeo, mirror_registry, f"isc/{blocked}")
