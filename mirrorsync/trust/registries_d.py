"""A containers-registries.d(5) directory: where an image's GPG ("simple signing") signatures live (the
lookaside store) and whether its cosign attachments are read, looked up as containers/image does
(docker/registries_d.go).

Every ``*.yaml`` file of the directory is read; ``default-docker`` and each ``docker`` scope may be given in one
file only. A scope is looked up as policy scopes are (``host/repo:tag``, the repository, its namespaces, the host,
``*.domain``), then ``default-docker``. Signature ``n`` of a digest is at
``<lookaside>/<repository path>@<algorithm>=<hex>/signature-<n>``, counted from 1 until one is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..registry.reference import Reference
from ..yamlsource import Reader, load_documents, read_text
from .policy import scopes_for

_NAMESPACE_KEYS = {"lookaside", "lookaside-staging", "sigstore", "sigstore-staging", "use-sigstore-attachments"}


@dataclass(frozen=True)
class Namespace:
    lookaside: str | None = None  # lookaside, else the older name sigstore (the -staging ones are for writing)
    use_sigstore_attachments: bool | None = None


@dataclass(frozen=True)
class RegistriesD:
    directory: str
    default: Namespace | None = None
    docker: dict[str, Namespace] = field(default_factory=dict)

    def _namespaces(self, image: Reference) -> list[Namespace]:
        found = [self.docker[s] for s in scopes_for(image) if s in self.docker]
        return found + ([self.default] if self.default is not None else [])

    def lookaside(self, image: Reference) -> str | None:
        """The lookaside store URL for ``image``'s repository, or None when none is configured (containers/image
        then reads a built-in local directory, which a mirroring host has no business trusting)."""
        base = next((ns.lookaside for ns in self._namespaces(image) if ns.lookaside), None)
        if base is None:
            return None
        return base.rstrip("/") + "/" + image.repository

    def use_sigstore_attachments(self, image: Reference) -> bool:
        """Whether cosign's attachments are read for ``image``: the first scope that says, else false (as
        containers/image; mirrorsync reads them when no registries.d is given at all)."""
        return next((ns.use_sigstore_attachments for ns in self._namespaces(image)
                     if ns.use_sigstore_attachments is not None), False)


def signature_url(base: str, digest: str, index: int) -> str:
    """The ``index``-th (from 1) signature of ``digest`` under a repository's lookaside ``base``."""
    algorithm, _, encoded = digest.partition(":")
    return f"{base}@{algorithm}={encoded}/signature-{index}"


def load(directory: str) -> RegistriesD:
    """Every ``*.yaml`` file of ``directory``, merged; a problem is an ``InputError`` naming file, line and field."""
    if not os.path.isdir(directory):
        raise InputError("registries.d: no such directory", file=directory)
    default: Namespace | None = None
    default_from = ""
    docker: dict[str, Namespace] = {}
    docker_from: dict[str, str] = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".yaml"):
            continue
        path = os.path.join(directory, name)
        for doc in load_documents(read_text(path), path):
            r = Reader(doc)
            top = r.mapping(doc.data if doc.data is not None else {}, (), {"default-docker", "docker"})
            if top.get("default-docker") is not None:
                if default is not None:
                    raise r.fail(("default-docker",), f"also defined in {default_from}")
                default, default_from = _namespace(r, top["default-docker"], ("default-docker",)), path
            scopes = top.get("docker") or {}
            if not isinstance(scopes, dict):
                raise r.fail(("docker",), "must be a mapping of scopes")
            for scope, value in scopes.items():
                if scope in docker:
                    raise r.fail(("docker", scope), f"also defined in {docker_from[scope]}")
                docker[scope], docker_from[scope] = _namespace(r, value or {}, ("docker", scope)), path
    return RegistriesD(directory, default, docker)


def _namespace(r: Reader, value: Any, path: tuple) -> Namespace:
    value = r.mapping(value, path, _NAMESPACE_KEYS)
    lookaside = None
    for key in ("lookaside", "sigstore"):
        if key in value and lookaside is None:
            lookaside = r.string(value[key], path + (key,))
            if not lookaside.startswith(("file://", "http://", "https://")):
                raise r.fail(path + (key,), f"{lookaside!r}: a file://, http:// or https:// URL")
    use = None
    if "use-sigstore-attachments" in value:
        use = r.boolean(value["use-sigstore-attachments"], path + ("use-sigstore-attachments",))
    return Namespace(lookaside, use)
