"""What every engine decides before it moves a byte: which targets already hold an image, and every manifest under
it (with a platform filter, only the listed platforms'), in the order they must be pushed.
"""

from __future__ import annotations

import logging
from typing import Sequence

from ..errors import UnsupportedContent, describe
from ..oci.content import Descriptor, Manifest
from ..oci.image_files import image_config
from ..oci.store import ContentStore
from .copy_results import CopyResult
from .platforms import PlatformFilter, select as select_platforms
from .status import Status

# the logger these messages have always had (the JSON log names it), from when this was part of copy.py
log = logging.getLogger("mirrorsync.sync.copy")

MAX_INDEX_DEPTH = 4


def prepare(source: ContentStore, source_repo: str, ref: str, targets: Sequence[tuple[ContentStore, str]],
            tag: str | None, result: CopyResult,
            platforms: PlatformFilter | None = None) -> tuple[Manifest, list[Manifest], list[int]] | None:
    """The decisions every engine shares, so that a report means the same whichever engine copied.

    Marks the targets that already hold the image ``up-to-date`` (and those that cannot be asked ``failed``) in
    ``result``; for the others returns the top manifest to push, every manifest under it (children first, top
    last) and their indexes. None when no target needs anything.
    """
    if platforms is not None:
        return _prepare_platforms(source, source_repo, ref, targets, tag, result, platforms)
    by_digest = ":" in ref
    known = ref if by_digest else None
    probe = tag or known
    present: dict[int, str | None] = {}
    for i, (store, repo) in enumerate(targets):
        try:
            have = store.manifest_descriptor(repo, probe) if probe else None
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            result.targets[i].status, result.targets[i].error = Status.FAILED, describe(exc)
            continue
        present[i] = have.digest if have else None
    if not by_digest and any(present.values()):
        # Some target has the tag: HEAD (not GET) the source to compare, since registries rate-limit GETs
        # and a no-op re-sync needs only the digest. When no target has it, the GET below is enough.
        desc = source.manifest_descriptor(source_repo, ref)
        known = desc.digest if desc else None
        result.media_type = desc.media_type.split(";")[0] or None if desc else None
    pending: list[int] = []
    for i, digest in present.items():
        if known and digest == known:
            result.targets[i].status = Status.UP_TO_DATE
        else:
            pending.append(i)
    if not pending:
        result.digest = known
        return None
    top = source.get_manifest(source_repo, ref)
    result.digest, result.media_type = top.digest, top.media_type
    if known and known != top.digest:
        # the tag moved between HEAD and GET: copy what GET returned, consistently
        log.info("%s:%s moved to %s while being read", source_repo, ref, top.digest)
    manifests = walk(source, source_repo, top)
    result.children = [m.digest for m in manifests if m is not top]
    return top, manifests, pending


def _prepare_platforms(source: ContentStore, source_repo: str, ref: str, targets: Sequence[tuple[ContentStore, str]],
                       tag: str | None, result: CopyResult,
                       platforms: PlatformFilter) -> tuple[Manifest, list[Manifest], list[int]] | None:
    """``prepare`` for an image of which only some platforms go: the source index is read (GET, not HEAD) since
    what a target must hold — the index pushed and the listed platforms' manifests under it — follows from it.

    A target is up to date when its tag (or digest) is that index and every listed platform's manifest is there,
    so that adding a platform to the list copies it on the next run.
    """
    top = source.get_manifest(source_repo, ref)
    result.digest, result.media_type = top.digest, top.media_type
    chosen = select_platforms(top, platforms, lambda: config_platform(source, source_repo, top))
    result.platforms, result.missing_platforms = list(chosen.taken), list(chosen.missing)
    if chosen.missing:
        log.warning("%s@%s has no %s: copying %s", source_repo, top.digest, ", ".join(chosen.missing),
                    ", ".join(chosen.taken))
    pushed = chosen.top
    if chosen.rewritten:
        result.rewritten_digest = pushed.digest
    probe = tag or pushed.digest
    result.children = [c.digest for c in chosen.children]  # what verify walks, also when nothing is copied
    pending: list[int] = []
    for i, (store, repo) in enumerate(targets):
        try:
            have = store.manifest_descriptor(repo, probe)
            if (have is not None and have.digest == pushed.digest
                    and all(store.manifest_descriptor(repo, c.digest) for c in chosen.children)):
                result.targets[i].status = Status.UP_TO_DATE
            else:
                pending.append(i)
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            result.targets[i].status, result.targets[i].error = Status.FAILED, describe(exc)
    if not pending:
        return None
    manifests = walk(source, source_repo, top, chosen.children)[:-1] + [pushed]
    result.children = [m.digest for m in manifests if m is not pushed]
    return pushed, manifests, pending


def config_platform(source: ContentStore, repo: str, image: Manifest) -> tuple[str, str, str | None]:
    """The os, architecture and variant a single image's config says."""
    doc = image_config(source, repo, image)
    try:
        return str(doc["os"]), str(doc["architecture"]), (str(doc["variant"]) if doc.get("variant") else None)
    except KeyError:
        raise UnsupportedContent(f"image {image.digest}: its config does not say its os and architecture") from None


def walk(source: ContentStore, repo: str, top: Manifest,
         only: Sequence[Descriptor] | None = None) -> list[Manifest]:
    """Every manifest under ``top`` (of its entries, ``only`` these when given), deepest first and ``top`` last
    (the order they must be pushed in)."""
    out: list[Manifest] = []
    seen: set[str] = set()

    def visit(m: Manifest, depth: int) -> None:
        if depth > MAX_INDEX_DEPTH:
            raise UnsupportedContent(f"index {top.digest} nests deeper than {MAX_INDEX_DEPTH} levels")
        for child in (only if m is top and only is not None else m.children):
            if child.digest in seen:
                continue
            seen.add(child.digest)
            visit(source.get_manifest(repo, child.digest), depth + 1)
        out.append(m)

    visit(top, 0)
    return out
