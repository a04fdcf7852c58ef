"""What travels with an image: cosign signatures, attestations and SBOMs (tags ``sha256-<hex>.sig``, ``.att``,
``.sbom`` in the same repository) and OCI 1.1 referrers (manifests whose ``subject`` is the image or one of its
children), copied unchanged after the image itself.

A referrer lands on a mirror either way the mirror can list it: a registry with the referrers API indexes it when
it is pushed; on one without (docker-registry 2.8), it is added to the fallback index there, keeping the entries
already in it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from ..errors import UnsupportedContent, describe
from ..oci.content import INDEX_TYPES, Manifest
from ..oci.store import ContentStore
from ..registry import referrers
from .copy_results import CopyResult, Target, TargetResult
from .prepare import walk
from .status import Status
from .through_mirrors import where_found

log = logging.getLogger(__name__)

COSIGN_SUFFIXES = ((".sig", "signature"), (".att", "attestation"), (".sbom", "sbom"))
MAX_COMPANIONS = 1000  # per image: past that a source is broken or hostile, not signed


@dataclass(frozen=True)
class CompanionSpec:
    signatures: bool = False
    referrers: bool = False
    artifact_types: tuple[str, ...] = ()  # referrers of these artifact types only; empty: all
    # a source that cannot list them leaves the image's status alone (logged); one found and not copied still fails
    best_effort: bool = False

    @property
    def wanted(self) -> bool:
        return self.signatures or self.referrers


@dataclass
class Companion:
    kind: str  # signature | attestation | sbom | referrer
    subject: str  # the digest it belongs to (the image, a child, or another referrer)
    manifest: Manifest
    manifests: list  # everything to push for it, children first, ``manifest`` last
    tag: str | None = None  # cosign's tag; referrers are pushed by digest
    descriptor: dict | None = None  # a referrer as its source lists it (what the fallback index gets)
    fallback: Manifest | None = None  # the source's fallback index it was listed in

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "digest": self.manifest.digest, "subject": self.subject}
        if self.tag:
            d["tag"] = self.tag
        if self.descriptor and self.descriptor.get("artifactType"):
            d["artifactType"] = self.descriptor["artifactType"]
        return d


class Pusher(Protocol):
    """What ``carry`` needs of the copier (``copy.Copier``, which calls it): pushing manifests and their blobs."""

    def push(self, source: ContentStore, source_repo: str, top: Manifest, manifests: list[Manifest],
             work: list[tuple[int, Target]], tag: str | None, result: CopyResult, *, sparse: bool = False) -> None:
        ...


def cosign_tag(digest: str, suffix: str) -> str:
    return digest.replace(":", "-", 1) + suffix


_COMPANION_TAG = re.compile(r"^(?:sha256-[0-9a-f]{64}|sha384-[0-9a-f]{96}|sha512-[0-9a-f]{128})(\.sig|\.att|\.sbom)?$")


def travels_with_its_image(spec, tag: str) -> bool:
    """Whether ``tag`` is a companion that ``spec`` (an image entry) copies with its image (a cosign tag with
    ``signatures``, a referrers fallback tag with ``referrers``), so that selecting tags from a list leaves it out."""
    m = _COMPANION_TAG.match(tag)
    if m is None:
        return False
    return spec.signatures if m.group(1) else spec.referrers


def discover(source: ContentStore, repo: str, subjects: list[str], spec: CompanionSpec) -> list[Companion]:
    """The companions of ``subjects`` in ``repo`` of the source (and the referrers of those referrers)."""
    found: list[Companion] = []

    def add(c: Companion) -> None:
        if len(found) >= MAX_COMPANIONS:
            raise UnsupportedContent(f"{repo}: more than {MAX_COMPANIONS} signatures and referrers for one image, "
                                     "the most mirrorsync copies")
        found.append(c)

    if spec.signatures:
        tags = set(source.list_tags(repo))
        for digest in subjects:
            for suffix, kind in COSIGN_SUFFIXES:
                tag = cosign_tag(digest, suffix)
                if tag in tags:
                    m = source.get_manifest(repo, tag)
                    add(Companion(kind, digest, m, walk(source, repo, m), tag=tag))
    if spec.referrers:
        queue, seen = list(subjects), set(subjects)
        while queue:
            digest = queue.pop(0)
            listing = referrers.list_referrers(source, repo, digest)
            for d in listing.descriptors:
                if spec.artifact_types and d.get("artifactType") not in spec.artifact_types:
                    continue
                if d["digest"] in seen:
                    continue
                seen.add(d["digest"])
                m = source.get_manifest(repo, d["digest"])
                add(Companion("referrer", digest, m, walk(source, repo, m), descriptor=d,
                              fallback=None if listing.via_api else listing.fallback_index))
                queue.append(d["digest"])  # a signature of an SBOM refers to the SBOM
    return found


def carry(copier: Pusher, source: ContentStore, source_repo: str, targets: list[Target], result: CopyResult,
          spec: CompanionSpec) -> None:
    """Copy the companions of the image just copied (``result``) to every target that holds it now.

    A companion a target already holds is left alone; one that cannot be copied fails that target (its image is
    there, but not what the manifest said must travel with it).
    """
    subjects = [result.digest, *result.children]
    holding = [i for i, tr in enumerate(result.targets) if tr.status in (Status.COPIED, Status.UP_TO_DATE)]
    name = source_repo
    try:
        # read where the image was: through source mirrors, the location that holds its digest
        source, source_repo = where_found(source, source_repo, result.digest)
        if not result.children and (result.media_type or "").split(";")[0] in INDEX_TYPES:
            # up to date, so never walked: the children's own signatures and referrers go too
            subjects += [c.digest for c in source.get_manifest(source_repo, result.digest).children]
        found = discover(source, source_repo, subjects, spec)
    except Exception as exc:  # noqa: BLE001 - the image is there, what must travel with it is not
        if spec.best_effort:
            log.warning("%s@%s: signatures not copied, the source could not list them: %s", name,
                        result.digest, describe(exc))
            return
        for i in holding:
            result.targets[i].status = Status.FAILED
            result.targets[i].error = f"reading the signatures and referrers of {result.digest}: {describe(exc)}"
        return
    result.companions = [c.to_dict() for c in found]
    for c in found:
        lacking = []
        for i in holding:
            t = targets[i]
            try:
                have = t.store.manifest_descriptor(t.repo, c.tag or c.manifest.digest)
            except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
                _fail(result, i, c, exc)
                continue
            if have is None or have.digest != c.manifest.digest:
                lacking.append(i)
        if lacking:
            scratch = CopyResult(targets=[TargetResult() for _ in targets])
            copier.push(source, source_repo, c.manifest, c.manifests, [(i, targets[i]) for i in lacking], c.tag,
                        scratch)
            result.bytes_read += scratch.bytes_read
            result.retries += scratch.retries
            for i in lacking:
                got, tr = scratch.targets[i], result.targets[i]
                for name in ("bytes_sent", "bytes_skipped", "blobs_sent", "blobs_skipped", "blobs_mounted",
                             "manifests_pushed"):
                    setattr(tr, name, getattr(tr, name) + getattr(got, name))
                if got.status == Status.FAILED:
                    tr.status, tr.error = Status.FAILED, f"{c.kind} {c.manifest.digest} of {c.subject}: {got.error}"
                elif tr.status == Status.UP_TO_DATE:
                    tr.status = Status.COPIED
    # Each subject's fallback index is written once, with all its referrers: a source index listing exactly those
    # is then copied as it is (digest-equal), and an image's referrers cost one read and one write per mirror.
    by_subject: dict[str, list[Companion]] = {}
    for c in found:
        if c.descriptor is not None:
            by_subject.setdefault(c.subject, []).append(c)
    for subject, group in by_subject.items():
        for i in holding:
            tr, t = result.targets[i], targets[i]
            if tr.status == Status.FAILED:
                continue
            try:
                if referrers.api_listing(t.store, t.repo, subject) is None and referrers.add_to_fallback(
                        t.store, t.repo, subject, [c.descriptor for c in group], group[0].fallback):
                    tr.manifests_pushed += 1
                    if tr.status == Status.UP_TO_DATE:
                        tr.status = Status.COPIED
            except Exception as exc:  # noqa: BLE001
                tr.status, tr.error = Status.FAILED, f"fallback referrers index of {subject}: {describe(exc)}"


def _fail(result: CopyResult, i: int, c: Companion, exc: Exception) -> None:
    tr = result.targets[i]
    tr.status, tr.error = Status.FAILED, f"{c.kind} {c.manifest.digest} of {c.subject}: {describe(exc)}"
