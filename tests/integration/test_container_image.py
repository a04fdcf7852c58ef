"""The container image, proven: ``scripts/image`` bootstraps a Debian bookworm base with mmdebstrap and builds the
Dockerfile over it with buildah; the image's own ``mirrorsync`` (run with ``buildah run``, chroot isolation, as the
image's user) then syncs from a loopback registry to another and writes the CRs.

Slow (a Debian bootstrap and a pip install from PyPI: minutes) and needing the network for them, so outside the
default suite: ``MIRRORSYNC_SLOW=1 scripts/test tests/integration/test_container_image.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from support.cli import write_manifest
from support.fault_proxy import manifest_digest, oracle_client

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("MIRRORSYNC_SLOW") != "1",
                                 reason="slow: builds the container image (MIRRORSYNC_SLOW=1 runs it)")]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/mirrorsync:test"
ENV = {**os.environ, "STORAGE_DRIVER": os.environ.get("STORAGE_DRIVER", "vfs")}


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildah", *args], env=ENV, capture_output=True, text=True, timeout=600, check=check)


@pytest.fixture(scope="module")
def container() -> str:
    built = subprocess.run([str(ROOT / "scripts" / "image"), "--tag", IMAGE], env=ENV, capture_output=True,
                           text=True, timeout=1800)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == IMAGE
    name = buildah("from", IMAGE).stdout.strip()
    yield name
    buildah("rm", name, check=False)


def test_the_image_runs_as_its_non_root_user(container):
    config = yaml.safe_load(buildah("inspect", "--type", "image", IMAGE).stdout)
    assert config["OCIv1"]["config"]["User"] == "10001:10001"
    assert config["OCIv1"]["config"]["Entrypoint"] == ["mirrorsync"]
    ran = buildah("run", "--isolation", "chroot", container, "--", "id", "-u")
    assert ran.stdout.strip() == "10001"
    version = buildah("run", "--isolation", "chroot", container, "--", "mirrorsync", "--version")
    assert version.stdout.startswith("mirrorsync "), version.stdout


def test_the_images_mirrorsync_syncs_a_loopback_registry_and_writes_the_crs(container, tmp_path, registry,
                                                                           make_registry, seed, unique_repo):
    mirror = make_registry("image-mirror")
    image = seed(registry, unique_repo("in-image"), "v1", kind="oci-index", arches=("amd64", "arm64"), seed=501)
    work = tmp_path / "work"
    work.mkdir()
    write_manifest(work / "manifest.yaml", mirrors=[f"{mirror.host}/img"],
                   images=[{"source": f"{registry.host}/{image.repository}:v1"}],
                   registries={h: {"tlsVerify": False} for h in (registry.host, mirror.host)})
    os.chown(work, 10001, 10001)  # the image's user writes the output directory
    ran = buildah("run", "--isolation", "chroot", "-v", f"{work}:/work", container, "--",
                  "mirrorsync", "run", "/work/manifest.yaml", "--output-dir", "/work/out", check=False)
    assert ran.returncode == 0, ran.stderr
    with oracle_client(mirror) as client:
        assert manifest_digest(client, f"img/{image.repository}", "v1") == image.digest
    idms = list(yaml.safe_load_all((work / "out" / "cluster-resources" / "imagedigestmirrorset.yaml").read_text()))
    assert [e["source"] for obj in idms for e in obj["spec"]["imageDigestMirrors"]] == \
        [f"{registry.host}/{image.repository}"]
    assert (work / "out" / "report.json").stat().st_uid == 10001
