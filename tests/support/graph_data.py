"""A stand-in for the update-graph data tarball (laid out as cincinnati-graph-data: channels/, blocked-edges/, a
script and a relative link, with the modes the repository has) and a base image to build on, for the graph-data
image's tests."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from devtools.loopback_http import AnsweringHTTPServer
from devtools.openshift import base_layer
from devtools.samples import OCI_CONFIG, Blob, Platform, SamplePusher, make_index, make_manifest

# path -> (mode, contents); None: a directory
GRAPH_FILES: dict[str, tuple[int, bytes | None]] = {
    "channels": (0o755, None),
    "channels/stable-4.15.yaml": (0o644, b"name: stable-4.15\nversions:\n- 4.15.0\n- 4.15.1\n"),
    "channels/fast-4.15.yaml": (0o644, b"name: fast-4.15\nversions:\n- 4.15.1\n"),
    "blocked-edges": (0o755, None),
    "blocked-edges/4.15.1-etcd.yaml": (0o644, b"to: 4.15.1\nfrom: 4\\.14\\..*\n"),
    "hack": (0o750, None),
    "hack/check.sh": (0o755, b"#!/bin/sh\nexit 0\n"),
    "version": (0o600, b"1\n"),
}
LINKS = {"channels/stable.yaml": "stable-4.15.yaml"}


def tarball(files=GRAPH_FILES, links=LINKS, *, prefix: str = "", extra=()) -> bytes:
    """The tar.gz, entries in the order given (not sorted: the image's layer must sort them), with the owner and
    time stamps a checkout has (not root's, not 0); ``extra``: further TarInfo, data pairs (hostile members)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, (mode, data) in reversed(list(files.items())):
            info = tarfile.TarInfo(prefix + path)
            info.mode, info.mtime, info.uid, info.gid, info.uname = mode, 1_700_000_000, 1000, 1000, "dev"
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for path, target in links.items():
            info = tarfile.TarInfo(prefix + path)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 1_700_000_000
            tar.addfile(info)
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=1_700_000_000)


def push_base(pusher: SamplePusher, repository: str, tag: str, arches=("amd64", "arm64")) -> dict:
    """A multi-arch base image (a stand-in bin/ and tmp/, Cmd /bin/bash, as ubi9's); returns
    {"digest", "children": {arch: (manifest digest, [layer digests])}}."""
    children, out = [], {}
    for arch in arches:
        platform = Platform.parse(arch)
        layer, diff_id = base_layer(f"bash for {platform}".encode())
        config = Blob(OCI_CONFIG, json.dumps({
            "architecture": platform.architecture, "os": platform.os,
            "config": {"Cmd": ["/bin/bash"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "history": [{"created_by": "base"}]}).encode())
        pusher.push_blob(repository, layer)
        pusher.push_blob(repository, config)
        manifest = make_manifest(config, [layer])
        pusher.push_manifest(repository, manifest.digest, manifest)
        children.append((manifest, platform))
        out[platform.architecture] = (manifest.digest, [layer.digest])
    top = make_index(children)
    pusher.push_manifest(repository, tag, top)
    return {"digest": top.digest, "children": out}


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    """One further member for ``tarball(extra=...)``: a hostile one, say."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, b"" if kind == tarfile.REGTYPE else None


class GraphDataServer(AnsweringHTTPServer):
    """``GET /api/upgrades_info/graph-data`` on 127.0.0.1 answers ``body`` (None: 404); ``hits`` counts them."""

    thread_name = "graph-data-server"

    def __init__(self, body: bytes | None) -> None:
        self.body, self.hits = body, 0

    @property
    def url(self) -> str:
        return f"{self.origin}/api/upgrades_info/graph-data"

    def answer(self, path: str, headers) -> tuple[int, str, bytes]:
        self.hits += 1
        found = self.body is not None and path == "/api/upgrades_info/graph-data"
        return (200, "application/gzip", self.body) if found else (404, "application/gzip", b"not found")
