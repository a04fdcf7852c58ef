"""OpenShift release payloads built for real in a test registry (release images and the update graph server come
from devtools/openshift.py). Components are tiny images pushed by digest only.

``build_channel`` makes the channel the tests use: four releases 4.15.0 .. 4.15.3 with eleven distinct components
(``etcd`` the same image in every release, ``installer`` changing once, ``console`` every two releases, ``cli``
every release, and ``machine-os`` in a second component repository, changing once), and the upgrade edges
0→1, 1→2, 2→3, 0→2, 1→3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devtools.openshift import hash_seed, push_release
from devtools.samples import PushedImage, SamplePusher, push_image

from support import crds

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
    kubevirt: PushedImage | None = None  # the KubeVirt disk its boot-images manifest names (build_channel(kubevirt=))

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
    kubevirt_repo: str = ""  # path of the KubeVirt disks' repository (build_channel(kubevirt=True))

    def graph(self, edges=EDGES, channel: str = "stable-4.15") -> dict:
        return {"version": 1,
                "nodes": [{"version": r.version, "payload": r.pull_spec,
                           "metadata": {"io.openshift.upgrades.graph.release.channels": channel}}
                          for r in self.releases],
                "edges": [list(e) for e in edges], "conditionalEdges": []}

    def by_version(self, version: str) -> BuiltRelease:
        return next(r for r in self.releases if r.version == version)


def push_component(pusher: SamplePusher, repository: str, name: str, generation: int, *,
                   multi: bool = False) -> PushedImage:
    return push_image(pusher, repository, None, kind="oci-index" if multi else "oci",
                      arches=("amd64", "arm64") if multi else ("amd64",), layers=1, layer_size=64,
                      seed=hash_seed(f"{repository}/{name}/{generation}"))


def build_channel(pusher: SamplePusher, prefix: str, *, kubevirt: bool = False,
                  release_repo: str = "ocp-release") -> ReleaseChannel:
    """The four releases of the channel, under ``prefix/`` on the pusher's registry; with ``kubevirt``, each with
    a boot-images manifest naming a KubeVirt disk (in a repository of its own, ``prefix/rhcos-kubevirt``, so that
    its mirror-set entry is its own; a new disk from 4.15.2 on)."""
    channel = ReleaseChannel(pusher.host, f"{prefix}/{release_repo}",
                             (f"{prefix}/ocp-v4.0-art-dev", f"{prefix}/ocp-v4.0-art-dev-os"),
                             kubevirt_repo=f"{prefix}/rhcos-kubevirt" if kubevirt else "")
    disks: dict[int, PushedImage] = {}
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
        disk = None
        if kubevirt:
            generation = 0 if i < 2 else 2
            if generation not in disks:
                disks[generation] = push_component(pusher, channel.kubevirt_repo, "kubevirt-disk", generation)
            disk = disks[generation]
        digest = push_release(pusher, channel.release_repo, tag, version, components, previous,
                              kubevirt={"x86_64": disk.digest_reference} if disk else None)
        channel.releases.append(BuiltRelease(version, f"{pusher.host}/{channel.release_repo}", tag, digest,
                                             components, kubevirt=disk))
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


def idms_entries(out: Path) -> dict[str, list[str]]:
    """A run's IDMS entries, source -> mirrors, each object checked against the CRD's schema first."""
    idms = list(yaml.safe_load_all((out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text()))
    for obj in idms:
        crds.validate(obj)
    return {e["source"]: e["mirrors"] for obj in idms for e in obj["spec"]["imageDigestMirrors"]}
