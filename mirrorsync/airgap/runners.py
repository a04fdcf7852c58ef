"""The sync runner with an OCI layout standing in for one side: the target of an export, the source of an import."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..sync import plan as plan_mod
from ..sync.copy import Target
from ..sync.engines import Clients, Engine, NativeEngine
from ..sync.plan import Destination, Plan
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

    def make_engine(self, clients: Clients) -> Engine:
        label = self.manifest.mirrors[0].location
        return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"),
                            targets_for=lambda job: [Target(self.target, job.source.name, label)])

    def finish_catalogs(self, the_plan: Plan, report, clients: Clients) -> None:
        # the catalog, its bundles and related images go into the layout; the import filters and rebuilds it
        from ..openshift.catalogs.planning import finish

        report.catalogs = finish(the_plan.catalogs, report, self.catalog_store(clients), None,
                                 interrupted=self.stop.is_set())

    def plan(self, clients: Clients) -> Plan:
        the_plan = self.add_catalogs(plan_mod.build(self.manifest, clients.list_tags, shard=self.options.shard),
                                     clients, by_tag=True)
        mirror = self.manifest.mirrors[0]
        the_plan.jobs = [replace(j, destinations=(LayoutDestination(mirror, j.source.name),)) for j in the_plan.jobs]
        return the_plan


@dataclass
class ImportRunner(Runner):
    """The runner reading every job from an OCI layout instead of its source registry."""

    source: OCILayout | WithEarlierExports | None = None

    def make_engine(self, clients: Clients) -> Engine:
        return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"),
                            source_for=lambda job: (self.source, job.source.name))

    def plan(self, clients: Clients) -> Plan:
        # Tags come from the layout: the sources are on the other side of the gap.
        return self.add_catalogs(plan_mod.build(self.manifest, lambda ref: self.source.list_tags(ref.name),
                                                shard=self.options.shard), clients)

    def catalog_store(self, clients: Clients):
        # catalogs are read from the export too: the import rebuilds them for its mirrors
        return lambda ref: (self.source, ref.name)


def runner_kwargs(options, stop, abandon) -> dict:
    """The runner's optional arguments that were given (``abandon``: set after ``stop``, report images in flight
    as failed and do not wait for them)."""
    given = {"options": options, "stop": stop, "abandon": abandon}
    return {k: v for k, v in given.items() if v is not None}
