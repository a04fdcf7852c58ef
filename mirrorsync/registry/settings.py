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
    # as a mirror: the most path components a repository may have below the host (Quay, Harbor: 2); deeper
    # repositories are flattened (``maxNestedPaths``, see :func:`mirrorsync.sync.manifest.flatten`). None: no limit
    max_nested_paths: int | None = None
