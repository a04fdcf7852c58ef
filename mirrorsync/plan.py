"""From a manifest to copy jobs: which source tags and digests go to which mirror repositories."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from .errors import describe
from .manifest import ImageSpec, Mirror, SyncManifest
from .reference import Reference


@dataclass(frozen=True)
class Destination:
    mirror: Mirror
    repository: str  # path below the mirror's host

    @property
    def name(self) -> str:
        return f"{self.mirror.registry}/{self.repository}"


@dataclass(frozen=True)
class CopyJob:
    """One image to copy: a source repository at a tag or digest, to every destination."""

    spec: ImageSpec
    ref: str  # the tag or digest to read from the source
    destinations: tuple[Destination, ...]

    @property
    def source(self) -> Reference:
        return self.spec.source

    @property
    def tag(self) -> str | None:
        return None if ":" in self.ref else self.ref

    @property
    def digest(self) -> str | None:
        return self.ref if ":" in self.ref else None

    def __str__(self) -> str:
        return f"{self.source.name}@{self.ref}" if self.digest else f"{self.source.name}:{self.ref}"


@dataclass(frozen=True)
class PlanFailure:
    """An image entry that could not be planned (its source's tag list could not be read)."""

    spec: ImageSpec
    error: str


@dataclass
class Plan:
    jobs: list[CopyJob] = field(default_factory=list)
    failures: list[PlanFailure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "jobs": [{"source": j.source.name, "tag": j.tag, "digest": j.digest,
                      "destinations": [d.name for d in j.destinations]} for j in self.jobs],
            "failures": [{"source": f.spec.source.name, "error": f.error} for f in self.failures],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def destinations(manifest: SyncManifest, spec: ImageSpec) -> tuple[Destination, ...]:
    return tuple(Destination(m, m.repository(spec.destination)) for m in manifest.mirrors)


def build(manifest: SyncManifest, list_tags: Callable[[Reference], list[str]]) -> Plan:
    """Expand every image entry into jobs; ``list_tags`` is asked only for entries that select from the tag list.

    A source whose tags cannot be listed is a planning failure for that entry alone; the rest are still planned.
    Jobs are unique per (source, tag or digest), in manifest order.
    """
    plan = Plan()
    seen: set[tuple[Reference, str]] = set()
    for spec in manifest.images:
        refs: list[str] = list(spec.tags)
        if spec.lists_tags:
            try:
                available = list_tags(spec.source)
            except Exception as exc:  # noqa: BLE001 - reported per image; the other entries go on
                plan.failures.append(PlanFailure(spec, f"listing tags of {spec.source.name}: {describe(exc)}"))
                available = []
            refs += [t for t in available if spec.selects_tag(t) and t not in refs]
        refs += list(spec.digests)
        dests = destinations(manifest, spec)
        for ref in refs:
            if (spec.source, ref) in seen:
                continue
            seen.add((spec.source, ref))
            plan.jobs.append(CopyJob(spec, ref, dests))
    return plan
