"""OpenShift release payloads built for real in a test registry, and a loopback update service serving their graph.

A release image is a small image whose top layer holds ``release-manifests/image-references`` (an ImageStream
naming its components by digest) and ``release-manifests/release-metadata`` (cincinnati-metadata-v0), below a base
layer, as ``oc adm release new`` lays it out. Components are tiny images pushed by digest only.

``build_channel`` makes the channel the tests use: four releases 4.15.0 .. 4.15.3 with eleven distinct components
(``etcd`` the same image in every release, ``installer`` changing once, ``console`` every two releases, ``cli``
every release, and ``machine-os`` in a second component repository, changing once), and the upgrade edges
0→1, 1→2, 2→3, 0→2, 1→3.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from devtools.samples import (Platform, PushedImage, SamplePusher, make_config, make_files_layer, make_index,
                              make_layer, make_manifest, push_image)

from .loopback_http import LoopbackHTTPServer

VERSIONS = ("4.15.0", "4.15.1", "4.15.2", "4.15.3")
EDGES = ((0, 1), (1, 2), (2, 3), (0, 2), (1, 3))
# component -> the release index from which each new image of it starts
GENERATIONS = {"etcd": (0,), "installer": (0, 2), "console": (0, 2), "cli": (0, 1, 2, 3), "machine-os": (0, 2)}
SECOND_REPO_COMPONENTS = ("machine-os",)
TAG_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "multi": "multi"}


@dataclass
class BuiltRelease:
    version: str
    repository: str  # host/path of the release repository
    tag: str
    digest: str
    components: dict[str, PushedImage]  # name -> the component image
    multi: bool = False

    @property
    def pull_spec(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def arch(self) -> str:
        return "multi" if self.multi else "x86_64"


@dataclass
class ReleaseChannel:
    host: str
    release_repo: str  # path on the registry
    component_repos: tuple[str, str]
    releases: list[BuiltRelease] = field(default_factory=list)

    def graph(self, edges=EDGES) -> dict:
        return {"version": 1,
                "nodes": [{"version": r.version, "payload": r.pull_spec,
                           "metadata": {"io.openshift.upgrades.graph.release.channels": "stable-4.15"}}
                          for r in self.releases],
                "edges": [list(e) for e in edges], "conditionalEdges": []}

    def by_version(self, version: str) -> BuiltRelease:
        return next(r for r in self.releases if r.version == version)


def image_references(components: dict[str, PushedImage]) -> bytes:
    return json.dumps({"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
                       "metadata": {"name": "release"},
                       "spec": {"tags": [{"name": name, "from": {"kind": "DockerImage", "name": img.digest_reference}}
                                         for name, img in sorted(components.items())]}}, indent=2).encode()


def release_metadata(version: str, previous: list[str], *, multi: bool = False) -> bytes:
    meta = {"release.openshift.io/architecture": "multi"} if multi else {}
    return json.dumps({"kind": "cincinnati-metadata-v0", "version": version, "previous": previous,
                       "metadata": meta}).encode()


def push_release(pusher: SamplePusher, repository: str, tag: str, version: str,
                 components: dict[str, PushedImage], previous: list[str], *, multi: bool = False,
                 files: dict[str, bytes] | None = None) -> str:
    """Push a release image (an index over amd64 and arm64 with ``multi``) and return its digest."""
    files = files if files is not None else {
        "release-manifests/image-references": image_references(components),
        "release-manifests/release-metadata": release_metadata(version, previous, multi=multi)}
    children = []
    for platform in ([Platform.parse("amd64"), Platform.parse("arm64")] if multi else [Platform.parse("amd64")]):
        base, base_diff = make_layer(f"release-base/{platform}", 256)
        top, top_diff = make_files_layer(files)
        config = make_config(platform, [base_diff, top_diff], label=f"release {version}")
        for blob in (base, top, config):
            pusher.push_blob(repository, blob)
        manifest = make_manifest(config, [base, top])
        children.append((manifest, platform))
    if not multi:
        return pusher.push_manifest(repository, tag, children[0][0])
    for manifest, _ in children:
        pusher.push_manifest(repository, manifest.digest, manifest)
    index = make_index(children)
    pusher.push_manifest(repository, tag, index)
    return index.digest


def push_component(pusher: SamplePusher, repository: str, name: str, generation: int, *,
                   multi: bool = False) -> PushedImage:
    return push_image(pusher, repository, None, kind="oci-index" if multi else "oci",
                      arches=("amd64", "arm64") if multi else ("amd64",), layers=1, layer_size=64,
                      seed=hash_seed(f"{repository}/{name}/{generation}"))


def hash_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def build_channel(pusher: SamplePusher, prefix: str) -> ReleaseChannel:
    """The four releases of the channel, under ``prefix/`` on the pusher's registry."""
    channel = ReleaseChannel(pusher.host, f"{prefix}/ocp-release",
                             (f"{prefix}/ocp-v4.0-art-dev", f"{prefix}/ocp-v4.0-art-dev-os"))
    images: dict[tuple[str, int], PushedImage] = {}
    for i, version in enumerate(VERSIONS):
        components = {}
        for name, starts in GENERATIONS.items():
            generation = max(s for s in starts if s <= i)
            repo = channel.component_repos[1 if name in SECOND_REPO_COMPONENTS else 0]
            if (name, generation) not in images:
                images[(name, generation)] = push_component(pusher, repo, name, generation)
            components[name] = images[(name, generation)]
        previous = [VERSIONS[a] for a, b in EDGES if b == i]
        tag = f"{version}-x86_64"
        digest = push_release(pusher, channel.release_repo, tag, version, components, previous)
        channel.releases.append(BuiltRelease(version, f"{pusher.host}/{channel.release_repo}", tag, digest,
                                             components))
    return channel


def build_multi_release(pusher: SamplePusher, prefix: str, version: str = "4.16.0") -> BuiltRelease:
    """A multi-arch release (an index) whose components are multi-arch too."""
    repo = f"{prefix}/ocp-release"
    components = {name: push_component(pusher, f"{prefix}/ocp-v4.0-art-dev", name, 100, multi=True)
                  for name in ("cli", "etcd", "installer")}
    tag = f"{version}-multi"
    digest = push_release(pusher, repo, tag, version, components, [], multi=True)
    return BuiltRelease(version, f"{pusher.host}/{repo}", tag, digest, components, multi=True)


def assert_on_mirror(mirror, namespace: str, releases: list[BuiltRelease]) -> None:
    """Every release image and component at its digest on ``mirror`` (a RegistryClient), under oc-mirror v2's
    tags below ``namespace``."""
    for rel in releases:
        have = mirror.manifest_descriptor(f"{namespace}/openshift/release-images", f"{rel.version}-{rel.arch}")
        assert have is not None and have.digest == rel.digest, rel.version
        for name, img in rel.components.items():
            tagged = mirror.manifest_descriptor(f"{namespace}/openshift/release", f"{rel.version}-{rel.arch}-{name}")
            assert tagged is not None and tagged.digest == img.digest, (rel.version, name)


class GraphServer(LoopbackHTTPServer):
    """An update service on 127.0.0.1: ``GET /graph?channel=C&arch=A`` answers ``graphs[(C, A)]`` as JSON, 404
    for a channel it does not know; ``requests`` records each query."""

    thread_name = "graph-server"

    def __init__(self, graphs: dict[tuple[str, str], dict]) -> None:
        self.graphs = graphs
        self.requests: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/graph"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                server.requests.append({**query, "accept": self.headers.get("Accept", "")})
                graph = server.graphs.get((query.get("channel", ""), query.get("arch", "")))
                body = json.dumps(graph).encode() if graph is not None and url.path == "/graph" else b"{}"
                self.send_response(200 if graph is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler
