"""``mirrorsync run`` through a real HTTP proxy (Debian's tinyproxy on a 127.0.0.1 ephemeral port).

Plain-HTTP registries are reached with absolute-form requests to the proxy, HTTPS registries through a CONNECT
tunnel, NO_PROXY hosts directly. Between mirrorsync and tinyproxy sits a relay that records every byte the proxy
receives: what a proxy operator could log. tinyproxy's own log says which requests it forwarded.
"""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.devregistry import LocalRegistry
from support.cli import Run, mirrorsync as run_cli, registry_settings, write_auth_file, write_manifest
from support.fault_proxy import manifest_digest, oracle_client
from support.tcp_relay import TCPRelay

from conftest import require_tools

pytestmark = pytest.mark.integration

PROXY_USER, PROXY_PASSWORD = "proxy-user", "proxy-secret-7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TinyProxy:
    """tinyproxy in the foreground, logging each connection and request line to ``log``."""

    def __init__(self, workdir: Path, basic_auth: tuple[str, str] | None = None) -> None:
        require_tools("tinyproxy")
        self.log = workdir / "tinyproxy.log"
        for _ in range(5):  # the port picked can be taken before tinyproxy binds it
            self.port = free_port()
            conf = workdir / "tinyproxy.conf"
            conf.write_text("\n".join([
                f"Port {self.port}", "Listen 127.0.0.1", "Allow 127.0.0.1", "Timeout 60", "MaxClients 100",
                f'LogFile "{self.log}"', "LogLevel Connect", "DisableViaHeader Yes",
                *([f"BasicAuth {basic_auth[0]} {basic_auth[1]}"] if basic_auth else []), ""]))
            self.process = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"tinyproxy did not start; its log: {self.log.read_text() if self.log.exists() else ''}")

    def requests(self) -> list[str]:
        """The request lines tinyproxy received, in order (``GET http://...``, ``CONNECT host:port``)."""
        return re.findall(r"Request \(file descriptor \d+\): (.*?)\s*$", self.log.read_text(), re.M)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Callable[..., tuple[TinyProxy, TCPRelay]]]:
    started: list[tuple[TinyProxy, TCPRelay]] = []

    def start(basic_auth: tuple[str, str] | None = None) -> tuple[TinyProxy, TCPRelay]:
        workdir = tmp_path / f"proxy-{len(started)}"
        workdir.mkdir()
        tiny = TinyProxy(workdir, basic_auth)
        started.append((tiny, TCPRelay(tiny.port, 0, record=True).start()))
        return started[-1]

    yield start
    for tiny, recorder in started:
        recorder.stop()
        tiny.stop()


def sync(tmp_path: Path, source: LocalRegistry, mirror: LocalRegistry, repo: str, env: dict[str, str]) -> Run:
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/mirrored"],
                              images=[{"source": f"{source.host}/{repo}", "tags": ["v1"]}],
                              registries={r.host: registry_settings(r) for r in (source, mirror)},
                              options={"retries": 1})
    out = tmp_path / "out"
    args = ["--output-dir", str(out), "--authfile", str(write_auth_file(tmp_path / "auth.json", source))]
    no_env = {name: "" for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                                    "https_proxy", "all_proxy", "no_proxy")}
    proc = run_cli("run", str(manifest), *args, env={**no_env, "MIRRORSYNC_RETRY_WAIT": "0.01", **env})
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


def basic(username: str, password: str) -> bytes:
    return base64.b64encode(f"{username}:{password}".encode())


def test_plain_http_goes_to_the_proxy_in_absolute_form_and_no_proxy_hosts_go_direct(
        tmp_path, proxy, htpasswd_registry, mirror_registry, seed, unique_repo):
    source = htpasswd_registry
    img = seed(source, unique_repo("src"), "v1")
    tiny, recorder = proxy()
    env = {"http_proxy": f"http://127.0.0.1:{recorder.port}", "NO_PROXY": f"example.com,{mirror_registry.host}"}
    run = sync(tmp_path, source, mirror_registry, img.repository, env)
    assert run.returncode == 0, run.stderr
    assert manifest_digest(oracle_client(mirror_registry), f"mirrored/{img.repository}", "v1") == img.digest

    copied = tiny.requests()
    assert any(line.startswith(f"GET http://{source.host}/v2/{img.repository}/blobs/") for line in copied)
    # a no-op re-sync checks the source with the lean HEAD, which takes the same route
    again = sync(tmp_path, source, mirror_registry, img.repository, env)
    assert again.returncode == 0 and again.report["totals"]["bytesSent"] == 0, again.stderr
    lines = tiny.requests()
    assert f"HEAD http://{source.host}/v2/{img.repository}/manifests/v1 HTTP/1.1" in lines[len(copied):]
    assert lines and all(f"http://{source.host}/" in line for line in lines)  # the mirror: never through it
    assert str(mirror_registry.port).encode() not in recorder.sent
    # A plain-HTTP registry's credentials cross the proxy in clear, as they cross any network between: the README
    # says to use HTTPS where a proxy (or anyone on the path) must not see them.
    assert b"Authorization: Basic " + basic(source.username, source.password) in recorder.sent


@pytest.mark.parametrize("proxy_auth", [False, True], ids=["open-proxy", "proxy-with-basic-auth"])
def test_https_goes_through_a_connect_tunnel_and_the_proxy_never_sees_the_registry_credentials(
        proxy_auth, tmp_path, proxy, make_registry, mirror_registry, seed, unique_repo):
    source = make_registry("tls-auth", tls=True, htpasswd=("tunnel-user", "tunnel-password-3"))
    img = seed(source, unique_repo("src"), "v1")
    tiny, recorder = proxy((PROXY_USER, PROXY_PASSWORD) if proxy_auth else None)
    credentials = f"{PROXY_USER}:{PROXY_PASSWORD}@" if proxy_auth else ""
    proxy_url = f"http://{credentials}127.0.0.1:{recorder.port}"
    run = sync(tmp_path, source, mirror_registry, img.repository,
               {"HTTPS_PROXY": proxy_url, "HTTP_PROXY": proxy_url, "no_proxy": mirror_registry.host})
    assert run.returncode == 0, run.stderr
    assert manifest_digest(oracle_client(mirror_registry), f"mirrored/{img.repository}", "v1") == img.digest

    lines = tiny.requests()
    assert lines and set(lines) == {f"CONNECT {source.host} HTTP/1.0"}
    sent = recorder.sent
    assert b"CONNECT " + source.host.encode() in sent
    assert not re.search(rb"(?im)^authorization:", sent)
    for secret in (basic(source.username, source.password), source.password.encode(), f"/v2/{img.repository}".encode()):
        assert secret not in sent
    if proxy_auth:
        assert b"Proxy-Authorization: Basic " + basic(PROXY_USER, PROXY_PASSWORD) in sent


def test_an_unreachable_proxy_is_named_in_a_one_line_error_without_its_credentials(
        tmp_path, tls_registry, mirror_registry, closed_port, seed, unique_repo):
    img = seed(tls_registry, unique_repo("src"), "v1")
    run = sync(tmp_path, tls_registry, mirror_registry, img.repository,
               {"https_proxy": f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{closed_port}",
                "no_proxy": mirror_registry.host})
    assert run.returncode != 0
    assert f"through proxy 127.0.0.1:{closed_port}" in run.stderr
    assert PROXY_PASSWORD not in run.stderr + run.stdout + (run.output_dir / "report.json").read_text()


def test_a_proxy_variable_that_cannot_be_used_is_bad_input_before_anything_is_written(
        tmp_path, registry, mirror_registry, seed, unique_repo):
    img = seed(registry, unique_repo("src"), "v1")
    run = sync(tmp_path, registry, mirror_registry, img.repository,
               {"HTTPS_PROXY": f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:1080"})
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["error: HTTPS_PROXY: proxy scheme 'socks5' is not supported (mirrorsync "
                                       "speaks to HTTP proxies only: http://host:port)"]
    assert not run.output_dir.exists()


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_plain_http_registries_through_a_proxy_set_for_both_schemes(engine, tmp_path, proxy, registry,
                                                                     mirror_registry, seed, unique_repo):
    """A corporate proxy in HTTP_PROXY and HTTPS_PROXY, and plain-HTTP source and mirror (``tlsVerify: false``):
    the HTTPS probe through the CONNECT tunnel meets a plain-HTTP port (a failed TLS handshake, not a failed
    proxy), so both hosts are spoken to over plain HTTP, through the proxy. skopeo is Go: it goes to loopback
    directly whatever the environment says, so with it the proxy sees only mirrorsync's own requests (the probes,
    the source's manifest); with the native engine, every request."""
    if engine == "skopeo":
        require_tools("skopeo")
    img = seed(registry, unique_repo("src"), "v1")
    tiny, recorder = proxy()
    proxy_url = f"http://127.0.0.1:{recorder.port}"
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/viaproxy"],
                              images=[{"source": f"{registry.host}/{img.repository}", "tags": ["v1"]}],
                              registries={r.host: {"tlsVerify": False} for r in (registry, mirror_registry)},
                              options={"retries": 1, "engine": engine})
    no_env = {name: "" for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "https_proxy")}
    proc = run_cli("run", str(manifest), "--output-dir", str(tmp_path / "out"),
                   env={**no_env, "HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url, "MIRRORSYNC_RETRY_WAIT": "0.01"})
    assert proc.returncode == 0, proc.stderr
    assert manifest_digest(oracle_client(mirror_registry), f"viaproxy/{img.repository}", "v1") == img.digest

    lines = tiny.requests()
    for host in (registry.host, mirror_registry.host):  # the HTTPS probe went through the tunnel, then plain HTTP
        assert f"CONNECT {host} HTTP/1.0" in lines, lines
        assert any(line.startswith(f"GET http://{host}/v2/") for line in lines), lines
    assert any(f" http://{registry.host}/v2/{img.repository}/manifests/v1 " in line for line in lines), lines
    if engine == "native":
        assert any(line.startswith(f"PUT http://{mirror_registry.host}/v2/viaproxy/{img.repository}/manifests/")
                   for line in lines), lines
