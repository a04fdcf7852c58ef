"""Charts in a run: pick each entry's versions, read every chosen chart (its archive from a chart repository, an
OCI registry or a local path), find its images and plan them as ordinary copy jobs; after the copies, push each
chart to every mirror as ``helm push`` would (:mod:`.artifact`) and record it in the report's ``charts``.

A chart read from an OCI registry is itself a copy job (by digest, tagged with its version on the mirrors), so its
digest on the mirror is the source's. The found images feed the mirror sets as any image does; the charts feed none
(Helm, Flux and Argo CD name the mirror directly).
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from ..errors import InputError, NotFound, describe
from ..oci import image_build
from ..oci.image_build import BuiltImage
from ..oci.store import ContentStore
from ..registry import auth, reference
from ..registry.reference import Reference
from ..sync.manifest import ImageSpec, SyncManifest
from ..sync.plan import CopyJob, Plan, add_jobs, destinations, spec_for
from ..sync.report import Report
from ..sync.section import Pushed, mirrors_holding
from ..sync.tag_selection import select
from . import archive, artifact, images as images_mod, render, repo_index
from .archive import ChartError
from .images import FoundImage
from .spec import KEY, ChartSpec, ChartsSpec

log = logging.getLogger(__name__)

PLAN_KEY = REPORT_KEY = KEY
# only in an export's report: each chart's archive and provenance file (base64), under the export's SHA256SUMS
CARRIED_CHART, CARRIED_PROV = "carriedChart", "carriedProvenance"
INTERRUPTED = "the run was interrupted before the chart was pushed"


@dataclass
class ChartPlan:
    """One version of one chart entry, read and looked through."""

    spec: ChartSpec
    name: str
    version: str
    repository: str  # below each mirror
    source: str  # where it was read: the archive's URL, oci://..., the local path
    tgz: bytes = b""
    prov: bytes | None = None
    metadata: dict = field(default_factory=dict)
    created: str = ""
    images: list[FoundImage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    job: CopyJob | None = None  # a chart from an OCI registry, copied as it is
    image_refs: dict[str, Reference] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return artifact.tag_for(self.version)

    def built(self) -> BuiltImage:
        return artifact.build(self.tgz, self.metadata, self.created, self.prov)

    def to_dict(self) -> dict:
        """What ``plan`` shows and the report starts from."""
        return {"chart": self.name, "version": self.version, "kind": self.spec.kind, "source": self.source,
                "entry": ".".join(str(p) for p in self.spec.path), "repository": self.repository,
                "tag": self.tag, "provenance": self.prov is not None, "created": self.created or None,
                "chartDigest": image_build.sha256(self.tgz) if self.tgz else None,
                "images": [i.to_dict() for i in self.images], "warnings": list(self.warnings), "error": self.error}


def chart_plans(the_plan: Plan) -> list[ChartPlan]:
    return the_plan.sections.get(PLAN_KEY) or []


def chart_entries(report: Report | None) -> list[dict]:
    return report.sections.get(REPORT_KEY) or [] if report is not None else []


def chart_image_spec(source: Reference, repository: str) -> ImageSpec:
    """A chart from an OCI registry as an image entry: to its repository below each mirror, in no mirror set."""
    return ImageSpec(source=source, destination=repository, mirror_sets=(), index=-1)


class _Reader:
    """HTTP(S) reads of chart repositories: the registry settings, credentials, proxies and retries of the host."""

    def __init__(self, manifest: SyncManifest, clients) -> None:
        self.manifest, self.clients = manifest, clients
        self._indexes: dict[str, dict | Exception] = {}

    def get(self, url: str, what: str, limit: int, *, credentials_of: str) -> bytes:
        """``credentials_of``: the repository's URL; its host's credentials go to that host only (Helm's default,
        without ``--pass-credentials``)."""
        host = urlsplit(url).netloc
        creds = None
        if host == urlsplit(credentials_of).netloc:
            creds = auth.lookup(host, auth_file=self.manifest.settings_for(host).auth_file or self.clients.auth_file)
        return self.clients.web.get(url, action=f"reading {what} {url}", limit=limit, kind=what, credentials=creds)

    def index(self, url: str) -> dict[str, list[repo_index.ChartVersion]]:
        if url not in self._indexes:
            try:
                index_url = url + "index.yaml"
                self._indexes[url] = repo_index.parse(
                    self.get(index_url, "a chart index", repo_index.MAX_INDEX_BYTES, credentials_of=url), index_url)
            except Exception as exc:  # noqa: BLE001 - kept, and raised for every chart of the repository
                self._indexes[url] = exc
        got = self._indexes[url]
        if isinstance(got, Exception):
            raise got
        return got


def add_to_plan(the_plan: Plan, manifest: SyncManifest, spec: ChartsSpec, ctx) -> None:
    """Every chart version the manifest selects, read; its images added (once each) as jobs. Bad input (an index
    that is no chart index, a version nothing satisfies, an archive refused) raises ``InputError`` at the entry's
    line; a repository or registry that cannot be read fails that chart alone."""
    plans = the_plan.sections.setdefault(PLAN_KEY, [])
    listed = {s.source: s for s in manifest.images}
    reader = _Reader(manifest, ctx.clients) if ctx.clients is not None else None
    for chart in spec.charts:
        for cp in _plan_entry(chart, spec, manifest, ctx, reader):
            plans.append(cp)
            if cp.error is not None:
                continue
            jobs = [cp.job] if cp.job is not None else []
            for ref in cp.image_refs.values():
                s = spec_for(listed, ref)
                jobs.append(CopyJob(s, ref.digest or ref.tag, destinations(manifest, s)))
            add_jobs(the_plan, jobs)


def _plan_entry(chart: ChartSpec, spec: ChartsSpec, manifest: SyncManifest, ctx, reader) -> list[ChartPlan]:
    try:
        if chart.kind == "oci":
            # an export copies it into the layout by its tag; an import reads it there, as a run reads the registry
            return _from_oci(chart, spec, manifest, ctx)
        if ctx.from_layout:
            return _from_export(chart, spec, manifest, ctx.carried)
        if chart.kind == "repository":
            return _from_repository(chart, spec, manifest, reader)
        return [_from_local(chart, spec, manifest)]
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a source that cannot be read fails this entry alone
        # its repository below the mirrors where its name is known: prune keeps every tag there
        return [ChartPlan(chart, chart.name or os.path.basename(chart.local), "",
                          spec.repository_for(chart.name) if chart.name else "", chart.source,
                          error=f"chart {chart.source}: {describe(exc)}")]


def is_version_of(chart: ChartSpec, entry: dict) -> bool:
    """Whether a report's entry is a version of ``chart``: a repository's chart by its name and the repository's
    URL, an OCI chart by its repository, a local chart by its path."""
    if entry.get("kind") != chart.kind:
        return False
    source = str(entry.get("source") or "")
    if chart.kind == "local":
        return source == chart.local
    if chart.kind == "oci":
        return source.rpartition(":")[0] == f"oci://{chart.oci.name}"
    return entry.get("chart") == chart.name and source.startswith(chart.url)


def protected(report: Report, the_plan: Plan) -> tuple[set[tuple[str, str]], list[str]]:
    """(source, tag or digest) of the images (and OCI charts) the report's versions of a chart that could not be
    read this time hold, and why: ``prune`` keeps them, since the chart may still select them."""
    keep: set[tuple[str, str]] = set()
    why: list[str] = []
    for cp in chart_plans(the_plan):
        if cp.error is None:
            continue
        why.append(f"every image of {cp.spec.source}: {cp.error}")
        for entry in chart_entries(report):
            if not is_version_of(cp.spec, entry):
                continue
            if cp.spec.kind == "oci":
                keep |= {(cp.spec.oci.name, str(entry[k])) for k in ("tag", "digest") if entry.get(k)}
            for image in entry.get("images") or []:
                try:
                    ref = reference.parse(str(image.get("image")))
                except InputError:
                    continue  # an entry edited into what is no reference
                keep.add((ref.repo_only().name, ref.digest or ref.tag or "latest"))
    return keep, why


def kept_pushes(report: Report, manifest: SyncManifest, the_plan: Plan) -> set[tuple[str, str | None]]:
    """(mirror repository, tag) of every chart this plan pushes to the manifest's mirrors; for a chart that could
    not be read this time (it may still select any version), (mirror repository, None) and every version the
    report has of it."""
    keep: set[tuple[str, str | None]] = set()
    for cp in chart_plans(the_plan):
        if cp.error is None or cp.repository:
            keep |= {(f"{m.registry}/{m.repository(cp.repository)}", cp.tag if cp.error is None else None)
                     for m in manifest.mirrors}
        if cp.error is None:
            continue
        for entry in chart_entries(report):
            if is_version_of(cp.spec, entry):
                keep |= {(repository, tag) for repository, tag, _ in mirrors_holding(entry)}
    return keep


def prunable(report: Report, manifest: SyncManifest, the_plan: Plan) -> list[Pushed]:
    """The charts the report says a run pushed that this plan no longer pushes there, each with why. A chart from
    an OCI registry is left out: it was copied, and goes as any image the manifest no longer selects."""
    keep = kept_pushes(report, manifest, the_plan)
    spec = manifest.sections.get(KEY)
    entries_now = spec.charts if isinstance(spec, ChartsSpec) else []
    locations = {m.location for m in manifest.mirrors}
    out = []
    for entry in chart_entries(report):
        if entry.get("kind") == "oci":
            continue
        named = any(is_version_of(c, entry) for c in entries_now)
        what = f"chart {entry.get('chart')} {entry.get('version')}"
        for repository, tag, m in mirrors_holding(entry):
            if (repository, tag) in keep or (repository, None) in keep:
                continue
            if not named:
                why = f"the manifest no longer names chart {entry.get('chart')} ({entry.get('source')})"
            elif m.get("mirror") not in locations:
                why = f"the manifest no longer mirrors to {m.get('mirror')}"
            else:
                why = f"{what} is no longer among the versions its charts entry selects"
            out.append(Pushed(str(entry.get("source") or ""), str(m.get("mirror")), repository, tag,
                              str(m["digest"]), why, named))
    return out


def without(report: Report, gone: set[tuple[str, str]]) -> None:
    """``report``'s charts without the mirrors in ``gone`` (repository, tag); an entry left on no mirror goes.
    A new list in a new ``sections``: the report it was copied from keeps its own."""
    entries = chart_entries(report)
    if not entries:
        return
    kept = []
    for entry in entries:
        mirrors = [m for m in entry.get("mirrors") or []
                   if not any((r, t) in gone for r, t, x in mirrors_holding(entry) if x is m)]
        if mirrors or not entry.get("mirrors"):
            kept.append({**entry, "mirrors": mirrors} if entry.get("mirrors") else dict(entry))
    report.sections = {**report.sections, REPORT_KEY: kept}


def _from_export(chart: ChartSpec, spec: ChartsSpec, manifest: SyncManifest, carried: Report | None) -> list[ChartPlan]:
    """An import: the versions the export selected, from its report (the archives in base64, under the export's
    SHA256SUMS, checked again here), looked through as a run looks through them."""
    entries = [e for e in chart_entries(carried) if is_version_of(chart, e) and e.get(CARRIED_CHART)]
    if not entries:
        raise manifest.error(chart.path, f"the export carries no chart for this entry ({chart.source}): export "
                                         "with it in the manifest")
    out = []
    for e in entries:
        cp = ChartPlan(chart, str(e.get("chart")), str(e.get("version")), spec.repository_for(str(e.get("chart"))),
                       str(e.get("source")))
        out.append(cp)
        try:
            tgz = base64.b64decode(e[CARRIED_CHART], validate=True)
            prov = base64.b64decode(e[CARRIED_PROV], validate=True) if e.get(CARRIED_PROV) else None
        except (ValueError, TypeError):
            raise manifest.error(chart.path, f"the export's report carries chart {cp.name} {cp.version} in what is "
                                             "not base64") from None
        if image_build.sha256(tgz) != e.get("chartDigest"):
            raise manifest.error(chart.path, f"the export's chart {cp.name} {cp.version} is not the archive its "
                                             f"report names ({e.get('chartDigest')})")
        _read(cp, tgz, prov, manifest, e.get("created"))
    return out


def _versions(chart: ChartSpec, manifest: SyncManifest, available: list[str], where: str) -> list[str]:
    """The versions the entry takes of ``available``, by the images' tag selection (on their tags, ``+`` written
    ``_``, read back as ``+`` for semver and latest: ``1.2.0+build.5`` is ``1.2.0`` to a range, as to Helm);
    none is bad input at the entry's version, semver or latest."""
    v = chart.versions
    if v.exact is not None:
        if v.exact in available:
            return [v.exact]
        raise manifest.error(chart.path + ("version",), f"{where} has no version {v.exact!r} (it has "
                                                        f"{_some(available)})")
    tags = {artifact.tag_for(a): a for a in available}
    decisions = select(v.as_image_spec(reference.Reference("charts.invalid", "chart")), list(tags),
                       artifact.version_of_tag)
    taken = [tags[d.tag] for d in decisions if d.taken]
    if not taken:
        key = "semver" if v.semver is not None else "latest"
        raise manifest.error(chart.path + (key,), f"no version of {where} satisfies "
                                                  f"{'semver ' + repr(v.semver.text) if v.semver else 'latest'} "
                                                  f"(it has {_some(available)})")
    return taken


def _some(versions: list[str]) -> str:
    if not versions:
        return "none"
    return ", ".join(versions[:8]) + (f" and {len(versions) - 8} more" if len(versions) > 8 else "")


def _from_repository(chart: ChartSpec, spec: ChartsSpec, manifest: SyncManifest, reader: _Reader) -> list[ChartPlan]:
    try:
        index = reader.index(chart.url)
    except repo_index.NotAnIndex as exc:
        raise manifest.error(chart.path[:3] + ("url",), exc.message) from None
    where = f"chart {chart.name} of repository {chart.repository}"
    if chart.name not in index:
        raise manifest.error(chart.path + ("name",), f"the repository {chart.repository} ({chart.url}index.yaml) "
                                                     f"has no chart {chart.name!r}")
    entries = {e.version: e for e in index[chart.name]}
    out = []
    for version in _versions(chart, manifest, list(entries), where):
        e = entries[version]
        cp = ChartPlan(chart, chart.name, version, spec.repository_for(chart.name), e.url)
        out.append(cp)
        try:
            tgz = reader.get(e.url, "a chart archive", archive.MAX_ARCHIVE_BYTES, credentials_of=chart.url)
            if e.digest is not None and image_build.sha256(tgz) != e.digest:
                raise ChartError(f"{e.url} does not match the digest the index gives ({e.digest})")
            try:
                prov = reader.get(e.url + ".prov", "a provenance file", 1 << 20, credentials_of=chart.url)
            except NotFound:
                prov = None
        except ChartError as exc:
            raise manifest.error(chart.path, f"{where}, version {version}: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - this version fails alone
            cp.error = f"chart {chart.name} {version} ({e.url}): {describe(exc)}"
            continue
        _read(cp, tgz, prov, manifest, e.created)
    return out


def _from_oci(chart: ChartSpec, spec: ChartsSpec, manifest: SyncManifest, ctx) -> list[ChartPlan]:
    ref = chart.oci
    where = f"chart oci://{ref.name}"
    v = chart.versions
    available = [v.exact] if v.exact is not None else [t.replace("_", "+") for t in ctx.list_tags(ref)]
    repository = spec.repository_for(chart.name)
    job_spec = chart_image_spec(ref, repository)
    out = []
    for version in _versions(chart, manifest, available, where):
        tag = artifact.tag_for(version)
        cp = ChartPlan(chart, chart.name, version, repository, f"oci://{ref.name}:{tag}")
        out.append(cp)
        store, repo = ctx.source_for(ref)
        desc = store.manifest_descriptor(repo, tag)
        if desc is None:
            raise manifest.error(chart.path + ("reference" if chart.path[1] == "oci" else "version",),
                                 f"{where} has no version {version!r} (no tag {tag})")
        manifest_doc = store.get_manifest(repo, desc.digest)
        layers = [b for b in manifest_doc.blobs[1:] if b.media_type in artifact.CHART_LAYER_TYPES]
        if manifest_doc.is_index or not manifest_doc.blobs or not layers:
            raise manifest.error(chart.path + ("reference",), f"{where}:{tag} is no Helm chart (no "
                                                              f"{artifact.CHART_LAYER_MEDIA_TYPE} layer)")
        if layers[0].size > archive.MAX_ARCHIVE_BYTES:
            raise manifest.error(chart.path + ("reference",), f"{where}:{tag}: the chart archive is larger than "
                                                              f"{archive.MAX_ARCHIVE_BYTES >> 20} MiB")
        with store.read_blob(repo, layers[0]) as chunks:
            tgz = b"".join(chunks)
        # into an export by its tag, so that the import finds it by the version the manifest gives
        cp.job = CopyJob(job_spec, tag if ctx.to_layout else desc.digest, destinations(manifest, job_spec),
                         target_tag=None if ctx.to_layout else tag)
        _read(cp, tgz, None, manifest, None)
    return out


def _from_local(chart: ChartSpec, spec: ChartsSpec, manifest: SyncManifest) -> ChartPlan:
    path = chart.local
    try:
        if os.path.isdir(path):
            tgz, prov = archive.package(path), None
        else:
            size = os.path.getsize(path)
            if size > archive.MAX_ARCHIVE_BYTES:
                raise ChartError(f"larger than {archive.MAX_ARCHIVE_BYTES >> 20} MiB")
            with open(path, "rb") as f:
                tgz = f.read()
            prov = None
            if os.path.exists(path + ".prov"):
                with open(path + ".prov", "rb") as f:
                    prov = f.read(1 << 20)
        loaded = archive.load(tgz)
    except (ChartError, OSError) as exc:
        why = exc.message if isinstance(exc, ChartError) else (exc.strerror or str(exc))
        raise manifest.error(chart.path + ("path",), f"{path}: {why}") from None
    cp = ChartPlan(chart, loaded.name, loaded.version, spec.repository_for(loaded.name), path)
    _read(cp, tgz, prov, manifest, None, loaded=loaded)
    return cp


def _read(cp: ChartPlan, tgz: bytes, prov: bytes | None, manifest: SyncManifest, created: str | None, *,
          loaded: archive.Chart | None = None) -> None:
    """The archive looked through: its metadata, its images (values, imagePaths, rendered where helm is)."""
    try:
        chart = loaded or archive.load(tgz)
    except ChartError as exc:
        raise manifest.error(cp.spec.path, f"chart {cp.name} {cp.version} ({cp.source}): {exc.message}") from None
    cp.tgz, cp.prov, cp.metadata = tgz, prov, chart.metadata
    cp.created = artifact.created_time(created, chart.chart_yaml_mtime)
    found, cp.warnings = images_mod.in_values(chart, cp.spec.values, cp.spec.image_paths)
    if render.helm_binary() is not None:
        try:
            rendered = images_mod.in_rendered(render.render(tgz, cp.spec.values), chart.name)
            known = {f.image for f in found}
            found += [f for f in rendered if f.image not in known]
        except ChartError as exc:
            cp.warnings.append(f"chart {chart.name}: {exc.message}; its images are those its values name")
    cp.images = found
    cp.image_refs = {f.image: reference.parse(f.image) for f in found}
    for w in cp.warnings:
        log.warning("%s", w)


def finish(plans: list[ChartPlan], report: Report, mirror_for: Callable[[str], ContentStore] | None,
           manifest: SyncManifest, *, interrupted: bool = False) -> list[dict]:
    """After the copies: each chart pushed to every mirror (a chart from an OCI registry was copied: its record
    says where it is). Returns the report's ``charts``."""
    records = {(r.source, r.tag or r.digest or ""): r for r in report.images}
    out = []
    for cp in plans:
        entry = cp.to_dict()
        entry.pop("entry", None)
        entry["mirrors"] = []
        out.append(entry)
        for image in entry["images"]:
            ref = cp.image_refs.get(image["image"])
            rec = records.get((ref.repo_only().name, ref.digest or ref.tag or "")) if ref else None
            image["onMirror"] = bool(rec and rec.onMirror)
        if cp.error is not None:
            continue
        if interrupted:
            entry["error"] = INTERRUPTED
            continue
        if cp.job is not None and mirror_for is None:
            continue  # an export: the chart is in the layout by its tag (its record says so), as any image
        if cp.job is not None:
            rec = records.get((cp.job.source.name, cp.job.ref))
            for d in cp.job.destinations:
                rd = next((x for x in (rec.destinations if rec else []) if x.repository == d.name), None)
                ok = rd is not None and bool(rd.onMirror)
                entry["digest"] = (rec.digest if rec else None) or cp.job.digest
                entry["mirrors"].append({"mirror": d.mirror.location, "reference": f"{d.name}:{cp.tag}",
                                         "digest": entry["digest"] if ok else None,
                                         "status": str(rd.status) if rd else "failed",
                                         "error": None if ok else (rd.error if rd else "not copied")})
            continue
        if mirror_for is None:  # an export: the import pushes the chart from what the report carries
            entry[CARRIED_CHART] = base64.b64encode(cp.tgz).decode()
            entry[CARRIED_PROV] = base64.b64encode(cp.prov).decode() if cp.prov is not None else None
            continue
        built = cp.built()
        entry["digest"] = built.digest
        for m in manifest.mirrors:
            repo = m.repository(cp.repository)
            mirror = {"mirror": m.location, "reference": f"{m.registry}/{repo}:{cp.tag}", "digest": None,
                      "status": "failed", "error": None}
            entry["mirrors"].append(mirror)
            try:
                mirror["status"] = image_build.push(mirror_for(m.registry), repo, built, cp.tag)
                mirror["digest"] = built.digest
            except Exception as exc:  # noqa: BLE001 - this mirror's chart fails, the rest of the run stands
                mirror["error"] = f"pushing the chart: {describe(exc)}"
    return out


def failed(report: Report) -> bool:
    return any(e.get("error") or any(m.get("status") == "failed" for m in e.get("mirrors") or [])
               for e in chart_entries(report))
