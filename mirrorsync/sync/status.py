"""What became of an image, a destination, a release, a run: one type each, with the words report.json uses
(a ``StrEnum`` compares equal to, and is written as, its text, so reports read back as plain strings compare
too)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """An image's (and each of its destinations', a release's) status in the report."""

    COPIED = "copied"  # sent this run (a destination lacked something)
    UP_TO_DATE = "up-to-date"  # every destination already held it
    PARTIAL = "partial"  # some destinations hold it, others failed
    FAILED = "failed"
    SKIPPED = "skipped"  # not started: the run was interrupted first
    SIGNATURE_REJECTED = "signature-rejected"  # the signature policy refused it: not copied (signature_gate.py)
    PENDING = "pending"  # a destination not yet decided (inside a copy; never in a report)

    @property
    def ok(self) -> bool:
        return self in OK_STATUSES


OK_STATUSES = frozenset({Status.COPIED, Status.UP_TO_DATE})


class RunStatus(StrEnum):
    """A run's (and a prune's) overall status."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    PARTIALLY_FAILED = "PartiallyFailed"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
