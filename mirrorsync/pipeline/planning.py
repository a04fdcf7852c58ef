"""Planning a run, written once: every section of the manifest adds its jobs, for ``run``, ``export``,
``import``, ``verify`` and ``prune`` alike; the route says where content is read from and written to."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable

from ..oci.store import ContentStore
from ..registry.reference import Reference
from ..sync.engines import Clients
from ..sync.manifest import SyncManifest
from ..sync.plan import Plan, PlanningStopped, Shard, check_collisions
from ..sync.report import Report
from ..sync.section import PlanContext, Section
from . import source_mirrors
from .route import LayoutDestination, Route
from .sections import IMAGES


def sections_of(manifest: SyncManifest) -> list[tuple[Section, object]]:
    """The sections the manifest gives, the images first, each with its spec."""
    return [(IMAGES, manifest.images), *manifest.present_sections()]


def context(manifest: SyncManifest, clients: Clients | None, route: Route, *, shard: Shard | None = None,
            previous: Report | None = None, workers: int = 8, signatures: bool = True,
            stop: threading.Event | None = None, through_mirrors: ContentStore | None = None) -> PlanContext:
    """What the sections plan with: the route's stores, or the registries through ``clients`` (through the
    manifest's ``sourceMirrors`` when it names them: ``through_mirrors``, or one made here). Once ``stop`` is
    set, listing a tag list raises ``PlanningStopped`` instead of reading it."""
    if route.source is None and clients is not None and through_mirrors is None:
        through_mirrors = source_mirrors.reader(manifest, clients)
    by_name = route.source if route.source is not None else through_mirrors
    if by_name is not None:  # a store whose repositories are the sources' names
        source_for = lambda ref: (by_name, ref.name)  # noqa: E731
        list_tags = lambda ref: by_name.list_tags(ref.name)  # noqa: E731
    else:
        source_for = lambda ref: (clients.get(ref.registry), ref.repository)  # noqa: E731
        list_tags = clients.list_tags
    if stop is not None:
        list_tags = _unless_stopped(list_tags, stop)
    return PlanContext(manifest, source_for, list_tags, clients=clients, shard=shard, previous=previous,
                       carried=route.carried, from_layout=route.from_layout, to_layout=route.to_layout,
                       workers=workers, signatures=signatures)


def _unless_stopped(list_tags: Callable[[Reference], list[str]],
                    stop: threading.Event) -> Callable[[Reference], list[str]]:
    def guarded(ref: Reference) -> list[str]:
        if stop.is_set():
            raise PlanningStopped()
        return list_tags(ref)
    return guarded


def plan(manifest: SyncManifest, ctx: PlanContext) -> Plan:
    """Every section's jobs. Into a layout, each image once, by its source name, and by digest where the mirrors
    would tag it: a release component's mirror tag is for the mirrors, the import tags it."""
    the_plan = Plan()
    for section, spec in sections_of(manifest):
        section.plan(spec, ctx, the_plan)
    if ctx.to_layout:
        mirror = manifest.mirrors[0]
        jobs = {}
        for j in the_plan.jobs:
            j = replace(j, destinations=(LayoutDestination(mirror, j.source.name),), target_tag=None)
            jobs.setdefault((j.source, j.ref), j)
        the_plan.jobs = list(jobs.values())
    else:
        check_collisions(the_plan.jobs)
    return the_plan


def plan_from_registries(manifest: SyncManifest, clients: Clients, *, signatures: bool = True) -> Plan:
    """What the manifest selects now, read from the registries (``verify``, ``prune``)."""
    return plan(manifest, context(manifest, clients, Route(), signatures=signatures))
