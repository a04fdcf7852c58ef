"""Failing fast, and saying what fixes it: errors no retry can change are not retried (an untrusted certificate,
plain HTTP answering TLS, a name that does not resolve, refused credentials), against the real docker-registry;
the connections that reach it are counted at a relay in front of it."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mirrorsync.errors import AuthError, Unreachable
from mirrorsync.registry.auth import Credentials
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support.cli import realm_settings
from support.tcp_relay import _pump

pytestmark = pytest.mark.integration

POLICY = dict(attempts=6, initial_wait=0.01, max_wait=0.02)  # five retries, were any taken


class CountingRelay:
    """A 127.0.0.1 port relaying every connection to ``target_port``, bytes untouched, counting connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1:%d" % self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def relay_to():
    relays: list[CountingRelay] = []

    def make(registry) -> CountingRelay:
        relays.append(CountingRelay(int(registry.host.rsplit(":", 1)[1])))
        return relays[-1]

    yield make
    for r in relays:
        r.close()


def test_an_untrusted_certificate_is_tried_once_and_the_error_names_tls_verify_and_cert_dir(tls_registry, relay_to):
    relay = relay_to(tls_registry)
    client = RegistryClient(relay.host, settings=RegistrySettings(tls_verify=True), policy=RetryPolicy(**POLICY))
    try:
        with pytest.raises(Unreachable) as info:
            client.manifest_descriptor("any/repo", "v1")
    finally:
        client.close()
    assert relay.connections == 1, "an untrusted certificate does not become trusted by retrying"
    assert client.policy.ledger.total == 0
    text = str(info.value)
    assert "CERTIFICATE_VERIFY_FAILED" in text and "not retried" in text
    assert "certDir" in text and "tlsVerify: false" in text and "system CAs only" in text


def test_the_ca_files_read_are_named_when_the_certificate_is_still_untrusted(tls_registry, relay_to, tmp_path):
    """A certDir holding a *.crt that is not the registry's CA: the error names the file mirrorsync read."""
    from devtools.devregistry import TestCA

    wrong = TestCA.create(tmp_path / "wrong-ca")
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(wrong.cert.read_bytes())
    relay = relay_to(tls_registry)
    client = RegistryClient(relay.host, settings=RegistrySettings(tls_verify=True, cert_dir=str(certs)),
                            policy=RetryPolicy(**POLICY))
    try:
        with pytest.raises(Unreachable) as info:
            client.list_tags("any/repo")
    finally:
        client.close()
    assert relay.connections == 1
    assert str(certs / "ca.crt") in str(info.value)


def test_plain_http_answering_tls_is_tried_once_and_says_to_set_tls_verify_false(registry, relay_to):
    relay = relay_to(registry)
    client = RegistryClient(relay.host, settings=RegistrySettings(tls_verify=True), policy=RetryPolicy(**POLICY))
    try:
        with pytest.raises(Unreachable) as info:
            client.get_manifest("any/repo", "v1")
    finally:
        client.close()
    assert relay.connections == 1
    assert "WRONG_VERSION_NUMBER" in str(info.value)
    assert f"registries.{relay.host}.tlsVerify: false" in str(info.value)


def test_a_name_that_does_not_resolve_is_looked_up_once(monkeypatch, registry):
    """NXDOMAIN (EAI_NONAME) is not retried; a resolver failing for now (EAI_AGAIN) is. The lookup is refused
    here, in the process: a name under .invalid would otherwise go to the machine's resolver."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if str(host).endswith(".invalid"):
            lookups.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if str(host).endswith(".flaky"):
            lookups.append(host)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    said = {}
    for name, expected in (("mirror.invalid", 1), ("mirror.flaky", 6)):
        client = RegistryClient(f"{name}:5000", settings=RegistrySettings(tls_verify=True),
                                policy=RetryPolicy(**POLICY))
        try:
            with pytest.raises(Unreachable) as info:
                client.manifest_descriptor("any/repo", "v1")
        finally:
            client.close()
        assert lookups.count(name) == expected, (name, lookups)
        said[name] = str(info.value)
    assert "not retried: the name mirror.invalid does not resolve" in said["mirror.invalid"]
    assert "not retried" not in said["mirror.flaky"]


def test_refused_credentials_after_a_fresh_token_are_not_retried(token_registry, token_server, seed, unique_repo):
    img = seed(token_registry, unique_repo("refused"), "v1")
    realms = {host: RegistrySettings(tls_verify=False) for host in realm_settings(token_registry)}
    client = RegistryClient(token_registry.host, settings=RegistrySettings(tls_verify=False),
                            credentials=Credentials("alice", "Not-The-Pa55word"),
                            settings_for=lambda host: realms.get(host, RegistrySettings()),
                            policy=RetryPolicy(**POLICY))
    token_server.reset_counters()
    started = time.monotonic()
    try:
        with pytest.raises(AuthError) as info:
            client.get_manifest(img.repository, "v1")
    finally:
        client.close()
    assert len(token_server.requests) == 1, token_server.requests
    assert client.policy.ledger.total == 0 and time.monotonic() - started < 5
    assert "Not-The-Pa55word" not in str(info.value)
