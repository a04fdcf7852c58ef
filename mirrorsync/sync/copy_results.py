"""What a copy is given and what it gives back: where an image goes (``Target``) and what came of it, for the image
(``CopyResult``) and on each target (``TargetResult``). Every engine fills the same ones, so that a report means the
same whichever engine copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..oci.store import ContentStore
from .image_progress import ImageProgress
from .status import Status


@dataclass
class Target:
    """Where one image goes: a repository in a store, labelled for the report (the mirror location)."""

    store: ContentStore
    repo: str
    label: str


@dataclass
class TargetResult:
    status: Status = Status.PENDING  # then COPIED, UP_TO_DATE or FAILED
    bytes_sent: int = 0
    bytes_skipped: int = 0
    blobs_sent: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    manifests_pushed: int = 0
    error: str | None = None


@dataclass
class CopyResult:
    digest: str | None = None
    media_type: str | None = None
    children: list[str] = field(default_factory=list)
    targets: list[TargetResult] = field(default_factory=list)
    bytes_read: int = 0
    retries: int = 0
    error: str | None = None  # a failure before any target could be written (the source side)
    platforms: list[str] | None = None  # with a platform filter: the platforms copied
    missing_platforms: list[str] = field(default_factory=list)  # listed platforms the source does not have
    rewritten_digest: str | None = None  # platformMode rewrite: the digest of the index pushed instead of ``digest``
    companions: list[dict] = field(default_factory=list)  # what travelled with the image (companions.py)
    # the registry hosts this image's requests could not reach (retries spent): the circuit breaker's count
    unreachable_hosts: set[str] = field(default_factory=set)
    # where the engine tells how far the image is (its bytes), for whoever shows progress; None: nobody
    progress: ImageProgress | None = field(default=None, compare=False, repr=False)
    read_from: str | None = None  # read through source mirrors: the location (host/path) it was read from
    # with a signature policy: its decision (signature_gate.py); refused, the image was not copied
    signature: dict | None = None

