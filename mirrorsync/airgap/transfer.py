"""Across an air gap: export the manifest's images to an OCI layout on disk, import that layout into the mirrors.

Both are the ordinary runner and copy algorithm with an OCI layout standing in for one side: an export reads the
sources and writes the layout (its only target), an import reads the layout and writes the manifest's mirrors, and
the import's report (and so its CRs) names the original source repositories.

An export directory holds the layout (``oci-layout``, ``index.json``, ``blobs/``), a copy of the manifest
(``manifest.yaml``), the export's ``report.json`` and ``SHA256SUMS`` (``sha256sum -c`` format) over all of them.
With an archive size the layout and manifest copy are packed into ``mirrorsync-export-NNNN.tar`` parts of at most
that size each (whole files per part; import unpacks them back into the directory), and ``SHA256SUMS`` lists the
parts as well as the files they hold.

The export report carries an extra top-level ``export`` section — ``blobs`` (every blob file this export holds)
and ``since`` (the blobs earlier exports carried, which this one left out) — so that ``--since REPORT`` leaves out
everything any earlier export in the chain carried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..sync import manifest as manifest_mod
from ..sync import plan as plan_mod
from ..sync import report as report_mod
from ..atomicfile import write_atomic
from ..oci.content import Descriptor
from ..sync.copy import Target
from ..sync.engines import Clients, Engine, NativeEngine
from ..errors import InputError, NotFound
from .layout import INDEX_FILE, LAYOUT_FILE, LOCK_FILE, OCILayout
from ..sync.manifest import Mirror, SyncManifest
from ..sync.plan import Destination, Plan
from ..sync.report import Report
from ..sync.runner import REPORT_FILE, Runner

SUMS_FILE = "SHA256SUMS"
MANIFEST_COPY = "manifest.yaml"
PART_PREFIX = "mirrorsync-export-"
PART_RE = re.compile(rf"^{PART_PREFIX}(\d{{4,}})\.tar$")
EXPORT_KEY = "export"
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
MIN_ARCHIVE_SIZE = 1 << 20


# --- the layout seen together with earlier exports -------------------------------------------------------------


class WithEarlierExports:
    """A layout plus the blobs that earlier exports carried (and this one therefore leaves out).

    As an export target it claims those blobs, so the copier skips them; as an import source it explains a blob
    that is missing because an earlier export carried it.
    """

    supports_mount = False

    def __init__(self, layout: OCILayout, earlier: set[str]) -> None:
        self.layout = layout
        self.earlier = earlier

    def __getattr__(self, name: str):
        return getattr(self.layout, name)

    def has_blob(self, repo: str, digest: str) -> bool:
        return digest in self.earlier or self.layout.has_blob(repo, digest)

    @contextlib.contextmanager
    def read_blob(self, repo: str, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        if desc.digest in self.earlier and not self.layout.has_blob(repo, desc.digest):
            raise NotFound(f"blob {desc.digest} is not in {self.layout.describe()}: an earlier export carried it, "
                           "and the mirror does not have it (import the earlier export first)")
        with self.layout.read_blob(repo, desc) as chunks:
            yield chunks


@dataclass(frozen=True)
class LayoutDestination(Destination):
    """A job's place in an export layout, named as skopeo would: ``oci:DIR:quay.io/ns/repo``."""

    @property
    def name(self) -> str:
        return f"{self.mirror.location}:{self.repository}"


# --- runners ---------------------------------------------------------------------------------------------------


@dataclass
class ExportRunner(Runner):
    """The runner with an OCI layout as the single target of every job."""

    target: OCILayout | WithEarlierExports | None = None

    def make_engine(self, clients: Clients) -> Engine:
        label = self.manifest.mirrors[0].location
        return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"),
                            targets_for=lambda job: [Target(self.target, job.source.name, label)])

    def plan(self, clients: Clients) -> Plan:
        the_plan = super().plan(clients)
        mirror = self.manifest.mirrors[0]
        the_plan.jobs = [replace(j, destinations=(LayoutDestination(mirror, j.source.name),)) for j in the_plan.jobs]
        return the_plan


@dataclass
class ImportRunner(Runner):
    """The runner reading every job from an OCI layout instead of its source registry."""

    source: OCILayout | WithEarlierExports | None = None

    def make_engine(self, clients: Clients) -> Engine:
        return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"),
                            source_for=lambda job: (self.source, job.source.name))

    def plan(self, clients: Clients) -> Plan:
        # Tags come from the layout: the sources are on the other side of the gap.
        return plan_mod.build(self.manifest, lambda ref: self.source.list_tags(ref.name), shard=self.options.shard)


# --- export ----------------------------------------------------------------------------------------------------


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


def earlier_blobs(paths: Iterable[str | os.PathLike[str]]) -> set[str]:
    """Every blob the exports behind these reports carried (a report, or an export directory holding one)."""
    out: set[str] = set()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            path = path / REPORT_FILE
        if not path.is_file():
            raise InputError("no such export report", file=str(path), field="--since")
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not a mirrorsync report: {exc}", file=str(path), field="--since") from None
        section = data.get(EXPORT_KEY) if isinstance(data, dict) else None
        if data.get("kind") != report_mod.KIND or not isinstance(section, dict):
            raise InputError("not the report of a mirrorsync export (no export section)", file=str(path),
                             field="--since")
        for key in ("blobs", "since"):
            values = section.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise InputError(f"export.{key} must be a list of digests", file=str(path), field="--since")
            out.update(values)
    return out


def _runner_kwargs(options, stop, abandon) -> dict:
    """The runner's optional arguments that were given (``abandon``: set after ``stop``, report images in flight
    as failed and do not wait for them)."""
    given = {"options": options, "stop": stop, "abandon": abandon}
    return {k: v for k, v in given.items() if v is not None}


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
    if _parts(directory):
        raise InputError("already holds an archived export; export into an empty directory", file=str(directory))
    earlier = earlier_blobs(since)
    layout = OCILayout(directory)
    target = WithEarlierExports(layout, earlier) if earlier else layout
    label = f"oci:{directory}"
    kwargs = _runner_kwargs(options, stop, abandon)
    runner = ExportRunner(replace(manifest, mirrors=(Mirror(label),)), on_event=on_event, target=target, **kwargs)
    try:
        report = runner.run()
    finally:
        layout.close()

    copy = directory / MANIFEST_COPY
    if not (copy.exists() and copy.samefile(manifest.file)):
        shutil.copyfile(manifest.file, copy)
    blobs = layout.blob_digests()
    _save_export_report(report, directory / REPORT_FILE, blobs, earlier)
    payload = _payload_files(directory)
    result = ExportResult(report, directory, blobs, earlier)
    if archive_size is not None and report.status != "Interrupted":
        payload_sums = _sums_of(directory, payload)  # before packing removes the files
        result.archives = pack(directory, payload, archive_size)
        write_checksums(directory, [REPORT_FILE] + [p.name for p in result.archives], extra=payload_sums)
    else:
        write_checksums(directory, [REPORT_FILE, *payload])
    return result


def _save_export_report(report: Report, path: Path, blobs: list[str], earlier: set[str]) -> None:
    data = report.to_dict()
    data[EXPORT_KEY] = {"blobs": blobs, "since": sorted(earlier - set(blobs))}
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def _payload_files(directory: Path) -> list[str]:
    """The files that make up the layout and the manifest copy, relative to ``directory``, sorted, blobs first."""
    blobs = sorted(str(p.relative_to(directory)) for p in (directory / "blobs").rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    return blobs + [LAYOUT_FILE, INDEX_FILE, MANIFEST_COPY]


# --- checksums -------------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sums_of(directory: Path, names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        parts = Path(name).parts
        if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256":
            # a layout blob is written only after its digest was checked, and its name is that digest
            out[name] = parts[2]
        else:
            out[name] = _sha256_file(directory / name)
    return out


def write_checksums(directory: Path, names: Iterable[str], *, extra: dict[str, str] | None = None) -> None:
    """``SHA256SUMS`` in ``sha256sum`` format over ``names`` (plus already known ``extra`` sums)."""
    sums = {**(extra or {}), **_sums_of(directory, names)}
    write_atomic(directory / SUMS_FILE, "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))


def read_checksums(directory: Path) -> dict[str, str]:
    """``SHA256SUMS`` of an export directory as {relative path: hex}."""
    path = directory / SUMS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"no {SUMS_FILE}: not a mirrorsync export directory", file=str(directory)) from None
    sums = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m or m.group(2).startswith("/") or ".." in Path(m.group(2)).parts:
            raise InputError("not a sha256sum line", file=str(path), line=n)
        sums[m.group(2)] = m.group(1)
    return sums


def verify_checksums(directory: Path, sums: dict[str, str], *, workers: int = 4) -> None:
    """Hash every listed file; one ``InputError`` naming what is missing or corrupt (nothing is copied then)."""
    def check(item: tuple[str, str]) -> str | None:
        name, expected = item
        try:
            got = _sha256_file(directory / name)
        except FileNotFoundError:
            return f"{name}: missing"
        return None if got == expected else f"{name}: checksum mismatch"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = [p for p in pool.map(check, sorted(sums.items())) if p]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError(f"export is damaged: {'; '.join(problems[:3])}{more}", file=str(directory / SUMS_FILE))


# --- archives --------------------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``4G``, ``700M``, ``4GB``, ``1.5GiB`` or plain bytes, as ``split -b`` reads sizes: K=1024, KB=1000."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*", text or "", re.IGNORECASE)
    if not m:
        raise InputError(f"{text!r} is not a size (for example 4G, 700M, 25GB)", field="--archive-size")
    number, unit, suffix = float(m.group(1)), m.group(2).upper(), m.group(3).lower()
    if not unit and suffix:
        raise InputError(f"{text!r} is not a size (for example 4G, 700M, 25GB)", field="--archive-size")
    base = 1000 if suffix == "b" else 1024
    return int(number * base ** " KMGT".index(unit or " "))


def _member_size(size: int) -> int:
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


def _archive_size(members: int) -> int:
    # two zero blocks end a tar, and tarfile pads the whole archive to a multiple of RECORDSIZE
    return -(-(members + 2 * _BLOCK) // _RECORD) * _RECORD


def pack(directory: Path, names: list[str], limit: int) -> list[Path]:
    """Pack ``names`` into ``mirrorsync-export-NNNN.tar`` parts of at most ``limit`` bytes; remove the originals.

    Whole files only, in order; a file that cannot fit in a part of its own is an error, and then nothing is
    removed (the layout stays usable as it is).
    """
    groups: list[list[str]] = [[]]
    used = 0
    for name in names:
        size = _member_size((directory / name).stat().st_size)
        if _archive_size(size) > limit:
            raise InputError(f"{name} ({(directory / name).stat().st_size} bytes) does not fit in an archive part "
                             f"of {limit} bytes; choose a larger --archive-size", field="--archive-size")
        if groups[-1] and _archive_size(used + size) > limit:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += size
    parts: list[Path] = []
    for i, group in enumerate(groups, 1):
        part = directory / f"{PART_PREFIX}{i:04d}.tar"
        tmp = directory / f".{part.name}.tmp"
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for name in group:
                info = tar.gettarinfo(directory / name, arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(directory / name, "rb") as f:
                    tar.addfile(info, f)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, part)
        parts.append(part)
    for name in names:
        (directory / name).unlink()
    shutil.rmtree(directory / "blobs", ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (directory / LOCK_FILE).unlink()
    return parts


def _parts(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if PART_RE.match(p.name))


def unpack(directory: Path, sums: dict[str, str]) -> list[Path]:
    """Extract the archive parts back into ``directory`` (files already there at full size are kept: resumable)."""
    parts = _parts(directory)
    for part in parts:
        with tarfile.open(part, "r") as tar:
            for info in tar:
                name = info.name
                if not info.isfile() or name not in sums:
                    raise InputError(f"unexpected member {name!r}", file=str(part))
                dest = directory / name
                if dest.is_file() and dest.stat().st_size == info.size:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(info)
                assert src is not None
                tmp = dest.with_name(f".{dest.name[:16]}.unpack.tmp")
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.replace(tmp, dest)
    return parts


# --- import ----------------------------------------------------------------------------------------------------


def import_export(directory: str | os.PathLike[str], *, manifest_path: str | None = None, options=None,
                  on_event: Callable = lambda e: None, stop=None, abandon=None, icsp: bool = False) -> Report:
    """Verify an export's checksums, then copy its images to the mirrors of its manifest (or ``manifest_path``).

    ``icsp``: an ICSP will be written from the result; refuse what it cannot express before copying anything.

    Re-running after an interruption finishes the job: what already reached a mirror is not sent again.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("no such export directory", file=str(directory))
    sums = read_checksums(directory)
    parts = _parts(directory)
    if parts:
        verify_checksums(directory, {n: h for n, h in sums.items() if PART_RE.match(n) or n == REPORT_FILE})
        unpack(directory, sums)
    verify_checksums(directory, {n: h for n, h in sums.items() if not PART_RE.match(n)})

    earlier: set[str] = set()
    with contextlib.suppress(FileNotFoundError, ValueError, AttributeError):
        section = json.loads((directory / REPORT_FILE).read_text()).get(EXPORT_KEY) or {}
        earlier = set(section.get("since") or [])
    m = manifest_mod.load(str(manifest_path) if manifest_path else str(directory / MANIFEST_COPY))
    if icsp:
        m.check_icsp()
    layout = OCILayout(directory, create=False)
    kwargs = _runner_kwargs(options, stop, abandon)
    runner = ImportRunner(m, on_event=on_event, source=WithEarlierExports(layout, earlier), **kwargs)
    return runner.run()
