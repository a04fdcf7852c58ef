"""Whether a failed skopeo run is worth another (``_Budget``), from what the mirror gained meanwhile (``_Progress``)."""

from __future__ import annotations

from collections import Counter

from ...registry.client import RegistryClient
from .failures import MISMATCH, PERMANENT, classify, failure_step
from .process import Outcome

# Runs in a row that add nothing to the mirror, per allowed retry, before an image is abandoned whatever step each
# failed at: faults spread over the ~50 requests of a run can fail most runs before their first blob lands, and
# each failing elsewhere is no sign of being stuck; this only bounds a registry that never lets a run through.
STUCK_RUNS = 4


class _Budget:
    """Whether a failed skopeo run is worth another; the retries of one image to one mirror.

    A permanent failure (``classify``) is not retried, nor a digest mismatch of a blob that mismatched before (a
    source that keeps serving wrong bytes). A transient one is, as long as runs make progress: skopeo skips what
    earlier runs put on the mirror, so retries are counted per step of the copy (``failure_step``, as the native
    engine counts them per request) and start afresh whenever the mirror gained part of the image (``_Progress``).
    """

    def __init__(self, retries: int, progress: _Progress) -> None:
        self.retries = retries
        self.progress = progress
        self.runs = 0
        self.failures_here = 0  # failed runs at the step the last run failed at, since the last progress
        self._failed_at: Counter[str] = Counter()
        self._streak = 0  # failed runs in a row that added nothing to the mirror
        self._mismatched: set[str | None] = set()

    def spend(self, outcome: Outcome) -> str | None:
        """Account for one failed run: None when another is worth it, else why not (for the report)."""
        self.runs += 1
        error = outcome.error or ""
        kind, blob = classify(error)
        if kind == PERMANENT:
            return "permanent: not retried"
        if kind == MISMATCH:
            if blob in self._mismatched:
                return "permanent: the source served content that does not match its digest again"
            self._mismatched.add(blob)
        if self.progress.grew(outcome.transcript.skipped):
            self._streak = 0
            self._failed_at.clear()
        else:
            self._streak += 1
        step = failure_step(error)
        self._failed_at[step] += 1
        self.failures_here = self._failed_at[step]
        if self.retries <= 0:
            return "transient: not retried, retries is 0"
        if self.failures_here > self.retries:
            return (f"transient: {self.failures_here} runs failed at this step since the mirror last gained part "
                    f"of the image, {self.runs} runs in all")
        if self._streak > STUCK_RUNS * (self.retries + 1):
            return f"transient: {self._streak} runs in a row added nothing to the mirror, {self.runs} in all"
        return None


class _Progress:
    """Which of one image's blobs and manifests a mirror repository holds, asked only after a failed run (a copy
    that works costs no request more). A question that fails counts as "not there"."""

    def __init__(self, mirror: RegistryClient, repo: str, ref: str, digest: str, blobs: dict[str, int],
                 children: set[str]) -> None:
        self.mirror, self.repo, self.ref, self.digest = mirror, repo, ref, digest
        self.blobs, self.children = set(blobs), children
        self.known: set[str] | None = None  # None until the first failed run

    def landed(self) -> bool:
        """Whether the mirror's tag (or digest) already names the image; skopeo puts it last, so it is whole."""
        try:
            have = self.mirror.manifest_descriptor(self.repo, self.ref)
        except Exception:  # noqa: BLE001 - unknown is not there
            return False
        return have is not None and have.digest == self.digest

    def grew(self, found_there: set[str]) -> bool:
        """Whether the repository holds anything of the image it did not hold after the previous failed run.
        Before the first, it held what that run found there (``found_there``: the blobs skopeo skipped)."""
        if self.known is None:
            self.known = found_there & self.blobs
        new = {d for d in (self.blobs | self.children) - self.known if self._there(d)}
        self.known |= new
        return bool(new)

    def _there(self, digest: str) -> bool:
        try:
            if digest in self.blobs:
                return self.mirror.has_blob(self.repo, digest)
            return self.mirror.manifest_descriptor(self.repo, digest) is not None
        except Exception:  # noqa: BLE001 - unknown is not there
            return False
