"""Helm chart archives built in a test (``helm package``'s layout: ``<name>/Chart.yaml``, ``values.yaml``,
``templates/``, ``charts/<dependency>.tgz``), and a chart repository serving them over HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import yaml

from devtools.loopback_http import AnsweringHTTPServer


def tgz(files: dict[str, bytes | str], *, links: dict[str, str] | None = None, hardlinks: dict[str, str] | None = None,
        mtime: int = 1_700_000_000) -> bytes:
    """A gzip'd tar of ``files`` (path -> content), with symlinks/hard links ``links`` (path -> target)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))
        for kind, table in ((tarfile.SYMTYPE, links or {}), (tarfile.LNKTYPE, hardlinks or {})):
            for path, target in table.items():
                info = tarfile.TarInfo(path)
                info.type, info.linkname, info.mtime = kind, target, mtime
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def chart(name: str, version: str, *, values: dict | None = None, templates: dict[str, str] | None = None,
          subcharts: tuple[bytes, ...] = (), app_version: str | None = "1.0.0", extra: dict | None = None,
          dependencies: list | None = None) -> bytes:
    """A chart archive: Chart.yaml (apiVersion v2), values.yaml, templates, subchart archives in charts/."""
    meta = {"apiVersion": "v2", "name": name, "version": version, "description": f"the {name} chart"}
    if app_version is not None:
        meta["appVersion"] = app_version
    if dependencies:
        meta["dependencies"] = dependencies
    meta.update(extra or {})
    files: dict[str, bytes | str] = {f"{name}/Chart.yaml": yaml.safe_dump(meta, sort_keys=False),
                                     f"{name}/values.yaml": yaml.safe_dump(values or {})}
    for path, text in (templates or {}).items():
        files[f"{name}/templates/{path}"] = text
    for sub in subcharts:
        sub_name = _name_of(sub)
        files[f"{name}/charts/{sub_name}.tgz"] = sub
    return tgz(files)


def _name_of(archive: bytes) -> str:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        return tar.getnames()[0].split("/")[0]


def index_yaml(charts: list[tuple[str, str, bytes]], *, url_prefix: str = "") -> bytes:
    """A repository index for (name, version, archive) with relative URLs ``<name>-<version>.tgz``."""
    entries: dict[str, list] = {}
    for name, version, data in charts:
        entries.setdefault(name, []).append({
            "apiVersion": "v2", "name": name, "version": version, "created": "2024-01-02T03:04:05Z",
            "digest": hashlib.sha256(data).hexdigest(), "urls": [f"{url_prefix}{name}-{version}.tgz"]})
    return yaml.safe_dump({"apiVersion": "v1", "entries": entries, "generated": "2024-01-02T03:04:05Z"}).encode()


class ChartRepoServer(AnsweringHTTPServer):
    """``GET /<path>`` answers ``files[path]`` (404 otherwise); ``requests`` lists (path, Authorization header)."""

    thread_name = "chart-repo-server"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"{self.origin}/"

    def answer(self, path: str, headers) -> tuple[int, str, bytes]:
        path = path.lstrip("/")
        self.requests.append((path, headers.get("Authorization")))
        body = self.files.get(path)
        return (200, "application/octet-stream", body) if body is not None else (404, "text/plain", b"not found")
