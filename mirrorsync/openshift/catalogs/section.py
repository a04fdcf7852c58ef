"""The ``operators`` section: operator catalogs, filtered, their bundle and related images copied as ordinary
jobs, each catalog rebuilt and pushed after the copies, recorded in the report's ``catalogs``, with a
CatalogSource and ClusterCatalog per catalog."""

from __future__ import annotations

from typing import Any

from ...sync.plan import Plan
from ...sync.report import Report
from ...sync.section import FinishContext, PlanContext, Section, held_on_mirrors
from . import resources
from .planning import (PLAN_KEY, REPORT_KEY, add_to_plan, catalog_entries, catalog_plans, finish, keep_previous,
                       recorded_images)
from .spec import OperatorCatalogSpec, parse_operators


class CatalogsSection(Section):
    key = PLAN_KEY
    owned_files = resources.FILES

    def parse(self, reader, value: Any, manifest_file: str) -> tuple[OperatorCatalogSpec, ...]:
        return parse_operators(reader, value, manifest_file)

    def source_hosts(self, spec: tuple[OperatorCatalogSpec, ...]) -> set[str]:
        return {op.catalog.registry for op in spec if op.layout is None}

    def check_files(self, manifest, spec: tuple[OperatorCatalogSpec, ...], *, from_layout: bool) -> None:
        # an import reads oci:// catalogs from the export's layout, which carried them by name
        for op in spec:
            if op.layout is not None and not from_layout:
                op.layout_store().check()

    def native_only(self, spec: tuple[OperatorCatalogSpec, ...]) -> tuple[tuple, str] | None:
        for op in spec:
            if op.layout is not None:
                return op.path + ("catalog",), "an oci:// catalog is read from its layout by the native engine"
        return None

    def plan(self, spec: tuple[OperatorCatalogSpec, ...], ctx: PlanContext, the_plan: Plan) -> None:
        # a sharded sync reads and rebuilds each catalog once, in shard 0; an export copies each catalog by its
        # tag, so that the import finds it by the name the manifest gives
        if ctx.shard is None or ctx.shard.index == 0:
            add_to_plan(the_plan, ctx.manifest, spec, ctx.source_for, by_tag=ctx.to_layout,
                        from_layout=ctx.from_layout)

    def finish(self, spec: tuple[OperatorCatalogSpec, ...], ctx: FinishContext, the_plan: Plan,
               report: Report) -> None:
        plans = catalog_plans(the_plan)
        if not plans:
            return
        # into an export, the catalog, its bundles and related images go into the layout as they are; the
        # import filters and rebuilds it for its mirrors
        report.sections[REPORT_KEY] = finish(plans, report, ctx.source_for, ctx.mirror_for,
                                             interrupted=ctx.interrupted)
        if ctx.mirror_for is not None:
            keep_previous(report, ctx.previous, ctx.manifest)

    def read_whole(self, the_plan: Plan) -> set[tuple[str, str]]:
        # the import reads each catalog image's layers and config to filter and rebuild it
        return {(c.job.source.name, c.job.ref) for c in catalog_plans(the_plan) if c.error is None}

    def held(self, report: Report) -> list[tuple[str, str, str, str]]:
        """(repository, digest, tag, source) of each rebuilt catalog, under its tag on every mirror that has it."""
        return held_on_mirrors(catalog_entries(report), "catalog")

    def protected(self, report: Report, the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
        # every image a catalog that could not be read kept in the previous run
        keep: set[tuple[str, str]] = set()
        why: list[str] = []
        previous = {c.get("catalog"): c for c in catalog_entries(report)}
        for cp in catalog_plans(the_plan):
            if cp.error is None:
                continue
            why.append(f"every image of catalog {cp.spec.name}: {cp.error}")
            entry = previous.get(cp.spec.name) or {}
            if entry.get("sourceDigest"):
                keep.add((cp.job.source.name, entry["sourceDigest"]))
            keep |= {(ref.repo_only().name, ref.digest or ref.tag or "latest") for ref in recorded_images(entry)}
        return keep, why

    def cluster_files(self, reports: list[Report]) -> list:
        return resources.render([c for r in reports for c in catalog_entries(r)])

    def plan_dict(self, the_plan: Plan) -> dict:
        plans = catalog_plans(the_plan)
        return {REPORT_KEY: [c.to_dict() for c in plans]} if plans else {}
