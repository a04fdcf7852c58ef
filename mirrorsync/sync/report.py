"""The sync report: what a run copied where. The one seam between syncing and everything after it.

A versioned public contract (``apiVersion: mirrorsync.dev/v1alpha1``, ``kind: SyncReport``), documented in the
README. Mirror sets are built from a report alone, so ``generate`` gives the same CRs as the run that wrote it.
"""

from __future__ import annotations

import json
import os
import stat
import weakref
from dataclasses import dataclass, field, fields
from collections.abc import Iterable
from typing import Any, Iterator

from ..atomicfile import atomic_writer
from ..errors import InputError
from . import report_reader
from .status import OK_STATUSES, RunStatus, Status  # noqa: F401 - OK_STATUSES: part of this interface

API_VERSION = "mirrorsync.dev/v1alpha1"
KIND = "SyncReport"
SUPPORTED_API_VERSIONS = (API_VERSION,)

REPORT_FILE = "report.json"  # its name in an output directory (and in an export)


@dataclass(slots=True)
class DestinationRecord:
    mirror: str  # the mirror location as listed in the manifest (host[:port][/namespace])
    repository: str  # the full repository name on the mirror (host[:port]/path)
    status: str  # a Status: copied | up-to-date | failed | skipped
    bytesSent: int = 0
    bytesSkipped: int = 0
    blobsSent: int = 0
    blobsSkipped: int = 0
    blobsMounted: int = 0
    manifestsPushed: int = 0
    error: str | None = None
    # Whether this mirror repository holds the image after the run: copied or up to date now, or (status failed
    # or skipped) kept from an earlier run and confirmed there. None (reports before the field): the same as ok.
    onMirror: bool | None = None
    # The full name the repository would have had without the mirror host's depth limit (maxNestedPaths), when
    # that flattened it; None: not flattened, and not written (so that other reports keep their bytes).
    flattenedFrom: str | None = None

    def __post_init__(self) -> None:
        if self.onMirror is None:
            self.onMirror = self.ok

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


@dataclass(slots=True)
class ImageRecord:
    source: str  # source repository (host/path)
    tag: str | None
    digest: str | None  # the digest copied (resolved from the tag), None if it never resolved
    status: str  # a Status: copied | up-to-date | partial | failed | skipped
    mediaType: str | None = None
    children: list[str] = field(default_factory=list)
    mirrorSets: list[str] = field(default_factory=lambda: ["digest", "tag"])
    mirrorSourcePolicy: str | None = None
    scope: str = "repository"
    destinations: list[DestinationRecord] = field(default_factory=list)
    bytesRead: int = 0
    retries: int = 0
    error: str | None = None
    # Every destination holds the image (see DestinationRecord.onMirror); None (older reports): derived from them.
    onMirror: bool | None = None
    # The digest kept on the destinations this run did not reach, when an earlier run put it there; None when
    # nothing was kept (those destinations then hold ``digest``, if anything).
    mirroredDigest: str | None = None
    # The tag pushed on the mirrors when it is not the source's (a release component: <version>-<arch>-<name>).
    mirrorTag: str | None = None
    # The fields below are written only for images that use the feature (None: not used), so that other reports
    # keep their bytes.
    # With ``platforms``: the platforms copied, and those listed that the source does not have.
    platforms: list[str] | None = None
    missingPlatforms: list[str] | None = None
    # platformMode rewrite: the digest of the index the mirrors hold under the tag instead of ``digest``.
    rewrittenDigest: str | None = None
    # With ``signatures``/``referrers``: what was copied with the image: {"kind", "digest", "subject",
    # "tag" (cosign's), "artifactType" (a referrer's)}.
    companions: list[dict[str, Any]] | None = None
    # With ``options.sourceMirrors``: where the image was read from (``host/path`` of the mirror or the source).
    readFrom: str | None = None
    # With a signature policy: its decision on the digest the run read, {"accepted", "scope", "digest", "reason"
    # (refused: no signature | wrong key | digest mismatch | identity mismatch | invalid signature | policy
    # reject)}; an image refused has status signature-rejected and was not copied.
    signature: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.onMirror is None:
            self.onMirror = bool(self.destinations) and all(d.onMirror for d in self.destinations)

    @property
    def reference(self) -> str:
        return f"{self.source}:{self.tag}" if self.tag else f"{self.source}@{self.digest}"

    def held_digest(self, dest: DestinationRecord) -> str | None:
        """The digest ``dest`` holds: this run's when it reached it, else the one kept from an earlier run."""
        if dest.ok:
            return self.rewrittenDigest or self.digest
        return (self.mirroredDigest or self.rewrittenDigest or self.digest) if dest.onMirror else None


@dataclass(frozen=True)
class MirroredSource:
    """What the mirrors hold for one source repository, as the mirror sets are built from it."""

    source: str                 # source repository, e.g. "quay.io/ocp/release" (registry/path, no tag)
    mirrors: tuple[str, ...]    # mirror repositories in the order nodes try them, e.g. ("m1.example.com:5000/ocp/release", ...)
    by_digest: bool             # feeds the IDMS
    by_tag: bool                # feeds the ITMS
    policy: str | None = None   # "NeverContactSource" | "AllowContactingSource" | None (omitted)
    scope: str = "repository"   # "repository" | "namespace" | "registry" | "wildcard": how wide the CR entry may be


@dataclass
class Report:
    manifest: str | None
    engine: str
    mirrors: list[str]
    startedAt: str
    finishedAt: str | None = None
    status: str = RunStatus.RUNNING
    images: list[ImageRecord] = field(default_factory=list)
    retries: int = 0
    # Mirror-set entries the previous report in the output directory had and this one no longer gives, each
    # {"source", "mirror", "mirrorSets", "reason"}: what a cluster applying the new files stops using.
    removedEntries: list[dict[str, Any]] = field(default_factory=list)
    # What applying the CRs this run wrote, in place of those its output directory held before, does to the nodes
    # (mirrorsync.openshift.drain): {"verdict": "none" | "reload" | "drain", "reasons": [...]}. None (reports before
    # the field, or not written by run/import): not written, so those reports keep their bytes.
    nodeImpact: dict[str, Any] | None = None
    # What the manifest's other sections (mirrorsync.sync.section) recorded, by their report key, in the order
    # they finished: ``releases`` (openshift.releases), ``catalogs`` (openshift.catalogs). Each value is a list of
    # JSON objects, or of records with ``to_dict()``; a key with an empty list is not written, so that reports
    # without the section keep their bytes. A report read from a file holds the JSON objects as they were.
    sections: dict[str, list[Any]] = field(default_factory=dict)
    apiVersion: str = API_VERSION
    kind: str = KIND

    @property
    def failed(self) -> list[ImageRecord]:
        return [i for i in self.images if i.status not in OK_STATUSES]

    def totals(self) -> dict[str, int]:
        t = {"images": len(self.images), "copied": 0, "upToDate": 0, "failed": 0, "bytesSent": 0,
             "bytesSkipped": 0, "bytesRead": 0, "retries": self.retries}
        for img in self.images:
            key = {Status.COPIED: "copied", Status.UP_TO_DATE: "upToDate"}.get(img.status, "failed")
            t[key] += 1
            t["bytesRead"] += img.bytesRead
            for d in img.destinations:
                t["bytesSent"] += d.bytesSent
                t["bytesSkipped"] += d.bytesSkipped
        return t

    def to_dict(self, *, _lazy_images: bool = False) -> dict[str, Any]:
        d = {"apiVersion": self.apiVersion, "kind": self.kind, "manifest": self.manifest, "engine": self.engine,
             "mirrors": self.mirrors, "startedAt": self.startedAt, "finishedAt": self.finishedAt,
             "status": self.status, "totals": self.totals(),
             "images": (_LazyRecords(self.images) if _lazy_images
                        else [record_dict(i) for i in _sorted(self.images)]),
             "removedEntries": [dict(e) for e in self.removedEntries]}
        if self.nodeImpact is not None:
            d["nodeImpact"] = dict(self.nodeImpact)
        for key, records in self.sections.items():
            if records and key not in _ENGINE_KEYS:
                d[key] = [r.to_dict() if hasattr(r, "to_dict") else r for r in records]
        return d

    def to_json(self) -> str:
        return "".join(self.iter_json())

    def iter_json(self) -> Iterator[str]:
        """The report as JSON, in pieces: the same text as ``json.dumps(self.to_dict(), indent=2) + "\\n"``, made
        one image record at a time, so that writing a report of thousands of images never holds all of their
        dicts (or the whole text) at once."""
        items = self.to_dict(_lazy_images=True).items()
        yield "{"
        for n, (key, value) in enumerate(items):
            yield ("\n" if n == 0 else ",\n") + f"  {json.dumps(key)}: "
            if isinstance(value, _LazyRecords):
                yield from value.iter_json("  ")
            else:
                yield _json_text(value, "  ")
        yield "\n}\n" if items else "}\n"

    def save(self, path: str) -> None:
        with atomic_writer(path) as f:
            for piece in self.iter_json():
                f.write(piece.encode("utf-8"))


# the report's own keys; every other top-level list is a section's (``Report.sections``)
_ENGINE_KEYS = ("apiVersion", "kind", "manifest", "engine", "mirrors", "startedAt", "finishedAt", "status", "totals",
                "images", "removedEntries", "nodeImpact")
_OPTIONAL_IMAGE_FIELDS = ("mirrorTag", "platforms", "missingPlatforms", "rewrittenDigest", "companions", "readFrom",
                          "signature")
_OPTIONAL_DESTINATION_FIELDS = ("flattenedFrom",)
# the records' fields in the order a report writes them (slotted records have no ``vars``)
_IMAGE_FIELDS = tuple(f.name for f in fields(ImageRecord))
_DESTINATION_FIELDS = tuple(f.name for f in fields(DestinationRecord))


def record_dict(i: ImageRecord) -> dict[str, Any]:
    """``dataclasses.asdict`` for a record, in field order, without its deep copies (a tenth of the time)."""
    d = {name: getattr(i, name) for name in _IMAGE_FIELDS}
    d["children"] = list(i.children)
    d["mirrorSets"] = list(i.mirrorSets)
    d["destinations"] = [_destination_dict(x) for x in i.destinations]
    for key in _OPTIONAL_IMAGE_FIELDS:
        if d[key] is None:
            del d[key]
    if i.companions is not None:
        d["companions"] = [dict(c) for c in i.companions]
    return d


def _destination_dict(x: DestinationRecord) -> dict[str, Any]:
    d = {name: getattr(x, name) for name in _DESTINATION_FIELDS}
    for key in _OPTIONAL_DESTINATION_FIELDS:
        if d[key] is None:
            del d[key]
    return d


def _image_key(i: ImageRecord) -> tuple:
    return (i.source, i.tag or "", i.digest or "", i.mirrorTag or "")


def _sorted(images: Iterable[ImageRecord]) -> Iterable[ImageRecord]:
    """The records in the order a report file holds them; a file read that holds them so is read as it is."""
    return images if getattr(images, "in_order", False) else sorted(images, key=_image_key)


class _LazyRecords:
    """The ``images`` list of a report being streamed: each record becomes a dict and JSON text only when written."""

    def __init__(self, images: list[ImageRecord]) -> None:
        self.images = images

    def iter_json(self, indent: str) -> Iterator[str]:
        if not self.images:
            yield "[]"
            return
        inner = indent + "  "
        for n, image in enumerate(_sorted(self.images)):
            yield ("[\n" if n == 0 else ",\n") + inner + _json_text(record_dict(image), inner)
        yield "\n" + indent + "]"


_escape = json.encoder.encode_basestring_ascii  # json.dumps's own string escaping (ensure_ascii), in C


def _json_text(value: Any, indent: str) -> str:
    """``json.dumps(value, indent=2)`` as it reads nested at ``indent``, the same characters, about twice as fast
    for a report's records (json's C encoder does no indenting; its Python one is general). Whatever a record does
    not hold (floats, keys that are not strings) goes to json itself."""
    if isinstance(value, str):
        return _escape(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    inner = indent + "  "
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if not value:
            return "{}"
        return ("{\n" + ",\n".join(f"{inner}{_escape(k)}: {_json_text(v, inner)}" for k, v in value.items())
                + "\n" + indent + "}")
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _json_text(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, indent=2).replace("\n", "\n" + indent)  # a newline in JSON text is layout


def loads(text: str, file: str = "<report>") -> Report:
    """Parse a report written by any supported version, from its text (held whole; :func:`load` reads a file
    without holding it)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not a mirrorsync report: invalid JSON ({exc.msg})", file=file, line=exc.lineno) from None
    except RecursionError:
        raise InputError("not a mirrorsync report: invalid JSON (nested too deeply)", file=file) from None
    _check_kind(data, file)
    images = [record_from_dict(img, n, None, file) for n, img in enumerate(data.get("images") or [])]
    return _report(data, images, file)


def _check_kind(data: Any, file: str) -> None:
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise InputError(f"not a mirrorsync report (kind must be {KIND})", file=file, field="kind")
    if data.get("apiVersion") not in SUPPORTED_API_VERSIONS:
        raise InputError(f"unsupported report version {data.get('apiVersion')!r}", file=file, field="apiVersion")


def record_from_dict(img: Any, n: int, line: int | None, file: str) -> ImageRecord:
    """The record of ``images[n]``, or an input error naming it."""
    try:
        img = dict(img)
        dests = [DestinationRecord(**d) for d in img.pop("destinations", [])]
        return ImageRecord(destinations=dests, **img)
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"malformed report: {exc}", file=file, line=line, field=f"images[{n}]") from None


def _report(data: dict[str, Any], images: Any, file: str) -> Report:
    try:
        return Report(manifest=data.get("manifest"), engine=data.get("engine", "native"),
                      mirrors=list(data.get("mirrors") or []), startedAt=data.get("startedAt", ""),
                      finishedAt=data.get("finishedAt"), status=data.get("status", ""), images=images,
                      retries=int((data.get("totals") or {}).get("retries", 0)),
                      removedEntries=[dict(e) for e in data.get("removedEntries") or []],
                      nodeImpact=dict(data["nodeImpact"]) if isinstance(data.get("nodeImpact"), dict) else None,
                      sections={k: [dict(x) for x in v] for k, v in data.items()
                                if k not in _ENGINE_KEYS and isinstance(v, list)})
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"malformed report: {exc}", file=file) from None


class ReportImages:
    """The ``images`` of a report file, read from it again on each pass, one record at a time: iterates, has a
    length and compares like the list it stands for, without ever holding it. The file stays open (the same
    file on every pass, even once a newer report replaces it) while this exists. Adding records turns it into
    that list (a report being edited holds its records)."""

    def __init__(self, fd: int, file: str, count: int, in_order: bool) -> None:
        self.file = file
        self._fd = fd
        self._count = count
        self.in_order = in_order  # the file holds them sorted, as a report writes them
        self._held: list[ImageRecord] | None = None
        weakref.finalize(self, os.close, fd)

    def __iter__(self) -> Iterator[ImageRecord]:
        if self._held is not None:
            yield from self._held
            return
        n = 0
        for key, value, line in report_reader.events(self._fd, self.file):
            if key is report_reader.IMAGE:
                yield record_from_dict(value, n, line, self.file)
                n += 1

    def __len__(self) -> int:
        return len(self._held) if self._held is not None else self._count

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, index):
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, ReportImages)) else NotImplemented

    def __add__(self, other: list[ImageRecord]) -> list[ImageRecord]:
        return list(self) + list(other)

    def _hold(self) -> list[ImageRecord]:
        if self._held is None:
            self._held = list(self)
            self.in_order = False
        return self._held

    def append(self, record: ImageRecord) -> None:
        self._hold().append(record)

    def extend(self, records) -> None:
        self._hold().extend(records)


def _open(path: str) -> int:
    """The file opened for reading, or the one-line error ``read_text`` gives for one that cannot be read."""
    from ..yamlsource import read_text
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        read_text(path)
        raise
    if stat.S_ISDIR(os.fstat(fd).st_mode):  # Linux opens a directory for reading
        os.close(fd)
        read_text(path)
    return fd


def top_level(path: str) -> Any:
    """The JSON value in a file, read without holding a report's ``images`` (left out of the object): enough to
    tell what the file is. Raises ``InputError`` for a file that is not JSON."""
    fd = _open(path)
    try:
        data: dict[str, Any] = {}
        for key, value, _ in report_reader.events(fd, path):
            if key is None:
                return value
            if key is not report_reader.IMAGE:
                data[key] = value
        return data
    finally:
        os.close(fd)


def load(path: str) -> Report:
    """Read a report file written by any supported version, in one pass that checks every record and holds none:
    the report's ``images`` are read from the file again when they are iterated (:class:`ReportImages`)."""
    fd = _open(path)
    try:
        data: dict[str, Any] = {}
        count, in_order, last, bad = 0, True, None, None
        for key, value, line in report_reader.events(fd, path):
            if key is report_reader.IMAGE:
                try:
                    k = _image_key(record_from_dict(value, count, line, path))
                    in_order = in_order and (last is None or last <= k)
                    last = k
                except InputError as exc:
                    bad = bad or exc  # after the kind: a file that is no report is not a malformed one
                except TypeError:  # keys that do not compare (a null where a string was): sort on writing
                    in_order = False
                count += 1
            elif key is None:
                data = value
            else:
                data[key] = value
        _check_kind(data, path)
        if bad is not None:
            raise bad
        if "images" in data and count == 0:  # "images": null, or not an array
            count = len([record_from_dict(img, n, None, path) for n, img in enumerate(data.pop("images") or [])])
        images = ReportImages(fd, path, count, in_order)
    except BaseException:
        os.close(fd)
        raise
    return _report(data, images, path)


def mirrored_sources(reports: list[Report]) -> list[MirroredSource]:
    """What the mirrors hold, per source repository, as mirror-set input: content this run copied or found up to
    date, and content an earlier run put there that this run confirmed (``onMirror``) although it failed.

    A mirror is listed for a source only if at least one image of that source is on it; mirrors keep the order
    of the manifest (the order nodes try them). Several reports (shards of one sync) merge into one set.
    """
    order: list[str] = []
    for rep in reports:
        for m in rep.mirrors:
            if m not in order:
                order.append(m)
    groups: dict[str, dict[str, Any]] = {}
    for rep in reports:
        for img in rep.images:
            good = [d for d in img.destinations if d.onMirror]
            if not good:
                continue
            g = groups.setdefault(img.source, {"mirrors": {}, "digest": False, "tag": False,
                                               "policy": img.mirrorSourcePolicy, "scope": img.scope})
            if any(d.flattenedFrom for d in good):
                g["scope"] = "repository"  # a flattened path is not the source's below any wider scope
            for d in good:
                # a set: one source lands in one repository per mirror, except a release whose image and
                # components share a repository (they land in openshift/release-images and openshift/release)
                g["mirrors"].setdefault(d.mirror, set()).add(d.repository)
            if "digest" in img.mirrorSets:
                g["digest"] = True
            if "tag" in img.mirrorSets and img.tag:
                g["tag"] = True
    out = []
    for source in sorted(groups):
        g = groups[source]
        if not (g["digest"] or g["tag"]):
            continue
        mirrors = tuple(r for m in order if m in g["mirrors"] for r in sorted(g["mirrors"][m]))
        out.append(MirroredSource(source=source, mirrors=mirrors, by_digest=g["digest"], by_tag=g["tag"],
                                  policy=g["policy"], scope=g["scope"]))
    return out
