"""The preflight (every mirror and source asked ``GET /v2/`` with the credentials it will get, before anything is
copied) and the circuit breaker (a host that fails too many images in a row is given up), end to end with the real
``mirrorsync run`` against the real docker-registry. What reaches a dead host is counted where it arrives."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from support.cli import manifest_runner, realm_settings
from support.fault_proxy import Rule
from support.tcp_relay import TCPRelay

pytestmark = pytest.mark.integration


@pytest.fixture
def sync(tmp_path):
    """``sync(mirrors=[...], images=[...], registries={...}, options={...}, output_dir=...)`` -> Run."""
    return manifest_runner(tmp_path)


class BlackHole:
    """A 127.0.0.1 port that accepts every connection and never sends a byte; counts the connections."""

    def __init__(self) -> None:
        self.connections = 0
        self._held: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1:%d" % self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)  # open, silent

    def close(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


def auth_file(path, entries: dict[str, tuple[str, str]]):
    auths = {key: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()} for key, (u, p) in entries.items()}
    path.write_text(json.dumps({"auths": auths}))
    path.chmod(0o600)
    return path


def images_of(registry, seed, unique_repo, n: int) -> list[dict]:
    return [{"source": f"{registry.host}/{seed(registry, unique_repo(f'i{i}'), 'v1', layers=1).repository}:v1"}
            for i in range(n)]


def test_a_mirror_gone_since_the_last_run_fails_the_run_before_copying_and_keeps_its_outputs(
        sync, registry, mirror_registry, seed, unique_repo, tmp_path):
    images = images_of(registry, seed, unique_repo, 3)
    relay = TCPRelay(mirror_registry.port, 0).start()
    settings = {registry.host: {"tlsVerify": False}, relay.host: {"tlsVerify": False}}
    first = sync(mirrors=[f"{relay.host}/m"], registries=settings, images=images)
    assert first.returncode == 0, first.stderr
    kept = {p: p.read_bytes() for p in sorted(first.output_dir.rglob("*")) if p.is_file()}
    relay.stop()  # the mirror's port is closed now
    more = images + images_of(registry, seed, unique_repo, 3)
    again = sync(mirrors=[f"{relay.host}/m"], registries=settings, images=more)
    assert again.returncode == 1
    assert {p: p.read_bytes() for p in sorted(first.output_dir.rglob("*")) if p.is_file()} == kept
    error = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"mirror {relay.host}/m: cannot connect to {relay.host}" in error[0], again.stderr
    assert "nothing copied" in error[0]


def test_a_black_holed_mirror_costs_one_timeout_not_one_per_image(sync, registry, seed, unique_repo, black_hole):
    """A listener that accepts and never answers: the run ends after the preflight's budget (one timeout, at
    most two), not timeout x tries x images; counted as connections that reached it."""
    images = images_of(registry, seed, unique_repo, 6)
    run = sync(mirrors=[f"{black_hole.host}/m"], images=images,
               registries={registry.host: {"tlsVerify": False}, black_hole.host: {"tlsVerify": False}},
               options={"retries": 5, "timeout": 1})
    assert run.returncode == 1
    assert not (run.output_dir / "report.json").exists()
    assert f"mirror {black_hole.host}/m: timed out talking to {black_hole.host}" in run.stderr, run.stderr
    # without the preflight: 6 images x 6 tries; with it one try, or two where a try ended just in time
    assert 1 <= black_hole.connections <= 2, black_hole.connections


def test_an_untrusted_mirror_fails_the_run_saying_certdir_and_tls_verify(sync, registry, tls_registry, seed,
                                                                         unique_repo):
    images = images_of(registry, seed, unique_repo, 2)
    run = sync(mirrors=[f"{tls_registry.host}/m"], images=images, registries={registry.host: {"tlsVerify": False}})
    assert run.returncode == 1
    assert not (run.output_dir / "report.json").exists()
    assert "CERTIFICATE_VERIFY_FAILED" in run.stderr and "certDir" in run.stderr and "tlsVerify: false" in run.stderr


def test_a_mirror_refusing_the_credentials_fails_the_run_naming_the_auth_file_key(sync, registry, htpasswd_registry,
                                                                                  seed, unique_repo, tmp_path):
    images = images_of(registry, seed, unique_repo, 2)
    wrong = auth_file(tmp_path / "wrong.json", {f"{htpasswd_registry.host}/m": (htpasswd_registry.username,
                                                                                 "Not-The-Pa55word")})
    settings = {registry.host: {"tlsVerify": False}, htpasswd_registry.host: {"tlsVerify": False}}
    run = sync(mirrors=[f"{htpasswd_registry.host}/m"], images=images, registries=settings,
               args=("--authfile", str(wrong)))
    assert run.returncode == 1
    assert not (run.output_dir / "report.json").exists()
    assert "HTTP 401" in run.stderr
    assert f"refused the credentials of key {htpasswd_registry.host}/m in {wrong}" in run.stderr, run.stderr
    assert "Not-The-Pa55word" not in run.stderr

    none = auth_file(tmp_path / "other.json", {"elsewhere.example": ("u", "p")})
    run = sync(mirrors=[f"{htpasswd_registry.host}/m"], images=images, registries=settings,
               args=("--authfile", str(none)))
    assert run.returncode == 1
    assert (f"no credentials: no entry for {htpasswd_registry.host}/m, {htpasswd_registry.host} in {none}"
            in run.stderr), run.stderr


def test_a_token_realm_refusing_the_credentials_is_asked_once(sync, registry, token_registry, token_server, seed,
                                                               unique_repo, tmp_path):
    images = images_of(registry, seed, unique_repo, 3)
    wrong = auth_file(tmp_path / "wrong.json", {token_registry.host: ("alice", "Not-The-Pa55word")})
    token_server.reset_counters()
    run = sync(mirrors=[f"{token_registry.host}/m"], images=images,
               registries={registry.host: {"tlsVerify": False}, token_registry.host: {"tlsVerify": False},
                           **realm_settings(token_registry)},
               options={"retries": 5}, args=("--authfile", str(wrong)))
    assert run.returncode == 1
    assert f"refused the credentials of key {token_registry.host} in {wrong}" in run.stderr, run.stderr
    assert len(token_server.requests) == 1, token_server.requests
    assert "Not-The-Pa55word" not in run.stderr


def test_a_source_failing_the_preflight_fails_only_its_images(sync, registry, mirror_registry, seed, unique_repo,
                                                               black_hole, skopeo_inspect_digest):
    good = images_of(registry, seed, unique_repo, 2)
    dead = [{"source": f"{black_hole.host}/gone/app:v{i}"} for i in range(4)] + [
        {"source": f"{black_hole.host}/gone/listed", "allTags": True}]
    run = sync(mirrors=[mirror_registry.host], images=good + dead,
               registries={registry.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False},
                           black_hole.host: {"tlsVerify": False}},
               options={"retries": 5, "timeout": 1})
    assert run.returncode == 1
    assert run.report["status"] == "PartiallyFailed"
    failed = [i for i in run.report["images"] if i["status"] == "failed"]
    assert len(failed) == 5
    assert all(f"preflight: timed out talking to {black_hole.host}" in i["error"] for i in failed), failed
    assert 1 <= black_hole.connections <= 2, black_hole.connections  # the images were not tried
    for image in good:
        source = image["source"].split("/", 1)[1].rsplit(":", 1)[0]
        assert skopeo_inspect_digest(f"{mirror_registry.host}/{source}:v1", tls_verify=False)


def test_a_mirror_failing_images_in_a_row_is_given_up_and_the_rest_are_not_tried(sync, registry, mirror_registry,
                                                                                 seed, unique_repo, proxies):
    """The mirror answers its /v2/ (the preflight passes), then resets every other request: after giveUpAfter
    images in a row the run stops sending it anything, and the other images say so."""
    images = images_of(registry, seed, unique_repo, 8)
    mirror = proxies(mirror_registry, Rule("reset", kinds=[k for k in ("manifest-head", "manifest-put", "blob-head",
                                                                         "upload-start", "manifest-get")]))
    run = sync(mirrors=[f"{mirror.host}/m"], images=images,
               registries={registry.host: {"tlsVerify": False}, mirror.host: {"tlsVerify": False}},
               options={"retries": 1, "concurrency": 1, "giveUpAfter": 3})
    assert run.returncode == 1
    records = run.report["images"]
    tried = [r for r in records if "given up" not in r["error"]]
    given_up = [r for r in records if r["error"] == f"given up: {mirror.host} failed 3 images in a row"]
    assert len(tried) == 3 and len(given_up) == 5, [r["error"] for r in records]
    assert all(r["status"] == "failed" for r in records)
    assert {s.repo for s in mirror.seen if s.kind != "ping"} == {f"m/{i['source'].split('/', 1)[1].rsplit(':', 1)[0]}"
                                                                 for i in images[:3]}


def test_a_source_refusing_the_credentials_fails_its_images_naming_the_key_tried(sync, htpasswd_registry,
                                                                                 mirror_registry, seed, unique_repo,
                                                                                 tmp_path):
    """A source is checked for an answer only (its credentials are per repository): the 401 of each image says
    which auth file entry was sent, or that none matched."""
    img = seed(htpasswd_registry, unique_repo("src"), "v1", layers=1)
    ns = img.repository.split("/", 1)[0]
    wrong = auth_file(tmp_path / "wrong.json", {f"{htpasswd_registry.host}/{ns}": ("mirror-user", "Not-The-Pa55")})
    settings = {htpasswd_registry.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False}}
    images = [{"source": f"{htpasswd_registry.host}/{img.repository}:v1"}]
    run = sync(mirrors=[mirror_registry.host], images=images, registries=settings, args=("--authfile", str(wrong)))
    assert run.returncode == 1
    error = run.report["images"][0]["error"]
    assert "HTTP 401" in error and f"refused the credentials of key {htpasswd_registry.host}/{ns} in {wrong}" in error
    assert "Not-The-Pa55" not in run.stderr + (run.output_dir / "report.json").read_text()
    none = auth_file(tmp_path / "none.json", {})
    run = sync(mirrors=[mirror_registry.host], images=images, registries=settings, args=("--authfile", str(none)),
               output_dir=tmp_path / "o2")
    error = run.report["images"][0]["error"]
    assert f"no credentials: no entry for {htpasswd_registry.host}/{img.repository}, " in error, error


def test_a_mirror_with_credentials_per_repository_only_passes_the_preflight_and_copies(sync, registry,
                                                                                     htpasswd_registry, seed,
                                                                                     unique_repo, tmp_path):
    """An auth file with keys for each mirror repository (host/m/app) and none for the namespace or the host: the
    preflight has nothing to log in with, so it checks the answer only, and each image's requests carry its own
    repository's entry (a preflight that demanded host/m credentials refused this working set-up)."""
    images = images_of(registry, seed, unique_repo, 2)
    per_repo = auth_file(tmp_path / "per-repo.json", {
        f"{htpasswd_registry.host}/m/{image['source'].split('/', 1)[1].rsplit(':', 1)[0]}":
            (htpasswd_registry.username, htpasswd_registry.password) for image in images})
    settings = {registry.host: {"tlsVerify": False}, htpasswd_registry.host: {"tlsVerify": False}}
    run = sync(mirrors=[f"{htpasswd_registry.host}/m"], images=images, registries=settings,
               args=("--authfile", str(per_repo)))
    assert run.returncode == 0, run.stderr
    report = json.loads((run.output_dir / "report.json").read_text())
    assert [i["status"] for i in report["images"]] == ["copied", "copied"], report["images"]
