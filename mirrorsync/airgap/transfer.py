"""Across an air gap: export the manifest's images to an OCI layout on disk, import that layout into the mirrors.

Both are the ordinary runner and copy algorithm with an OCI layout standing in for one side: an export reads the
sources and writes the layout (its only target), an import reads the layout and writes the manifest's mirrors, and
the import's report (and so its CRs) names the original source repositories.

An export directory holds the layout (``oci-layout``, ``index.json``, ``blobs/``), a copy of the manifest
(``manifest.yaml``), the export's ``report.json`` and ``SHA256SUMS`` (``sha256sum -c`` format) over all of them.
With an archive size the layout and manifest copy are packed into ``mirrorsync-export-NNNN.tar`` parts of at most
that size each (whole files per part; import unpacks them back into the directory), and ``SHA256SUMS`` lists the
parts as well as the files they hold.

The parts: runners.py (the runner with a layout on one side), chain.py (``--since``), checksums.py, archives.py.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from ..atomicfile import write_atomic
from ..errors import InputError
from ..sync.manifest import Mirror, SyncManifest
from ..pipeline.route import Route
from ..pipeline.runner import Runner
from ..pipeline.sections import load_manifest
from ..sync.report import REPORT_FILE, Report, load as load_report, top_level
from ..sync.status import RunStatus
from .archives import MIN_ARCHIVE_SIZE, PART_RE, pack, parts_in, unpack
from ..sync.engines import Clients
from .chain import EXPORT_KEY, WithEarlierExports, held_at, read_since
from .site_holdings import held_blobs
from .checksums import read_checksums, sums_of, verify_checksums, write_checksums
from .layout import INDEX_FILE, LAYOUT_FILE, OCILayout

MANIFEST_COPY = "manifest.yaml"


@dataclass
class ExportResult:
    report: Report
    directory: Path
    blobs: list[str]  # blob files the layout holds
    since: set[str]  # blobs left out because earlier exports carried them
    archives: list[Path] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        """The size of everything in the export directory."""
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())


def export(manifest: SyncManifest, directory: str | os.PathLike[str], *, options=None,
           since: Iterable[str | os.PathLike[str]] = (), archive_size: int | None = None,
           on_event: Callable = lambda e: None, stop=None, abandon=None) -> ExportResult:
    """Copy the manifest's images into an OCI layout at ``directory`` and write its report and checksums.

    Re-running into the same directory resumes (what is there is not fetched again). Images that fail are in the
    report, as with ``run``; the layout is archived only when the export was not interrupted.
    """
    directory = Path(directory)
    if archive_size is not None and archive_size < MIN_ARCHIVE_SIZE:
        raise InputError(f"{archive_size} bytes is too small for an archive part (at least {MIN_ARCHIVE_SIZE})",
                         field="--archive-size")
    if parts_in(directory):
        raise InputError("already holds an archived export; export into an empty directory", file=str(directory))
    clients = Clients.for_run(manifest, auth_file=getattr(options, "auth_file", None))
    try:
        chain = read_since(since, held=lambda site: held_blobs(manifest, site, clients))
    finally:
        clients.close()
    earlier = chain.blobs
    layout = OCILayout(directory)
    target = WithEarlierExports(layout, earlier) if earlier else layout
    label = f"oci:{directory}"
    # the manifest's mirrors are the layout here; their hosts are reached by the import, not by us
    route = Route(target=target, target_whole=layout if earlier else None,
                  unreached=frozenset(m.registry for m in manifest.mirrors) - manifest.source_hosts())
    runner = Runner(replace(manifest, mirrors=(Mirror(label),)), on_event=on_event, route=route,
                    **_runner_kwargs(options, stop, abandon))
    try:
        report = runner.run()
    finally:
        layout.close()

    copy = directory / MANIFEST_COPY
    if not (copy.exists() and copy.samefile(manifest.file)):
        write_atomic(copy, Path(manifest.file).read_bytes())  # never a half copy on a full disk
    blobs = layout.blob_digests()
    _save_export_report(report, directory, blobs, earlier, chain.serves, chain.held_at)
    payload = _payload_files(directory)
    result = ExportResult(report, directory, blobs, earlier)
    if archive_size is not None and report.status != RunStatus.INTERRUPTED:
        payload_sums = sums_of(directory, payload)  # before packing removes the files
        result.archives = pack(directory, payload, archive_size)
        write_checksums(directory, [REPORT_FILE] + [p.name for p in result.archives], extra=payload_sums)
    else:
        write_checksums(directory, [REPORT_FILE, *payload])
    return result


def _save_export_report(report: Report, directory: Path, blobs: list[str], earlier: set[str],
                        serves: list[dict], held: dict[str, set[str]]) -> None:
    data = report.to_dict()
    # blobBytes: what crosses this boundary, the blob files this export holds
    size = sum((directory / "blobs" / Path(*d.split(":", 1))).stat().st_size for d in blobs)
    data[EXPORT_KEY] = {"blobs": blobs, "since": sorted(earlier - set(blobs)), "blobBytes": size}
    if serves:  # the site (its mirrors) behind the boundary this export is for
        data[EXPORT_KEY]["serves"] = serves
    carried = set(blobs)
    where = {d: sorted(held[d]) for d in sorted(held) if d not in carried and held[d]}
    if where:  # where the site holds what this export left out: the import mounts it from there
        data[EXPORT_KEY]["heldAt"] = where
    write_atomic(directory / REPORT_FILE, json.dumps(data, indent=2) + "\n")


def _payload_files(directory: Path) -> list[str]:
    """The files that make up the layout and the manifest copy, relative to ``directory``, sorted, blobs first."""
    blobs = sorted(str(p.relative_to(directory)) for p in (directory / "blobs").rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    return blobs + [LAYOUT_FILE, INDEX_FILE, MANIFEST_COPY]


def import_export(directory: str | os.PathLike[str], *, manifest_path: str | None = None, options=None,
                  on_event: Callable = lambda e: None, stop=None, abandon=None, icsp: bool = False,
                  require_manifest: bool = False) -> Report:
    """Verify an export's checksums, then copy its images to the mirrors of its manifest (or ``manifest_path``).

    ``icsp``: an ICSP will be written from the result; refuse what it cannot express before copying anything.
    ``require_manifest``: refuse to use the manifest the export carries (``SHA256SUMS`` proves it is intact, not
    who wrote it): ``manifest_path`` must be given.

    Re-running after an interruption finishes the job: what already reached a mirror is not sent again.
    """
    directory = Path(directory)
    if require_manifest and not manifest_path:
        raise InputError("this site requires --manifest (the manifest of this side, not the one the export carries)",
                         field="--require-manifest")
    if not directory.is_dir():
        raise InputError("no such export directory", file=str(directory))
    sums = read_checksums(directory)
    parts = parts_in(directory)
    if parts:
        verify_checksums(directory, {n: h for n, h in sums.items() if PART_RE.match(n) or n == REPORT_FILE})
        unpack(directory, sums)
    verify_checksums(directory, {n: h for n, h in sums.items() if not PART_RE.match(n)})

    earlier: set[str] = set()
    carried = None  # the export's report: what the other side selected (its releases)
    with contextlib.suppress(FileNotFoundError, InputError, ValueError, AttributeError):
        section = top_level(str(directory / REPORT_FILE)).get(EXPORT_KEY) or {}
        earlier = set(section.get("since") or [])
    if (directory / REPORT_FILE).is_file():
        carried = load_report(str(directory / REPORT_FILE))
    m = load_manifest(str(manifest_path) if manifest_path else str(directory / MANIFEST_COPY), reads_sources=False,
                      max_nested_paths=options.max_nested_paths if options is not None else None)
    if icsp:
        m.check_icsp()
    layout = OCILayout(directory, create=False)
    layout.refs()  # index.json read and checked now: a bad entry is bad input, before any mirror is asked
    # the sources are on the other side of the gap: tags, releases and catalogs come from the layout
    route = Route(source=WithEarlierExports(layout, earlier), carried=carried, held_at=held_at(directory),
                  unreached=frozenset(m.source_hosts() - {mirror.registry for mirror in m.mirrors}))
    return Runner(m, on_event=on_event, route=route, **_runner_kwargs(options, stop, abandon)).run()


def _runner_kwargs(options, stop, abandon) -> dict:
    """The runner's optional arguments that were given (``abandon``: set after ``stop``, report images in flight
    as failed and do not wait for them)."""
    given = {"options": options, "stop": stop, "abandon": abandon}
    return {k: v for k, v in given.items() if v is not None}
