"""The releases' part of a run: add their copy jobs to the plan (``add_from_registries`` for a run or an export,
``add_to_plan`` with the export's releases for an import), and after the copies say per release what happened
(``records``, the report's ``releases``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

from ...errors import describe
from ...registry.reference import parse_repository
from ...sync.manifest import SyncManifest
from ...sync.plan import Plan, Shard
from ...sync.report import ImageRecord, Report
from ...sync.status import Status
from . import graph, signatures as signatures_mod
from .payload import Component, Release
from .records import ReleaseRecord, release_records
from .spec import OKD_ARCHITECTURES, PlatformSpec
from .select import (GraphFor, PlannedRelease, ReleasePlan, SourceFor, Wanted, WantedFailure, assign_jobs,
                     read as read_releases, wanted)

log = logging.getLogger(__name__)

SignaturesFor = Callable[[str], dict[str, bytes]]  # release digest -> its signature files
# worst first: a release is as good as the worst of its images
_STATUS_ORDER = (Status.FAILED, Status.SKIPPED, Status.PARTIAL, Status.COPIED, Status.UP_TO_DATE)


PLAN_KEY = "platform"  # the releases' place in ``Plan.sections``: their ReleasePlan


def add_to_plan(the_plan: Plan, manifest: SyncManifest, platform: PlatformSpec, source_for: SourceFor,
                graph_for: GraphFor, *,
                signatures_for: SignaturesFor | None = None, carried: list[ReleaseRecord] | None = None,
                shard: Shard | None = None, previous: Report | None = None) -> None:
    """Plan the releases of ``platform`` into ``the_plan`` (jobs appended, its ReleasePlan in ``the_plan.sections``).

    ``carried``: the releases an export's report lists, planned instead of asking the graph (the import side of an
    air gap has no update service), with the signatures that report carries. ``previous``: the previous report in
    the output directory; a channel or release this run cannot read is planned again from it (see
    :func:`from_previous`).
    """
    if carried is not None:
        wants = [Wanted(parse_repository(r.source).with_digest(r.digest), r.channel, r.architecture)
                 for r in carried if r.source and r.digest]
        failures = []
    else:
        wants, failures = wanted(platform, graph_for)
    rplan = read_releases(wants, source_for, shard=shard, kubevirt=platform.kubevirt)
    rplan.failures[:0] = failures
    if previous is not None:
        rplan.releases += from_previous(rplan.failures, previous, {p.release.digest for p in rplan.releases})
    assign_jobs(manifest, rplan)
    _attach_signatures(rplan, signatures_for, carried)
    seen = {(j.source, j.ref, j.push_tag) for j in the_plan.jobs}
    the_plan.jobs += [j for j in rplan.jobs if (j.source, j.ref, j.push_tag) not in seen]
    the_plan.sections[PLAN_KEY] = rplan


def _attach_signatures(rplan: ReleasePlan, signatures_for: SignaturesFor | None,
                       carried: list[ReleaseRecord] | None) -> None:
    """Each release's signature files: those an export's report carries, else the store's (a release planned from
    the previous report keeps those it had). A release without any is a warning, not a failure."""
    kept = {r.digest: r.signatures for r in carried or []}
    for p in rplan.releases:
        digest = p.release.digest
        if carried is not None:
            p.signatures = {k: base64.b64decode(v) for k, v in (kept.get(digest) or {}).items()}
        elif signatures_for is not None and not p.signatures:
            try:
                p.signatures = signatures_for(digest)
            except Exception as exc:  # noqa: BLE001
                log.warning("no signatures for release %s (%s): %s", p.release.version, digest, describe(exc))
                continue
        else:
            continue
        if not p.signatures:
            log.warning("the signature store has no signature for release %s (%s): no ConfigMap for it",
                        p.release.version, digest)


def from_previous(failures: list[WantedFailure], previous: Report, planned: set[str]) -> list[PlannedRelease]:
    """The releases an earlier run mirrored that this run's failures leave unplanned: those of a channel whose graph
    could not be read, and a release image (by digest) that could not be read. Their images are planned again from
    the previous report, so a failed run never takes their mirror entries away: if their sources are down too, the
    copies fail and carry-over keeps what the mirrors are confirmed to hold, as for any image."""
    out = []
    for prev in release_records(previous):
        if not (prev.source and prev.digest and prev.mirrorTag) or prev.digest in planned:
            continue
        if not any(_covers(f, prev) for f in failures):
            continue
        images = [i for i in previous.images if i.mirrorTag and i.digest]
        top = next((i for i in images if i.source == prev.source and i.mirrorTag == prev.mirrorTag), None)
        parts = [i for i in images if i.source in prev.componentSources and i.mirrorTag.startswith(prev.mirrorTag + "-")]
        if top is None or len(parts) != prev.components:
            continue  # the earlier run did not record the whole release: nothing to stand on
        components = tuple(Component(i.mirrorTag[len(prev.mirrorTag) + 1:],
                                     parse_repository(i.source).with_digest(i.digest)) for i in parts)
        release = Release(prev.digest, prev.version or "", (), components, prev.architecture == "multi",
                          prev.architecture or "")
        want = Wanted(parse_repository(prev.source).with_digest(prev.digest), prev.channel, prev.architecture)
        planned.add(prev.digest)
        out.append(PlannedRelease(want, release, prev.mirrorTag, arch=prev.architecture or "amd64",
                                  signatures={k: base64.b64decode(v) for k, v in prev.signatures.items()}))
        log.warning("release %s (%s) planned from the previous report: %s", prev.version, prev.digest,
                    next(f.what for f in failures if _covers(f, prev)))
    return out


def _covers(failure: WantedFailure, prev: ReleaseRecord) -> bool:
    if failure.channel is not None:
        return prev.channel == failure.channel and (prev.architecture == failure.arch or failure.arch == "multi")
    return failure.source is not None and failure.source.digest == prev.digest


def records(rplan: ReleasePlan | None, images: list[ImageRecord]) -> list[ReleaseRecord]:
    """One record per release planned (status: the worst of its images) and per release or channel that could
    not be planned (failed, with why)."""
    if rplan is None:
        return []
    by_key = {(i.source, i.digest, i.mirrorTag): i for i in images}
    # an export's layout keeps images by digest alone, so there the mirror tag is not part of the key
    by_digest = {(i.source, i.digest): i for i in images}
    out = []
    for p in rplan.releases:
        got = [by_key.get((j.source.name, j.digest, j.target_tag)) or by_digest.get((j.source.name, j.digest))
               for j in p.jobs]
        statuses = [Status(g.status) if g is not None else Status.FAILED for g in got]
        status = min(statuses, key=_STATUS_ORDER.index) if statuses else Status.FAILED
        errors = [g.error for g in got if g is not None and g.error]
        out.append(ReleaseRecord(
            source=p.source.name, version=p.release.version, digest=p.release.digest, status=status,
            channel=p.wanted.channel, architecture=p.arch, mirrorTag=p.tag, components=len(p.release.components),
            componentSources=sorted({c.image.repo_only().name for c in p.release.components}),
            signatures={k: base64.b64encode(v).decode() for k, v in sorted(p.signatures.items())},
            error=errors[0] if not status.ok and errors else None))
    for f in rplan.failures:
        out.append(ReleaseRecord(source=f.source.repo_only().name if f.source else None, version=None,
                                 digest=f.source.digest if f.source else None, status=Status.FAILED,
                                 error=f"{f.what}: {f.error}"))
    return out


def signature_configmaps(records: list[ReleaseRecord]) -> str:
    """The signature ConfigMaps (one per release with signatures), as YAML documents; empty when there are none."""
    # only records with signatures: a release that could not be read this run is also a failed record of the same
    # digest (without them) beside the one planned from the previous report, and must not replace its signatures
    return signatures_mod.config_maps_yaml(
        {r.digest: {k: base64.b64decode(v) for k, v in r.signatures.items()} for r in records
         if r.digest and r.signatures})


def graph_reader(platform: PlatformSpec, web) -> GraphFor:
    """(channel, arch) -> its graph, from the channel's update service (see ``PlatformSpec.graph_location``)
    through ``web``; an okd channel on OKD's own service asked for an architecture that service does not serve is
    a warning (it answers with no release or an error, which then fails the channel as any graph does). An okd
    channel's graph keeps only the releases whose metadata lists the channel (:func:`graph.only_channel`)."""
    by_name = {c.name: c for c in platform.channels}  # names are unique (the manifest refuses a second one)

    def graph_for(channel: str, arch: str):
        spec = by_name[channel]
        if spec.type == "okd" and spec.update_service is None and arch not in OKD_ARCHITECTURES:
            log.warning("channel %s (okd, %s): OKD's update service serves %s releases only; the channel is "
                        "asked for %s all the same", channel, arch, ", ".join(OKD_ARCHITECTURES), arch)
        got = graph.fetch(platform.graph_location(spec), channel, arch, web=web)
        return graph.only_channel(got) if spec.type == "okd" else got

    return graph_for


def add_from_registries(the_plan: Plan, manifest: SyncManifest, platform: PlatformSpec, source_for: SourceFor,
                        clients, *, shard: Shard | None = None, previous: Report | None = None,
                        signatures: bool = True) -> None:
    """``add_to_plan`` for a run against registries: the graph from the update service (or its file), the releases
    and (``signatures``) their signatures read through the run's ``clients.web`` (registry TLS settings, the run's
    proxies, retries and timeout)."""
    graph_for = graph_reader(platform, clients.web)

    def signatures_for(digest: str) -> dict[str, bytes]:
        return signatures_mod.read(platform.signatures, digest, web=clients.web)

    add_to_plan(the_plan, manifest, platform, source_for, graph_for,
                signatures_for=signatures_for if signatures and platform.signatures else None, shard=shard,
                previous=previous)
