"""Knowing the mirror is right: every manifest and blob the CRs promise is on every mirror that the report lists.

From a report, each image on each mirror it reached is checked: the tag (when the image has one) still names the
digest that was copied, every manifest under that digest is there (manifests are read: they are small and name
the blobs), and every blob they name is there — blobs by HEAD only, never downloaded. From a manifest, the same for
everything it selects, with the digests taken from the sources (tags listed there, as ``plan`` does).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InputError, NotFound, describe
from ..oci.content import Manifest
from ..oci.store import ContentStore
from ..registry import reference
from ..registry.retry import RetryPolicy
from ..trust import policy as trust_policy
from ..sync import report as report_mod
from ..sync.copy import MAX_INDEX_DEPTH, config_platform
from ..sync.engines import Clients, registry_source
from ..sync.manifest import SyncManifest
from ..sync.platforms import select as select_platforms
from ..sync.report import Report
from ..sync.signature_gate import SignatureChecker
from .planning import plan_from_registries, sections_of
from .sections import ALL, load_manifest

StoreFor = Callable[[str], ContentStore]  # registry host[:port] -> its store


@dataclass(frozen=True)
class Check:
    """One image on one mirror repository, and the digest it must have."""

    repository: str  # host[:port]/path on the mirror
    digest: str | None  # None: take what the tag names (the source could not say)
    tag: str | None = None
    source: str = ""
    # With platforms in sparse mode: the index's entries that were copied (the others are not on the mirror)
    children: tuple[str, ...] | None = None
    # An image (not what travelled with it, not a rebuilt catalog): the source reference a signature policy names
    # it by, ``host/repo:tag`` or ``host/repo@digest``; None: no policy applies to it
    signed_as: str | None = None

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"


@dataclass
class Outcome:
    images: int = 0
    manifests: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)
    failed: set[Check] = field(default_factory=set)  # the checks that found a problem
    entries: int = 0  # with a report: the CR entries (source -> mirror repository) it gives
    entries_ok: int = 0  # ... and of those, the ones whose every image is on the mirror
    entry_gaps: list[str] = field(default_factory=list)  # one line per other entry

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self, problems: list[str] | None = None) -> dict:
        """What ``verify --output json`` prints: the counts, each problem line (``problems``: those of the whole
        check, planning included; default: the walk's), and with a report the CR entries."""
        problems = list(self.problems if problems is None else problems)
        return {"ok": not problems, "images": self.images, "manifests": self.manifests, "blobs": self.blobs,
                "problems": problems, "entries": self.entries, "entriesOk": self.entries_ok,
                "entryGaps": list(self.entry_gaps)}


def checks_from_reports(reports: list[Report]) -> list[Check]:
    """What the reports say the mirrors hold: one check per image and mirror it is on, copied by the run or kept
    from an earlier one (``onMirror``, with the digest kept there)."""
    out = []
    for rep in reports:
        if any(m.startswith("oci:") for m in rep.mirrors):
            raise InputError("this is the report of an export (its target is an OCI layout, not a mirror): verify "
                             "the mirrors with the report of the import", field="mirrors")
        for img in rep.images:
            for d in img.destinations:
                digest = img.held_digest(d)
                if digest:
                    sparse = img.platforms is not None and not img.rewrittenDigest and img.children
                    # a release's images: their own tag on the mirror, which keeps them from garbage collection
                    out.append(Check(d.repository, digest, img.mirrorTag or img.tag, img.source,
                                     tuple(img.children) if sparse else None,
                                     reference.at(img.source, img.tag or digest)))
                    # and what travelled with it (signatures, referrers): a node with a signature policy needs them
                    out += [Check(d.repository, c["digest"], c.get("tag"), img.source)
                            for c in img.companions or [] if c.get("digest")]
        for section in ALL:  # what the sections put there besides their images (each rebuilt catalog)
            out += [Check(repository, digest, tag, source) for repository, digest, tag, source in section.held(rep)]
    return sorted(set(out), key=lambda c: (c.repository, c.tag or "", c.digest or ""))


def checks_from_manifest(manifest: SyncManifest, clients: Clients) -> tuple[list[Check], list[str]]:
    """Everything the manifest selects on every mirror, with digests from the sources; and what could not be read."""
    problems: list[str] = []
    store_for = clients.get
    # every section's images (the releases each with its components, every bundle and related image the catalog
    # filters keep, each catalog image); signatures are no mirror content
    the_plan = plan_from_registries(manifest, clients, signatures=False)
    problems += [p for section, _ in sections_of(manifest) for p in section.problems(the_plan)]
    problems += [f"error: {f.error}" for f in the_plan.failures]
    out = []
    for job in the_plan.jobs:
        digest = job.digest
        if digest is None:
            try:
                desc = store_for(job.source.registry).manifest_descriptor(job.source.repository, job.ref)
            except Exception as exc:  # noqa: BLE001 - reported, the other images are still checked
                problems.append(f"error: reading {job}: {describe(exc)}")
                continue
            if desc is None:
                problems.append(f"error: {job} is not in the source")
                continue
            digest = desc.digest
        children = None
        if job.spec.platform_filter is not None:
            try:
                digest, children = _selected(store_for(job.source.registry), job)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"error: reading {job}: {describe(exc)}")
                continue
        for d in job.destinations:
            out.append(Check(d.name, digest, job.push_tag, job.source.name, children,
                             reference.at(job.source.name, job.tag or digest)))
    return out, problems


def _selected(source: ContentStore, job) -> tuple[str, tuple[str, ...] | None]:
    """What a platform-filtered image must be on the mirror: the index pushed and, for a sparse one, its entries
    that were copied."""
    repo = job.source.repository
    top = source.get_manifest(repo, job.ref)
    chosen = select_platforms(top, job.spec.platform_filter, lambda: config_platform(source, repo, top))
    return chosen.top.digest, None if chosen.rewritten else tuple(c.digest for c in chosen.children)


class _Verifier:
    def __init__(self, store_for: StoreFor, checker: SignatureChecker | None = None) -> None:
        self.store_for = store_for
        self.checker = checker
        self.outcome = Outcome()
        self._lock = threading.Lock()
        self._manifests: dict[tuple[str, str], Manifest | None] = {}
        self._walked: dict[tuple[str, str], threading.Event] = {}  # set once a manifest's walk is over
        self._blobs: dict[tuple[str, str], bool] = {}
        self._bad: set[tuple[str, str]] = set()  # (repository, manifest digest) with something missing under it

    def problem(self, text: str) -> None:
        with self._lock:
            self.outcome.problems.append(text)

    def check(self, c: Check) -> None:
        host, _, repo = c.repository.partition("/")
        ok = False
        try:
            store = self.store_for(host)
            digest = c.digest
            if c.tag:
                have = store.manifest_descriptor(repo, c.tag)
                if have is None:
                    self.problem(f"missing: {c.repository}:{c.tag} (tag)")
                elif digest and have.digest != digest:
                    self.problem(f"wrong: {c.repository}:{c.tag} names {have.digest}, expected {digest}"
                                 + (f" (from {c.source})" if c.source else ""))
                elif digest is None:
                    digest = have.digest
                ok = have is not None and have.digest == digest
            if digest:
                ok = self._walk(store, c.repository, repo, digest, 0, None, c.children) and (ok or not c.tag)
            if ok and digest and self.checker is not None and c.signed_as:
                ok = self._trusted(c, store, repo, digest)
        except Exception as exc:  # noqa: BLE001 - one unreadable mirror does not stop the others
            self.problem(f"error: {c.name}: {describe(exc)}")
            ok = False
        with self._lock:
            self.outcome.images += 1
            if not ok:
                self.outcome.failed.add(c)

    def _trusted(self, c: Check, store: ContentStore, repo: str, digest: str) -> bool:
        """Whether the signature policy accepts what the mirror holds for ``c``, from the signatures the mirror
        holds: the source reference as the policy names it, the digest on the mirror (a node's view)."""
        image = reference.parse(c.signed_as)
        decision = self.checker.decide_on(image, digest, store, repo)
        if not decision.accepted:
            self.problem(f"untrusted: {c.name}: {decision.describe()}")
        return decision.accepted

    def _walk(self, store: ContentStore, full: str, repo: str, digest: str, depth: int, parent: str | None,
              only: tuple[str, ...] | None = None) -> bool:
        """Whether everything under ``digest`` is there (each problem is reported once, by the first walk); of its
        entries, ``only`` these when given (a sparse index)."""
        key = (full, digest) if only is None else (full, digest, only)
        with self._lock:
            walked = self._walked.get(key)
            first = walked is None
            if first:
                self._walked[key] = walked = threading.Event()
        if not first:
            walked.wait()  # until the first walk of it has looked at everything below it, not just at it
            return key not in self._bad
        try:
            return self._walk_first(store, full, repo, digest, depth, parent, key, only)
        except BaseException:
            self._mark_bad(key)  # unknown is not whole
            raise
        finally:
            walked.set()

    def _walk_first(self, store: ContentStore, full: str, repo: str, digest: str, depth: int, parent: str | None,
                    key: tuple, only: tuple[str, ...] | None = None) -> bool:
        try:
            m: Manifest | None = store.get_manifest(repo, digest)
        except NotFound:
            m = None
        with self._lock:
            self._manifests[key] = m
            self.outcome.manifests += 1
        if m is None:
            self.problem(f"missing: {full}@{digest} (manifest" + (f" of {parent})" if parent else ")"))
            self._mark_bad(key)
            return False
        whole = True
        if depth < MAX_INDEX_DEPTH:
            for child in m.children:
                if only is not None and child.digest not in only:
                    continue
                whole = self._walk(store, full, repo, child.digest, depth + 1, digest) and whole
        for blob in m.blobs:
            if blob.foreign:
                continue
            bkey = (full, blob.digest)
            with self._lock:
                known = self._blobs.get(bkey)
            if known is None:
                known = store.has_blob(repo, blob.digest)
                with self._lock:
                    self._blobs[bkey] = known
                    self.outcome.blobs += 1
            if not known:
                self.problem(f"missing: {full}@{blob.digest} (blob of {digest})")
                whole = False
        if not whole:
            self._mark_bad(key)
        return whole

    def _mark_bad(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._bad.add(key)


def verify(checks: list[Check], store_for: StoreFor, *, workers: int = 8,
           checker: SignatureChecker | None = None) -> Outcome:
    """Run the checks (images in parallel); every problem is one line starting missing:, wrong:, error: or (with
    a ``checker``, the signature policy's) untrusted:."""
    v = _Verifier(store_for, checker)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        list(pool.map(v.check, checks))
    v.outcome.problems = sorted(set(v.outcome.problems))
    return v.outcome


def verify_target(target: str, *, manifest: str | None = None, auth_file: str | None = None,
                  workers: int = 8, max_nested_paths: int | None = None,
                  signature_policy: str | None = None) -> tuple[Outcome, list[str]]:
    """``mirrorsync verify``: check a report (what it says reached the mirrors) or a manifest (everything it
    selects, digests read from the sources). Returns the outcome and every problem found, sorted, once each.

    With a report, registry settings (TLS, certificates, auth) come from ``manifest``, else from the manifest the
    report names when that file is there (beside the report or as named), else defaults. With
    ``signature_policy`` every image must also be accepted by it, from the signatures on the mirror.
    """
    try:
        top = report_mod.top_level(target)
        is_report = isinstance(top, dict) and top.get("kind") == report_mod.KIND
    except InputError:
        is_report = False
    if is_report:
        rep = report_mod.load(target)
        settings_from = manifest
        if settings_from is None and rep.manifest:
            named = [Path(rep.manifest), Path(target).parent / rep.manifest]
            settings_from = next((str(p) for p in named if p.is_file()), None)
        m = load_manifest(settings_from) if settings_from else SyncManifest("", (), ())
    else:
        m = load_manifest(target, max_nested_paths=max_nested_paths)
    trusted = trust_policy.check_file(signature_policy) if signature_policy else None
    clients = Clients(m, auth_file=auth_file, policy=RetryPolicy.from_retries(m.options.retries),
                      timeout=m.options.timeout)
    try:
        checker = SignatureChecker(trusted, registry_source(clients)) if trusted is not None else None
        if is_report:
            checks, problems = checks_from_reports([rep]), []
        else:
            checks, problems = checks_from_manifest(m, clients)
        outcome = verify(checks, clients.get, workers=workers, checker=checker)
    finally:
        clients.close()
    if is_report:
        count_entries([rep], outcome)
    return outcome, sorted(set(problems + outcome.problems))


def count_entries(reports: list[Report], outcome: Outcome) -> None:
    """Count in ``outcome`` the CR entries (source -> mirror repository) the reports give, and list as
    ``entry_gaps`` those whose images are not all on the mirror."""
    checks: dict[tuple[str, str], list[Check]] = {}
    for c in checks_from_reports(reports):
        checks.setdefault((c.source, c.repository), []).append(c)
    for src in report_mod.mirrored_sources(reports):
        for mirror in src.mirrors:
            mine = checks.get((src.source, mirror), [])
            bad = [c for c in mine if c in outcome.failed]
            outcome.entries += 1
            if bad:
                outcome.entry_gaps.append(f"entry {src.source} -> {mirror}: {len(bad)} of {len(mine)} image(s) "
                                          "not on the mirror")
            else:
                outcome.entries_ok += 1
