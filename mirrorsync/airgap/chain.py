"""Exports as a chain: ``--since`` leaves out the blobs earlier exports carried, which their reports list.

The export report carries a top-level ``export`` section — ``blobs`` (every blob file this export holds) and
``since`` (the blobs earlier exports carried, which this one left out) — so that ``--since REPORT`` leaves out
everything any earlier export in the chain carried.

``--since`` also takes the last report of the site the export is for (its import's, or a run's): the blobs of
every image that report says is on that site's mirrors are left out (what they are is read from the export's own
sources, ``held``), and the export's report says which mirrors it serves (``export.serves``). So an enterprise
zone exporting for an enclave sends each blob across that boundary once.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from ..errors import InputError, NotFound
from ..oci.content import Descriptor
from ..oci.store import ABSENT, PRESENT, BlobReuse
from ..sync import report as report_mod
from ..sync.report import REPORT_FILE
from .layout import OCILayout

EXPORT_KEY = "export"


class WithEarlierExports:
    """A layout plus the blobs that earlier exports carried (and this one therefore leaves out).

    As an export target it claims those blobs, so the copier skips them; as an import source it explains a blob
    that is missing because an earlier export carried it.
    """

    def __init__(self, layout: OCILayout, earlier: set[str]) -> None:
        self.layout = layout
        self.earlier = earlier

    def __getattr__(self, name: str):
        return getattr(self.layout, name)

    def has_blob(self, repo: str, digest: str) -> bool:
        return digest in self.earlier or self.layout.has_blob(repo, digest)

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        return PRESENT if self.has_blob(repo, digest) else ABSENT

    @contextlib.contextmanager
    def read_blob(self, repo: str, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        if desc.digest in self.earlier and not self.layout.has_blob(repo, desc.digest):
            raise NotFound(f"blob {desc.digest} is not in {self.layout.describe()}: an earlier export carried it, "
                           "and the mirror does not have it (import the earlier export first)")
        with self.layout.read_blob(repo, desc) as chunks:
            yield chunks


@dataclass
class Since:
    """What the ``--since`` reports say is across the boundary already."""

    blobs: set[str] = field(default_factory=set)
    # the sites' reports (not exports): {"report": path, "mirrors": [the mirrors that site's report names]}
    serves: list[dict] = field(default_factory=list)
    # blob -> the site's mirror repositories (host/path) that hold it, from its report (or an earlier export's
    # ``heldAt``): where the import mounts it from
    held_at: dict[str, set[str]] = field(default_factory=dict)

    def add_held(self, held: Mapping[str, Iterable[str]]) -> None:
        for digest, repositories in held.items():
            self.blobs.add(digest)
            self.held_at.setdefault(digest, set()).update(repositories)


def earlier_blobs(paths: Iterable[str | os.PathLike[str]]) -> set[str]:
    """Every blob the exports behind these reports carried (a report, or an export directory holding one)."""
    return read_since(paths).blobs


def read_since(paths: Iterable[str | os.PathLike[str]],
               held: Callable[[report_mod.Report], Mapping[str, Iterable[str]]] | None = None) -> Since:
    """The blobs the exports behind these reports carried; with ``held``, a report that is no export's (a site's
    import or run) counts the blobs ``held`` finds for the images it says are on the site's mirrors (each with the
    repositories there that hold it)."""
    since = Since()
    out = since.blobs
    for p in paths:
        path = Path(p)
        if path.is_dir():
            path = path / REPORT_FILE
        if not path.is_file():
            raise InputError("no such export report", file=str(path), field="--since")
        try:
            data = report_mod.top_level(str(path))  # the images of a site's report are read by ``held``, lazily
        except InputError as exc:
            raise InputError(exc.message, file=str(path), line=exc.line,
                             field="--since") from None
        section = data.get(EXPORT_KEY) if isinstance(data, dict) else None
        if isinstance(data, dict) and data.get("kind") == report_mod.KIND and section is None and held is not None:
            site = report_mod.load(str(path))
            since.add_held(held(site))
            since.serves.append({"report": str(path), "mirrors": list(site.mirrors)})
            continue
        if not isinstance(data, dict) or data.get("kind") != report_mod.KIND or not isinstance(section, dict):
            raise InputError("not the report of a mirrorsync export (no export section)", file=str(path),
                             field="--since")
        for key in ("blobs", "since"):
            values = section.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise InputError(f"export.{key} must be a list of digests", file=str(path), field="--since")
            out.update(values)
        since.add_held(_held_at(section, path))
    return since


def _held_at(section: dict, path: Path) -> dict[str, list[str]]:
    """An export report's ``heldAt``: what the site it served held where (still there for the next export)."""
    value = section.get("heldAt") or {}
    if not isinstance(value, dict) or not all(isinstance(v, list) and all(isinstance(r, str) for r in v)
                                              for v in value.values()):
        raise InputError("export.heldAt must map digests to lists of repositories", file=str(path), field="--since")
    return value


def held_at(directory: Path) -> dict[str, list[str]]:
    """The ``export.heldAt`` of the export in ``directory`` (none when its report has none or cannot be read)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, InputError):
        section = report_mod.top_level(str(directory / REPORT_FILE)).get(EXPORT_KEY) or {}
        return _held_at(section, directory / REPORT_FILE)
    return {}
