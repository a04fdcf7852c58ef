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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomic
from ..errors import InputError, describe
from ..openshift import cluster_resources
from ..openshift.mirrorsets import FILENAMES, ICSP
from ..sync.carryover import removed_entries
from ..sync.manifest import SyncManifest
from ..sync.plan import Plan, destinations
from ..sync.report import API_VERSION, REPORT_FILE, ImageRecord, Report, load as load_report
from ..sync.status import RunStatus
from .outputs import cluster_files, output_lock, write_mirror_sets
from .removals import UNFINISHED, Removal, delete, inspect  # noqa: F401 - part of this interface
from .planning import sections_of
from .runner import Runner, RunOptions
from .sections import load_manifest

log = logging.getLogger(__name__)

PRUNE_REPORT_FILE = "prune-report.json"
PRUNE_KIND = "PruneReport"

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
    # why this prune is larger than a prune should be (a mirror or source gone from the manifest, a large share):
    # --apply refuses it unless told --allow-large-prune (see ``guards``)
    guards: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    interrupted: bool = False
    # What applying the pruned CRs in place of the output directory's does to the nodes (as in the sync report);
    # None when the prune changes no mirror-set entry
    nodeImpact: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.unlisted and not self.keptWhole and not self.interrupted and not any(
            r.action == "failed" or (self.applied and r.action == "delete") for r in self.removals)

    @property
    def status(self) -> str:
        if self.finishedAt is None:
            return RunStatus.RUNNING  # as recorded before the first deletion
        if self.ok:
            return RunStatus.SUCCEEDED
        return RunStatus.INTERRUPTED if self.interrupted else RunStatus.PARTIALLY_FAILED

    def to_dict(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": PRUNE_KIND, "manifest": self.manifest, "applied": self.applied,
                "startedAt": self.startedAt, "finishedAt": self.finishedAt,
                "status": self.status,
                "removals": [r.to_dict() for r in self.removals], "unlisted": list(self.unlisted),
                "keptWhole": list(self.keptWhole),
                "removedEntries": [dict(e) for e in self.removedEntries], "guards": list(self.guards),
                **({"nodeImpact": dict(self.nodeImpact)} if self.nodeImpact is not None else {})}

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
    """(source, tag or digest) -> the mirror repositories the manifest puts it in, and the names those had before
    a depth limit flattened them: a depth limit given to ``run`` and not to ``prune`` (or the other way round)
    never makes what one layout holds look unselected."""
    out: dict[tuple[str, str], set[str]] = {}
    for job in the_plan.jobs:
        out.setdefault((job.source.name, job.ref), set()).update(
            name for d in job.destinations for name in (d.name, d.flattened_name) if name)
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


def unknown_selections(report: Report, manifest: SyncManifest,
                       the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
    """The report's images (source, tag or digest) that a section of the manifest may still select but this plan
    could not tell, and why: every release image and component when a channel's graph or a release image could
    not be read; every image a catalog that could not be read kept in the previous run (``report.catalogs``).
    The ``images`` entries whose tags could not be listed are ``decide``'s own ``unlisted``."""
    keep: set[tuple[str, str]] = set()
    why: list[str] = []
    for section, _ in sections_of(manifest):
        more, reasons = section.protected(report, the_plan)
        keep |= more
        why += reasons
    return keep, why


def decide(report: Report, manifest: SyncManifest, the_plan: Plan,
           unfinished: Iterable[Removal] = (), *,
           protected: set[tuple[str, str]] = frozenset()) -> tuple[list[Removal], list[str], Report | None]:
    """The removals (from the report's images on mirrors, and an earlier prune's unfinished ones), the sources
    kept whole because their tags could not be listed, and the report without the images the manifest no longer
    selects (None when that is the report as it is). ``protected``: (source, tag or digest) kept wherever they are
    (``unknown_selections``)."""
    selected = _selected(manifest, the_plan)
    # a section's entry that could not be planned (a catalog that could not be read) is its ``protected``
    unlisted_specs = [f.spec for f in the_plan.failures if not f.section]
    unlisted: set[str] = set()

    def still_selected(source: str, ref: str, repository: str, flattened_from: str | None = None) -> bool:
        if {repository, flattened_from} & selected.get((source, ref), set()) or (source, ref) in protected:
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
            if ref is None or still_selected(img.source, ref, d.repository, d.flattenedFrom):
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
    for section in manifest.section_types:
        for p in section.prunable(report, manifest, the_plan):
            r = Removal(p.source, p.mirror, p.repository, p.tag, p.digest, p.reason, section=section.key,
                        source_named=p.named)
            removals.setdefault(r.key, r)
            changed = True
    kept_pushes = {s.key: s.kept_pushes(report, manifest, the_plan) for s in manifest.section_types}
    for r in unfinished:
        if r.section is not None:
            # a section's own push (a chart): never while this plan pushes it there, or may
            kept = kept_pushes.get(r.section, set())
            if r.key not in removals and not {(r.repository, r.tag), (r.repository, None)} & kept:
                removals[r.key] = dataclasses.replace(r, action="delete", detail=None,
                                                      manifests=[d for d in r.manifests if d not in r.deleted],
                                                      deleted=[])
            continue
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
    if pruned is not None:
        gone = {(r.repository, r.tag) for r in removals.values() if r.tag}
        for section in manifest.section_types:
            section.without(pruned, gone)
    return sorted(removals.values(), key=lambda r: (r.repository, r.tag or "", r.digest)), sorted(unlisted), pruned


# --- guarding against a typo ------------------------------------------------------------------------------------

DEFAULT_MAX_SHARE = 50  # percent of the images on the mirrors a prune may delete without --allow-large-prune


def guards(report: Report, manifest: SyncManifest, the_plan: Plan, removals: list[Removal], *,
           max_share: float = DEFAULT_MAX_SHARE) -> list[str]:
    """Why deleting ``removals`` looks like a mistake rather than a choice: a mirror the report has that the
    manifest no longer names (a typo in a mirror's name would delete everything on the real one), a source
    repository the manifest no longer names anywhere, or more than ``max_share`` percent of what the report holds
    on the mirrors."""
    going = [r for r in removals if r.action == "delete"]
    if not going:
        return []
    out = []
    locations = {m.location for m in manifest.mirrors}
    for mirror in sorted({r.mirror for r in going} - locations):
        n = sum(r.mirror == mirror for r in going)
        out.append(f"mirror {mirror} is no longer in the manifest: {n} image(s) on it would be deleted")
    named = {spec.source.name for spec in manifest.images} | {j.source.name for j in the_plan.jobs}
    for source in sorted({r.source for r in going if r.mirror in locations and r.section is None} - named):
        n = sum(r.source == source for r in going)
        out.append(f"source {source} is no longer in the manifest: {n} image(s) of it would be deleted")
    for source in sorted({r.source for r in going if r.mirror in locations and not r.source_named}):
        n = sum(r.source == source for r in going)
        out.append(f"{source} is no longer in the manifest: {n} artifact(s) of it would be deleted")
    held = sum(1 for img in report.images for d in img.destinations if d.onMirror)
    # what the sections that prune pushed themselves (charts) counts too, once (an OCI chart is also an image)
    images_held = {(d.repository, img.mirrorTag or img.tag) for img in report.images for d in img.destinations}
    pushing = {r.section for r in going if r.section}
    held += len({(repository, tag) for s in manifest.section_types if s.key in pushing
                 for repository, _, tag, _ in s.held(report)} - images_held)
    if held and 100 * len(going) > max_share * held:
        out.append(f"{len(going)} of the {held} images on the mirrors would be deleted, more than "
                   f"{max_share:g}% (--max-share)")
    return out


# --- end to end -------------------------------------------------------------------------------------------------------

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _has_icsp(output_dir: Path) -> bool:
    return (cluster_resources.directory(output_dir) / FILENAMES[ICSP]).is_file()


@dataclass
class Pruner:
    manifest: SyncManifest
    output_dir: Path
    apply: bool = False
    auth_file: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    notify: Callable[[str], None] = log.warning
    # report.json files (or output directories) of other syncs sharing the mirrors: what they hold stays
    protect: tuple[Path, ...] = ()
    allow_large: bool = False  # --allow-large-prune: delete even what ``guards`` says looks like a mistake
    max_share: float = DEFAULT_MAX_SHARE

    def _inputs(self) -> tuple[Path, Report, list[Removal]]:
        report_path = Path(self.output_dir) / REPORT_FILE
        if not report_path.is_file():
            raise InputError("no report.json here: prune removes only what runs into this output directory "
                             "recorded putting on the mirrors", file=str(report_path))
        return report_path, load_report(str(report_path)), load_unfinished(Path(self.output_dir) / PRUNE_REPORT_FILE)

    def check(self) -> None:
        """Read the reports and every auth file now: bad input (``InputError``) before the output directory is
        locked or anything is asked of a registry."""
        self._inputs()
        self._protected()
        Runner(self.manifest, RunOptions(auth_file=self.auth_file)).check_credentials()

    def _protected(self) -> list[tuple[str, Report]]:
        out = []
        for path in self.protect:
            path = Path(path) / REPORT_FILE if Path(path).is_dir() else Path(path)
            out.append((str(path), load_report(str(path))))
        return out

    def run(self) -> PruneResult:
        """Decide (and with ``apply`` do) the prune. Raises ``InputError`` when the output directory holds no
        report or an unreadable one; never raises for a mirror that fails (it is in the result)."""
        out = Path(self.output_dir)
        report_path, report, unfinished = self._inputs()  # again: a run may have rewritten them before the lock
        others = self._protected()
        result = PruneResult(manifest=self.manifest.file, applied=self.apply, startedAt=_now())
        runner = Runner(self.manifest, RunOptions(auth_file=self.auth_file))
        runner.check_credentials()
        clients = runner.clients()
        try:
            the_plan = runner.plan(clients)
            protected, result.keptWhole = unknown_selections(report, self.manifest, the_plan)
            result.removals, result.unlisted, pruned = decide(report, self.manifest, the_plan, unfinished,
                                                              protected=protected)
            files = cluster_files([pruned or report], icsp=_has_icsp(out))
            if pruned is not None:
                result.removedEntries = removed_entries(pruned, report, self.manifest)
                pruned.removedEntries = result.removedEntries
                result.nodeImpact = pruned.nodeImpact = cluster_resources.apply_verdict(out, files).to_dict()
            inspect(result.removals, pruned or report, self.manifest, clients.get,
                    workers=self.manifest.options.concurrency, others=others)
            result.guards = guards(report, self.manifest, the_plan, result.removals, max_share=self.max_share)
            if self.apply and result.guards and not self.allow_large:
                # nothing written, nothing deleted: the CRs and the mirrors stay as they are
                raise InputError("refusing to delete: " + "; ".join(result.guards)
                                 + " (check the manifest; --allow-large-prune if this is meant)", field="--apply")
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
                                                   notify=self.notify, files=files)
                result.interrupted = not delete(result.removals, clients.get, self.stop)
        finally:
            clients.close()
        result.finishedAt = _now()
        if self.apply:
            write_atomic(out / PRUNE_REPORT_FILE, result.to_json())
        return result


def prune(manifest: SyncManifest | str | os.PathLike[str], output_dir: str | os.PathLike[str], *,
          apply: bool = False, auth_file: str | None = None, protect: tuple[str | os.PathLike[str], ...] = (),
          allow_large: bool = False) -> PruneResult:
    """Remove from the mirrors what runs into ``output_dir`` put there and the manifest no longer selects.

    A dry run unless ``apply``: then the mirror sets in ``output_dir`` lose the pruned images before anything is
    deleted, under the output directory's lock (as ``run`` takes it). Raises ``InputError`` for bad input.
    """
    if not isinstance(manifest, SyncManifest):
        manifest = load_manifest(os.fspath(manifest))
    pruner = Pruner(manifest, Path(output_dir), apply=apply, auth_file=auth_file,
                    protect=tuple(Path(p) for p in protect), allow_large=allow_large)
    if not apply:
        return pruner.run()
    with output_lock(output_dir):
        return pruner.run()
