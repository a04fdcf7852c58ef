"""The sync runner with an OCI layout standing in for one side: the target of an export, the source of an import."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from ..sync import plan as plan_mod
from ..sync.copy import Target
from ..sync.engines import Clients, Engine, NativeEngine
from ..sync.plan import Destination, Plan
from ..sync.report import ReleaseRecord
from ..sync.runner import Runner
from .chain import WithEarlierExports
from .layout import OCILayout


@dataclass(frozen=True)
class LayoutDestination(Destination):
    """A job's place in an export layout, named as skopeo would: ``oci:DIR:quay.io/ns/repo``."""

    @property
    def name(self) -> str:
        return f"{self.mirror.location}:{self.repository}"


@dataclass
class ExportRunner(Runner):
    """The runner with an OCI layout as the single target of every job."""

    target: OCILayout | WithEarlierExports | None = None
    catalogs_by_tag: ClassVar[bool] = True  # the import reads each catalog by its tag from the layout
    # (source, ref) of the release images and catalog images: the import reads their layers and config to plan
    # the releases and to filter and rebuild the catalogs, before it knows where on a mirror they would be, so an
    # export carries them whole even where an earlier export (--since) did
    read_by_import: set[tuple[str, str]] = field(default_factory=set)
    # the hosts of the manifest's mirrors (its ``mirrors`` are the layout here): reached by the import, not by us
    mirror_hosts: frozenset[str] = frozenset()

    def other_side(self) -> set[str]:
        return set(self.mirror_hosts) - self.manifest.source_hosts()

    def make_engine(self, clients: Clients) -> Engine:
        label = self.manifest.mirrors[0].location

        def targets_for(job):
            whole = isinstance(self.target, WithEarlierExports) and (job.source.name, job.ref) in self.read_by_import
            return [Target(self.target.layout if whole else self.target, job.source.name, label)]

        return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"), targets_for=targets_for)

    def finish_catalogs(self, the_plan: Plan, report, clients: Clients) -> None:
        # the catalog, its bundles and related images go into the layout; the import filters and rebuilds it
        from ..openshift.catalogs.planning import finish

        report.catalogs = finish(the_plan.catalogs, report, self.catalog_store(clients), None,
                                 interrupted=self.stop.is_set())

    def plan(self, clients: Clients) -> Plan:
        the_plan = super().plan(clients)
        mirror = self.manifest.mirrors[0]
        if the_plan.releases is not None:
            self.read_by_import |= {(p.jobs[-1].source.name, p.jobs[-1].ref) for p in the_plan.releases.releases
                                    if p.jobs}
        self.read_by_import |= {(c.job.source.name, c.job.ref) for c in the_plan.catalogs if c.error is None}
        # A release component's mirror tag is for the mirrors: the layout keeps it by digest (once, however many
        # releases name it), the import tags it.
        jobs = {}
        for j in the_plan.jobs:
            j = replace(j, destinations=(LayoutDestination(mirror, j.source.name),), target_tag=None)
            jobs.setdefault((j.source, j.ref), j)
        the_plan.jobs = list(jobs.values())
        return the_plan


@dataclass
class ImportRunner(Runner):
    """The runner reading every job from an OCI layout instead of its source registry."""

    source: OCILayout | WithEarlierExports | None = None
    releases: list[ReleaseRecord] | None = None  # the releases the export's report lists
    reads_platform_files: ClassVar[bool] = False

    def other_side(self) -> set[str]:
        return self.manifest.source_hosts() - {m.registry for m in self.manifest.mirrors}

    def make_engine(self, clients: Clients) -> Engine:
        return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"),
                            source_for=lambda job: (self.source, job.source.name))

    def plan(self, clients: Clients) -> Plan:
        # Tags come from the layout: the sources are on the other side of the gap.
        the_plan = plan_mod.build(self.manifest, lambda ref: self.source.list_tags(ref.name), shard=self.options.shard)
        if self.manifest.platform is not None:
            # and so do the releases: which ones, from the export's report (no update service here), what they
            # name, from the release images in the layout
            from ..openshift.releases.planning import add_to_plan  # noqa: PLC0415

            # (a release the layout cannot give is planned from the previous report, as a run does, so an import
            # that fails it does not take away what an earlier import mirrored)
            add_to_plan(the_plan, self.manifest, lambda ref: (self.source, ref.name), _no_graph,
                        carried=self.releases or [], shard=self.options.shard, previous=self._previous)
        return self.add_catalogs(the_plan, clients)

    def catalog_store(self, clients: Clients):
        # catalogs are read from the export too: the import rebuilds them for its mirrors
        return lambda ref: (self.source, ref.name)


def _no_graph(channel: str, arch: str):
    raise AssertionError("an import plans the releases its export lists, never from the graph")


def runner_kwargs(options, stop, abandon) -> dict:
    """The runner's optional arguments that were given (``abandon``: set after ``stop``, report images in flight
    as failed and do not wait for them)."""
    given = {"options": options, "stop": stop, "abandon": abandon}
    return {k: v for k, v in given.items() if v is not None}
