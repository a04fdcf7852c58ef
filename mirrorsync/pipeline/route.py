"""Where a run reads and writes, as a value: registries by default, or an OCI layout on one side of an air gap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..oci.store import ContentStore
from ..sync.plan import Destination
from ..sync.report import Report


@dataclass(frozen=True)
class Route:
    """By default every job is read from its source registry and written to its mirrors. An export writes every
    job into a layout instead (``target``), an import reads every job from one (``source``): the same run, the
    same copy algorithm, other stores."""

    source: ContentStore | None = None  # every job is read from here, by its source repository's name
    target: ContentStore | None = None  # every job is written here, under its source repository's name
    # what the other side of the gap opens to plan (release and catalog images) goes here whole, even where
    # ``target`` leaves out what earlier exports carried; None: ``target``
    target_whole: ContentStore | None = None
    # hosts the manifest names that this run never reaches (across the gap): their auth files and certificate
    # directories need not exist here
    unreached: frozenset[str] = frozenset()
    carried: Report | None = None  # an import: the report its export wrote (the releases selected there)
    # an import of an export made --since a site's report: blob digest -> the mirror repositories (host/path) that
    # report says hold it, to mount it from into a repository that lacks it (the export left it out)
    held_at: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def from_layout(self) -> bool:
        return self.source is not None

    @property
    def to_layout(self) -> bool:
        return self.target is not None


@dataclass(frozen=True)
class LayoutDestination(Destination):
    """A job's place in an export layout, named as skopeo would: ``oci:DIR:quay.io/ns/repo``."""

    @property
    def name(self) -> str:
        return f"{self.mirror.location}:{self.repository}"
