"""Capture what the real skopeo says when a registry request fails, for tests/sync/test_skopeo_errors.py.

Run from the project root: ``.venv/bin/python tests/data/skopeo/capture.py`` (needs docker-registry and skopeo,
talks only to 127.0.0.1). For every case it pushes a fresh image to a local docker-registry and runs
``skopeo copy`` exactly as the skopeo engine does (``copy_argv``: ``--debug``, ``--retry-times=0``, an in-memory
auth file, plain HTTP) through a ``FaultProxy`` that breaks the first request of one kind in one way, and writes skopeo's
non-debug stderr lines and its debug lines on failed manifest uploads (what the engine's error text is made of)
to ``<expected>--<side>--<kind>--<mode>.txt``. Kind ``tag-put`` is the manifest PUT of the tag (here an OCI index).

``expected`` is the class the skopeo engine must give the failure: ``transient`` for an injected 5xx/429, reset
or truncated body; ``permanent`` for what another attempt cannot change (a missing manifest or blob, wrong or no
credentials); ``mismatch`` for bytes that do not match their digest (a corrupt transfer once, a lying source when
it happens again). A fault that skopeo rides out by itself (it retries a 429 itself, and a failed ping over plain
HTTP is only the second of two) leaves no file; the list printed at the end says which.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for support.*

from mirrorsync.sync import skopeo as skopeo_mod  # noqa: E402
from mirrorsync.registry.auth import Credentials  # noqa: E402
from devtools.devregistry import LocalRegistry, start_registry  # noqa: E402
from mirrorsync.sync.manifest import RegistrySettings  # noqa: E402
from devtools.samples import SamplePusher, push_image  # noqa: E402
from support.fault_proxy import FaultProxy, Rule  # noqa: E402

TRANSIENT_MODES = ("500", "502", "503", "504", "429", "reset", "truncate")
SOURCE_KINDS = ("ping", "manifest-get", "blob-get")
MIRROR_KINDS = ("ping", "blob-head", "upload-start", "upload-patch", "upload-put", "manifest-put")
PLAIN = RegistrySettings(tls_verify=False)
ZEROS = "sha256:" + "0" * 64


class Capture:
    def __init__(self, work: Path, source: LocalRegistry) -> None:
        self.work = work
        self.pusher = SamplePusher(source.url)
        self.policy = work / "policy.json"
        self.policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        self.n = 0
        self.results: list[str] = []

    def case(self, expected: str, side: str, kind: str, mode: str, *, source_host: str, dest_host: str,
             ref: str | None = None, repo: str | None = None,
             creds: dict[str, Credentials | None] | None = None) -> None:
        self.n += 1
        # an image of its own each time: skopeo's blob info cache (shared by every skopeo on the machine) would
        # otherwise mount blobs that earlier cases pushed instead of uploading them
        img = push_image(self.pusher, f"app{self.n}", "v1", kind="oci-index", layer_size=200_000, seed=self.n,
                         shared_base=False)
        source = f"docker://{source_host}/{repo or img.repository}@{ref or img.digest}"
        lines = self.run(source, f"docker://{dest_host}/c{self.n}/app:v1", creds or {})
        name = f"{expected}--{side}--{kind}--{mode}.txt"
        if lines:
            (HERE / name).write_text("\n".join(lines) + "\n")
        self.results.append(f"{name}: {'captured' if lines else 'skopeo succeeded, nothing to capture'}")

    def run(self, source: str, dest: str, creds: dict[str, Credentials | None]) -> list[str]:
        """skopeo's non-debug stderr lines for one copy, or [] when it succeeded."""
        fd = skopeo_mod.auth_memfd(creds)
        argv = skopeo_mod.copy_argv(shutil.which("skopeo") or "skopeo", source, dest, source_settings=PLAIN,
                                    dest_settings=PLAIN, auth_file=skopeo_mod.auth_path(fd),
                                    policy=str(self.policy))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                                  pass_fds=(fd,))
        finally:
            os.close(fd)
        if proc.returncode == 0:
            return []
        return [line for line in proc.stderr.splitlines()
                if line.strip() and (not re.search(r"\blevel=debug\b", line) or "Upload of manifest" in line)]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="capture-skopeo-"))
    started: list[LocalRegistry] = []
    for old in HERE.glob("*--*.txt"):
        old.unlink()
    try:
        src, dst = start_registry(work / "src"), start_registry(work / "dst")
        locked = start_registry(work / "locked", htpasswd=("owner", "owner-password"))
        started += [src, dst, locked]
        cap = Capture(work, src)
        for mode in TRANSIENT_MODES:
            for kind in SOURCE_KINDS:
                with FaultProxy(src, [Rule(mode, kinds={kind}, limit=1, retry_after="0")]) as proxy:
                    cap.case("transient", "source", kind, mode, source_host=proxy.host, dest_host=dst.host)
            for kind in MIRROR_KINDS:
                with FaultProxy(dst, [Rule(mode, kinds={kind}, limit=1, retry_after="0")]) as proxy:
                    cap.case("transient", "mirror", kind, mode, source_host=src.host, dest_host=proxy.host)
            with FaultProxy(dst, [Rule(mode, kinds={"manifest-put"}, ref="^v1$", retry_after="0")]) as proxy:
                cap.case("transient", "mirror", "tag-put", mode, source_host=src.host, dest_host=proxy.host)

        # what another attempt cannot change
        cap.case("permanent", "source", "manifest-get", "manifest-unknown", source_host=src.host,
                 dest_host=dst.host, ref=ZEROS)
        cap.case("permanent", "source", "manifest-get", "name-unknown", source_host=src.host, dest_host=dst.host,
                 repo="no/such/app")
        with FaultProxy(src, [Rule("404", kinds={"blob-get"})]) as proxy:
            cap.case("permanent", "source", "blob-get", "blob-unknown", source_host=proxy.host, dest_host=dst.host)
        with FaultProxy(src, [Rule("corrupt", kinds={"blob-get"})]) as proxy:
            cap.case("mismatch", "source", "blob-get", "digest-mismatch", source_host=proxy.host,
                     dest_host=dst.host)
        cap.case("permanent", "mirror", "ping", "unauthorized", source_host=src.host, dest_host=locked.host,
                 creds={locked.host: Credentials("owner", "wrong-password")})
        cap.case("permanent", "mirror", "ping", "no-credentials", source_host=src.host, dest_host=locked.host)
        print("\n".join(cap.results))
    finally:
        for registry in started:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("HOME", tempfile.gettempdir())
    main()
