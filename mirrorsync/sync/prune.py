"""Taking away what the manifest no longer selects: the library behind ``mirrorsync prune``.

Only what runs into the output directory recorded putting on a mirror is ever a candidate: an image of
``report.json`` held on a mirror repository (``onMirror``) that the manifest, planned as ``run`` plans it, no longer
selects there. Everything else on the mirrors is someone else's and only ever protects.

The distribution API deletes manifests by digest, and ``DELETE /v2/<name>/manifests/<digest>`` takes every tag
naming that manifest with it (docker-registry 2.8 deletes no tag by name). So, per mirror repository, a manifest
is deleted only when nothing that stays names it: no tag left on the mirror (a kept tag, a tag mirrorsync never
put there, a tag someone else moved), no index under such a tag, no image the report keeps, no digest the
manifest selects. A pruned tag whose manifest is protected stays, and says why; a tag that now names another
digest than the report recorded was moved by someone else and is left alone.

Order, so that nodes never point at deleted content: the decisions are recorded (``prune-report.json``, with
everything still to delete), then ``report.json`` loses the pruned images and the mirror sets are written from it,
and only then is anything deleted (each index before the manifests under it, so no tag ever names an index with
a child missing). An interrupted or failed deletion stays in ``prune-report.json``; the next ``prune --apply``
finishes it. A later ``run`` never brings a pruned image back into the mirror sets: it is not in ``report.json``
for carry-over to keep, and the manifest does not select it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomic
from ..errors import InputError, MirrorsyncError, NotFound, RegistryError, describe
from ..oci.content import INDEX_TYPES
from ..registry.client import RegistryClient
from ..registry.referrers import fallback_tag
from .carryover import removed_entries
from .copy import walk
from .manifest import SyncManifest
from .plan import Plan, destinations
from .report import API_VERSION, ImageRecord, Report, load as load_report

log = logging.getLogger(__name__)

PRUNE_REPORT_FILE = "prune-report.json"
PRUNE_KIND = "PruneReport"

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
                **({"companions": [dict(c) for c in self.companions]} if self.companions else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Removal:
        return cls(source=d["source"], mirror=d["mirror"], repository=d["repository"], tag=d.get("tag"),
                   digest=d["digest"], reason=d.get("reason") or "", action=d.get("action") or "delete",
                   detail=d.get("detail"), manifests=list(d.get("manifests") or []),
                   deleted=list(d.get("deleted") or []),
                   companions=[dict(c) for c in d.get("companions") or []])

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


@dataclass
class PruneResult:
    """What a prune found and did. ``removals`` in a stable order; ``unlisted``: sources whose tags could not be
    listed, so nothing of them was pruned."""

    manifest: str | None
    applied: bool
    startedAt: str
    finishedAt: str | None = None
    removals: list[Removal] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    # what else was kept whole because the section selecting it could not be read (a release graph, a catalog)
    keptWhole: list[str] = field(default_factory=list)
    removedEntries: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.unlisted and not self.keptWhole and not self.interrupted and not any(
            r.action == "failed" or (self.applied and r.action == "delete") for r in self.removals)

    @property
    def status(self) -> str:
        if self.finishedAt is None:
            return "Running"  # as recorded before the first deletion
        return "Succeeded" if self.ok else ("Interrupted" if self.interrupted else "PartiallyFailed")

    def to_dict(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": PRUNE_KIND, "manifest": self.manifest, "applied": self.applied,
                "startedAt": self.startedAt, "finishedAt": self.finishedAt,
                "status": self.status,
                "removals": [r.to_dict() for r in self.removals], "unlisted": list(self.unlisted),
                "keptWhole": list(self.keptWhole),
                "removedEntries": [dict(e) for e in self.removedEntries]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def load_unfinished(path: str | os.PathLike[str]) -> list[Removal]:
    """The removals an earlier prune left to do (``UNFINISHED``); none when there is no such file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return []
    from ..yamlsource import read_text

    try:
        data = json.loads(read_text(path))
        if not isinstance(data, dict) or data.get("kind") != PRUNE_KIND:
            raise InputError(f"not a mirrorsync prune report (kind must be {PRUNE_KIND})", file=path, field="kind")
        return [r for r in map(Removal.from_dict, data.get("removals") or []) if r.action in UNFINISHED]
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", file=path, line=exc.lineno) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"malformed prune report: {describe(exc)}", file=path, field="removals") from None


# --- deciding what goes -----------------------------------------------------------------------------------------

def _selected(manifest: SyncManifest, the_plan: Plan) -> dict[tuple[str, str], set[str]]:
    """(source, tag or digest) -> the mirror repositories the manifest puts it in."""
    out: dict[tuple[str, str], set[str]] = {}
    for job in the_plan.jobs:
        out.setdefault((job.source.name, job.ref), set()).update(d.name for d in job.destinations)
    return out


def _why_not(manifest: SyncManifest, the_plan: Plan, source: str, tag: str | None, digest: str,
             repository: str) -> str:
    """Why the manifest no longer selects ``source`` at ``tag`` (or ``digest``) in ``repository``."""
    specs = [s for s in manifest.images if s.source.name == source]
    if not specs:
        return f"the manifest no longer selects {source}"
    if not any(repository in {d.name for d in destinations(manifest, s)} for s in specs):
        return f"the manifest no longer mirrors {source} to {repository}"
    if tag is None:
        return f"the manifest no longer names {source}@{digest}"
    for selection in the_plan.selections:
        if selection.spec.source.name == source:
            decision = next((d for d in selection.decisions if d.tag == tag), None)
            if decision is not None:
                return f"tag {tag} is left by images[{selection.spec.index}]: {decision.reason}"
    if any(s.lists_tags for s in specs):
        return f"tag {tag} is no longer in the tag list of {source}"
    return f"the manifest no longer names tag {tag} of {source}"


def unknown_selections(report: Report, the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
    """The report's images (source, tag or digest) that a section of the manifest may still select but this plan
    could not tell, and why: every release image and component when a channel's graph or a release image could
    not be read; every image a catalog that could not be read kept in the previous run (``report.catalogs``).
    The ``images`` entries whose tags could not be listed are ``decide``'s own ``unlisted``."""
    keep: set[tuple[str, str]] = set()
    why: list[str] = []
    releases = the_plan.releases
    if releases is not None and releases.failures:
        keep |= {(i.source, i.tag or i.digest) for i in report.images if i.mirrorTag and (i.tag or i.digest)}
        why += [f"every release image and component: {f.what} could not be read ({f.error})"
                for f in releases.failures]
    previous = {c.get("catalog"): c for c in report.catalogs}
    for cp in the_plan.catalogs:
        if cp.error is None:
            continue
        from ..openshift.catalogs.planning import recorded_images  # noqa: PLC0415 - only with a catalog down

        why.append(f"every image of catalog {cp.spec.catalog}: {cp.error}")
        entry = previous.get(str(cp.spec.catalog)) or {}
        if entry.get("sourceDigest"):
            keep.add((cp.job.source.name, entry["sourceDigest"]))
        keep |= {(ref.repo_only().name, ref.digest or ref.tag or "latest") for ref in recorded_images(entry)}
    return keep, why


def decide(report: Report, manifest: SyncManifest, the_plan: Plan,
           unfinished: Iterable[Removal] = (), *,
           protected: set[tuple[str, str]] = frozenset()) -> tuple[list[Removal], list[str], Report | None]:
    """The removals (from the report's images on mirrors, and an earlier prune's unfinished ones), the sources
    kept whole because their tags could not be listed, and the report without the images the manifest no longer
    selects (None when that is the report as it is). ``protected``: (source, tag or digest) kept wherever they are
    (``unknown_selections``)."""
    selected = _selected(manifest, the_plan)
    catalogs = {id(cp.job.spec) for cp in the_plan.catalogs}  # a catalog that could not be read: ``protected``
    unlisted_specs = [f.spec for f in the_plan.failures if id(f.spec) not in catalogs]
    unlisted: set[str] = set()

    def still_selected(source: str, ref: str, repository: str) -> bool:
        if repository in selected.get((source, ref), ()) or (source, ref) in protected:
            return True
        for spec in unlisted_specs:  # cannot tell what it selects: keep what it may select there
            if spec.source.name == source and repository in {d.name for d in destinations(manifest, spec)}:
                unlisted.add(source)
                return True
        return False

    removals: dict[tuple, Removal] = {}
    kept_images: list[ImageRecord] = []
    changed = False
    for img in report.images:
        dests = []
        for d in img.destinations:
            ref = img.tag or img.digest
            if ref is None or still_selected(img.source, ref, d.repository):
                dests.append(d)
                continue
            held = img.held_digest(d)
            if held:
                # a release's images are selected by digest and carry a tag of their own on the mirror
                why = ("the platform section no longer selects the release it belongs to" if img.mirrorTag
                       else _why_not(manifest, the_plan, img.source, img.tag, held, d.repository))
                r = Removal(img.source, d.mirror, d.repository, img.mirrorTag or img.tag, held, why,
                            companions=[dict(c) for c in img.companions or []])
                removals.setdefault(r.key, r)
        if len(dests) == len(img.destinations):
            kept_images.append(img)
        elif dests:
            kept_images.append(dataclasses.replace(img, destinations=dests,
                                                   onMirror=all(d.onMirror for d in dests)))
        changed = changed or len(dests) < len(img.destinations)
    for r in unfinished:
        # r.tag is the mirror's tag: a release image, selected by digest, has one of its own
        if r.key in removals or any(still_selected(r.source, ref, r.repository) for ref in {r.tag or r.digest,
                                                                                            r.digest}):
            continue
        # what it had still to delete: once its index is gone, nothing on the mirror names those any more
        removals[r.key] = Removal(r.source, r.mirror, r.repository, r.tag, r.digest,
                                  _why_not(manifest, the_plan, r.source, r.tag, r.digest, r.repository),
                                  manifests=[d for d in r.manifests if d not in r.deleted],
                                  companions=r.companions)
    # replace(), not a new Report: whatever else the report carries stays as it was
    pruned = dataclasses.replace(report, images=kept_images) if changed else None
    return sorted(removals.values(), key=lambda r: (r.repository, r.tag or "", r.digest)), sorted(unlisted), pruned


# --- looking at the mirrors ---------------------------------------------------------------------------------------

def _split(repository: str) -> tuple[str, str]:
    host, _, path = repository.partition("/")
    return host, path


def inspect(removals: list[Removal], kept: Report, manifest: SyncManifest, store_for: Callable[[str], Any], *,
            workers: int = 8) -> None:
    """Decide each removal's ``action`` from what its mirror repository holds now (read only)."""
    by_repo: dict[str, list[Removal]] = {}
    for r in removals:
        by_repo.setdefault(r.repository, []).append(r)
    roots_from_report: dict[str, dict[str, str]] = {}
    for img in kept.images:
        for d in img.destinations:
            held = img.held_digest(d)
            if held and d.repository in by_repo:
                roots_from_report.setdefault(d.repository, {}).setdefault(
                    held, f"the manifest still selects {img.reference}, which names it")
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


# --- end to end -------------------------------------------------------------------------------------------------------

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _has_icsp(output_dir: Path) -> bool:
    from ..openshift import cluster_resources
    from ..openshift.mirrorsets import FILENAMES, ICSP

    return (cluster_resources.directory(output_dir) / FILENAMES[ICSP]).is_file()


@dataclass
class Pruner:
    manifest: SyncManifest
    output_dir: Path
    apply: bool = False
    auth_file: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    notify: Callable[[str], None] = log.warning

    def _inputs(self) -> tuple[Path, Report, list[Removal]]:
        from .runner import REPORT_FILE

        report_path = Path(self.output_dir) / REPORT_FILE
        if not report_path.is_file():
            raise InputError("no report.json here: prune removes only what runs into this output directory "
                             "recorded putting on the mirrors", file=str(report_path))
        return report_path, load_report(str(report_path)), load_unfinished(Path(self.output_dir) / PRUNE_REPORT_FILE)

    def check(self) -> None:
        """Read the reports and every auth file now: bad input (``InputError``) before the output directory is
        locked or anything is asked of a registry."""
        from .runner import Runner, RunOptions

        self._inputs()
        Runner(self.manifest, RunOptions(auth_file=self.auth_file)).check_credentials()

    def run(self) -> PruneResult:
        """Decide (and with ``apply`` do) the prune. Raises ``InputError`` when the output directory holds no
        report or an unreadable one; never raises for a mirror that fails (it is in the result)."""
        from .runner import Runner, RunOptions, write_mirror_sets

        out = Path(self.output_dir)
        report_path, report, unfinished = self._inputs()  # again: a run may have rewritten them before the lock
        result = PruneResult(manifest=self.manifest.file, applied=self.apply, startedAt=_now())
        runner = Runner(self.manifest, RunOptions(auth_file=self.auth_file))
        runner.check_credentials()
        clients = runner.clients()
        try:
            the_plan = runner.plan(clients)
            protected, result.keptWhole = unknown_selections(report, the_plan)
            result.removals, result.unlisted, pruned = decide(report, self.manifest, the_plan, unfinished,
                                                              protected=protected)
            if pruned is not None:
                result.removedEntries = removed_entries(pruned, report, self.manifest)
                pruned.removedEntries = result.removedEntries
            inspect(result.removals, pruned or report, self.manifest, clients.get,
                    workers=self.manifest.options.concurrency)
            if self.apply:
                # Recorded first: whatever happens from here on, the next prune knows what is left to delete.
                write_atomic(out / PRUNE_REPORT_FILE, result.to_json())
                if pruned is not None:
                    for e in result.removedEntries:
                        log.warning("removing mirror entry %s -> %s (%s): %s", e["source"], e["mirror"],
                                    ", ".join(e["mirrorSets"]), e["reason"])
                    pruned.save(str(report_path))
                # Always, also when report.json did not change: an interrupted prune may have left it written
                # and the mirror sets not yet; nothing is deleted before they are.
                result.written = write_mirror_sets([pruned or report], out, icsp=_has_icsp(out),
                                                   notify=self.notify)
                result.interrupted = not delete(result.removals, clients.get, self.stop)
        finally:
            clients.close()
        result.finishedAt = _now()
        if self.apply:
            write_atomic(out / PRUNE_REPORT_FILE, result.to_json())
        return result


def prune(manifest: SyncManifest | str | os.PathLike[str], output_dir: str | os.PathLike[str], *,
          apply: bool = False, auth_file: str | None = None) -> PruneResult:
    """Remove from the mirrors what runs into ``output_dir`` put there and the manifest no longer selects.

    A dry run unless ``apply``: then the mirror sets in ``output_dir`` lose the pruned images before anything is
    deleted, under the output directory's lock (as ``run`` takes it). Raises ``InputError`` for bad input.
    """
    from .runner import output_lock

    if not isinstance(manifest, SyncManifest):
        from .manifest import load

        manifest = load(os.fspath(manifest))
    pruner = Pruner(manifest, Path(output_dir), apply=apply, auth_file=auth_file)
    if not apply:
        return pruner.run()
    with output_lock(output_dir):
        return pruner.run()
