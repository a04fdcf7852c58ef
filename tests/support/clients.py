"""mirrorsync's native registry client for a test registry, for integration tests of the client itself."""

from __future__ import annotations

from typing import Any

from devtools.devregistry import LocalRegistry
from mirrorsync.registry.auth import Credentials
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support.cli import realm_settings


def client_for(registry: LocalRegistry, **kw: Any) -> RegistryClient:
    """A client with the registry's TLS settings and credentials (its token realm reached over plain HTTP), and
    retries short enough for tests."""
    settings = RegistrySettings(tls_verify=registry.tls, cert_dir=str(registry.cert_dir) if registry.tls else None)
    creds = Credentials(registry.username, registry.password) if registry.username else None
    realms = {host: RegistrySettings(tls_verify=False) for host in realm_settings(registry)}
    return RegistryClient(registry.host, settings=settings, credentials=creds,
                          settings_for=lambda host: realms.get(host, RegistrySettings()),
                          policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.05), **kw)
