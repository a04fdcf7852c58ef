"""Running the real ``mirrorsync`` command and writing manifests for it, for integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from mirrorsync.openshift import cluster_resources
from devtools.devregistry import LocalRegistry


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    output_dir: Path

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "report.json").read_text())

    def image(self, source_suffix: str, tag: str | None = None) -> dict[str, Any]:
        for img in self.report["images"]:
            if img["source"].endswith(source_suffix) and (tag is None or img["tag"] == tag):
                return img
        raise AssertionError(f"no image {source_suffix}:{tag} in report")

    @property
    def crs_dir(self) -> Path:
        """Where the run put the objects for the cluster."""
        return cluster_resources.directory(self.output_dir)

    def cr(self, name: str) -> list[dict[str, Any]]:
        return list(yaml.safe_load_all((self.crs_dir / name).read_text()))


def mirrorsync(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m mirrorsync ARGS`` in a clean environment (no user auth files leak in), in ``cwd`` if given
    (the project stays importable there)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    full_env.update(env or {})
    if cwd is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                full_env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "mirrorsync", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


def registry_settings(registry: LocalRegistry) -> dict[str, Any]:
    """The manifest's ``registries.<host>`` entry for a LocalRegistry."""
    if registry.tls:
        return {"tlsVerify": True, "certDir": str(registry.cert_dir)}
    return {"tlsVerify": False}


def realm_settings(*registries: LocalRegistry) -> dict[str, Any]:
    """``registries`` entries for the token realms of ``registries``: the test token server speaks plain HTTP, and
    mirrorsync sends credentials to a realm over plain HTTP only where the manifest says ``tlsVerify: false``."""
    realms = {urlsplit(r.token.realm) for r in registries if r.token}
    return {realm.netloc: {"tlsVerify": False} for realm in realms if realm.scheme == "http"}


def write_auth_file(path: Path, *registries: LocalRegistry) -> Path:
    import base64

    auths = {r.host: {"auth": base64.b64encode(f"{r.username}:{r.password}".encode()).decode()}
             for r in registries if r.username}
    path.write_text(json.dumps({"auths": auths}))
    path.chmod(0o600)
    return path


def run_images(tmp_path: Path, registries: list[LocalRegistry], mirror: str, images: list[dict[str, Any]], *,
               args: tuple[str, ...] = (), out: Path | None = None) -> Run:
    """``mirrorsync run`` of a manifest of ``images`` to ``mirror`` (``host/namespace``), one retry, each call with
    a manifest file of its own; the output directory is ``tmp_path/out`` unless given."""
    path = write_manifest(tmp_path / f"m-{len(list(tmp_path.glob('m-*.yaml')))}.yaml", mirrors=[mirror],
                          registries={r.host: registry_settings(r) for r in registries}, images=images,
                          options={"retries": 1})
    out = out or tmp_path / "out"
    proc = mirrorsync("run", str(path), "--output-dir", str(out), *args)
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


def manifest_runner(tmp_path: Path):
    """``go(mirrors=[...], images=[...], registries={...}, args=(...), env={...}, output_dir=...)`` -> Run of
    ``mirrorsync run`` of a manifest file of its own (one retry unless ``options`` say otherwise); the output
    directory is ``tmp_path/out`` unless given."""
    counter = iter(range(1000))

    def go(*, args: tuple[str, ...] = (), env: dict[str, str] | None = None, output_dir: Path | None = None,
           **manifest: Any) -> Run:
        manifest.setdefault("options", {"retries": 1})
        path = write_manifest(tmp_path / f"manifest-{next(counter)}.yaml", **manifest)
        out = output_dir or tmp_path / "out"
        proc = mirrorsync("run", str(path), "--output-dir", str(out), *args, env=env)
        return Run(proc.returncode, proc.stdout, proc.stderr, out)

    return go


def write_manifest(path: Path, *, mirrors: list[str], images: list[dict[str, Any]],
                   registries: dict[str, dict[str, Any]] | None = None, **extra: Any) -> Path:
    doc = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest", "mirrors": mirrors,
           "registries": registries or {}, "images": images, **extra}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def with_mirrors(manifest: Path, mirrors: list[str], path: Path) -> Path:
    """A copy of ``manifest`` at ``path`` with other ``mirrors`` (the dark site of an import)."""
    doc = yaml.safe_load(manifest.read_text())
    doc["mirrors"] = mirrors
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
