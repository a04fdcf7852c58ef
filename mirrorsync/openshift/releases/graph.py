"""The update service's graph of a channel, and which of its releases a channel entry selects.

``GET <url>?channel=<c>&arch=<a>`` (``Accept: application/json``) answers ``{"nodes": [{"version", "payload",
"metadata"}], "edges": [[from, to], ...], "conditionalEdges": [...]}``; edges index into nodes. The selection is
oc-mirror's: neither bound → the channel head only (with ``full``, every release of the channel); only
``minVersion`` → min to the head; both → every release in range, or with ``shortestPath`` only those on the
shortest upgrade path from min to max (breadth-first over the unconditional edges, as oc-mirror walks them). A local JSON file of the same shape stands in for the service.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from ...errors import MirrorsyncError, describe
from ...registry.reference import Reference, parse as parse_reference
from ...registry.retry import RetryPolicy
from ...registry.settings import RegistrySettings
from ...registry.web import WebReader
from ...sync.semver import Version
from .spec import ChannelSpec

MAX_GRAPH_BYTES = 64 << 20  # the real graph of a channel is a few MiB
CHANNELS_KEY = "io.openshift.upgrades.graph.release.channels"


class GraphError(MirrorsyncError):
    """The graph could not be read, or does not hold what a channel entry asks for."""


@dataclass(frozen=True)
class Node:
    version: Version
    payload: Reference  # the release image, by digest
    text: str  # the version as the graph spells it
    channels: tuple[str, ...] | None = None  # its metadata's channels (CHANNELS_KEY); None: the node names none

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Graph:
    channel: str
    arch: str
    nodes: tuple[Node, ...]
    edges: tuple[tuple[int, int], ...]

    def find(self, version: Version) -> int | None:
        return next((i for i, n in enumerate(self.nodes) if n.version == version), None)


def parse(data: bytes, channel: str, arch: str, where: str) -> Graph:
    """A graph document, checked: every node a version and a payload by digest, every edge two node indexes."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise GraphError(f"{where}: not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise GraphError(f"{where}: not an update graph (no nodes list)")
    nodes = []
    for i, node in enumerate(doc["nodes"]):
        text = node.get("version") if isinstance(node, dict) else None
        version = Version.parse(text) if isinstance(text, str) else None
        if version is None:
            raise GraphError(f"{where}: nodes[{i}]: version {text!r} is not a release version")
        try:
            payload = parse_reference(node.get("payload") or "")
        except MirrorsyncError as exc:
            raise GraphError(f"{where}: nodes[{i}] ({text}): payload: {exc}") from None
        if not payload.digest:
            raise GraphError(f"{where}: nodes[{i}] ({text}): payload {payload} is not by digest")
        metadata = node.get("metadata") if isinstance(node.get("metadata"), dict) else {}
        listed = metadata.get(CHANNELS_KEY)
        channels = tuple(c.strip() for c in listed.split(",") if c.strip()) if isinstance(listed, str) else None
        nodes.append(Node(version, payload, text, channels))
    edges = []
    for i, edge in enumerate(doc.get("edges") or []):
        if (not isinstance(edge, list) or len(edge) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < len(nodes) for x in edge)):
            raise GraphError(f"{where}: edges[{i}]: {edge!r} is not a pair of node indexes")
        edges.append((edge[0], edge[1]))
    return Graph(channel, arch, tuple(nodes), tuple(edges))


def only_channel(graph: Graph) -> Graph:
    """``graph`` less the nodes whose metadata lists channels without ``graph.channel`` (and their edges): for an
    update service that answers every channel's releases whatever ``?channel=`` asks (OKD's release controller has
    been reported to, okd-project/okd#2268). Nodes that list no channels are kept."""
    keep = [i for i, n in enumerate(graph.nodes) if n.channels is None or graph.channel in n.channels]
    if len(keep) == len(graph.nodes):
        return graph
    new = {old: i for i, old in enumerate(keep)}
    return Graph(graph.channel, graph.arch, tuple(graph.nodes[i] for i in keep),
                 tuple((new[a], new[b]) for a, b in graph.edges if a in new and b in new))


def select(graph: Graph, channel: ChannelSpec) -> list[Node]:
    """The releases ``channel`` takes from ``graph``, lowest version first."""
    if not graph.nodes:
        raise GraphError(f"channel {graph.channel} ({graph.arch}) has no releases")
    ordered = sorted(graph.nodes, key=lambda n: n.version)
    head = ordered[-1]
    low, high = channel.min_version, channel.max_version
    for bound, name in ((low, "minVersion"), (high, "maxVersion")):
        if bound is not None and graph.find(bound) is None:
            raise GraphError(f"channel {graph.channel} ({graph.arch}) has no release {_text(bound)} ({name}); "
                             f"it has {ordered[0]} to {head}")
    if low is None and high is None and not channel.full:
        return [head]
    if channel.shortest_path:  # from the lowest release or to the head when an end is not given, as oc-mirror does
        return _shortest_path(graph, graph.find(low or ordered[0].version), graph.find(high or head.version))
    low = low or ordered[0].version
    high = high or head.version
    return [n for n in ordered if low <= n.version <= high]


def _shortest_path(graph: Graph, start: int, goal: int) -> list[Node]:
    """The releases on the shortest upgrade path ``start`` → ``goal``; ties go to the lower version, so the same
    graph always gives the same path."""
    nexts: dict[int, list[int]] = {}
    for a, b in graph.edges:
        nexts.setdefault(a, []).append(b)
    came_from = {start: start}
    todo = deque([start])
    while todo:
        at = todo.popleft()
        if at == goal:
            break
        for b in sorted(nexts.get(at, []), key=lambda i: graph.nodes[i].version):
            if b not in came_from:
                came_from[b] = at
                todo.append(b)
    if goal not in came_from:
        raise GraphError(f"channel {graph.channel} ({graph.arch}) has no upgrade path from "
                         f"{graph.nodes[start]} to {graph.nodes[goal]}")
    path = [goal]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return [graph.nodes[i] for i in reversed(path)]


def _text(v: Version) -> str:
    return ".".join(map(str, v.release)) + ("-" + ".".join(map(str, v.prerelease)) if v.prerelease else "")


def fetch(location: str, channel: str, arch: str, *, web: WebReader | None = None,
          settings_for=lambda host: RegistrySettings(), policy: RetryPolicy | None = None,
          timeout: float = 60.0) -> Graph:
    """The graph of ``channel`` for ``arch`` from an update service URL, or from a local JSON file.

    Over HTTP(S) the request goes through ``web``, the run's reader (registry TLS settings per host, the run's
    proxies, retries and timeout, a bounded answer); without one, through a reader of its own made from
    ``settings_for``, ``policy`` and ``timeout``.
    """
    if not location.startswith(("http://", "https://")):
        try:
            with open(location, "rb") as f:
                data = f.read(MAX_GRAPH_BYTES + 1)
        except OSError as exc:
            raise GraphError(f"cannot read the update graph {location}: {exc.strerror or exc}") from None
        if len(data) > MAX_GRAPH_BYTES:
            raise GraphError(f"{location}: more than {MAX_GRAPH_BYTES >> 20} MiB, the most mirrorsync reads")
        return parse(data, channel, arch, location)
    url = location + ("&" if "?" in location else "?") + urlencode({"channel": channel, "arch": arch})
    with contextlib.ExitStack() as owned:
        if web is None:
            web = owned.enter_context(WebReader(settings_for=settings_for, policy=policy, timeout=timeout))
        try:
            data = web.get(url, action=f"reading the update graph {url}", limit=MAX_GRAPH_BYTES,
                           kind="an update graph", accept="application/json")
        except httpx.TransportError as exc:
            raise GraphError(f"reading the update graph {url}: {describe(exc)}") from None
    return parse(data, channel, arch, url)
