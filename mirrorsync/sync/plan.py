"""From a manifest to copy jobs: which source tags and digests go to which mirror repositories."""

from __future__ import annotations

import functools

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..errors import InputError, describe
from ..oci.store import ContentStore
from ..registry import reference
from ..registry.reference import Reference
from .manifest import ImageSpec, Mirror, SyncManifest
from .report import DestinationRecord
from .tag_selection import TagDecision, select


@dataclass(frozen=True)
class Destination:
    mirror: Mirror
    repository: str  # path below the mirror's host
    # the path it would have had without the mirror's depth limit, when that flattened it; None: not flattened
    flattened_from: str | None = None

    @classmethod
    def of(cls, mirror: Mirror, destination: str) -> Destination:
        """Where ``destination`` (an image's path on the mirrors) lands on ``mirror``, flattened to its depth."""
        repository, unflattened = mirror.repository(destination), mirror.unflattened(destination)
        return cls(mirror, repository, unflattened if unflattened != repository else None)

    @functools.cached_property  # one string for every record of the images that land here
    def name(self) -> str:
        return f"{self.mirror.registry}/{self.repository}"

    @property
    def flattened_name(self) -> str | None:
        """The full name it would have had without the depth limit (the report's ``flattenedFrom``), or None."""
        return f"{self.mirror.registry}/{self.flattened_from}" if self.flattened_from else None

    def record(self, status: str, **fields) -> DestinationRecord:
        """Its record in the report (``fields``: the counts and the error)."""
        return DestinationRecord(self.mirror.location, self.name, status, flattenedFrom=self.flattened_name,
                                 **fields)


@dataclass(frozen=True, slots=True)
class CopyJob:
    """One image to copy: a source repository at a tag or digest, to every destination."""

    spec: ImageSpec
    ref: str  # the tag or digest to read from the source
    destinations: tuple[Destination, ...]
    # the tag to push on the mirrors when it is not the source's (a release component, read by digest, is
    # tagged <version>-<arch>-<component> there); None: the source's tag, or by digest only
    target_tag: str | None = None
    # the store the source is read from when it is not the source's registry (an oci:// catalog's layout on disk);
    # None: the registry, or whatever store the route reads every job from
    source_store: ContentStore | None = field(default=None, compare=False)

    @property
    def push_tag(self) -> str | None:
        """The tag the mirrors get: the target tag, else the source's tag (None: by digest only)."""
        return self.target_tag or self.tag

    @property
    def source(self) -> Reference:
        return self.spec.source

    @property
    def tag(self) -> str | None:
        return None if reference.is_digest(self.ref) else self.ref

    @property
    def digest(self) -> str | None:
        return self.ref if reference.is_digest(self.ref) else None

    def __str__(self) -> str:
        return reference.at(self.source.name, self.ref)


@dataclass(frozen=True)
class PlanFailure:
    """An image entry that could not be planned (its source's tag list could not be read)."""

    spec: ImageSpec
    error: str
    section: str = ""  # the key of the section that planned the entry ("": an ``images`` entry)
    interrupted: bool = False  # not planned because the run was told to stop (a signal), not because of an error


class PlanningStopped(Exception):
    """Raised by a source read during planning once the run has been told to stop: the entries not planned yet
    are reported skipped, and the run ends within its stop grace however many sources are left to read."""

    def __init__(self) -> None:
        super().__init__("interrupted before it was planned")


@dataclass(frozen=True)
class TagSelection:
    """Every tag of a source's tag list, taken or left by one image entry, with the reason."""

    spec: ImageSpec
    decisions: tuple[TagDecision, ...]

    def to_dict(self) -> dict:
        return {"source": self.spec.source.name, "entry": self.spec.index,
                "tags": [d.to_dict() for d in self.decisions]}


@dataclass
class Plan:
    jobs: list[CopyJob] = field(default_factory=list)
    failures: list[PlanFailure] = field(default_factory=list)
    selections: list[TagSelection] = field(default_factory=list)
    # what each section of the manifest (mirrorsync.sync.section) planned besides its jobs, by its key
    sections: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, sections: Iterable[Any] = ()) -> dict:
        """What ``plan --output json`` shows; ``sections`` add what they planned (``Section.plan_dict``)."""
        return {
            "jobs": [{"source": j.source.name, "tag": j.tag, "digest": j.digest,
                      "destinations": [d.name for d in j.destinations],
                      **({"mirrorTag": j.target_tag} if j.target_tag else {})} for j in self.jobs],
            "failures": [{"source": f.spec.source.name, "error": f.error} for f in self.failures],
            "selections": [s.to_dict() for s in self.selections],
            **{k: v for s in sections for k, v in s.plan_dict(self).items()},
        }


SHARD_INDEX_ENV = "JOB_COMPLETION_INDEX"  # set by Kubernetes in every pod of an Indexed Job
SHARD_COUNT_ENV = "MIRRORSYNC_SHARD_COUNT"  # the Job's completion count; Kubernetes does not expose it to pods


@dataclass(frozen=True)
class Shard:
    """One of ``count`` deterministic parts of a sync: every source repository belongs to exactly one part."""

    index: int
    count: int

    def takes(self, source: Reference) -> bool:
        """Whether this shard copies ``source``: a stable hash of the repository name, not Python's salted ``hash``."""
        return shard_of(source.name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str, *, field: str = "--shard") -> Shard:
        """``INDEX/COUNT`` with 0 <= INDEX < COUNT."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not m:
            raise InputError(f"{text!r} is not INDEX/COUNT (for example 0/4)", field=field)
        index, count = int(m.group(1)), int(m.group(2))
        if count < 1 or index >= count:
            raise InputError(f"{text!r}: INDEX must be 0..COUNT-1 and COUNT at least 1", field=field)
        return cls(index, count)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Shard | None:
        """The shard of an Indexed Job pod: ``JOB_COMPLETION_INDEX`` of ``MIRRORSYNC_SHARD_COUNT``; None outside one."""
        index, count = environ.get(SHARD_INDEX_ENV), environ.get(SHARD_COUNT_ENV)
        if index is None or count is None:
            return None
        return cls.parse(f"{index}/{count}", field=f"{SHARD_INDEX_ENV}/{SHARD_COUNT_ENV}")


def shard_of(source_name: str, count: int) -> int:
    """Which of ``count`` shards copies the source repository ``source_name`` (same answer on every machine)."""
    return int.from_bytes(hashlib.sha256(source_name.encode()).digest()[:8], "big") % count


def destinations(manifest: SyncManifest, spec: ImageSpec) -> tuple[Destination, ...]:
    return tuple(Destination.of(m, spec.destination) for m in manifest.mirrors)


def check_collisions(jobs: Iterable[CopyJob]) -> None:
    """Refuse, before anything is copied, two source repositories whose mirror repositories a depth limit
    flattened onto one (images, release components, catalogs and their bundles and related images alike):
    one would overwrite the other's tags. Repositories that share a mirror repository unflattened (a release's
    image and its components) are not a collision."""
    landed: dict[str, tuple[str, str]] = {}  # mirror repository -> (unflattened repository, a source landing there)
    for job in jobs:
        for dest in job.destinations:
            unflattened = dest.flattened_name or dest.name
            first = landed.setdefault(dest.name, (unflattened, job.source.name))
            if first[0] != unflattened:
                raise InputError(f"{first[1]} and {job.source.name} both land on {dest.name} laid out by "
                                 f"{dest.mirror.layout()} ({first[0]} and {unflattened}): give one of them "
                                 "another destination, or change the layout", field=f"mirror {dest.mirror.location}")


def image_spec(ref: Reference) -> ImageSpec:
    """An image a section found (a bundle's, a chart's): to its own path on every mirror, in the IDMS (and the
    ITMS when by tag)."""
    return ImageSpec(source=ref.repo_only(), destination=ref.repository,
                     mirror_sets=("digest",) if ref.digest else ("digest", "tag"), index=-1)


def spec_for(listed: dict[Reference, ImageSpec], ref: Reference) -> ImageSpec:
    """The entry a found image is copied under: the manifest's own entry for its repository where it lists one
    (``listed``: source -> entry; one source, one destination, one mirror-set entry), else :func:`image_spec`."""
    return listed.get(ref.repo_only()) or image_spec(ref)


def add_jobs(the_plan: Plan, jobs: Iterable[CopyJob]) -> None:
    """Add ``jobs`` to ``the_plan``, each (source, tag or digest) once, after those it has."""
    seen = {(j.source, j.ref) for j in the_plan.jobs}
    for job in jobs:
        if (job.source, job.ref) not in seen:
            seen.add((job.source, job.ref))
            the_plan.jobs.append(job)


def build(manifest: SyncManifest, list_tags: Callable[[Reference], list[str]], *,
          shard: Shard | None = None, workers: int = 8) -> Plan:
    """Expand every image entry into jobs; ``list_tags`` is asked only for entries that select from the tag list.

    A source whose tags cannot be listed is a planning failure for that entry alone; the rest are still planned.
    Jobs are unique per (source, tag or digest), in manifest order. With ``shard``, only the entries of the source
    repositories that shard takes are planned (and only their tags listed). Tag lists are read up to ``workers``
    at a time (each is a round trip or more to a registry that may be far away), once per source repository.
    """
    specs = [spec for spec in manifest.images if shard is None or shard.takes(spec.source)]
    listed = _list_tags(list(dict.fromkeys(spec.source for spec in specs if spec.lists_tags)), list_tags, workers)
    plan = Plan()
    seen: set[tuple[Reference, str]] = set()
    for spec in specs:
        refs: list[str] = list(spec.tags)
        if spec.lists_tags:
            available = listed[spec.source]
            if isinstance(available, PlanningStopped):
                plan.failures.append(PlanFailure(spec, str(available), interrupted=True))
            elif isinstance(available, Exception):
                text = describe(available)  # a registry's own error already says "listing tags of ..."
                if not text.startswith("listing tags of "):
                    text = f"listing tags of {spec.source.name}: {text}"
                plan.failures.append(PlanFailure(spec, text))
            else:
                decisions = select(spec, available)
                plan.selections.append(TagSelection(spec, tuple(decisions)))
                refs += [d.tag for d in decisions if d.taken and d.tag not in refs]
        refs += list(spec.digests)
        dests = destinations(manifest, spec)
        for ref in refs:
            if (spec.source, ref) in seen:
                continue
            seen.add((spec.source, ref))
            plan.jobs.append(CopyJob(spec, ref, dests))
    return plan


def _list_tags(sources: list[Reference], list_tags: Callable[[Reference], list[str]],
               workers: int) -> dict[Reference, list[str] | Exception]:
    """Each source's tag list, or the exception that listing it raised, read ``workers`` at a time."""

    def one(source: Reference) -> list[str] | Exception:
        try:
            return list_tags(source)
        except Exception as exc:  # noqa: BLE001 - reported per image entry; the other entries go on
            return exc

    if len(sources) <= 1 or workers <= 1:
        return {source: one(source) for source in sources}
    with ThreadPoolExecutor(max_workers=min(workers, len(sources)), thread_name_prefix="tags") as pool:
        return dict(zip(sources, pool.map(one, sources)))
