"""The mirror side of a prune: what one removal is, whether something that stays still names its manifest
(``inspect``), and deleting it, indexes before what they hold (``delete``). See :mod:`.prune` for the order."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import MirrorsyncError, NotFound, RegistryError, describe
from ..oci.content import INDEX_TYPES
from ..registry.client import RegistryClient
from ..registry.referrers import fallback_tag
from ..sync.copy import walk
from ..sync.manifest import SyncManifest
from ..sync.plan import destinations
from ..sync.report import Report

log = logging.getLogger(__name__)


# What became of one removal. ``delete``: to be deleted (a dry run's answer, or what an interrupted --apply left);
# ``deleted``: deleted now; ``gone``: no longer on the mirror; ``kept``: stays because something that stays names
# its manifest; ``moved``: its tag names another digest now, someone else's, left alone; ``failed``: the mirror
# could not be asked or refused. ``delete``, ``kept`` and ``failed`` are looked at again by the next prune.
UNFINISHED = ("delete", "kept", "failed")


@dataclass
class Removal:
    """One image an earlier run put on one mirror repository that the manifest no longer selects there."""

    source: str
    mirror: str  # the mirror location as the report names it
    repository: str  # host[:port]/path on the mirror
    tag: str | None
    digest: str  # what the report says the mirror holds
    reason: str  # why it goes
    action: str = "delete"
    detail: str | None = None  # for kept, moved, gone, failed: why; for delete: what under it stays, and why
    manifests: list[str] = field(default_factory=list)  # what to delete, the top one first
    deleted: list[str] = field(default_factory=list)
    # what travelled with the image (report ``companions``: cosign tags, referrers): they go after it
    companions: list[dict[str, Any]] = field(default_factory=list)
    # the manifest's section that pushed it itself (``charts``: a chart artifact), None for an image's record
    section: str | None = None
    # for the guards: whether the manifest still names where a section's removal came from (not recorded)
    source_named: bool = field(default=True, compare=False)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.repository, self.tag, self.digest)

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "mirror": self.mirror, "repository": self.repository, "tag": self.tag,
                "digest": self.digest, "reason": self.reason, "action": self.action, "detail": self.detail,
                "manifests": list(self.manifests), "deleted": list(self.deleted),
                **({"companions": [dict(c) for c in self.companions]} if self.companions else {}),
                **({"section": self.section} if self.section else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Removal:
        return cls(source=d["source"], mirror=d["mirror"], repository=d["repository"], tag=d.get("tag"),
                   digest=d["digest"], reason=d.get("reason") or "", action=d.get("action") or "delete",
                   detail=d.get("detail"), manifests=list(d.get("manifests") or []),
                   deleted=list(d.get("deleted") or []),
                   companions=[dict(c) for c in d.get("companions") or []], section=d.get("section"))

    def lines(self, applied: bool) -> list[str]:
        """One line for the image, one for each further manifest it takes with it."""
        verb = {"delete": "delete" if applied else "would delete"}.get(self.action, self.action)
        why = f"{self.reason}; {self.detail}" if self.detail else self.reason
        if self.action in ("kept", "moved", "gone", "failed"):
            why = f"{self.detail} ({self.reason})"
        if self.action == "failed":
            why += "; run prune --apply again to finish"
        out = [f"{verb}: {self.reference} ({self.digest}): {why}"]
        under = [d for d in (self.deleted if self.action == "deleted" else self.manifests) if d != self.digest]
        travelled = {c["digest"]: f"{c.get('kind', 'companion')} of {c.get('subject')}" for c in self.companions}
        out += [f"{verb}: {self.repository}@{d} ({travelled.get(d) or f'a manifest under {self.digest}'})"
                for d in under]
        return out



# --- looking at the mirrors ---------------------------------------------------------------------------------------

def _split(repository: str) -> tuple[str, str]:
    host, _, path = repository.partition("/")
    return host, path


def inspect(removals: list[Removal], kept: Report, manifest: SyncManifest, store_for: Callable[[str], Any], *,
            workers: int = 8, others: Sequence[tuple[str, Report]] = ()) -> None:
    """Decide each removal's ``action`` from what its mirror repository holds now (read only). ``others``: (name,
    report) of other output directories sharing the mirrors (``prune --protect``): what they hold stays too."""
    by_repo: dict[str, list[Removal]] = {}
    for r in removals:
        by_repo.setdefault(r.repository, []).append(r)
    roots_from_report: dict[str, dict[str, str]] = {}
    # what stays: the images the manifest still selects, then what other output directories hold on these mirrors
    holders: list[tuple[Report, Callable[[str], str]]] = [
        (kept, lambda ref: f"the manifest still selects {ref}, which names it"),
        *((other, lambda ref, name=name: f"{name} (--protect) holds {ref} there, which names it")
          for name, other in others)]
    for report, why in holders:
        for img in report.images:
            for d in img.destinations:
                held = img.held_digest(d)
                if held and d.repository in by_repo:
                    roots_from_report.setdefault(d.repository, {}).setdefault(held, why(img.reference))
        # what the sections pushed themselves (charts) and keep
        for section in manifest.section_types:
            for repository, digest, tag, _ in section.held(report):
                if repository in by_repo:
                    roots_from_report.setdefault(repository, {}).setdefault(digest, why(f"{repository}:{tag}"))
    for spec in manifest.images:
        for dest in destinations(manifest, spec):
            for digest in spec.digests:
                if dest.name in by_repo:
                    roots_from_report.setdefault(dest.name, {}).setdefault(
                        digest, f"the manifest selects {spec.source.name}@{digest}")

    outer = max(1, min(workers, len(by_repo)))

    def one(repository: str) -> None:
        host, repo = _split(repository)
        try:
            _inspect_repository(store_for(host), repo, by_repo[repository], roots_from_report.get(repository, {}),
                                max(1, workers // outer))
        except Exception as exc:  # noqa: BLE001 - this repository waits for the next prune; the others go on
            for r in by_repo[repository]:
                r.action, r.detail, r.manifests = "failed", f"cannot read {repository}: {describe(exc)}", []

    with ThreadPoolExecutor(max_workers=outer, thread_name_prefix="inspect") as pool:
        list(pool.map(one, sorted(by_repo)))


def _inspect_repository(client: RegistryClient, repo: str, removals: list[Removal], roots: dict[str, str],
                        workers: int) -> None:
    try:
        tags = client.list_tags(repo)
    except NotFound:
        tags = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(tags) or 1)), thread_name_prefix="tags") as pool:
        descriptors = dict(zip(tags, pool.map(lambda t: client.manifest_descriptor(repo, t), tags)))
    tag_digest = {t: d.digest for t, d in descriptors.items() if d is not None}
    media_types = {d.digest: d.media_type for d in descriptors.values() if d is not None and d.media_type}

    removable_tags = set()
    for r in removals:
        now = tag_digest.get(r.tag) if r.tag else None
        if r.tag and now is not None and now != r.digest:
            r.action, r.detail = "moved", f"the tag names {now} now, not what mirrorsync put there: left alone"
        elif r.tag and now == r.digest:
            removable_tags.add(r.tag)
        # the tags its companions live under: cosign's, and the referrers' fallback tag of each subject
        removable_tags |= {t for t, d in _companion_tags(r).items() if tag_digest.get(t) == d or d is None}
    kept_roots = {tag_digest[t]: f"tag {t} names it and stays" for t in sorted(tag_digest, reverse=True)
                  if t not in removable_tags}  # reversed: the first tag in order names it
    for digest, why in roots.items():
        kept_roots.setdefault(digest, why)
    roots = kept_roots
    protected = _closure(client, repo, roots, media_types)

    for r in removals:
        if r.action == "moved":
            continue
        if r.digest in protected:
            r.action, r.detail = "kept", (f"{protected[r.digest]}, and a registry deletes a manifest only with "
                                          "all its tags" if r.tag else protected[r.digest])
            continue
        left_over, r.manifests = r.manifests, []
        top = client.manifest_descriptor(repo, r.digest)
        if top is None:
            # an earlier prune deleted the index and was stopped before the manifests under it
            under = [d for d in left_over if d not in protected and client.manifest_descriptor(repo, d)]
            if under:
                r.action, r.manifests = "delete", under
            else:
                r.action, r.detail = "gone", "no longer on the mirror"
            continue
        under = [m.digest for m in reversed(walk(client, repo, client.get_manifest(repo, r.digest)))]
        r.action, r.manifests = "delete", [d for d in dict.fromkeys(under) if d not in protected]
        r.manifests += _companions_going(r, set(r.manifests), tag_digest, protected)
        skipped = [d for d in under if d in protected]
        r.detail = f"{len(skipped)} manifest(s) under it stay: {protected[skipped[0]]}" if skipped else None


def _companion_tags(r: Removal) -> dict[str, str | None]:
    """tag -> the digest it should name (None: whatever it names, a fallback index) for ``r``'s companions."""
    out: dict[str, str | None] = {c["tag"]: c["digest"] for c in r.companions if c.get("tag")}
    out.update({fallback_tag(s): None for s in _referred(r)})
    return out


def _referred(r: Removal) -> set[str]:
    """The subjects of ``r``'s referrers (each has a fallback index where the mirror has no referrers API)."""
    return {c["subject"] for c in r.companions if c.get("kind") == "referrer"}


def _companions_going(r: Removal, going: set[str], tag_digest: dict[str, str], protected: dict[str, str]) -> list[str]:
    """The companions of what ``r`` deletes (their subject goes), and each such subject's referrers fallback index:
    deleted after the image, so an interrupted prune never leaves an image on the mirror without its signatures."""
    out = [c["digest"] for c in r.companions if c.get("subject") in going and c["digest"] not in protected]
    indexes = (tag_digest.get(fallback_tag(s)) for s in _referred(r) if s in going)
    out += [d for d in indexes if d is not None and d not in protected]
    return [d for d in dict.fromkeys(out) if d not in going]


def _closure(client: RegistryClient, repo: str, roots: dict[str, str], media_types: dict[str, str]) -> dict[str, str]:
    """Every manifest the roots name on the mirror, each with why it must stay. Only indexes are read (their
    children); ``media_types`` are those already known from the tags' HEADs, the others are asked."""
    protected: dict[str, str] = {}
    for digest, why in roots.items():
        if digest in protected:
            continue
        media_type = media_types.get(digest)
        if media_type is None:
            desc = client.manifest_descriptor(repo, digest)
            if desc is None:
                continue
            media_type = desc.media_type
        protected[digest] = why
        if media_type.split(";")[0].strip() in INDEX_TYPES:
            for m in walk(client, repo, client.get_manifest(repo, digest)):
                protected.setdefault(m.digest, f"an index that stays names it ({why})")
    return protected


# --- deleting -------------------------------------------------------------------------------------------------------

def delete(removals: list[Removal], store_for: Callable[[str], Any], stop: threading.Event | None = None) -> bool:
    """Delete what ``inspect`` marked ``delete``, each top manifest before those under it; False if stopped."""
    done: dict[str, set[str]] = {}
    refused: dict[str, str] = {}
    for r in removals:
        if r.action != "delete":
            continue
        host, repo = _split(r.repository)
        if host in refused:
            r.action, r.detail = "failed", refused[host]
            continue
        for digest in r.manifests:
            if stop is not None and stop.is_set():
                return False
            if digest in done.setdefault(r.repository, set()):
                r.deleted.append(digest)
                continue
            try:
                store_for(host).delete_manifest(repo, digest)
            except NotFound:
                pass  # gone already (an earlier, interrupted prune; or the tag it shared went with another)
            except RegistryError as exc:
                message = describe(exc)
                if exc.status == 405 or exc.code == "UNSUPPORTED":
                    message = (f"{host} refuses to delete manifests ({message}): enable deletion on that "
                               "registry (docker-registry: storage.delete.enabled: true in its config.yml, or "
                               "REGISTRY_STORAGE_DELETE_ENABLED=true), then run prune --apply again")
                    refused[host] = message
                r.action, r.detail = "failed", message
                break
            except MirrorsyncError as exc:
                r.action, r.detail = "failed", describe(exc)
                break
            done[r.repository].add(digest)
            r.deleted.append(digest)
        else:
            r.action = "deleted"
    return True
