"""From the ``platform`` section to copy jobs: which releases (graph or named), what each names, and one ordinary
``CopyJob`` per image, so releases go through the same engine, retries, fan-out and no-op path as images.

Mirror layout (oc-mirror v2's): the release image at ``<mirror>/openshift/release-images:<version>-<arch>``, its
components at ``<mirror>/openshift/release:<version>-<arch>-<component>``; nodes pull both by digest through the
IDMS entries the report gives (digest only: a release is never pulled by tag).

A component shared by several releases is one image: it is transferred once, by the job of the first release
(lowest version) that names it; every further release that names it gets a job of its own that only adds its tag
(the blobs are already there, so it costs one manifest PUT per mirror), so each release's tags are all on the
mirror and keep their content from garbage collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ...errors import describe
from ...oci.store import ContentStore
from ...registry.reference import Reference
from ...sync.manifest import ImageSpec, SyncManifest
from ...sync.plan import CopyJob, Shard, destinations
from ...sync.semver import Version
from .graph import Graph, select as select_nodes
from .payload import Component, Release, read as read_release
from .spec import TAG_ARCH, PlatformSpec

log = logging.getLogger(__name__)

RELEASE_IMAGES = "openshift/release-images"
COMPONENTS = "openshift/release"
KUBEVIRT_COMPONENT = "kubevirt-container"  # the KubeVirt disk image's name among a release's components
# The image to read release-manifests/ from when a release is an index (None: amd64 if it has one, else its first).
READ_PLATFORM = {"amd64": "linux/amd64", "arm64": "linux/arm64", "ppc64le": "linux/ppc64le", "s390x": "linux/s390x",
                 "multi": None}

SourceFor = Callable[[Reference], tuple[ContentStore, str]]  # a source repository -> (store, repo in it)
GraphFor = Callable[[str, str], Graph]  # (channel, arch) -> its graph


@dataclass(frozen=True)
class Wanted:
    """A release to mirror, before it is read: its image and where it was selected."""

    image: Reference  # by digest (a graph payload) or as the manifest names it
    channel: str | None = None
    arch: str | None = None  # the platform.architectures entry that selected it; None for a named release


@dataclass(frozen=True)
class WantedFailure:
    what: str  # "channel stable-4.15 (amd64)" or the release reference
    error: str
    source: Reference | None = None  # the release image, when known
    channel: str | None = None  # the channel whose graph could not be read
    arch: str | None = None


@dataclass
class PlannedRelease:
    wanted: Wanted
    release: Release
    tag: str  # <version>-<arch> on the mirror
    jobs: list[CopyJob] = field(default_factory=list)  # its components', then its own (last)
    signatures: dict[str, bytes] = field(default_factory=dict)  # binaryData key -> signature file
    arch: str = "amd64"  # as the tag says it: a platform.architectures name

    @property
    def source(self) -> Reference:
        return self.wanted.image.repo_only()


@dataclass
class ReleasePlan:
    jobs: list[CopyJob] = field(default_factory=list)
    releases: list[PlannedRelease] = field(default_factory=list)
    failures: list[WantedFailure] = field(default_factory=list)


def wanted(platform: PlatformSpec, graph_for: GraphFor) -> tuple[list[Wanted], list[WantedFailure]]:
    """Every release the section selects (each channel once per architecture, then the named releases)."""
    out: list[Wanted] = []
    failures: list[WantedFailure] = []
    for arch in platform.architectures:
        for channel in platform.channels:
            try:
                nodes = select_nodes(graph_for(channel.name, arch), channel)
            except Exception as exc:  # noqa: BLE001 - this channel fails, the rest go on
                failures.append(WantedFailure(f"channel {channel.name} ({arch})", describe(exc), channel=channel.name,
                                              arch=arch))
                continue
            out += [Wanted(n.payload, channel.name, arch) for n in nodes]
    out += [Wanted(ref) for ref in platform.releases]
    return out, failures


def read(wants: list[Wanted], source_for: SourceFor, *, shard: Shard | None = None,
         kubevirt: bool = False) -> ReleasePlan:
    """Read each wanted release (once per digest); a release that cannot be read is a failure of its own and the
    rest are still read. With ``kubevirt``, each release's KubeVirt disk image for its architecture (every one of a
    multi-arch release) is one more of its components (see :func:`with_kubevirt`). No jobs yet: see
    :func:`assign_jobs`."""
    out = ReleasePlan()
    found: dict[str, PlannedRelease] = {}
    for want in wants:
        if shard is not None and not shard.takes(want.image.repo_only()):
            continue
        store, repo = source_for(want.image)
        try:
            release = read_release(store, repo, want.image.identifier or "",
                                   platform=READ_PLATFORM.get(want.arch or "multi"), where=str(want.image),
                                   kubevirt=kubevirt)
        except Exception as exc:  # noqa: BLE001
            out.failures.append(WantedFailure(str(want.image), describe(exc), want.image))
            continue
        if release.digest in found:
            continue  # the same release from another channel or architecture
        arch = "multi" if release.multi else (want.arch or release.architecture or "amd64")
        if kubevirt:
            release = with_kubevirt(release, arch)
        found[release.digest] = PlannedRelease(want, release, f"{release.version}-{TAG_ARCH.get(arch, arch)}",
                                              arch=arch)
    out.releases = list(found.values())
    return out


def with_kubevirt(release: Release, arch: str) -> Release:
    """``release`` with its KubeVirt disk image as a component (``kubevirt-container``; in a multi-arch release one
    per architecture, ``kubevirt-container-<arch>``), so it is mirrored, tagged and in the mirror sets as its other
    components are. A release whose boot images name none for ``arch`` is mirrored without it (a warning)."""
    disks = dict(release.kubevirt)
    if release.multi:
        extra = [Component(f"{KUBEVIRT_COMPONENT}-{a}", ref) for a, ref in sorted(disks.items())]
    else:
        ref = disks.get(TAG_ARCH.get(arch, arch))
        extra = [Component(KUBEVIRT_COMPONENT, ref)] if ref is not None else []
    if not extra:
        log.warning("release %s (%s) names no KubeVirt disk image for %s: mirrored without one", release.version,
                    release.digest, arch)
        return release
    return replace(release, components=release.components + tuple(extra))


def assign_jobs(manifest: SyncManifest, out: ReleasePlan) -> None:
    """Plan the copy jobs of every release in ``out`` (lowest version first: it transfers shared components)."""
    releases = sorted(out.releases, key=lambda p: (version_key(p.release.version), p.tag))
    specs: dict[tuple[Reference, str], ImageSpec] = {}

    def job(source: Reference, destination: str, digest: str, tag: str) -> CopyJob:
        spec = specs.get((source, destination))
        if spec is None:
            # a release image's cosign signatures (sha256-<hex>.sig beside it) travel with it, as for images with
            # signatures: true; its components are verified through the release, not signed one by one
            spec = specs[(source, destination)] = ImageSpec(source=source, destination=destination,
                                                            mirror_sets=("digest",),
                                                            signatures=destination == RELEASE_IMAGES,
                                                            companions_best_effort=True)
        return CopyJob(spec, digest, destinations(manifest, spec), target_tag=tag)

    components: list[CopyJob] = []
    tags_only: list[CopyJob] = []
    seen: set[tuple[Reference, str]] = set()
    for p in releases:
        for c in p.release.components:
            key = (c.image.repo_only(), c.image.digest or "")
            j = job(key[0], COMPONENTS, key[1], f"{p.tag}-{c.name}")
            (tags_only if key in seen else components).append(j)
            seen.add(key)
            p.jobs.append(j)
        top = job(p.source, RELEASE_IMAGES, p.release.digest, p.tag)
        p.jobs.append(top)
    # the release images last: a cluster shown a release tag should find its components there already
    out.jobs = components + tags_only + [p.jobs[-1] for p in releases]
    out.releases = releases


def version_key(text: str) -> tuple:
    v = Version.parse(text)
    return (0, v.key) if v else (1, text)
