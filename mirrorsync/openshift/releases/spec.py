"""The manifest's ``platform`` section: which OpenShift releases to mirror (names follow oc-mirror's
ImageSetConfiguration, which users know). Parsed with the manifest's own reader, so errors name file, line and field.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit
from dataclasses import dataclass
from typing import Any

from ...registry import reference
from ...registry.reference import Reference
from ...sync.semver import Version
from ...yamlsource import Reader, base_dir, local_path

DEFAULT_UPDATE_SERVICE = "https://api.openshift.com/api/upgrades_info/v1/graph"
# oc-mirror's: the update graph of a zone that cannot reach api.openshift.com (enclaves). It replaces the graph URL
# a manifest does not give, and the scheme and host of the graph data's default URL.
UPDATE_URL_OVERRIDE_ENV = "UPDATE_URL_OVERRIDE"
# OKD's update service, as oc-mirror asks it (its OkdUpdateURL): the OKD release controller's graph (also reachable
# as amd64.origin.releases.ci.openshift.org/graph). Its payloads name OKD's release repositories (quay.io/openshift/okd,
# quay.io/okd/scos-release); it serves amd64 releases only.
OKD_UPDATE_SERVICE = "https://origin-release.ci.openshift.org/graph"
OKD_ARCHITECTURES = ("amd64",)
CHANNEL_TYPES = ("ocp", "okd")
ARCHITECTURES = ("amd64", "arm64", "ppc64le", "s390x", "multi")
# The architecture as release tags spell it (``4.15.3-x86_64``), as ``oc adm release mirror`` does.
TAG_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x", "multi": "multi"}

_KEYS = {"architectures", "channels", "releases", "updateService", "signatures", "graph", "kubeVirtContainer"}
_GRAPH_KEYS = {"baseImage", "data", "namespace", "replicas"}
DEFAULT_GRAPH_DATA = "https://api.openshift.com/api/upgrades_info/graph-data"
DEFAULT_GRAPH_BASE = "registry.access.redhat.com/ubi9/ubi:latest"
DEFAULT_UPDATE_SERVICE_NAMESPACE = "openshift-update-service"
DEFAULT_UPDATE_SERVICE_REPLICAS = 2
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CHANNEL_KEYS = {"name", "minVersion", "maxVersion", "shortestPath", "type", "full", "updateService"}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    min_version: Version | None = None
    max_version: Version | None = None
    shortest_path: bool = False
    index: int = 0  # position in platform.channels, for messages
    type: str = "ocp"  # ocp | okd: whose update service and releases
    full: bool = False  # every release of the channel (between the bounds, when given)
    update_service: str | None = None  # this channel's own graph (URL or local file); None: its type's


@dataclass(frozen=True)
class GraphSpec:
    """``platform.graph``: the update-graph data image, and the UpdateService that serves it."""

    base_image: Reference
    data: str  # an http(s) URL, or a local tar.gz (made absolute)
    namespace: str = DEFAULT_UPDATE_SERVICE_NAMESPACE
    replicas: int = DEFAULT_UPDATE_SERVICE_REPLICAS


@dataclass(frozen=True)
class PlatformSpec:
    architectures: tuple[str, ...] = ("amd64",)
    channels: tuple[ChannelSpec, ...] = ()
    releases: tuple[Reference, ...] = ()
    update_service: str = DEFAULT_UPDATE_SERVICE  # an http(s) URL, or a local JSON file (made absolute)
    signatures: str | None = None  # a store URL, or a local directory laid out like one (made absolute)
    graph: GraphSpec | None = None  # None: no graph-data image, no UpdateService
    kubevirt: bool = False  # also each release's KubeVirt disk image (from its CoreOS boot-images stream)

    def graph_location(self, channel: ChannelSpec) -> str:
        """Where ``channel``'s graph is read: its own ``updateService``, else its type's (``platform.updateService``
        for ocp, OKD's update service for okd)."""
        if channel.update_service is not None:
            return channel.update_service
        return OKD_UPDATE_SERVICE if channel.type == "okd" else self.update_service


def _version(r: Reader, value: Any, path: tuple) -> Version:
    text = r.string(value, path)
    version = Version.parse(text)
    if version is None or text.startswith("v"):
        raise r.fail(path, f"{text!r} is not a release version (MAJOR.MINOR.PATCH, such as 4.15.3)")
    return version


def _location(r: Reader, value: Any, path: tuple, base: str) -> str:
    """A URL as it is, or a path relative to the manifest's directory, as the user reads it."""
    text = r.string(value, path)
    if text.startswith(("http://", "https://")):
        if "@" in urlsplit(text).netloc:  # it would be in every message and report that names the URL
            raise r.fail(path, "must not carry credentials (user:password@): a manifest is no place for secrets")
        return text
    if "://" in text:
        raise r.fail(path, f"{text!r}: only http://, https:// or a local path")
    return local_path(base, text)


def parse(r: Reader, value: Any, manifest_file: str) -> PlatformSpec:
    """The ``platform`` mapping, validated (``InputError`` at the offending line)."""
    top = r.mapping(value, ("platform",), _KEYS)
    base = base_dir(manifest_file)
    arches: tuple[str, ...] = ("amd64",)
    if "architectures" in top:
        names = r.string_list(top["architectures"], ("platform", "architectures"))
        if not names:
            raise r.fail(("platform", "architectures"), f"must name at least one of {', '.join(ARCHITECTURES)}")
        arches = tuple(dict.fromkeys(r.choice(a, ("platform", "architectures", i), ARCHITECTURES)
                                     for i, a in enumerate(names)))
    channels = []
    raw_channels = top.get("channels", [])
    if not isinstance(raw_channels, list):
        raise r.fail(("platform", "channels"), "must be a list")
    seen: dict[str, str] = {}  # channel name -> its type
    for i, item in enumerate(raw_channels):
        path = ("platform", "channels", i)
        item = r.mapping(item, path, _CHANNEL_KEYS)
        if "name" not in item:
            raise r.fail(path, "name: missing (the channel, such as stable-4.15)")
        name = r.string(item["name"], path + ("name",))
        kind = r.choice(item["type"], path + ("type",), CHANNEL_TYPES) if "type" in item else "ocp"
        if name in seen:
            # the graph of a channel, its releases in the report and a failed channel's carry-over are all keyed
            # by the channel's name: an ocp and an okd channel of one name would share them
            other = seen[name]
            raise r.fail(path + ("name",), f"channel {name!r} is listed twice" if other == kind else
                         f"channel {name!r} is already listed as type {other}: an ocp and an okd channel cannot "
                         "share a name (their graphs and releases would be taken for one another)")
        seen[name] = kind
        low = _version(r, item["minVersion"], path + ("minVersion",)) if "minVersion" in item else None
        high = _version(r, item["maxVersion"], path + ("maxVersion",)) if "maxVersion" in item else None
        if low and high and high < low:
            raise r.fail(path + ("maxVersion",), "is lower than minVersion")
        shortest = r.boolean(item["shortestPath"], path + ("shortestPath",)) if "shortestPath" in item else False
        full = r.boolean(item["full"], path + ("full",)) if "full" in item else False
        if shortest and full:
            raise r.fail(path + ("full",), "cannot go with shortestPath: full takes every release, shortestPath "
                                           "only those on one upgrade path")
        if shortest and not (low or high):  # one end given, the other is the channel's (as oc-mirror takes it)
            raise r.fail(path + ("shortestPath",), "needs minVersion or maxVersion (an end of the path; the other "
                                                   "end is then the channel's lowest release or its head)")
        own = _location(r, item["updateService"], path + ("updateService",), base) if "updateService" in item \
            else None
        channels.append(ChannelSpec(name, low, high, shortest, i, kind, full, own))
    releases = tuple(
        r.checked(("platform", "releases", i), reference.parse, text)
        for i, text in enumerate(r.string_list(top.get("releases", []), ("platform", "releases"))))
    for i, ref in enumerate(releases):
        if not ref.identifier:
            raise r.fail(("platform", "releases", i), f"{ref.name}: name the release by :tag or @digest")
    if not channels and not releases:
        if "graph" in top:
            raise r.fail(("platform", "graph"), "needs releases to serve: give channels or releases beside it")
        raise r.fail(("platform",), "nothing selected: give channels or releases")
    update_service = DEFAULT_UPDATE_SERVICE
    override = os.environ.get(UPDATE_URL_OVERRIDE_ENV)
    if override:
        if "@" in urlsplit(override).netloc:
            raise r.fail(("platform", "updateService"), f"{UPDATE_URL_OVERRIDE_ENV} must not carry credentials "
                                                        "(user:password@)")
        update_service = override if override.startswith(("http://", "https://")) else os.path.abspath(override)
    if "updateService" in top:
        update_service = _location(r, top["updateService"], ("platform", "updateService"), base)
    signatures = _location(r, top["signatures"], ("platform", "signatures"), base) if "signatures" in top else None
    graph = _graph(r, top["graph"], base) if "graph" in top else None
    kubevirt = r.boolean(top["kubeVirtContainer"], ("platform", "kubeVirtContainer")) \
        if "kubeVirtContainer" in top else False
    return PlatformSpec(arches, tuple(channels), releases, update_service, signatures, graph, kubevirt)


def _graph(r: Reader, value: Any, base: str) -> GraphSpec | None:
    """``graph: true`` (the defaults), ``false`` (none), or the mapping that sets them."""
    path = ("platform", "graph")
    if isinstance(value, bool):
        return GraphSpec(reference.parse(DEFAULT_GRAPH_BASE), _default_graph_data()) if value else None
    if not isinstance(value, dict):
        raise r.fail(path, "must be true, false or a mapping (baseImage, data, namespace, replicas)")
    top = r.mapping(value, path, _GRAPH_KEYS)
    base_image = reference.parse(DEFAULT_GRAPH_BASE)
    if "baseImage" in top:
        text = r.string(top["baseImage"], path + ("baseImage",))
        base_image = r.checked(path + ("baseImage",), reference.parse, text)
        if not base_image.identifier:
            base_image = base_image.with_tag("latest")
    data = _location(r, top["data"], path + ("data",), base) if "data" in top else _default_graph_data()
    namespace = DEFAULT_UPDATE_SERVICE_NAMESPACE
    if "namespace" in top:
        namespace = r.string(top["namespace"], path + ("namespace",))
        if not _DNS1123_LABEL.match(namespace):
            raise r.fail(path + ("namespace",), f"{namespace!r} is not a namespace name (a DNS-1123 label: "
                                                "lower-case letters, digits and '-', at most 63)")
    replicas = DEFAULT_UPDATE_SERVICE_REPLICAS
    if "replicas" in top:
        replicas = top["replicas"]
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 2**31 - 1:
            raise r.fail(path + ("replicas",), "must be a whole number, at least 1 (1 on a single-node cluster)")
    return GraphSpec(base_image, data, namespace, replicas)


def _default_graph_data() -> str:
    """The graph data's URL: with an http(s) ``UPDATE_URL_OVERRIDE``, at its scheme and host (as oc-mirror)."""
    override = urlsplit(os.environ.get(UPDATE_URL_OVERRIDE_ENV) or "")
    if override.scheme not in ("http", "https") or not override.netloc:
        return DEFAULT_GRAPH_DATA
    return urlsplit(DEFAULT_GRAPH_DATA)._replace(scheme=override.scheme, netloc=override.netloc).geturl()


def check_paths(manifest, platform: PlatformSpec) -> None:
    """Local files the section names must be there before a run starts: a missing graph file or signature
    directory is a mistake in the manifest (exit 2, nothing written), not a failure of each release."""
    for channel in platform.channels:
        location = platform.graph_location(channel)
        if not location.startswith(("http://", "https://")) and not os.path.isfile(location):
            where = ("platform", "channels", channel.index, "updateService") if channel.update_service is not None \
                else ("platform", "updateService")
            raise manifest.error(where, f"{location} is not a file")
    if platform.signatures and not platform.signatures.startswith(("http://", "https://")) \
            and not os.path.isdir(platform.signatures):
        raise manifest.error(("platform", "signatures"), f"{platform.signatures} is not a directory")
    graph = platform.graph
    if graph is not None and not graph.data.startswith(("http://", "https://")) and not os.path.isfile(graph.data):
        raise manifest.error(("platform", "graph", "data"), f"{graph.data} is not a file")
