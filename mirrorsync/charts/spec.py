"""The manifest's ``charts`` section: which Helm charts to mirror, from chart repositories (``index.yaml`` over
HTTP(S)), from OCI registries (``oci://host/repo/chart``) or from local directories and ``.tgz`` files.

Names as in oc-mirror's ImageSetConfiguration (``mirror.helm``: ``repositories[]`` of ``name``/``url``/``charts[]``,
``local[]``, ``imagePaths``), with versions selected as image tags are (``version``, ``semver``, ``latest``); see
the README's "Helm charts".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..registry import reference
from ..registry.reference import Reference
from ..sync.manifest import ImageSpec, parse_semver_latest
from ..sync.semver import Range
from ..yamlsource import base_dir, local_path

KEY = "charts"
OCI = "oci://"
_TOP_KEYS = {"repositories", "oci", "local", "namespace"}
_REPOSITORY_KEYS = {"name", "url", "charts"}
_SELECT_KEYS = {"version", "semver", "latest", "values", "imagePaths"}
_CHART_KEYS = {"name"} | _SELECT_KEYS
_OCI_KEYS = {"reference"} | _SELECT_KEYS
_LOCAL_KEYS = {"path", "values", "imagePaths"}


@dataclass(frozen=True)
class Versions:
    """Which versions of a chart: one named, a semver range, the latest N (of the range, if given)."""

    exact: str | None = None
    semver: Range | None = None
    latest: int | None = None

    def as_image_spec(self, source: Reference) -> ImageSpec:
        """The selection as an image entry's, for :mod:`mirrorsync.sync.tag_selection` (tags are versions)."""
        return ImageSpec(source=source, tags=(self.exact,) if self.exact else (), semver=self.semver,
                         latest=self.latest, index=-1)


@dataclass(frozen=True)
class ChartSpec:
    """One chart entry: where it comes from, which versions, and what its images are found with."""

    kind: str  # "repository", "oci" or "local"
    path: tuple  # its place in the manifest, for errors
    name: str = ""  # the chart's name in its repository (repository, oci); a local chart's comes from Chart.yaml
    repository: str = ""  # the repositories[] entry's name (repository)
    url: str = ""  # the chart repository's base URL (repository)
    oci: Reference | None = None  # the OCI repository holding the chart (oci), without tag
    local: str = ""  # the absolute path of the directory or .tgz (local)
    versions: Versions = Versions()
    values: dict = field(default_factory=dict)
    image_paths: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The chart as the report names its source."""
        if self.kind == "oci":
            return OCI + self.oci.name
        if self.kind == "local":
            return self.local
        return f"{self.url.rstrip('/')}/{self.name}"


@dataclass(frozen=True)
class ChartsSpec:
    charts: tuple[ChartSpec, ...]
    namespace: str = ""  # below each mirror: the charts land on <mirror>/<namespace>/<chart name>

    def repository_for(self, chart_name: str) -> str:
        return f"{self.namespace}/{chart_name}" if self.namespace else chart_name


def parse(r, value: Any, manifest_file: str = "") -> ChartsSpec:
    """The ``charts`` mapping, read through the manifest's ``Reader`` (errors at file:line: field); a local
    chart's relative path is relative to the manifest's directory."""
    top = r.mapping(value, (KEY,), _TOP_KEYS)
    namespace = ""
    if "namespace" in top:
        namespace = r.string(top["namespace"], (KEY, "namespace")).strip("/")
        if not reference.is_valid_path(namespace):
            raise r.fail((KEY, "namespace"), f"invalid repository path {namespace!r}: lowercase components "
                                             "separated by '/'")
    charts: list[ChartSpec] = []
    names: dict[str, int] = {}
    for i, repo in enumerate(_list(r, top.get("repositories", []), (KEY, "repositories"))):
        path = (KEY, "repositories", i)
        repo = r.mapping(repo, path, _REPOSITORY_KEYS)
        for key in ("name", "url", "charts"):
            if key not in repo:
                raise r.fail(path, f"{key}: missing")
        name = r.string(repo["name"], path + ("name",))
        if name in names:
            raise r.fail(path + ("name",), f"repositories[{names[name]}] is also named {name!r}")
        names[name] = i
        url = _http_url(r, repo["url"], path + ("url",))
        items = _list(r, repo["charts"], path + ("charts",))
        if not items:
            raise r.fail(path + ("charts",), "must list at least one chart")
        for j, item in enumerate(items):
            cpath = path + ("charts", j)
            item = r.mapping(item, cpath, _CHART_KEYS)
            if "name" not in item:
                raise r.fail(cpath, "name: missing (the chart's name in the repository's index.yaml)")
            charts.append(ChartSpec("repository", cpath, name=r.string(item["name"], cpath + ("name",)),
                                    repository=name, url=url, **_selection(r, item, cpath)))
    for i, item in enumerate(_list(r, top.get("oci", []), (KEY, "oci"))):
        path = (KEY, "oci", i)
        item = r.mapping(item, path, _OCI_KEYS)
        if "reference" not in item:
            raise r.fail(path, "reference: missing (oci://host/repository/chart)")
        text = r.string(item["reference"], path + ("reference",))
        if not text.startswith(OCI):
            raise r.fail(path + ("reference",), f"{text!r}: expected oci://host/repository/chart")
        ref = r.checked(path + ("reference",), reference.parse, text[len(OCI):])
        selection = _selection(r, item, path, tag=ref.tag)
        if ref.digest:
            raise r.fail(path + ("reference",), "give the chart's version (its tag), not a digest")
        charts.append(ChartSpec("oci", path, name=ref.repository.rsplit("/", 1)[-1], oci=ref.repo_only(),
                                **selection))
    base = base_dir(manifest_file)
    for i, item in enumerate(_list(r, top.get("local", []), (KEY, "local"))):
        path = (KEY, "local", i)
        item = r.mapping(item, path, _LOCAL_KEYS)
        if "path" not in item:
            raise r.fail(path, "path: missing (a chart directory or a .tgz, relative to the manifest)")
        local = local_path(base, r.string(item["path"], path + ("path",)))
        charts.append(ChartSpec("local", path, local=local, values=_values(r, item, path),
                                image_paths=_image_paths(r, item, path)))
    if not charts:
        raise r.fail((KEY,), "names no chart: give repositories, oci or local charts")
    return ChartsSpec(tuple(charts), namespace)


def _list(r, value: Any, path: tuple) -> list:
    if not isinstance(value, list):
        raise r.fail(path, f"must be a list, got {type(value).__name__}")
    return value


def _http_url(r, value: Any, path: tuple) -> str:
    url = r.string(value, path)
    parts = urlsplit(url)
    if "@" in parts.netloc:  # never echo the URL: it holds a secret
        raise r.fail(path, "credentials do not go into the URL (it is in logs and reports): log in into an auth file "
                           "and give it with --authfile or registries.<host>.authFile")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise r.fail(path, f"{url!r}: expected the http(s):// URL of a chart repository (the folder of its "
                           "index.yaml)")
    return url.rstrip("/") + "/"


def _selection(r, item: dict, path: tuple, tag: str | None = None) -> dict:
    """``version`` | ``semver`` [+ ``latest``] | ``latest``; none of them: the latest version."""
    exact = r.string(item["version"], path + ("version",)) if "version" in item else None
    if tag is not None:
        if exact is not None:
            raise r.fail(path + ("version",), "the reference names a version (its tag) already")
        exact = tag.replace("_", "+")
    semver, latest = parse_semver_latest(r, item, path, "versions")
    if exact is not None and (semver is not None or latest is not None):
        raise r.fail(path + ("version",), "give a version, or semver/latest, not both")
    if exact is None and semver is None and latest is None:
        latest = 1  # oc-mirror: a chart without a version is its latest
    return {"versions": Versions(exact, semver, latest), "values": _values(r, item, path),
            "image_paths": _image_paths(r, item, path)}


def _values(r, item: dict, path: tuple) -> dict:
    value = item.get("values", {})
    if not isinstance(value, dict):
        raise r.fail(path + ("values",), "must be a mapping (values over the chart's values.yaml)")
    return value


def _image_paths(r, item: dict, path: tuple) -> tuple[str, ...]:
    paths = r.string_list(item.get("imagePaths", []), path + ("imagePaths",))
    for k, p in enumerate(paths):
        if any(not part for part in p.removeprefix(".").split(".")):
            raise r.fail(path + ("imagePaths", k), f"{p!r}: expected a dotted path into the values "
                                                   "(controller.sidecar.image)")
    return tuple(p.removeprefix(".") for p in paths)
