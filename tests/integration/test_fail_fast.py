"""Failing fast, and saying what fixes it: errors no retry can change are not retried (an untrusted certificate,
plain HTTP answering TLS, a name that does not resolve, refused credentials), against the real docker-registry;
the connections that reach it are counted at a relay in front of it."""

from __future__ import annotations

import socket
import time

import pytest

from mirrorsync.errors import AuthError, Unreachable
from mirrorsync.registry.auth import Credentials
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support.cli import realm_settings
from support.tcp_relay import TCPRelay

pytestmark = pytest.mark.integration

POLICY = dict(attempts=6, initial_wait=0.01, max_wait=0.02)  # five retries, were any taken


@pytest.fixture
def relay_to():
    """A relay on an ephemeral 127.0.0.1 port in front of a registry; its ``connections`` count every attempt."""
    relays: list[TCPRelay] = []

    def make(registry) -> TCPRelay:
        relays.append(TCPRelay(int(registry.host.rsplit(":", 1)[1]), 0).start())
        return relays[-1]

    yield make
    for r in relays:
        r.stop()


def _raised(client: RegistryClient, error: type[Exception], read) -> Exception:
    """What ``read(client)`` raises (it must raise ``error``), with the client closed after."""
    try:
        with pytest.raises(error) as info:
            read(client)
    finally:
        client.close()
    return info.value


def test_an_untrusted_certificate_is_tried_once_and_the_error_names_tls_verify_and_cert_dir(tls_registry, relay_to):
    relay = relay_to(tls_registry)
    client = RegistryClient(relay.host, settings=RegistrySettings(tls_verify=True), policy=RetryPolicy(**POLICY))
    text = str(_raised(client, Unreachable, lambda c: c.manifest_descriptor("any/repo", "v1")))
    assert relay.connections == 1, "an untrusted certificate does not become trusted by retrying"
    assert client.policy.ledger.total == 0
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
    error = _raised(client, Unreachable, lambda c: c.list_tags("any/repo"))
    assert relay.connections == 1
    assert str(certs / "ca.crt") in str(error)


def test_plain_http_answering_tls_is_tried_once_and_says_to_set_tls_verify_false(registry, relay_to):
    relay = relay_to(registry)
    client = RegistryClient(relay.host, settings=RegistrySettings(tls_verify=True), policy=RetryPolicy(**POLICY))
    text = str(_raised(client, Unreachable, lambda c: c.get_manifest("any/repo", "v1")))
    assert relay.connections == 1
    assert "WRONG_VERSION_NUMBER" in text
    assert f"registries.{relay.host}.tlsVerify: false" in text


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
        said[name] = str(_raised(client, Unreachable, lambda c: c.manifest_descriptor("any/repo", "v1")))
        assert lookups.count(name) == expected, (name, lookups)
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
    error = _raised(client, AuthError, lambda c: c.get_manifest(img.repository, "v1"))
    assert len(token_server.requests) == 1, token_server.requests
    assert client.policy.ledger.total == 0 and time.monotonic() - started < 5
    assert "Not-The-Pa55word" not in str(error)
