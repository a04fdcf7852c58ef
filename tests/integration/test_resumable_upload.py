"""A large layer's upload broken late goes on from where the registry's session stands, not from byte 0.

Against the real docker-registry, through a fault proxy that breaks the connection to the mirror once the upload
has carried 80% of a 1 GiB layer. The proxy counts the request bytes it received, so the bytes sent twice are
measured, not inferred.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.devregistry import LocalRegistry
from mirrorsync.registry.client import RegistryClient
from devtools.samples import OCI_CONFIG, OCI_MANIFEST
from support.cli import mirrorsync, write_manifest
from support.fault_proxy import Rule, image_problems, manifest_digest, oracle_client

pytestmark = pytest.mark.integration

GIB = 1 << 30
CHUNK = RegistryClient.upload_chunk_size


def random_bytes(size: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    left = size
    while left:
        n = min(left, 8 << 20)
        yield rng.randbytes(n)
        left -= n


def run_measuring_rss(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m mirrorsync ARGS`` as ``support.cli.mirrorsync`` runs it, and its peak RSS in MiB (its VmHWM,
    polled: the rusage of children would also count other processes this test session ran)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    env["MIRRORSYNC_RETRY_WAIT"] = "0.01"
    argv = [sys.executable, "-m", "mirrorsync", *args]
    with open(tmp_path / "stdout", "w+") as out, open(tmp_path / "stderr", "w+") as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, text=True)
        peak_kib = 0
        deadline = time.monotonic() + 600
        while child.poll() is None:
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                pytest.fail("mirrorsync run took more than 600 s")
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, child.returncode, out.read(), err.read()), peak_kib / 1024


def push_big_image(registry: LocalRegistry, repo: str, size: int) -> tuple[str, str, int]:
    """Push a one-layer image whose layer is ``size`` random bytes, streamed (hashed on the way, never held).

    Returns the manifest's digest, the layer's digest and the config's size."""
    with httpx.Client(base_url=registry.url, timeout=600) as client:
        h = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in random_bytes(size, seed=size):
                h.update(chunk)
                yield chunk

        location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        response = client.patch(location, content=hashed(), headers={"Content-Type": "application/octet-stream"})
        response.raise_for_status()
        layer = "sha256:" + h.hexdigest()
        location = response.headers["Location"]
        client.put(f"{location}&digest={layer}", content=b"").raise_for_status()
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        client.put(f"{location}&digest={config_digest}", content=config).raise_for_status()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": layer, "size": size}]}).encode()
        client.put(f"/v2/{repo}/manifests/v1", content=manifest,
                   headers={"Content-Type": OCI_MANIFEST}).raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), layer, len(config)


def manifest_through(tmp_path: Path, name: str, source, mirrors: list, repo: str) -> Path:
    """A manifest copying ``repo:v1`` from ``source`` to each of ``mirrors`` (registries or fault proxies) under
    ``m/``, all plain HTTP."""
    return write_manifest(tmp_path / f"{name}.yaml", mirrors=[f"{m.host}/m" for m in mirrors],
                          images=[{"source": f"{source.host}/{repo}:v1"}],
                          registries={p.host: {"tlsVerify": False} for p in (source, *mirrors)})


def run_fast(manifest: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "out"),
                      env={"MIRRORSYNC_RETRY_WAIT": "0.01"}, timeout=300)


def test_an_upload_broken_at_80_percent_of_1_gib_goes_on_from_the_sessions_offset(make_registry, proxies,
                                                                                   tmp_path: Path):
    source_registry, mirror_registry = make_registry("big-source"), make_registry("big-mirror")
    size = GIB
    try:
        digest, layer, config_size = push_big_image(source_registry, "big/app", size)
        # The connection to the mirror breaks once the upload bodies carried 80% of the layer; what the broken
        # request carried never reaches the registry (as behind a proxy that buffers request bodies).
        cut_at = int(0.8 * size)
        source = proxies(source_registry)
        mirror = proxies(mirror_registry, Rule("reset", kinds={"upload-patch", "upload-put"}, ref=f"^$|{layer}",
                                               after_bytes=cut_at, limit=1))
        manifest = manifest_through(tmp_path, "big", source, [mirror], "big/app")
        proc, peak_rss_mib = run_measuring_rss(tmp_path, "run", str(manifest), "--output-dir", str(tmp_path / "out"))

        assert proc.returncode == 0, proc.stderr
        assert mirror.injected["reset"] == 1
        with oracle_client(mirror_registry) as client:
            assert manifest_digest(client, "m/big/app", "v1") == digest
            assert image_problems(client, "m/big/app", "v1") == []
        # The session kept what it had: it was asked where it stands, and only the rest was sent again.
        assert mirror.count(kind="upload-status") == 1
        assert mirror.count(kind="upload-start") == 2  # the layer's session and the config's: no new session
        sent_twice = mirror.received["upload-patch"] + mirror.received["upload-put"] - config_size - size
        assert 0 < sent_twice <= CHUNK, f"{sent_twice} bytes sent twice"
        # the source was read again from the session's offset, not from byte 0
        offset = cut_at // CHUNK * CHUNK
        ranges = [s.range for s in source.seen if s.kind == "blob-get" and s.ref == layer]
        assert ranges == [None, f"bytes={offset}-"]
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["totals"]["retries"] == 1
        # read: the layer up to the break (at most to the end of the broken chunk), its rest again, the config
        first_read = report["totals"]["bytesRead"] - config_size - (size - offset)
        assert cut_at <= first_read <= offset + CHUNK
        # memory stays flat
        assert peak_rss_mib < 150, f"peak RSS {peak_rss_mib:.0f} MiB"
    finally:
        for registry in (source_registry, mirror_registry):  # 2 GiB of test data need not outlive the test
            shutil.rmtree(registry.root / "docker", ignore_errors=True)



def test_fan_out_one_mirror_resumes_on_a_read_of_its_own_while_the_other_keeps_the_shared_read(make_registry, proxies,
                                                                                                 tmp_path: Path):
    source_registry, broken, healthy = (make_registry("fan-source"), make_registry("fan-broken"),
                                        make_registry("fan-healthy"))
    size = 3 * CHUNK + 12345  # three PATCHes and a PUT
    digest, layer, config_size = push_big_image(source_registry, "fan/app", size)
    cut_at = CHUNK + CHUNK // 2  # in the second PATCH
    source = proxies(source_registry)
    mirrors = [proxies(broken, Rule("reset", kinds={"upload-patch", "upload-put"}, ref=f"^$|{layer}",
                                    after_bytes=cut_at, limit=1)),
               proxies(healthy)]
    proc = run_fast(manifest_through(tmp_path, "fan", source, mirrors, "fan/app"), tmp_path)

    assert proc.returncode == 0, proc.stderr
    for registry in (broken, healthy):
        with oracle_client(registry) as client:
            assert manifest_digest(client, "m/fan/app", "v1") == digest
            assert image_problems(client, "m/fan/app", "v1") == []
    uploaded = [m.received["upload-patch"] + m.received["upload-put"] - config_size for m in mirrors]
    assert uploaded[1] == size, "the healthy mirror gets every byte once"
    assert 0 < uploaded[0] - size <= CHUNK, "the broken one sends at most the broken chunk again"
    # one read for both, and one from the broken session's offset for the broken mirror alone
    ranges = sorted((s.range or "") for s in source.seen if s.kind == "blob-get" and s.ref == layer)
    assert ranges == ["", f"bytes={CHUNK}-"]


def test_a_session_the_registry_dropped_is_replaced_and_the_blob_sent_from_byte_0(make_registry, proxies,
                                                                                 tmp_path: Path):
    # docker-registry drops a session that took part of a request that then broke (BLOB_UPLOAD_INVALID, 404 to
    # the GET that asks where it stands): the upload starts over in a new session and still completes
    source_registry, mirror_registry = make_registry("drop-source"), make_registry("drop-mirror")
    size = CHUNK + 4096
    digest, layer, config_size = push_big_image(source_registry, "drop/app", size)
    mirror = proxies(mirror_registry, Rule("reset", kinds={"upload-put"}, ref=layer, limit=1),
                     Rule("404", kinds={"upload-status"}, limit=1))
    proc = run_fast(manifest_through(tmp_path, "drop", source_registry, [mirror], "drop/app"), tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert mirror.injected["reset"] == mirror.injected["404"] == 1
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, "m/drop/app", "v1") == digest
        assert image_problems(client, "m/drop/app", "v1") == []
    assert mirror.count(kind="upload-start") == 3  # the layer's, its replacement, the config's
    assert mirror.received["upload-patch"] == 2 * CHUNK, "the first PATCH is sent again, in the new session"


def test_a_break_whose_bytes_reached_docker_registry_costs_a_new_session_and_still_completes(make_registry, proxies,
                                                                                             tmp_path: Path):
    # Without a proxy that buffers request bodies, part of the broken PATCH reaches docker-registry 2.8, which then
    # refuses the session (BLOB_UPLOAD_INVALID to the GET that asks where it stands): the upload starts over in a
    # new session, from byte 0, and the image still arrives exact.
    source_registry, mirror_registry = make_registry("partial-source"), make_registry("partial-mirror")
    size = 2 * CHUNK + 4096
    digest, layer, config_size = push_big_image(source_registry, "partial/app", size)
    cut_at = CHUNK + CHUNK // 2
    mirror = proxies(mirror_registry, Rule("reset", kinds={"upload-patch", "upload-put"}, ref=f"^$|{layer}",
                                           after_bytes=cut_at, limit=1, forward_partial=True))
    proc = run_fast(manifest_through(tmp_path, "partial", source_registry, [mirror], "partial/app"), tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert mirror.injected["reset"] == 1
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, "m/partial/app", "v1") == digest
        assert image_problems(client, "m/partial/app", "v1") == []
    assert mirror.count(kind="upload-status") == 1
    assert mirror.count(kind="upload-start") == 3  # the layer's, its replacement, the config's
    sent = mirror.received["upload-patch"] + mirror.received["upload-put"] - config_size
    assert sent == size + cut_at, "the first session's bytes are all sent again"
