"""The ``charts`` section: Helm charts from chart repositories, OCI registries and local paths, pushed to every
mirror as ``helm push`` stores them, their images copied as ordinary jobs (and so in the IDMS/ITMS), recorded in
the report's ``charts``."""

from __future__ import annotations

import os
from typing import Any

from ..sync.plan import Plan
from ..sync.report import Report
from ..sync.section import FinishContext, PlanContext, Pushed, Section, held_on_mirrors
from . import planning, spec as spec_mod
from .planning import PLAN_KEY, REPORT_KEY, chart_entries, chart_plans
from .spec import ChartsSpec


class ChartsSection(Section):
    key = spec_mod.KEY

    def parse(self, reader, value: Any, manifest_file: str) -> ChartsSpec:
        return spec_mod.parse(reader, value, manifest_file)

    def source_hosts(self, spec: ChartsSpec) -> set[str]:
        return {c.oci.registry for c in spec.charts if c.oci is not None}

    def check_files(self, manifest, spec: ChartsSpec, *, from_layout: bool) -> None:
        for c in spec.charts:
            if c.kind == "local" and not from_layout and not os.path.exists(c.local):
                raise manifest.error(c.path + ("path",), f"{c.local}: no such file or directory")

    def plan(self, spec: ChartsSpec, ctx: PlanContext, the_plan: Plan) -> None:
        # a sharded sync reads and pushes each chart once, in shard 0
        if ctx.shard is None or ctx.shard.index == 0:
            planning.add_to_plan(the_plan, ctx.manifest, spec, ctx)

    def finish(self, spec: ChartsSpec, ctx: FinishContext, the_plan: Plan, report: Report) -> None:
        plans = chart_plans(the_plan)
        if plans:
            report.sections[REPORT_KEY] = planning.finish(plans, report, ctx.mirror_for, ctx.manifest,
                                                          interrupted=ctx.interrupted)

    def read_whole(self, the_plan: Plan) -> set[tuple[str, str]]:
        # the import reads an OCI chart's archive from the layout to find its images
        return {(cp.job.source.name, cp.job.ref) for cp in chart_plans(the_plan) if cp.job is not None}

    def failed(self, report: Report) -> bool:
        return planning.failed(report)

    def problems(self, the_plan: Plan) -> list[str]:
        return [f"error: {cp.error}" for cp in chart_plans(the_plan) if cp.error]

    def protected(self, report: Report, the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
        return planning.protected(report, the_plan)

    def held(self, report: Report) -> list[tuple[str, str, str, str]]:
        """(repository, digest, tag, source) of each chart on every mirror that has it."""
        return held_on_mirrors(chart_entries(report), "source")

    def prunable(self, report: Report, manifest, the_plan: Plan) -> list[Pushed]:
        return planning.prunable(report, manifest, the_plan)

    def kept_pushes(self, report: Report, manifest, the_plan: Plan) -> set[tuple[str, str | None]]:
        return planning.kept_pushes(report, manifest, the_plan)

    def without(self, report: Report, gone: set[tuple[str, str]]) -> None:
        planning.without(report, gone)

    def plan_dict(self, the_plan: Plan) -> dict:
        plans = chart_plans(the_plan)
        return {PLAN_KEY: [cp.to_dict() for cp in plans]} if plans else {}
