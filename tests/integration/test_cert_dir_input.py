"""A ``certDir`` that cannot be used is bad input: exit 2 at its manifest line, before anything is copied, with
nothing written (issue 12). The mirror is the real TLS registry, so a usable certDir would have let the copy run."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from support.cli import mirrorsync, write_manifest

pytestmark = pytest.mark.integration


def _missing(cert_dir: Path) -> Path:
    return cert_dir / "not-there"


def _a_file(cert_dir: Path) -> Path:
    (cert_dir / "ca.crt").write_text("a file, not a directory\n")
    return cert_dir / "ca.crt"


def _dangling_link(cert_dir: Path) -> Path:
    (cert_dir / "ca.crt").symlink_to(cert_dir / "deleted-ca.crt")  # the CA was moved away; the link stayed
    return cert_dir


def _garbage_ca(cert_dir: Path) -> Path:
    (cert_dir / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    return cert_dir


def _directory_as_ca(cert_dir: Path) -> Path:
    (cert_dir / "ca.crt").mkdir()
    return cert_dir


@pytest.mark.parametrize("make, says", [(_missing, "is not a directory"), (_a_file, "is not a directory"),
                                        (_dangling_link, "cannot read"), (_garbage_ca, "cannot load"),
                                        (_directory_as_ca, "ca.crt")])
def test_an_unusable_cert_dir_exits_2_before_anything_is_copied(make, says, tmp_path, registry, tls_registry, seed,
                                                                 unique_repo):
    img = seed(registry, unique_repo("cd"), "v1", kind="oci", arches=("amd64",), seed=400)
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copyfile(tls_registry.cert_dir / "ca.crt", cert_dir / "good-ca.crt")  # the right CA is there too
    bad = make(cert_dir)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{tls_registry.host}/cd"],
                              images=[{"source": f"{registry.host}/{img.repository}:v1"}],
                              registries={registry.host: {"tlsVerify": False},
                                          tls_registry.host: {"tlsVerify": True, "certDir": str(bad)}})
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))

    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {manifest}:"), proc.stderr
    assert f"registries.{tls_registry.host}.certDir: " in lines[0] and says in lines[0], lines[0]
    assert not out.exists()
    with httpx.Client(base_url=tls_registry.url, verify=tls_registry.ssl_context()) as client:
        assert client.get(f"/v2/cd/{img.repository}/tags/list").status_code == 404


def test_the_same_cert_dir_made_usable_copies(tmp_path, registry, tls_registry, seed, unique_repo):
    """The control: with only the good CA, the same manifest copies and exits 0."""
    img = seed(registry, unique_repo("cd-ok"), "v1", kind="oci", arches=("amd64",), seed=401)
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copyfile(tls_registry.cert_dir / "ca.crt", cert_dir / "good-ca.crt")
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{tls_registry.host}/cd"],
                              images=[{"source": f"{registry.host}/{img.repository}:v1"}],
                              registries={registry.host: {"tlsVerify": False},
                                          tls_registry.host: {"tlsVerify": True, "certDir": str(cert_dir)}})
    proc = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
