"""A failed run never takes mirrors away from a cluster.

The mirror sets describe what the mirrors hold for what the manifest selects, not what one run managed to copy.
When an image fails this run (or is skipped by an interrupt, or its source cannot be listed), the previous report
in the output directory says what an earlier run put on the mirrors; each such image is looked up on the mirror
(a manifest HEAD by digest) and, if it is there, its destination is kept ``onMirror`` in the new report. Content
the mirror says it no longer holds is not kept, and neither is content the manifest no longer selects. A mirror that
cannot be asked (unreachable from this host, failing, refusing our credentials) proves nothing either way: its
entries are kept, unconfirmed, with a warning and a note in the destination's error, since dropping them would take a
mirror away from a cluster that may well still reach it.

Whatever entry the new mirror sets lose compared with the previous report is recorded (``removedEntries``) and
logged, so a run that takes a mirror away from a cluster always says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import describe
from ..oci.store import ContentStore
from .manifest import ImageSpec, SyncManifest
from .plan import PlanFailure, destinations
from .report import DestinationRecord, ImageRecord, Report, mirrored_sources
from .status import Status
from .tag_selection import selects_tag

log = logging.getLogger(__name__)

StoreFor = Callable[[str], ContentStore]  # registry host[:port] -> its store


def _key(img: ImageRecord) -> tuple[str, str, str] | None:
    """What identifies one selected image across runs: its source and tag, or its source and digest."""
    if img.tag:
        return (img.source, "tag", img.tag)
    if img.digest:
        return (img.source, "digest", img.digest)
    return None  # a planning failure: the whole entry, no single image


@dataclass
class _Candidate:
    record: ImageRecord
    dest: DestinationRecord
    digest: str


@dataclass(frozen=True, slots=True)
class Held:
    """What carry-over needs of one image of the previous report: the digest each mirror repository holds."""

    mediaType: str | None
    children: tuple[str, ...]
    digests: tuple[str, ...]  # mirror repository, digest held there, repository, digest, ...: each one onMirror


def held_index(previous: Report, wanted: Callable[[tuple[str, str, str]], bool] = lambda key: True
               ) -> dict[tuple[str, str, str], Held]:
    """The images ``previous`` says are on a mirror, by :func:`_key`, those ``wanted`` only, read in one pass
    over its records and holding none of them (a previous report of a hundred thousand images is read from its
    file)."""
    names: dict[str, str] = {}  # one string per source, repository and media type, however many images name it
    held = {}
    for img in previous.images:
        key = _key(img)
        if key is None or not wanted(key) or not any(d.onMirror for d in img.destinations):
            continue
        digests = tuple(x for d in img.destinations if d.onMirror and (digest := img.held_digest(d))
                        for x in (names.setdefault(d.repository, d.repository), digest))
        source, kind, ref = key
        media = names.setdefault(img.mediaType, img.mediaType) if img.mediaType else None
        held[(names.setdefault(source, source), kind, ref)] = Held(media, tuple(img.children), digests)
    return held


def _candidates(record: ImageRecord, earlier: Held) -> list[_Candidate]:
    """The destinations of ``record`` this run did not reach but ``earlier`` says hold the image."""
    had = dict(zip(earlier.digests[::2], earlier.digests[1::2]))
    out = []
    for d in record.destinations:
        digest = had.get(d.repository)
        if not d.ok and digest:
            out.append(_Candidate(record, d, digest))
    return out


def _unlisted(failure: PlanFailure, manifest: SyncManifest, held: dict[tuple[str, str, str], Held],
              known: set) -> list[ImageRecord]:
    """Records for the tags an earlier run mirrored from a source that could not be listed now and that the
    manifest still selects; each failed with the listing error until confirmed on a mirror."""
    spec: ImageSpec = failure.spec
    out = []
    for key, earlier in held.items():
        source, kind, tag = key
        if source != spec.source.name or kind != "tag" or key in known or not selects_tag(spec, tag):
            continue
        known.add(key)
        out.append(ImageRecord(
            source=source, tag=tag, digest=None, status=Status.FAILED, mediaType=earlier.mediaType,
            children=list(earlier.children), mirrorSets=spec.fed_mirror_sets,
            mirrorSourcePolicy=spec.mirror_source_policy, scope=spec.scope, error=failure.error,
            destinations=[d.record(Status.FAILED, error=failure.error) for d in destinations(manifest, spec)]))
    return out


def _confirm(candidates: list[_Candidate], store_for: StoreFor, workers: int) -> dict[tuple[str, str], bool | str]:
    """Whether the mirrors hold each (mirror repository, digest) pair now: True, False (the mirror says it is not
    there), or why the mirror could not be asked."""
    pairs = sorted({(c.dest.repository, c.digest) for c in candidates})

    def look(pair: tuple[str, str]) -> bool | str:
        repository, digest = pair
        host, _, repo = repository.partition("/")
        try:
            return store_for(host).manifest_descriptor(repo, digest) is not None
        except Exception as exc:  # noqa: BLE001 - unknown is not absent: the caller keeps it, unconfirmed
            log.warning("cannot confirm %s@%s on the mirror (%s): kept from the previous report, unconfirmed",
                        repository, digest, describe(exc))
            return describe(exc)

    if not pairs:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(pairs))), thread_name_prefix="confirm") as pool:
        return dict(zip(pairs, pool.map(look, pairs)))


def keep_mirrored(report: Report, previous: Report, manifest: SyncManifest, failures: Iterable[PlanFailure],
                  store_for: StoreFor, *, workers: int = 8) -> None:
    """Mark in ``report`` what the mirrors still hold from ``previous`` for images this run did not copy."""
    failures = list(failures)
    # only what this run may keep: images it did not put on every mirror, tags of sources it could not list
    unreached = {_key(r) for r in report.images if not all(d.ok for d in r.destinations)}
    unlisted_sources = {f.spec.source.name for f in failures}
    held = held_index(previous, lambda key: key in unreached or key[0] in unlisted_sources)
    known = {k for k in map(_key, report.images) if k is not None}
    candidates: list[_Candidate] = []
    for record in report.images:
        key = _key(record)
        if key in held and not all(d.ok for d in record.destinations):
            candidates += _candidates(record, held[key])
    unlisted: list[ImageRecord] = []
    for failure in failures:
        for record in _unlisted(failure, manifest, held, known):
            unlisted.append(record)
            candidates += _candidates(record, held[_key(record)])
    on_mirror = _confirm(candidates, store_for, workers)
    for c in candidates:
        held_now = on_mirror[(c.dest.repository, c.digest)]
        if held_now is True or isinstance(held_now, str):
            c.dest.onMirror = True
            c.record.mirroredDigest = c.digest
            if isinstance(held_now, str):
                c.dest.error = (f"{c.dest.error}; " if c.dest.error else "") + (
                    f"kept from the previous report unconfirmed: the mirror could not be asked ({held_now})")
        else:
            log.info("%s is no longer on %s: not kept", c.record.reference, c.dest.repository)
    for record in report.images + unlisted:
        record.onMirror = bool(record.destinations) and all(d.onMirror for d in record.destinations)
    # A listed tag nothing confirmed adds nothing the planning failure does not already say.
    report.images.extend(r for r in unlisted if any(d.onMirror for d in r.destinations))


def _entries(report: Report) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for src in mirrored_sources([report]):
        kinds = {k for k, on in (("digest", src.by_digest), ("tag", src.by_tag)) if on}
        for mirror in src.mirrors:
            out[(src.source, mirror)] = kinds
    return out


def removed_entries(report: Report, previous: Report, manifest: SyncManifest) -> list[dict]:
    """The (source -> mirror) entries of the previous mirror sets that the new ones drop, each with why."""
    selected = {spec.source.name: spec for spec in manifest.images}
    failed = {img.source for img in report.failed}
    before, after = _entries(previous), _entries(report)
    out = []
    for (source, mirror), kinds in sorted(before.items()):
        lost = sorted(kinds - after.get((source, mirror), set()))
        if not lost:
            continue
        spec = selected.get(source)
        if spec is None:
            reason = "the manifest no longer selects this source"
        elif mirror not in {d.name for d in destinations(manifest, spec)}:
            reason = "the manifest no longer mirrors this source there"
        elif source in failed:
            reason = "this run could not copy its images and the mirror does not hold them"
        else:
            reason = "no image the manifest selects from this source is on this mirror"
        out.append({"source": source, "mirror": mirror, "mirrorSets": lost, "reason": reason})
    return out


def reconcile(report: Report, previous: Report | None, manifest: SyncManifest, failures: Iterable[PlanFailure],
              store_for: StoreFor, *, workers: int = 8) -> None:
    """Keep what the mirrors hold from ``previous``, then record and log every entry the new mirror sets drop."""
    if previous is None:
        return
    keep_mirrored(report, previous, manifest, failures, store_for, workers=workers)
    report.removedEntries = removed_entries(report, previous, manifest)
    for e in report.removedEntries:
        log.warning("removing mirror entry %s -> %s (%s): %s", e["source"], e["mirror"], ", ".join(e["mirrorSets"]),
                    e["reason"])
