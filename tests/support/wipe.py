"""Empty repositories of a ``LocalRegistry`` through the distribution API, so a second copy starts cold.

Comparing two engines byte for byte needs them to write to the same mirror location (the CRs name it) from the
same starting point. Deleting a manifest by digest drops every tag that points at it, and deleting a blob from a
repository drops that repository's link to it, which is what a copier sees when it asks whether a blob is there.
Only Basic auth is answered (htpasswd registries); the registries must allow deletes (``devregistry``'s default).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import httpx

from devtools.devregistry import LocalRegistry

_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
])


def wipe(registry: LocalRegistry, repository: str, digests: Iterable[str]) -> None:
    """Delete the manifests ``digests`` (with their children and the tags on them) and their blobs from
    ``repository``; raises ``AssertionError`` if any of them is still there afterwards."""
    auth = (registry.username, registry.password) if registry.username else None
    with httpx.Client(base_url=registry.url, verify=registry.ssl_context(), auth=auth, timeout=30.0) as client:
        manifests: list[str] = []
        blobs: set[str] = set()
        todo = list(digests)
        while todo:
            digest = todo.pop()
            if digest in manifests:
                continue
            got = client.get(f"/v2/{repository}/manifests/{digest}", headers={"Accept": _ACCEPT})
            if got.status_code == 404:
                continue
            got.raise_for_status()
            manifests.append(digest)
            doc = json.loads(got.content)
            todo += [m["digest"] for m in doc.get("manifests") or []]
            if isinstance(doc.get("config"), dict):
                blobs.add(doc["config"]["digest"])
            blobs.update(layer["digest"] for layer in doc.get("layers") or [])
        for digest in manifests:
            _delete(client, f"/v2/{repository}/manifests/{digest}")
        for digest in blobs:
            _delete(client, f"/v2/{repository}/blobs/{digest}")
        for digest in manifests:
            left = client.head(f"/v2/{repository}/manifests/{digest}", headers={"Accept": _ACCEPT})
            assert left.status_code == 404, f"{repository}@{digest} still there after wipe: {left.status_code}"
        for digest in blobs:
            left = client.head(f"/v2/{repository}/blobs/{digest}")
            assert left.status_code == 404, f"blob {digest} still linked in {repository}: {left.status_code}"


def _delete(client: httpx.Client, path: str) -> None:
    response = client.delete(path)
    if response.status_code not in (202, 404):
        raise AssertionError(f"DELETE {path}: HTTP {response.status_code} {response.text[:300]}")
