"""The ``images`` section: source repositories, the tags and digests taken of each, one copy job per image."""

from __future__ import annotations

from typing import Any

from .plan import Plan, build
from .section import PlanContext, Section


class ImagesSection(Section):
    """The manifest's own section (its ``images``, read with the rest of the manifest): always planned first."""

    key = "images"

    def plan(self, spec: Any, ctx: PlanContext, the_plan: Plan) -> None:
        planned = build(ctx.manifest, ctx.list_tags, shard=ctx.shard, workers=ctx.workers)
        the_plan.jobs += planned.jobs
        the_plan.failures += planned.failures
        the_plan.selections += planned.selections
