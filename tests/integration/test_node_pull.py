"""A real client as the judge: skopeo pulls through the registries.conf rendered from the CRs ``run`` wrote,
while the source registry is down."""

from __future__ import annotations

import hashlib

import pytest

from support.cli import Run, mirrorsync, registry_settings, write_manifest
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration


def sync_then_stop_source(tmp_path, make_registry, mirror_registry, seed, unique_repo, **image_fields):
    source = make_registry("source")
    repo = unique_repo("node")
    img = seed(source, repo, "v1")
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/node"],
                              registries={r.host: registry_settings(r) for r in (source, mirror_registry)},
                              images=[{"source": f"{source.host}/{repo}", "tags": ["v1"], **image_fields}])
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    conf = tmp_path / "registries.conf"
    # the test mirror speaks plain HTTP: on a cluster, image.config.openshift.io's insecureRegistries
    rendered = mirrorsync("registries-conf", str(out), "--insecure", mirror_registry.host, "--output", str(conf))
    assert rendered.returncode == 0, rendered.stderr
    source.stop()
    return source, img, conf, Run(proc.returncode, proc.stdout, proc.stderr, out)


def inspect(skopeo, conf, ref: str) -> str:
    raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{ref}").stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_digest_pull_goes_to_the_mirror_and_tag_pull_follows_itms(tmp_path, make_registry, mirror_registry, seed,
                                                                   unique_repo, skopeo):
    source, img, conf, _ = sync_then_stop_source(tmp_path, make_registry, mirror_registry, seed, unique_repo)
    assert inspect(skopeo, conf, f"{source.host}/{img.repository}@{img.digest}") == img.digest
    # the ITMS makes the mirror serve tag pulls too
    assert inspect(skopeo, conf, f"{source.host}/{img.repository}:v1") == img.digest
    # a repository we did not mirror is not redirected: it goes to the (dead) source and fails
    with pytest.raises(SkopeoError):
        inspect(skopeo, conf, f"{source.host}/not/mirrored@{img.digest}")


def test_digest_only_mirror_does_not_serve_tags(tmp_path, make_registry, mirror_registry, seed, unique_repo, skopeo):
    source, img, conf, run = sync_then_stop_source(tmp_path, make_registry, mirror_registry, seed, unique_repo,
                                                   mirrorSets=["digest"])
    assert not (run.crs_dir / "imagetagmirrorset.yaml").exists()
    assert inspect(skopeo, conf, f"{source.host}/{img.repository}@{img.digest}") == img.digest
    with pytest.raises(SkopeoError):
        inspect(skopeo, conf, f"{source.host}/{img.repository}:v1")


def test_never_contact_source_blocks_the_primary(tmp_path, make_registry, mirror_registry, seed, unique_repo, skopeo):
    source, img, conf, _ = sync_then_stop_source(tmp_path, make_registry, mirror_registry, seed, unique_repo,
                                                 mirrorSourcePolicy="NeverContactSource")
    text = conf.read_text()
    assert "blocked = true" in text
    assert inspect(skopeo, conf, f"{source.host}/{img.repository}@{img.digest}") == img.digest
    resolved = mirrorsync("resolve", f"{source.host}/{img.repository}@{img.digest}", "--registries-conf", str(conf),
                          "--output", "json")
    assert resolved.returncode == 0, resolved.stderr
    assert '"blocked": true' in resolved.stdout
