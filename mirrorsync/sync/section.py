"""What a section of the manifest is to the engine: a part of the manifest with copy jobs of its own.

The images are one section (:mod:`.images`); the OpenShift releases (``platform``) and operator catalogs
(``operators``) are others, living with their domain in :mod:`mirrorsync.openshift`. A section is a value with a
few methods: it reads its part of the manifest, adds copy jobs to a plan, says after the copies what happened (and
what to keep of the previous report when its source is down), and renders its cluster resources and side files
from the report. The engine plans, copies, retries and reports jobs and knows no section by name; the module that
lists the sections and wires a run (:mod:`mirrorsync.pipeline`) sits above all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..oci.store import ContentStore
from ..registry.reference import Reference
from ..yamlsource import Reader
from .engines import Clients
from .manifest import SyncManifest
from .plan import Plan, Shard
from .report import Report

@dataclass(frozen=True)
class Pushed:
    """Something a section itself put on a mirror (a chart artifact, not a copy job's image) that the manifest no
    longer selects there, for ``prune``. ``named``: whether the manifest still names where it came from (a chart
    entry), as the guard against a typo asks of an image's source."""

    source: str
    mirror: str  # the mirror location as the report names it
    repository: str  # host[:port]/path on the mirror
    tag: str
    digest: str
    reason: str
    named: bool = True


SourceFor = Callable[[Reference], tuple[ContentStore, str]]  # a reference -> the store it is read from, and its name there


@dataclass(frozen=True)
class PlanContext:
    """What a section plans with: where content is read from and what the run already knows.

    ``from_layout``/``to_layout``: the run reads its sources from an OCI layout (an import) or writes its targets
    into one (an export) instead of registries; the copy algorithm is the same, but a section may have to plan
    differently (an export carries what the import will read whole; an import learns from the export's report
    what the other side of the gap selected, ``carried``).
    """

    manifest: SyncManifest
    source_for: SourceFor
    list_tags: Callable[[Reference], list[str]]
    clients: Clients | None = None  # the run's registry clients (settings, proxies, retries), where it has them
    shard: Shard | None = None
    previous: Report | None = None  # the previous report in the output directory
    carried: Report | None = None  # an import: the report its export wrote
    from_layout: bool = False
    to_layout: bool = False
    workers: int = 8
    signatures: bool = True  # whether side content that is no mirror content (release signatures) is read too


@dataclass(frozen=True)
class FinishContext:
    """What a section finishes with, after the copies."""

    manifest: SyncManifest
    source_for: SourceFor
    mirror_for: Callable[[str], ContentStore] | None  # host -> the mirror's store; None: the targets are a layout
    previous: Report | None = None
    interrupted: bool = False


class Section:
    """A section of the manifest (see the module's text). Every method has a default that does nothing, so that a
    section names only what it does; the engine calls them in order: ``parse`` (loading), ``check_files`` (before
    anything is read), ``plan``, ``finish``, and from reports ``failed``, ``cluster_files``, ``side_files``."""

    key: str = ""  # its key in the manifest (``platform``), and its place in ``Plan.sections``
    owned_files: tuple[str, ...] = ()  # the file names it may write into cluster-resources/

    def parse(self, reader: Reader, value: Any, manifest_file: str) -> Any:
        """Its part of the manifest, validated (``InputError`` at file:line: field)."""
        raise NotImplementedError

    def source_hosts(self, spec: Any) -> set[str]:
        """The registries it reads from that the manifest names (an update graph names more, once read)."""
        return set()

    def check_files(self, manifest: SyncManifest, spec: Any, *, from_layout: bool) -> None:
        """Local files it reads must be there before a run starts (``InputError``)."""

    def native_only(self, spec: Any) -> tuple[tuple, str] | None:
        """(manifest path, why) of what only the native engine copies (a source that is no registry), else None."""
        return None

    def plan(self, spec: Any, ctx: PlanContext, the_plan: Plan) -> None:
        """Add its copy jobs (and planning failures) to ``the_plan``; keep what it needs later in
        ``the_plan.sections[self.key]``."""

    def finish(self, spec: Any, ctx: FinishContext, the_plan: Plan, report: Report) -> None:
        """After the copies: what happened to its content, into ``report.sections[self.key]``."""

    def failed(self, report: Report) -> bool:
        """Whether the report says some of its content failed (beyond its images, which the engine counts)."""
        return False

    def read_whole(self, the_plan: Plan) -> set[tuple[str, str]]:
        """(source, ref) of images that a reader on the other side of an air gap opens: an export carries them
        whole even where an earlier export did."""
        return set()

    def problems(self, the_plan: Plan) -> list[str]:
        """What could not be planned, as ``verify`` lists it (beyond ``the_plan.failures``)."""
        return []

    def protected(self, report: Report, the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
        """(source, tag or digest) of the report's images that this section may still select but this plan could
        not tell (its source is down), and why: ``prune`` keeps them."""
        return set(), []

    def held(self, report: Report) -> list[tuple[str, str, str, str]]:
        """(mirror repository, digest, tag, source) of what it put on the mirrors besides its images' records
        (a rebuilt catalog), for ``verify``."""
        return []

    def prunable(self, report: Report, manifest: SyncManifest, the_plan: Plan) -> list[Pushed]:
        """What the report says it pushed to the mirrors itself that this plan no longer selects (``prune``)."""
        return []

    def kept_pushes(self, report: Report, manifest: SyncManifest, the_plan: Plan) -> set[tuple[str, str | None]]:
        """(mirror repository, tag) of what it pushes this time, or may (its source is down; tag None: any tag of
        that repository): ``prune`` never deletes those, also when an earlier prune left them to delete."""
        return set()

    def without(self, report: Report, gone: set[tuple[str, str]]) -> None:
        """Drop from ``report.sections`` what it recorded on the mirrors under the (repository, tag) in ``gone``."""

    def plan_dict(self, the_plan: Plan) -> dict:
        """What it adds to ``plan --output json``."""
        return {}

    def cluster_files(self, reports: list[Report]) -> list:
        """Its cluster resources from the reports (objects with ``filename`` and ``text``)."""
        return []

    def side_files(self, reports: list[Report], output_dir: str | Path) -> list[Path]:
        """Files it writes beside the cluster resources (not applied to a cluster)."""
        return []


def mirrors_holding(entry: dict) -> list[tuple[str, str, dict]]:
    """(mirror repository, tag, the ``mirrors[]`` item) of each mirror a section's report entry says holds it
    (the item has a digest; its ``reference`` is ``repository:tag``)."""
    out = []
    for m in entry.get("mirrors") or []:
        if m.get("digest") and m.get("reference"):
            repository, _, tag = str(m["reference"]).rpartition(":")
            out.append((repository, tag, m))
    return out


def held_on_mirrors(entries: list[dict], source_key: str) -> list[tuple[str, str, str, str]]:
    """(repository, digest, tag, source) of what a section's report ``entries`` say they put on a mirror: each
    ``mirrors[]`` item with a digest, under its ``reference`` (``repository:tag``); the source is the entry's
    ``source_key`` (for :meth:`Section.held`)."""
    return [(repository, m["digest"], tag, entry.get(source_key) or "")
            for entry in entries for repository, tag, m in mirrors_holding(entry)]
