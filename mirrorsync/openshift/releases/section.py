"""The ``platform`` section: OpenShift releases, planned from the update graph (or named directly), copied as
ordinary jobs, recorded in the report's ``releases``, with their signature ConfigMaps and install-config block;
with ``graph``, the update-graph data image built after the copies and its UpdateService (:mod:`.graph_image`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...sync.plan import Plan
from ...sync.report import Report
from ...sync.status import OK_STATUSES
from ...sync.section import FinishContext, PlanContext, Section, held_on_mirrors
from . import graph_image, outputs, served, spec as spec_mod
from .planning import PLAN_KEY, add_from_registries, add_to_plan, records
from .records import REPORT_KEY, release_records
from .signatures import FILENAME as SIGNATURES_FILENAME
from .spec import PlatformSpec


class ReleasesSection(Section):
    key = PLAN_KEY
    owned_files = (SIGNATURES_FILENAME,)

    def parse(self, reader, value: Any, manifest_file: str) -> PlatformSpec:
        return spec_mod.parse(reader, value, manifest_file)

    def source_hosts(self, spec: PlatformSpec) -> set[str]:
        return {ref.registry for ref in spec.releases} | ({spec.graph.base_image.registry} if spec.graph else set())

    def check_files(self, manifest, spec: PlatformSpec, *, from_layout: bool) -> None:
        # an import takes the releases and their signatures from its export's report: the graph file and the
        # signature store are on the other side of the gap
        if not from_layout:
            spec_mod.check_paths(manifest, spec)

    def plan(self, spec: PlatformSpec, ctx: PlanContext, the_plan: Plan) -> None:
        if ctx.from_layout:
            # which releases, from the export's report (no update service here); what they name, from the
            # release images in the layout. A release the layout cannot give is planned from the previous report,
            # as a run does, so an import that fails it does not take away what an earlier import mirrored.
            carried = ([r for r in release_records(ctx.carried) if r.source and r.digest]
                       if ctx.carried is not None else [])
            add_to_plan(the_plan, ctx.manifest, spec, ctx.source_for, _no_graph, carried=carried, shard=ctx.shard,
                        previous=ctx.previous)
            # the graph data came across in the export's report, the base image in the layout: built here offline
            if spec.graph is not None and (ctx.shard is None or ctx.shard.index == 0):
                data, base_digest = graph_image.carried_data(ctx.manifest, ctx.carried)
                graph_image.add_to_plan(the_plan, ctx.manifest, spec.graph, ctx.source_for, data,
                                        base_digest=base_digest)
        else:
            add_from_registries(the_plan, ctx.manifest, spec, ctx.source_for, ctx.clients, shard=ctx.shard,
                                previous=ctx.previous, signatures=ctx.signatures)
            # one shard builds the graph-data image, as one builds each catalog
            if spec.graph is not None and (ctx.shard is None or ctx.shard.index == 0):
                data = graph_image.read_data(spec.graph, ctx.manifest, ctx.clients.web)
                graph_image.add_to_plan(the_plan, ctx.manifest, spec.graph, ctx.source_for, data)

    def finish(self, spec: PlatformSpec, ctx: FinishContext, the_plan: Plan, report: Report) -> None:
        rplan = the_plan.sections.get(PLAN_KEY)
        if rplan is not None:
            report.sections[REPORT_KEY] = records(rplan, report.images)
        gp = the_plan.sections.get(graph_image.PLAN_KEY)
        if gp is not None:
            entry = graph_image.finish(gp, report, ctx.source_for, ctx.mirror_for)
            report.sections[graph_image.REPORT_KEY] = [graph_image.keep_previous(entry, ctx.previous)]

    def failed(self, report: Report) -> bool:
        return any(r.status not in OK_STATUSES for r in release_records(report)) or graph_image.failed(report)

    def read_whole(self, the_plan: Plan) -> set[tuple[str, str]]:
        # the import reads each release image's layers and config to plan the release, and the graph image's base
        # config to build over it
        rplan = the_plan.sections.get(PLAN_KEY)
        gp = the_plan.sections.get(graph_image.PLAN_KEY)
        whole = {(gp.job.source.name, gp.job.ref)} if gp is not None else set()
        if rplan is None:
            return whole
        return whole | {(p.jobs[-1].source.name, p.jobs[-1].ref) for p in rplan.releases if p.jobs}

    def problems(self, the_plan: Plan) -> list[str]:
        rplan = the_plan.sections.get(PLAN_KEY)
        return [f"error: {f.what}: {f.error}" for f in rplan.failures] if rplan is not None else []

    def protected(self, report: Report, the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
        # every release image and component, when a channel's graph or a release image could not be read
        rplan = the_plan.sections.get(PLAN_KEY)
        if rplan is None or not rplan.failures:
            return set(), []
        keep = {(i.source, i.tag or i.digest) for i in report.images if i.mirrorTag and (i.tag or i.digest)}
        return keep, [f"every release image and component: {f.what} could not be read ({f.error})"
                      for f in rplan.failures]

    def held(self, report: Report) -> list[tuple[str, str, str, str]]:
        """(repository, digest, tag, base image) of the graph-data image on every mirror that has it."""
        return held_on_mirrors(graph_image.entries(report), "baseImage")

    def plan_dict(self, the_plan: Plan) -> dict:
        # the graph an update service over the mirrored releases serves; with graph, the graph-data image beside
        # the releases the OSUS will find in release-images (the nodes of that graph), as it names them
        rplan = the_plan.sections.get(PLAN_KEY)
        out = {served.KEY: served.served_graph(rplan)} if rplan is not None and rplan.releases else {}
        gp = the_plan.sections.get(graph_image.PLAN_KEY)
        if gp is None:
            return out
        nodes = sorted({(p.release.version, p.arch) for p in rplan.releases} if rplan is not None else set())
        return {**out, graph_image.REPORT_KEY: [{**gp.to_dict(),
                                                 "releases": [{"version": v, "architecture": a} for v, a in nodes]}]}

    def cluster_files(self, reports: list[Report]) -> list:
        return outputs.cluster_files(reports)

    def side_files(self, reports: list[Report], output_dir: str | Path) -> list[Path]:
        return outputs.write_beside(reports, output_dir)


def _no_graph(channel: str, arch: str):
    raise AssertionError("an import plans the releases its export lists, never from the graph")
