"""A chart archive (``.tgz``), read in memory and never extracted: its files, its Chart.yaml and values, and its
subcharts (``charts/*.tgz`` or ``charts/<name>/``); a chart directory packaged as ``helm package`` would.

An archive is refused whole (``ChartError``) before anything of it is used when an entry's path is absolute or
climbs out with ``..``, when an entry is anything but a file or directory (a symlink, a hard link, a device), or
when it holds more than Helm itself reads (its loader's limits: 100 MiB decompressed, 5 MiB per file).
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import tarfile
import zlib
from dataclasses import dataclass, field

import yaml

from ..errors import MirrorsyncError
from ..oci.image_build import tar_entry
from . import helmignore

MAX_ARCHIVE_BYTES = 64 << 20  # the .tgz as read from a repository
MAX_DECOMPRESSED_BYTES = 100 << 20  # Helm's loader.MaxDecompressedChartSize
MAX_FILE_BYTES = 5 << 20  # Helm's loader.MaxDecompressedFileSize
MAX_DEPTH = 5  # subcharts of subcharts


class ChartError(MirrorsyncError):
    """A chart archive that is not one, or that is refused."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass
class Chart:
    """A chart as read from its archive: Chart.yaml, values.yaml, its templates and its subcharts."""

    metadata: dict
    values: dict
    templates: dict[str, str]  # path below templates/ -> text
    subcharts: list[Chart] = field(default_factory=list)
    chart_yaml_mtime: float = 0.0

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def version(self) -> str:
        return str(self.metadata.get("version") or "")

    @property
    def app_version(self) -> str:
        value = self.metadata.get("appVersion")
        return "" if value is None else str(value)


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """The gzip'd ``data`` decompressed, refused past ``limit`` bytes (never more than that held in memory)."""
    z = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = z.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ChartError(f"not a gzip'd chart archive ({exc})") from None
    if len(out) > limit or z.unconsumed_tail:
        raise ChartError(f"the chart archive decompresses to more than {limit >> 20} MiB")
    return out


def files_of(tgz: bytes, budget: list[int] | None = None) -> dict[str, tuple[bytes, float]]:
    """Every file of the archive (path -> (bytes, mtime)), or ``ChartError`` for an archive that is refused.
    ``budget``: the decompressed bytes left to a chart and its subcharts together (taken from here)."""
    budget = budget if budget is not None else [MAX_DECOMPRESSED_BYTES]
    raw = gunzip(tgz, budget[0])
    budget[0] -= len(raw)
    try:
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
        members = tar.getmembers()
    except tarfile.TarError as exc:
        raise ChartError(f"not a chart archive ({exc})") from None
    out: dict[str, tuple[bytes, float]] = {}
    for m in members:
        name = m.name
        parts = name.replace("\\", "/").split("/")
        if name.startswith("/") or posixpath.isabs(name) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise ChartError(f"the chart archive has an entry outside the chart: {name!r}")
        if m.issym() or m.islnk():
            raise ChartError(f"the chart archive has a link: {name!r} -> {m.linkname!r}")
        if m.isdir():
            continue
        if not m.isfile():
            raise ChartError(f"the chart archive has an entry that is no file: {name!r}")
        if m.size > MAX_FILE_BYTES:
            raise ChartError(f"the chart archive's {name!r} is larger than {MAX_FILE_BYTES >> 20} MiB")
        f = tar.extractfile(m)
        out[posixpath.normpath(name)] = (f.read() if f is not None else b"", float(m.mtime))
    return out


def load(tgz: bytes, where: str = "", depth: int = 0, budget: list[int] | None = None) -> Chart:
    """The chart in the archive ``tgz`` (one top directory, as ``helm package`` writes it); its subcharts' archives
    count against the same decompressed-size limit as its own."""
    budget = budget if budget is not None else [MAX_DECOMPRESSED_BYTES]
    files = files_of(tgz, budget)
    tops = {p.split("/", 1)[0] for p in files}
    if len(tops) != 1:
        raise ChartError(f"a chart archive holds one top directory, this one {len(tops)}")
    top = tops.pop()
    return _chart({p[len(top) + 1:]: v for p, v in files.items() if "/" in p}, where or top, depth, budget)


def _yaml(data: bytes, what: str) -> dict:
    try:
        doc = yaml.safe_load(data.decode("utf-8")) if data.strip() else {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ChartError(f"{what} is no YAML: {str(exc).splitlines()[0]}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ChartError(f"{what} is no mapping")
    return doc


def _chart(files: dict[str, tuple[bytes, float]], where: str, depth: int, budget: list[int]) -> Chart:
    if depth > MAX_DEPTH:
        raise ChartError(f"{where}: subcharts nested deeper than {MAX_DEPTH}")
    if "Chart.yaml" not in files:
        raise ChartError(f"{where}: no Chart.yaml")
    data, mtime = files["Chart.yaml"]
    metadata = _yaml(data, f"{where}/Chart.yaml")
    if not metadata.get("name") or not metadata.get("version"):
        raise ChartError(f"{where}/Chart.yaml: name and version are required")
    values = _yaml(files["values.yaml"][0], f"{where}/values.yaml") if "values.yaml" in files else {}
    templates = {p[len("templates/"):]: d.decode("utf-8", "replace") for p, (d, _) in files.items()
                 if p.startswith("templates/")}
    chart = Chart(metadata, values, templates, chart_yaml_mtime=mtime)
    sub_dirs: dict[str, dict[str, tuple[bytes, float]]] = {}
    for p, v in sorted(files.items()):
        if not p.startswith("charts/"):
            continue
        rest = p[len("charts/"):]
        if "/" in rest:
            sub, below = rest.split("/", 1)
            sub_dirs.setdefault(sub, {})[below] = v
        elif rest.endswith(".tgz"):
            try:
                chart.subcharts.append(load(v[0], f"{where}/{p}", depth + 1, budget))
            except ChartError as exc:
                raise ChartError(f"{where}/{p}: {exc}") from None
    for sub, sub_files in sorted(sub_dirs.items()):
        chart.subcharts.append(_chart(sub_files, f"{where}/charts/{sub}", depth + 1, budget))
    return chart


def _ignore_rules(directory: str) -> helmignore.Rules:
    """The directory's ``.helmignore`` (none: Helm's default alone)."""
    path = os.path.join(directory, helmignore.FILENAME)
    text = ""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            text = f.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    try:
        return helmignore.Rules.parse(text, path)
    except ValueError as exc:
        raise ChartError(str(exc)) from None


def package(directory: str) -> bytes:
    """A chart directory as a ``.tgz`` (``<name>/...``, as ``helm package`` lays it out), built reproducibly
    (sorted entries, root-owned, each file's own mtime) so the same directory gives the same bytes. What the
    directory's ``.helmignore`` ignores is left out (Helm's rules, :mod:`.helmignore`); a symlink that is not
    ignored is refused, as in an archive."""
    chart_yaml = os.path.join(directory, "Chart.yaml")
    try:
        with open(chart_yaml, "rb") as f:
            name = str(_yaml(f.read(), chart_yaml).get("name") or "")
    except OSError as exc:
        raise ChartError(f"{directory}: not a chart directory ({exc.strerror or exc})") from None
    if not name or "/" in name:
        raise ChartError(f"{chart_yaml}: no chart name")
    rules = _ignore_rules(directory)
    raw = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, names in os.walk(directory):
            rel_root = os.path.relpath(root, directory).replace(os.sep, "/")
            below = "" if rel_root == "." else rel_root + "/"
            kept_dirs = []
            for d in sorted(dirs):
                if rules.ignore(below + d, True):
                    continue  # skipped whole, as Helm's walk skips an ignored directory
                if os.path.islink(os.path.join(root, d)):
                    raise ChartError(f"{directory}: {below + d} is a link or no file; a chart holds files only")
                kept_dirs.append(d)
            dirs[:] = kept_dirs
            for n in sorted(names):
                full = os.path.join(root, n)
                rel = below + n
                if rules.ignore(rel, False):
                    continue
                if os.path.islink(full) or not os.path.isfile(full):
                    raise ChartError(f"{directory}: {rel} is a link or no file; a chart holds files only")
                with open(full, "rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    raise ChartError(f"{directory}: {rel} is larger than {MAX_FILE_BYTES >> 20} MiB")
                total += len(data)
                if total > MAX_DECOMPRESSED_BYTES:
                    raise ChartError(f"{directory}: more than {MAX_DECOMPRESSED_BYTES >> 20} MiB")
                info = tar_entry(f"{name}/{rel}", tarfile.REGTYPE, 0o644)
                info.mtime = int(os.stat(full).st_mtime)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
