"""The report's ``releases``: one record per OpenShift release of the manifest's ``platform`` section."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import InputError
from ...sync.report import Report


@dataclass
class ReleaseRecord:
    """One OpenShift release of the manifest's ``platform`` section; its images are in ``images`` like any other
    (the release image from ``source``, its components from their own repositories)."""

    source: str | None  # the release repository (host/path); None for a channel whose graph could not be read
    version: str | None
    digest: str | None
    status: str  # copied | up-to-date | partial | failed: the worst of its images
    channel: str | None = None  # the channel that selected it; None for a release named directly
    architecture: str | None = None  # amd64 | arm64 | ppc64le | s390x | multi
    mirrorTag: str | None = None  # <version>-<arch>, its tag in <mirror>/openshift/release-images
    components: int = 0
    componentSources: list[str] = field(default_factory=list)  # the repositories its components come from
    # The release's signature files from the manifest's signature store, base64, keyed as the ConfigMap's
    # binaryData (sha256-<hex>-<n>): the report stays the one seam, so generate and import write the ConfigMap too.
    signatures: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict:
        return dict(vars(self), componentSources=list(self.componentSources), signatures=dict(self.signatures))


REPORT_KEY = "releases"


def release_records(report: Report) -> list[ReleaseRecord]:
    """The report's releases as records (a report read from a file holds them as JSON objects: they are read into
    records once, in place)."""
    entries = report.sections.get(REPORT_KEY) or []
    if any(not isinstance(e, ReleaseRecord) for e in entries):
        try:
            entries = [e if isinstance(e, ReleaseRecord) else ReleaseRecord(**e) for e in entries]
        except TypeError as exc:
            raise InputError(f"malformed report: {exc}", field=REPORT_KEY) from None
        report.sections[REPORT_KEY] = entries
    return entries
