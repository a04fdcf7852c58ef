"""Run the real ``skopeo`` against local registries, isolated from the machine's auth and registries config."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devtools.devregistry import LocalRegistry


class SkopeoError(AssertionError):
    """skopeo exited non-zero; the message carries its command line and stderr."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"skopeo exited {returncode}: {' '.join(args)}\n{stderr.strip()}")


def registry_opts(registry: LocalRegistry, *, creds: str | None = None) -> dict[str, Any]:
    """``tls_verify``/``creds``/``cert_dir`` keywords that let skopeo reach ``registry`` as its owner would.

    ``creds`` ("user:password") overrides the registry's own user, e.g. to try a wrong password.
    """
    if creds is None and registry.username:
        creds = f"{registry.username}:{registry.password}"
    return {"tls_verify": registry.tls, "creds": creds, "cert_dir": registry.cert_dir}


class Skopeo:
    """A skopeo runner whose auth file, registries.conf and signature policy live in ``home``.

    A developer's ``auth.json`` or ``registries.conf`` (mirrors, blocked registries) would otherwise change
    what the tests see; the policy accepts anything because test images are unsigned.
    """

    def __init__(self, home: Path) -> None:
        self.binary = shutil.which("skopeo") or "skopeo"
        home.mkdir(parents=True, exist_ok=True)
        self.auth_file = home / "auth.json"
        self.auth_file.write_text('{"auths": {}}\n')
        self.registries_conf = home / "registries.conf"
        self.registries_conf.write_text("# empty: no search registries, no mirrors\n")
        self.policy = home / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": str(home), "XDG_RUNTIME_DIR": str(home), "REGISTRY_AUTH_FILE": str(self.auth_file),
                    "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf)}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run ``skopeo ARGS``; raises ``SkopeoError`` if it fails."""
        argv = [self.binary, *args]
        result = subprocess.run(argv, env=self.env, capture_output=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise SkopeoError(argv, result.returncode, result.stderr.decode(errors="replace"))
        return result

    def inspect_raw(self, ref: str, *, tls_verify: bool = True, creds: str | None = None,
                    cert_dir: Path | None = None) -> bytes:
        """``skopeo inspect --raw``: the manifest bytes exactly as the registry serves them."""
        return self.run("inspect", "--raw", *_flags("", tls_verify, creds, cert_dir), _docker(ref)).stdout

    def inspect_digest(self, ref: str, *, tls_verify: bool = True, creds: str | None = None,
                       cert_dir: Path | None = None) -> str:
        """``sha256:`` digest of the raw manifest bytes skopeo fetched for ``ref``."""
        raw = self.inspect_raw(ref, tls_verify=tls_verify, creds=creds, cert_dir=cert_dir)
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def copy(self, src: str, dst: str, *, all_images: bool = True, src_registry: LocalRegistry | None = None,
             dst_registry: LocalRegistry | None = None, extra: tuple[str, ...] = ()) -> None:
        """``skopeo copy [--all]`` between two refs, with the flags each registry needs."""
        args = ["copy", "--policy", str(self.policy)]
        if all_images:
            args.append("--all")
        if src_registry is not None:
            o = registry_opts(src_registry)
            args += _flags("src-", o["tls_verify"], o["creds"], o["cert_dir"])
        if dst_registry is not None:
            o = registry_opts(dst_registry)
            args += _flags("dest-", o["tls_verify"], o["creds"], o["cert_dir"])
        self.run(*args, *extra, _docker(src), _docker(dst))


def _flags(prefix: str, tls_verify: bool, creds: str | None, cert_dir: Path | None) -> list[str]:
    flags = [f"--{prefix}tls-verify={'true' if tls_verify else 'false'}"]
    if creds:
        flags.append(f"--{prefix}creds={creds}")
    if cert_dir:
        flags.append(f"--{prefix}cert-dir={cert_dir}")
    return flags


_TRANSPORTS = ("docker://", "oci:", "oci-archive:", "dir:", "docker-archive:", "containers-storage:")


def _docker(ref: str) -> str:
    return ref if ref.startswith(_TRANSPORTS) else f"docker://{ref}"


def unpack_with_umoci(skopeo: Skopeo, ref: str, tmp_path: Path, arch: str = "amd64", name: str = "image") -> Path:
    """The image ``ref`` (one ``arch`` of it) as umoci unpacks it: skopeo copies it into an OCI layout, umoci
    (which shares no code with mirrorsync) unpacks that into a bundle; returns the bundle (``rootfs/``,
    ``config.json``)."""
    layout = tmp_path / f"layout-{name}-{arch}"
    skopeo.run("copy", "--policy", str(skopeo.policy), "--src-tls-verify=false", "--override-arch", arch,
               f"docker://{ref}", f"oci:{layout}:{name}")
    bundle = tmp_path / f"bundle-{name}-{arch}"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:{name}", str(bundle)], check=True,
                   capture_output=True)
    return bundle
