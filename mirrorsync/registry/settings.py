"""How to talk to one registry host: what a manifest's ``registries.<host>`` says (the containers
``registries.conf``/``certs.d`` notions), kept here so the registry client does not depend on the sync manifest."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegistrySettings:
    """How to talk to one registry host (the containers ``registries.conf``/``certs.d`` notions)."""

    tls_verify: bool = True
    cert_dir: str | None = None
    auth_file: str | None = None
