"""The skopeo engine: its command line, credentials, version check, and how it handles skopeo failing, hanging
or being killed. Everything runs the real skopeo (and, where a registry is needed, the real docker-registry)."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mirrorsync.sync import plan as plan_mod
from mirrorsync.sync import skopeo as skopeo_mod
from mirrorsync.sync.skopeo import engine as skopeo_engine  # where SkopeoEngine looks run_skopeo up
from mirrorsync.registry.auth import Credentials
from mirrorsync.sync.copy import CopyResult
from devtools.devregistry import LocalRegistry
from mirrorsync.sync.engines import Clients, NativeEngine
from mirrorsync.sync.manifest import RegistrySettings, SyncManifest
from mirrorsync.sync.manifest import parse as parse_manifest
from mirrorsync.sync.plan import CopyJob
from mirrorsync.registry.retry import RetryPolicy
from devtools.samples import OCI_INDEX, Blob
from mirrorsync.sync.skopeo import (SkopeoEngine, SkopeoUnavailable, Transcript, auth_memfd, auth_path, copy_argv,
                                    find_skopeo, parse_version, run_skopeo)
from support.cli import mirrorsync, write_manifest

SKOPEO = find_skopeo()[0]


# --- helpers ----------------------------------------------------------------------------------------------------

def settings_of(registry: LocalRegistry) -> dict[str, Any]:
    return {"tlsVerify": True, "certDir": str(registry.cert_dir)} if registry.tls else {"tlsVerify": False}


def manifest_for(mirrors: list[str], images: list[dict[str, Any]], registries: dict[str, dict[str, Any]],
                 tmp_path: Path) -> SyncManifest:
    doc = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest", "mirrors": mirrors,
           "registries": registries, "images": images}
    return parse_manifest(yaml.safe_dump(doc), str(tmp_path / "manifest.yaml"))


def jobs_of(manifest: SyncManifest) -> list[CopyJob]:
    the_plan = plan_mod.build(manifest, lambda ref: pytest.fail(f"no tag list expected, asked for {ref}"))
    return the_plan.jobs


@pytest.fixture
def engine_for() -> Iterator[Callable[..., SkopeoEngine]]:
    """``engine_for(manifest, auth_file=None, timeout=30, retries=0)``: a SkopeoEngine, closed after the test."""
    made: list[tuple[SkopeoEngine, Clients]] = []

    def make(manifest: SyncManifest, *, auth_file: str | None = None, timeout: float = 30.0,
             retries: int = 0) -> SkopeoEngine:
        clients = Clients(manifest, auth_file=auth_file, policy=RetryPolicy.from_retries(retries, initial_wait=0.05),
                          timeout=timeout)
        engine = SkopeoEngine(clients, retries=retries, timeout=timeout, processes=2)
        made.append((engine, clients))
        return engine

    yield make
    for engine, clients in made:
        engine.close()
        clients.close()


def skopeo_children() -> list[int]:
    """Processes of ours (direct children) running skopeo."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat_line[stat_line.index("(") + 1:stat_line.rindex(")")]
        ppid = int(stat_line[stat_line.rindex(")") + 2:].split()[1])
        if ppid == me and comm == "skopeo":
            found.append(int(entry.name))
    return found


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def empty_auth() -> Iterator[int]:
    """A memfd auth file with no credentials (skopeo refuses an empty file), for ``pass_fds``."""
    fd = auth_memfd({})
    yield fd
    os.close(fd)


@pytest.fixture
def black_hole() -> Iterator[str]:
    """``127.0.0.1:PORT`` that accepts connections and never answers (a hung registry)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


# --- the command line and the auth file -------------------------------------------------------------------------

def test_argv_has_every_setting_and_reads_the_source_by_digest():
    argv = copy_argv("/usr/bin/skopeo", "docker://src.example:5000/a/b@sha256:" + "a" * 64,
                     "docker://mirror.example/m/a/b:v1",
                     source_settings=RegistrySettings(tls_verify=False),
                     dest_settings=RegistrySettings(tls_verify=True, cert_dir="/etc/certs/mirror"),
                     auth_file="/dev/fd/9", policy="/tmp/private/policy.json",
                     tmpdir="/tmp/private/tmp", setpriv="/usr/bin/setpriv")
    assert argv[:4] == ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"]
    copy_at = argv.index("copy")
    # global options go before the subcommand, the two references last
    assert argv[4:copy_at] == ["/usr/bin/skopeo", "--debug", "--policy", "/tmp/private/policy.json",
                               "--tmpdir", "/tmp/private/tmp"]
    assert argv[copy_at + 1:] == [
        "--all", "--preserve-digests", "--authfile", "/dev/fd/9", "--retry-times=0",
        "--src-tls-verify=false", "--dest-tls-verify=true", "--dest-cert-dir=/etc/certs/mirror",
        "docker://src.example:5000/a/b@sha256:" + "a" * 64, "docker://mirror.example/m/a/b:v1"]
    assert not any(a.startswith(("--creds", "--src-creds", "--dest-creds", "--password", "--src-password",
                                 "--dest-password", "--username")) for a in argv)


def test_argv_leaves_retrying_to_mirrorsync():
    argv = copy_argv("skopeo", "docker://a/b@sha256:" + "0" * 64, "docker://c/b:t", source_settings=RegistrySettings(),
                     dest_settings=RegistrySettings(), auth_file="x")
    assert "--retry-times=0" in argv
    assert "--policy" not in argv  # the machine's policy applies when it has one


def test_auth_file_is_in_memory_rereadable_and_holds_only_the_hosts_given():
    fd = auth_memfd({"src.example:5000": Credentials("u", "p@ss:word"),
                     "mirror.example": Credentials("", "", "refresh-token"), "anonymous.example": None})
    try:
        path = Path(auth_path(fd))
        assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")  # no file on any disk
        # containers/image opens the path once per image it resolves: every open reads it whole
        assert path.read_text() == path.read_text() != ""
        auths = json.loads(path.read_text())["auths"]
    finally:
        os.close(fd)
    assert set(auths) == {"src.example:5000", "mirror.example"}
    assert base64.b64decode(auths["src.example:5000"]["auth"]).decode() == "u:p@ss:word"
    assert auths["mirror.example"] == {"auth": base64.b64encode(b":").decode(), "identitytoken": "refresh-token"}


# --- the version check ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,version", [
    ("skopeo version 1.9.3\n", (1, 9, 3)),
    ("skopeo version 1.13.3 commit: 0f1e9f1bd7a1\n", (1, 13, 3)),
    ("skopeo version 1.6\n", (1, 6, 0)),
    ("no idea\n", None),
])
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_the_installed_skopeo_is_found_and_new_enough():
    path, version = find_skopeo()
    assert Path(path).is_file() and version >= skopeo_mod.MIN_VERSION


def fake_skopeo(directory: Path, version_line: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "skopeo"
    script.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    script.chmod(0o755)
    return script


def test_too_old_skopeo_names_what_to_install(tmp_path):
    old = fake_skopeo(tmp_path / "bin", "skopeo version 1.5.2")
    with pytest.raises(SkopeoUnavailable) as err:
        find_skopeo(str(old))
    assert err.value.exit_code == 2
    assert "skopeo 1.5.2, too old for --preserve-digests" in str(err.value)
    assert "apt-get install skopeo" in str(err.value) and "--engine native" in str(err.value)


def test_missing_skopeo_is_a_usage_error_from_the_cli(tmp_path, registry):
    path = write_manifest(tmp_path / "m.yaml", mirrors=[registry.host], registries={registry.host: {"tlsVerify": False}},
                          images=[{"source": f"{registry.host}/never/copied:v1"}], options={"engine": "skopeo"})
    empty_path = tmp_path / "no-skopeo-here"
    empty_path.mkdir()
    proc = mirrorsync("run", str(path), "--output-dir", str(tmp_path / "out"), env={"PATH": str(empty_path)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "skopeo, which is not on PATH" in lines[0] and "apt-get install skopeo" in lines[0]
    assert not (tmp_path / "out" / "report.json").exists()

    old_dir = tmp_path / "old-bin"
    fake_skopeo(old_dir, "skopeo version 1.4.0")
    proc = mirrorsync("run", str(path), "--output-dir", str(tmp_path / "out"), env={"PATH": str(old_dir)})
    assert proc.returncode == 2 and "skopeo 1.4.0, too old" in proc.stderr


# --- reading skopeo's log ---------------------------------------------------------------------------------------

# Lines as skopeo 1.9.3 --debug writes them (upload state shortened).
LOG = r'''time="2026-11-26T17:39:51Z" level=debug msg="Downloading /v2/a/idx/blobs/sha256:f08b"
time="2026-11-26T17:39:51Z" level=debug msg="Trying to mount /v2/m/a/idx/blobs/uploads/?from=m%2Fa%2Fone&mount=sha256%3A00b3"
time="2026-11-26T17:39:51Z" level=debug msg="Skipping blob sha256:00b3 (already present):"
time="2026-11-26T17:39:51Z" level=debug msg="Upload of layer sha256:f08b complete"
time="2026-11-26T17:39:51Z" level=debug msg="PUT http://127.0.0.1:51831/v2/m/a/idx/manifests/sha256:f408"
time="2026-11-26T17:39:51Z" level=debug msg="PUT http://127.0.0.1:51831/v2/m/a/idx/blobs/uploads/5b3a?_state=abc&digest=sha256%3Af08b"
time="2026-11-26T17:39:51Z" level=debug msg="PUT http://127.0.0.1:51831/v2/m/a/idx/manifests/v1"
time="2026-11-26T17:41:54Z" level=fatal msg="writing blob: Patch \"https://reg.example/v2/x/blobs/uploads/1?_state=SECRETSTATE\": EOF"
'''


def test_transcript_tells_sent_skipped_and_mounted_apart():
    t = Transcript()
    for line in LOG.splitlines():
        t.feed(line)
    assert t.uploaded == {"sha256:f08b"} and t.downloaded == {"sha256:f08b"}
    assert t.skipped == {"sha256:00b3"} and t.mount_tried == {"sha256:00b3"}
    assert t.manifests_put == {"sha256:f408", "v1"}  # the blob upload PUT is not a manifest
    assert t.fatal == 'writing blob: Patch "https://reg.example/v2/x/blobs/uploads/1?_state=SECRETSTATE": EOF'
    assert "SECRETSTATE" not in skopeo_mod.clean_message(t.fatal)


def test_transcript_says_which_source_location_containers_image_chose():
    digest = "sha256:" + "0e" * 32
    t = Transcript()
    assert t.read_from is None
    for line in (f'time="x" level=debug msg="Trying to access \\"ent.example:5000/ent/ns/app@{digest}\\""',
                 f'time="x" level=debug msg="Accessing \\"ent.example:5000/ent/ns/app@{digest}\\" failed: '
                 'manifest unknown"',
                 f'time="x" level=debug msg="Trying to access \\"quay.io/ns/app@{digest}\\""'):
        t.feed(line)
    assert t.read_from == "quay.io/ns/app"  # the mirror failed, the source answered
    t.feed('time="x" level=debug msg="Trying to access \\"ent.example:5000/ent/ns/app:v1\\""')
    assert t.read_from == "ent.example:5000/ent/ns/app"


# --- running skopeo: failures, hangs, kills ---------------------------------------------------------------------

def test_skopeo_error_text_is_kept(closed_port, empty_auth):
    argv = copy_argv(SKOPEO, f"docker://127.0.0.1:{closed_port}/gone/app@sha256:{'1' * 64}",
                     f"docker://127.0.0.1:{closed_port}/m/app:v1", source_settings=RegistrySettings(tls_verify=False),
                     dest_settings=RegistrySettings(tls_verify=False), auth_file=auth_path(empty_auth))
    outcome = run_skopeo(argv, stall_timeout=30, pass_fds=(empty_auth,))
    assert not outcome.ok and outcome.returncode == 1
    assert outcome.error.startswith(f"skopeo: initializing source docker://127.0.0.1:{closed_port}/gone/app@sha256:")
    assert f"dial tcp 127.0.0.1:{closed_port}: connect: connection refused" in outcome.error
    assert "\n" not in outcome.error


def test_hung_skopeo_is_killed_with_its_group(black_hole, empty_auth):
    started: list[int] = []
    argv = copy_argv(SKOPEO, f"docker://{black_hole}/a/b@sha256:{'2' * 64}", f"docker://{black_hole}/m/b:v1",
                     source_settings=RegistrySettings(tls_verify=False),
                     dest_settings=RegistrySettings(tls_verify=False), auth_file=auth_path(empty_auth))
    t0 = time.monotonic()
    outcome = run_skopeo(argv, stall_timeout=2, on_start=lambda p: started.append(p.pid), pass_fds=(empty_auth,))
    elapsed = time.monotonic() - t0
    assert outcome.error == "skopeo made no progress for 2s and was killed"
    # its TLS handshake alone would wait 10s, and the plain-HTTP request after it forever
    assert 2 <= elapsed < 8, elapsed
    assert outcome.returncode == -signal.SIGKILL and group_gone(started[0])


def test_killed_skopeo_is_a_failure_not_a_hang(black_hole, empty_auth):
    argv = copy_argv(SKOPEO, f"docker://{black_hole}/a/b@sha256:{'3' * 64}", f"docker://{black_hole}/m/b:v1",
                     source_settings=RegistrySettings(tls_verify=False),
                     dest_settings=RegistrySettings(tls_verify=False), auth_file=auth_path(empty_auth))
    outcome = run_skopeo(argv, stall_timeout=300, pass_fds=(empty_auth,),
                         on_start=lambda p: threading.Timer(0.5, os.kill, (p.pid, signal.SIGKILL)).start())
    assert outcome.error == "skopeo was killed by SIGKILL"


def test_cancel_stops_skopeo(black_hole, empty_auth):
    cancel = threading.Event()
    argv = copy_argv(SKOPEO, f"docker://{black_hole}/a/b@sha256:{'4' * 64}", f"docker://{black_hole}/m/b:v1",
                     source_settings=RegistrySettings(tls_verify=False),
                     dest_settings=RegistrySettings(tls_verify=False), auth_file=auth_path(empty_auth))
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    outcome = run_skopeo(argv, stall_timeout=300, cancel=cancel, pass_fds=(empty_auth,))
    assert outcome.error == "skopeo was stopped because mirrorsync is shutting down"
    assert time.monotonic() - t0 < 5


# --- the engine against real registries -------------------------------------------------------------------------

@pytest.mark.integration
def test_engine_matches_the_native_counters_and_skips_up_to_date_mirrors(registry, make_registry, seed, tmp_path,
                                                                          engine_for, monkeypatch):
    img = seed(registry, None, "v1", kind="oci-index", layers=3, layer_size=50_000)
    by_skopeo, by_native = make_registry("mirror-skopeo"), make_registry("mirror-native")
    regs = {r.host: settings_of(r) for r in (registry, by_skopeo, by_native)}
    source = {"source": f"{registry.host}/{img.repository}:v1"}

    m = manifest_for([f"{by_skopeo.host}/m"], [source], regs, tmp_path)
    engine = engine_for(m)
    job = jobs_of(m)[0]
    result = engine.copy(job)
    native_m = manifest_for([f"{by_native.host}/m"], [source], regs, tmp_path)
    clients = Clients(native_m, policy=RetryPolicy.from_retries(0))
    native = NativeEngine(clients)
    try:
        reference = native.copy(jobs_of(native_m)[0])
    finally:
        native.close()
        clients.close()

    assert result.error is None and reference.error is None
    assert (result.digest, result.media_type, result.children) == \
           (img.digest, OCI_INDEX, reference.children)
    assert sorted(result.children) == sorted(img.children.values())
    got, want = result.targets[0], reference.targets[0]
    assert got.status == want.status == "copied"
    # a cold mirror: every blob sent, the same bytes, every manifest pushed, by both engines
    assert (got.blobs_sent, got.bytes_sent, got.manifests_pushed) == \
           (want.blobs_sent, want.bytes_sent, want.manifests_pushed)
    assert got.blobs_sent == len(set(img.blobs)) and got.bytes_sent > 6 * 50_000
    assert result.bytes_read == reference.bytes_read == got.bytes_sent

    # up to date: decided by mirrorsync's own HEAD, skopeo is not started
    calls: list[list[str]] = []
    monkeypatch.setattr(skopeo_engine, "run_skopeo", lambda argv, **kw: calls.append(argv) or pytest.fail("ran skopeo"))
    again = engine.copy(job)
    assert [t.status for t in again.targets] == ["up-to-date"] and again.digest == img.digest and not calls


@pytest.mark.integration
def test_credentials_reach_skopeo_only_through_a_private_auth_file(htpasswd_registry, make_registry, seed, tmp_path,
                                                                   engine_for, monkeypatch, caplog):
    mirror = make_registry("mirror-basic", htpasswd=("mirroruser", "mirror-s3cret-pw"))
    mirror.username, mirror.password = "mirroruser", "mirror-s3cret-pw"
    img = seed(htpasswd_registry, None, "v1", kind="oci", arches=("amd64",))
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {
        r.host: {"auth": base64.b64encode(f"{r.username}:{r.password}".encode()).decode()}
        for r in (htpasswd_registry, mirror)} | {"unrelated.example": {"auth": base64.b64encode(b"x:y").decode()}}}))
    auth.chmod(0o600)
    m = manifest_for([mirror.host], [{"source": f"{htpasswd_registry.host}/{img.repository}:v1"}],
                     {r.host: settings_of(r) for r in (htpasswd_registry, mirror)}, tmp_path)
    engine = engine_for(m, auth_file=str(auth))

    seen: dict[str, Any] = {}
    real_run = skopeo_mod.run_skopeo

    def observe(argv, **kw):
        path = argv[argv.index("--authfile") + 1]
        fd = int(path.removeprefix("/dev/fd/"))
        seen.update(argv=argv, fd=fd, pass_fds=kw["pass_fds"], target=os.readlink(f"/proc/self/fd/{fd}"),
                    hosts=set(json.loads(Path(path).read_text())["auths"]))
        return real_run(argv, **kw)

    monkeypatch.setattr(skopeo_engine, "run_skopeo", observe)
    with caplog.at_level(logging.DEBUG, logger="mirrorsync"):
        result = engine.copy(jobs_of(m)[0])
    assert result.targets[0].status == "copied", result.targets[0].error
    assert seen["target"].startswith("/memfd:") and seen["pass_fds"] == (seen["fd"],)  # in memory, no file
    # each repository's own credentials, under its most specific key; not the unrelated host
    assert seen["hosts"] == {f"{htpasswd_registry.host}/{img.repository}", f"{mirror.host}/{img.repository}"}
    try:  # closed once skopeo is done (the number may since name something else)
        assert os.readlink(f"/proc/self/fd/{seen['fd']}") != seen["target"]
    except FileNotFoundError:
        pass
    text = " ".join(seen["argv"]) + caplog.text + repr(result)
    for secret in (mirror.password, htpasswd_registry.password):
        assert secret not in text
    assert "running " in caplog.text  # the argv really was logged, and it is clean
    private = engine._dir
    engine.close()
    assert not private.exists()


@pytest.mark.integration
def test_skopeo_error_text_lands_in_the_result(registry, mirror_registry, pusher_for, seed, unique_repo, tmp_path,
                                               engine_for):
    # skopeo 1.9 cannot copy an index whose child is an index (the native engine can): a real skopeo failure
    inner = seed(registry, unique_repo("nested"), None, kind="oci-index")
    outer = Blob(OCI_INDEX, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_INDEX, "digest": inner.digest, "size": inner.size}]}).encode())
    pusher_for(registry).push_manifest(inner.repository, "v1", outer)
    m = manifest_for([mirror_registry.host], [{"source": f"{registry.host}/{inner.repository}:v1"}],
                     {r.host: settings_of(r) for r in (registry, mirror_registry)}, tmp_path)
    result = engine_for(m).copy(jobs_of(m)[0])
    assert result.digest == outer.digest and result.children[-1] == inner.digest
    target = result.targets[0]
    assert target.status == "failed"
    assert target.error == ("skopeo: copying image 1/1 from manifest list: Unexpectedly received a manifest list "
                            "instead of a manifest for a single image (permanent: not retried)")


def _stalled_source(registry: LocalRegistry) -> Any:
    """A proxy in front of ``registry`` whose blob GETs hang: mirrorsync's own client only HEADs and GETs
    manifests, so only skopeo gets stuck."""
    from support.fault_proxy import FaultProxy, Rule  # noqa: PLC0415 - only these tests need the proxy

    return FaultProxy(registry, [Rule("stall", kinds=["blob-get"], seconds=30)]).start()


@pytest.mark.integration
def test_engine_kills_a_stalled_skopeo_and_fails_the_image(registry, mirror_registry, seed, tmp_path, engine_for):
    img = seed(registry, None, "v1", kind="oci", arches=("amd64",))
    proxy = _stalled_source(registry)
    try:
        m = manifest_for([mirror_registry.host], [{"source": f"{proxy.host}/{img.repository}:v1"}],
                         {proxy.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False}}, tmp_path)
        t0 = time.monotonic()
        result = engine_for(m, timeout=2).copy(jobs_of(m)[0])
        assert time.monotonic() - t0 < 15
    finally:
        proxy.stop()
    assert result.digest == img.digest
    assert result.targets[0].status == "failed"
    assert result.targets[0].error == ("skopeo made no progress for 2s and was killed "
                                       "(transient: not retried, retries is 0)")
    assert proxy.count(kind="blob-get", fault="stall") >= 1 and not skopeo_children()


@pytest.mark.integration
def test_engine_survives_skopeo_being_killed_and_close_stops_the_rest(registry, mirror_registry, seed, tmp_path,
                                                                        engine_for):
    imgs = [seed(registry, None, "v1", kind="oci", arches=("amd64",), seed=i) for i in range(2)]
    proxy = _stalled_source(registry)
    try:
        m = manifest_for([mirror_registry.host], [{"source": f"{proxy.host}/{i.repository}:v1"} for i in imgs],
                         {proxy.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False}}, tmp_path)
        engine = engine_for(m, timeout=120)
        results: dict[int, CopyResult] = {}
        threads = [threading.Thread(target=lambda n=n, j=j: results.__setitem__(n, engine.copy(j)))
                   for n, j in enumerate(jobs_of(m))]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 20
        while len(skopeo_children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        running = skopeo_children()
        assert len(running) == 2, "both skopeo processes should be waiting on the stalled source"
        os.kill(running[0], signal.SIGKILL)  # as an OOM killer or an operator would
        deadline = time.monotonic() + 10
        while len(results) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(results) == 1, "the killed copy must end on its own, not hang"
        killed = next(iter(results.values())).targets[0]
        assert (killed.status, killed.error) == ("failed", "skopeo was killed by SIGKILL (permanent: not retried)")

        engine.close()  # what the runner does when it stops: nothing keeps running behind it
        for th in threads:
            th.join(timeout=10)
        assert len(results) == 2
        stopped = [r for r in results.values() if r.targets[0].error != killed.error][0].targets[0]
        assert (stopped.status, stopped.error) == ("failed", "skopeo was stopped because mirrorsync is shutting down")
        assert not skopeo_children()
    finally:
        proxy.stop()
