"""Trust before copy: an engine in front of the engine that copies only what the signature policy accepts.

Every job goes through :class:`SignatureGate` whichever engine copies it (native or skopeo). Before the copy it
resolves the job's tag to the digest the copy will read, takes the policy's requirements for the job's source
reference (``host/repo:tag``, or ``host/repo@digest`` for a job by digest), reads the image's cosign signatures
from the source where a requirement needs them, and decides (:mod:`mirrorsync.trust.decision`). An accepted
image is then copied by that digest, so what lands on the mirror is what was verified even if the tag moves; a
refused one is not copied at all, and its record says ``signature-rejected`` with the reason.

Signatures are read where containers/image reads them: cosign's (where registries.d sets
``use-sigstore-attachments``, and always when no registries.d is given) from the ``sha256-<hex>.sig`` tag
(:func:`companions.cosign_tag`) and from OCI referrers of cosign's signature artifact type; GPG ones from the
lookaside store registries.d names for the image (``file://`` or ``http(s)://``), and, for an image that vouches
for others (:class:`Whole`: an OpenShift release, whose signatures come from ``platform.signatures``), from there too.
A job that is part of a whole (a release's component) is refused when its whole is, whatever its own scope says.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from ..errors import NotFound, UnsupportedContent, describe
from ..oci.content import Descriptor
from ..oci.store import ContentStore
from ..registry import referrers
from ..registry.reference import Reference
from ..registry.web import WebReader
from ..trust import registries_d, sigstore
from ..trust.decision import Decision, decide
from ..trust.policy import Policy
from .companions import MAX_COMPANIONS, cosign_tag
from .copy_results import CopyResult
from .engines import Engine, SourceFor
from .image_progress import ImageProgress
from .plan import CopyJob
from .through_mirrors import where_found

COSIGN_SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"  # cosign's OCI 1.1 referrers
MAX_SIGNATURE_BYTES = 1 << 20  # a simple-signing payload is a few hundred bytes; past this it is not one


def cosign_signatures(store: ContentStore, repo: str, digest: str) -> list[sigstore.CosignSignature]:
    """The cosign signatures of ``digest`` in ``repo``: its ``.sig`` tag's layers, and its referrers of cosign's
    signature type (each layer's bytes checked against its digest), read where the image is (through source
    mirrors: the location that holds ``digest``)."""
    store, repo = where_found(store, repo, digest)
    manifests = []
    sig_tag = cosign_tag(digest, ".sig")
    if store.manifest_descriptor(repo, sig_tag) is not None:
        manifests.append(store.get_manifest(repo, sig_tag))
    for d in referrers.list_referrers(store, repo, digest).descriptors:
        if d.get("artifactType") == COSIGN_SIGNATURE_ARTIFACT and len(manifests) < MAX_COMPANIONS:
            manifests.append(store.get_manifest(repo, d["digest"]))

    def read_layer(layer: dict) -> bytes:
        size, layer_digest = layer.get("size"), layer.get("digest")
        if not isinstance(size, int) or not isinstance(layer_digest, str) or not 0 <= size <= MAX_SIGNATURE_BYTES:
            raise UnsupportedContent(f"{repo}@{digest}: a signature layer of {size!r} bytes, not a signature")
        with store.read_blob(repo, Descriptor(sigstore.SIMPLESIGNING_MEDIA_TYPE, layer_digest, size)) as chunks:
            return b"".join(chunks)

    out: list[sigstore.CosignSignature] = []
    for m in manifests:
        try:
            doc = json.loads(m.data)
        except ValueError:
            raise UnsupportedContent(f"{repo}: the signature manifest {m.digest} is not JSON") from None
        out.extend(sigstore.signatures_in(doc if isinstance(doc, dict) else {}, read_layer))
    return out


def lookaside_signatures(base: str | None, digest: str, read_url: Callable[[str], bytes | None]) -> list[bytes]:
    """The GPG signatures of ``digest`` in a repository's lookaside store (``base``, None: none configured):
    ``signature-1``, ``signature-2``, ... until one is missing (``read_url`` gives None)."""
    out: list[bytes] = []
    while base is not None and len(out) < MAX_COMPANIONS:
        data = read_url(registries_d.signature_url(base, digest, len(out) + 1))
        if data is None:
            break
        out.append(data)
    return out


def url_reader(web: WebReader) -> Callable[[str], bytes | None]:
    """Reads a lookaside URL: ``file://`` from disk, ``http(s)://`` with the run's web reader; None when absent."""
    def read(url: str) -> bytes | None:
        if url.startswith("file://"):
            path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
            try:
                with open(path, "rb") as f:
                    return f.read(MAX_SIGNATURE_BYTES + 1)[:MAX_SIGNATURE_BYTES]
            except FileNotFoundError:
                return None
        try:
            return web.get(url, action="reading a lookaside signature", limit=MAX_SIGNATURE_BYTES,
                           kind="a signature")
        except NotFound:
            return None
    return read


JobKey = tuple[str, str, "str | None"]  # (source repository, tag or digest, push tag): one job of the plan


def job_key(job: CopyJob) -> JobKey:
    return (job.source.name, job.ref, job.push_tag)


@dataclass(frozen=True)
class Whole:
    """An image that vouches for others: an OpenShift release, whose payload names its components by digest.
    ``gpg_signatures`` are its signatures read from elsewhere than a lookaside store (the release signature store),
    checked as lookaside ones are; ``parts`` are not copied when the policy refuses ``job``."""

    job: CopyJob
    gpg_signatures: tuple[bytes, ...] = ()
    parts: tuple[CopyJob, ...] = ()


class SignatureChecker:
    """Decides on jobs with ``policy``, reading their sources through ``source_for``. ``registries`` says where GPG
    signatures live and whether cosign's are read (None: cosign's are, and there are no GPG ones); ``read_url``
    reads a lookaside store's URL."""

    def __init__(self, policy: Policy, source_for: SourceFor, *,
                 registries: registries_d.RegistriesD | None = None,
                 read_url: Callable[[str], bytes | None] = lambda url: None,
                 remembered: Mapping[tuple[str, str], dict] | None = None) -> None:
        self.policy = policy
        self.source_for = source_for
        self.registries = registries
        self.read_url = read_url
        # earlier runs' decisions (the previous report's ``signature``), by (source, tag or digest)
        self.remembered = remembered or {}
        # wholes and the wholes each part belongs to, by job and by (source, tag or digest): a layout holds each
        # image once, without the mirror tag that tells one release's component job from another's
        self._wholes: dict[JobKey | tuple[str, str], list[Whole]] = {}
        self._whole_of: dict[JobKey | tuple[str, str], list[Whole]] = {}
        self._decided: dict[JobKey, tuple[str, Decision]] = {}  # each whole's decision, made once
        self._lock = threading.Lock()

    def add_wholes(self, wholes: list[Whole]) -> None:
        """Images that vouch for others (see :class:`Whole`), known once the plan is made."""
        for w in wholes:
            for index, job in [(self._wholes, w.job)] + [(self._whole_of, part) for part in w.parts]:
                for key in (job_key(job), job_key(job)[:2]):
                    index.setdefault(key, []).append(w)

    @staticmethod
    def _find(index: dict, job: CopyJob) -> list[Whole]:
        key = job_key(job)
        return index.get(key) or index.get(key[:2]) or []

    def check(self, job: CopyJob) -> tuple[str, Decision]:
        """The digest the job reads now and the policy's decision on it; raises when the source cannot be read.
        A whole is decided once; a part of a refused whole is refused with its whole's reason."""
        wholes = self._find(self._whole_of, job)
        if wholes:  # refused when every whole it is part of is (in a layout, one image may serve several)
            verdicts = [(w, self._decide_whole(w)[1]) for w in wholes]
            if not any(v.accepted for _, v in verdicts):
                whole, verdict = verdicts[0]
                return job.digest or job.ref, replace(
                    verdict, message=f"part of {whole.job}, which is refused: {verdict.message}")
        mine = self._find(self._wholes, job)
        if mine:
            return self._decide_whole(mine[0])
        return self._check(job)

    def _decide_whole(self, whole: Whole) -> tuple[str, Decision]:
        key = job_key(whole.job)
        with self._lock:  # its parts ask concurrently: one verification, one answer for all of them
            if key not in self._decided:
                self._decided[key] = self._check(whole.job, whole.gpg_signatures)
            return self._decided[key]

    def _check(self, job: CopyJob, known_gpg: tuple[bytes, ...] = ()) -> tuple[str, Decision]:
        store, repo = self.source_for(job)
        digest = job.digest
        if digest is None:
            desc = store.manifest_descriptor(repo, job.ref)
            if desc is None:
                raise NotFound(f"{job}: manifest unknown", status=404)
            digest = desc.digest
        earlier = self.remembered.get((job.source.name, job.ref))
        if (earlier and earlier.get("accepted") is True and earlier.get("digest") == digest
                and earlier.get("policy") == self.policy.fingerprint and isinstance(earlier.get("scope"), str)):
            # accepted before for this very digest under this very policy (text and keys): content-addressed,
            # so the same answer; not read and verified again (a no-op re-run costs what it did without a policy)
            return digest, Decision(True, earlier["scope"])
        image = job.source.with_tag(job.tag) if job.tag else job.source.with_digest(digest)
        return digest, self.decide_on(image, digest, store, repo, known_gpg)

    def decide_on(self, image: Reference, digest: str, store: ContentStore, repo: str,
                  known_gpg: tuple[bytes, ...] = ()) -> Decision:
        """The decision on ``image`` (the source reference the policy's scopes and identities name) at ``digest``,
        its cosign signatures read from ``repo`` in ``store`` (the source, a layout, or a mirror), its GPG ones
        from its lookaside store and ``known_gpg``."""
        regs = self.registries
        attachments = regs is None or regs.use_sigstore_attachments(image)
        return decide(self.policy, image, digest,
                      lambda: cosign_signatures(store, repo, digest) if attachments else [],
                      lambda: [*known_gpg, *lookaside_signatures(regs.lookaside(image) if regs else None, digest,
                                                                 self.read_url)])

    def record(self, job: CopyJob) -> dict:
        """The report's ``signature`` for ``job`` without copying it (``plan --verify-signatures``); a source that
        cannot be read gives ``{"accepted": false, "error": ...}``."""
        try:
            digest, decision = self.check(job)
        except Exception as exc:  # noqa: BLE001 - this image's answer, the others go on
            return {"accepted": False, "error": describe(exc)}
        return _record(decision, digest, self.policy)


class SignatureGate:
    """Wraps an engine: each job is checked by ``checker`` before ``engine`` copies it (see the module)."""

    def __init__(self, engine: Engine, checker: SignatureChecker) -> None:
        self.inner = engine
        self.checker = checker

    @property
    def name(self) -> str:
        return self.inner.name

    def copy(self, job: CopyJob, progress: ImageProgress | None = None) -> CopyResult:
        try:
            digest, decision = self.checker.check(job)
        except Exception as exc:  # noqa: BLE001 - this image fails, the others go on
            return CopyResult(error=f"checking the signatures of {job}: {describe(exc)}")
        if not decision.accepted:
            return CopyResult(digest=digest, error=decision.describe(),
                              signature=_record(decision, digest, self.checker.policy))
        # by the digest just verified: a tag that moves meanwhile cannot slip something else through
        result = self.inner.copy(replace(job, ref=digest, target_tag=job.push_tag), progress)
        result.signature = _record(decision, digest, self.checker.policy)
        return result

    def close(self) -> None:
        self.inner.close()


def _record(decision: Decision, digest: str, policy: Policy) -> dict:
    """The report's ``signature`` of an image: the decision, the scope that applied, the digest it was made on,
    the policy's fingerprint."""
    out = {"accepted": decision.accepted, "scope": decision.scope, "digest": digest, "policy": policy.fingerprint}
    if decision.reason:
        out["reason"] = decision.reason
    return out

