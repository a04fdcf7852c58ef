"""What a site behind a boundary already holds, from its last report (an import's or a run's): the blobs of every
image that report says is on its mirrors, read from the exporting side's own sources (content is addressed by
digest: the same manifests name the same blobs on both sides)."""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor

from ..errors import describe
from ..pipeline import planning
from ..pipeline.route import Route
from ..registry.reference import parse_repository
from ..sync.engines import Clients
from ..sync.manifest import SyncManifest
from ..sync.prepare import walk
from ..sync.report import ImageRecord, Report

log = logging.getLogger(__name__)


def held_blobs(manifest: SyncManifest, site: Report, clients: Clients, *, workers: int = 8) -> dict[str, set[str]]:
    """The blobs of the images ``site`` has on its mirrors, each with the mirror repositories (``host/path``) that
    hold it there: a blob the export leaves out is in those repositories, not in every one the import pushes to,
    so the import mounts it from one of them. An image that cannot be read here, or of which the mirrors hold only
    some platforms or a rewritten index, claims nothing: the export then carries its blobs."""
    ctx = planning.context(manifest, clients, Route())

    def blobs_of(img: ImageRecord) -> tuple[set[str], list[str]]:
        digest = img.mirroredDigest or img.digest
        if not img.onMirror or not digest or img.platforms is not None or img.rewrittenDigest:
            return set(), []
        try:
            store, repo = ctx.source_for(parse_repository(img.source))
            manifests = walk(store, repo, store.get_manifest(repo, digest))
        except Exception as exc:  # noqa: BLE001 - it only costs carrying the image's blobs again
            log.info("%s@%s: not read here (%s): its blobs are carried", img.source, digest, describe(exc))
            return set(), []
        return {b.digest for m in manifests for b in m.blobs}, [d.repository for d in img.destinations if d.onMirror]

    held: dict[str, set[str]] = {}
    images = iter(site.images)  # read from the report file a batch at a time: pool.map takes all it is given
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="held") as pool:
        while batch := list(itertools.islice(images, 1000)):
            for blobs, repositories in pool.map(blobs_of, batch):
                for digest in blobs:
                    held.setdefault(digest, set()).update(repositories)
    return held
