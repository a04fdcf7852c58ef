"""One manifest on both sides of an air gap: ``export`` runs where the sources are, ``import`` where the mirrors
are, each with the manifest as written (the export carries a copy). The auth files and certificate directories of
the registries on the other side do not exist there, and must not stop either half."""

from __future__ import annotations

import json
import shutil

import pytest

from support.cli import mirrorsync, write_manifest

pytestmark = pytest.mark.integration


def test_export_and_import_need_only_their_own_sides_files(make_registry, seed, tmp_path):
    source, far = make_registry("connected"), make_registry("disconnected")
    img = seed(source, "app", "v1", kind="oci", arches=("amd64",))
    connected, disconnected = tmp_path / "connected", tmp_path / "disconnected"
    connected.mkdir()
    (connected / "certs").mkdir()
    (connected / "auth.json").write_text(json.dumps({"auths": {}}))
    (connected / "auth.json").chmod(0o600)
    manifest = write_manifest(
        tmp_path / "m.yaml", mirrors=[f"{far.host}/mirror"], images=[{"source": f"{source.host}/app:v1"}],
        registries={source.host: {"tlsVerify": False, "authFile": str(connected / "auth.json"),
                                  "certDir": str(connected / "certs")},
                    far.host: {"tlsVerify": False, "authFile": str(disconnected / "auth.json"),
                               "certDir": str(disconnected / "certs")}},
        options={"retries": 1})
    exported = mirrorsync("export", str(manifest), "--to", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr

    shutil.rmtree(connected)  # across the gap: the connected side's files are not here, the disconnected's are
    (disconnected / "certs").mkdir(parents=True)
    (disconnected / "auth.json").write_text(json.dumps({"auths": {}}))
    (disconnected / "auth.json").chmod(0o600)
    source.stop()
    imported = mirrorsync("import", str(tmp_path / "export"), "--output-dir", str(tmp_path / "out"))
    assert imported.returncode == 0, imported.stderr
    [rec] = json.loads((tmp_path / "out" / "report.json").read_text())["images"]
    assert rec["digest"] == img.digest and rec["status"] == "copied"

    # a file of the side a command does run on is still checked: a missing one is bad input
    (disconnected / "auth.json").unlink()
    again = mirrorsync("import", str(tmp_path / "export"), "--output-dir", str(tmp_path / "out"))
    assert again.returncode == 2 and "auth.json" in again.stderr
