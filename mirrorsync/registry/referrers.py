"""OCI 1.1 referrers of a manifest: listed through the referrers API where a registry has it, else through the
fallback tag ``<alg>-<hex>`` that names an index of them (distribution-spec 1.1, "Referrers tag schema").

Works on any content store: one without ``get_referrers`` (an OCI layout, a registry client of another kind) is
read and written through the fallback tag alone.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass

from ..errors import UnsupportedContent
from ..oci.content import OCI_INDEX, Manifest, parse_manifest, sha256_digest
from ..oci.store import ContentStore

MAX_TAG_LENGTH = 128  # the distribution spec's tag grammar


def fallback_tag(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256-<hex>`` (cut to the longest tag the spec allows, as the spec says)."""
    return digest.replace(":", "-", 1)[:MAX_TAG_LENGTH]


@dataclass(frozen=True)
class Listing:
    """The referrers of one manifest, as the registry lists them."""

    descriptors: tuple[dict, ...]  # as listed: mediaType, digest, size, artifactType, annotations
    via_api: bool
    fallback_index: Manifest | None = None  # the fallback tag's index, when listed through it


def _entries(data: bytes, where: str) -> tuple[dict, ...]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UnsupportedContent(f"{where} is not JSON") from None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        raise UnsupportedContent(f"{where} is not an image index")
    out = []
    for d in manifests:
        if not (isinstance(d, dict) and isinstance(d.get("digest"), str) and isinstance(d.get("size"), int)
                and isinstance(d.get("mediaType"), str)):
            raise UnsupportedContent(f"{where} lists a malformed descriptor")
        out.append(d)
    return tuple(out)


# Stores that answered a referrers request with 404: asked no more this run (a registry with the API never answers
# so), which saves a request per manifest on every no-op re-run against docker-registry 2.8.
_WITHOUT_API: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def api_listing(store: ContentStore, repo: str, digest: str) -> tuple[dict, ...] | None:
    """The referrers the store's referrers API lists, or None when it has none (or is not a registry)."""
    get = getattr(store, "get_referrers", None)
    with _lock:
        if get is None or store in _WITHOUT_API:
            return None
    data = get(repo, digest)
    if data is None:
        with _lock:
            _WITHOUT_API[store] = True
        return None
    return _entries(data, f"the referrers of {store.describe()}/{repo}@{digest}")


def list_referrers(store: ContentStore, repo: str, digest: str) -> Listing:
    """Every referrer of ``digest`` in ``repo``: the API's list where there is one, else the fallback index's."""
    listed = api_listing(store, repo, digest)
    if listed is not None:
        return Listing(listed, True)
    tag = fallback_tag(digest)
    if store.manifest_descriptor(repo, tag) is None:
        return Listing((), False)
    index = store.get_manifest(repo, tag)
    return Listing(_entries(index.data, f"{store.describe()}/{repo}:{tag}"), False, index)


def add_to_fallback(store: ContentStore, repo: str, digest: str, descriptors: list[dict],
                    original: Manifest | None = None) -> bool:
    """Add ``descriptors`` to the fallback index of ``digest`` in ``repo``, keeping every entry it has (read, merge,
    write); True when the index was written. ``original``, the source's own fallback index, is written unchanged
    when the store has none and it lists exactly these referrers, so the two stay digest-equal."""
    tag = fallback_tag(digest)
    existing: tuple[dict, ...] = ()
    if store.manifest_descriptor(repo, tag) is not None:
        existing = _entries(store.get_manifest(repo, tag).data, f"{store.describe()}/{repo}:{tag}")
    have = {d["digest"] for d in existing}
    new = [d for d in descriptors if d["digest"] not in have]
    if not new:
        return False
    if not existing and original is not None and [d["digest"] for d in _entries(original.data, tag)] == \
            [d["digest"] for d in new]:
        index = original
    else:
        data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*existing, *new]},
                          separators=(",", ":")).encode()
        index = parse_manifest(data, OCI_INDEX, sha256_digest(data))
    store.put_manifest(repo, tag, index)
    return True
