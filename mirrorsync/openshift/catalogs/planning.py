"""A catalog in a run: pin it, read its FBC, filter it, plan its bundle and related images as ordinary copy jobs;
after the copies, leave out the bundles whose images did not reach every mirror, rebuild the catalog and push it.

The copy jobs are the plan's like any image's (same engine, retries, fan-out, no-op path); their images feed the
mirror sets by digest. The catalog image itself is a job too (by digest, to the target repository), so that its
layers are on each mirror before the rebuilt image that reuses them is pushed; it feeds no mirror set, since the
CatalogSource names the mirror directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Callable

from ...errors import InputError, UnsupportedContent, describe
from ...oci.image_files import any_platform_manifest, image_config, read_files
from ...oci.store import ContentStore
from ...registry import reference
from ...registry.reference import Reference
from ...sync.manifest import ImageSpec, SyncManifest
from .spec import OperatorCatalogSpec
from ...sync.plan import CopyJob, Plan, PlanFailure, add_jobs, destinations, spec_for
from ...sync.report import ImageRecord, Report
from ...sync.status import Status
from . import fbc, rebuild
from .filter import FilterInputError, Selection, apply, images_of, select, without

log = logging.getLogger(__name__)

# Red Hat's catalogs carry every bundle's CSV in their FBC: a few hundred MiB in all, tens of MiB in one package's
# file. Past these a catalog is refused rather than read into memory.
MAX_FBC_FILE_BYTES = 256 << 20
MAX_FBC_BYTES = 1 << 30

StoreFor = Callable[[Reference], tuple[ContentStore, str]]


@dataclass
class CatalogPlan:
    spec: OperatorCatalogSpec
    job: CopyJob  # the original catalog image, to the target repository of every mirror
    digest: str | None = None
    catalog: fbc.Catalog | None = None
    selection: Selection | None = None
    images: dict[str, Reference] = field(default_factory=dict)  # every image the kept bundles name
    error: str | None = None
    source: tuple[ContentStore, str] | None = None  # where the catalog was read: its rebuild reads there too

    def to_dict(self) -> dict:
        """What ``plan`` shows: the bundles the filter keeps and why, and what it leaves out."""
        out: dict = {"catalog": self.spec.name, "digest": self.digest, "error": self.error}
        if self.selection is not None:
            out.update(_selection_dict(self.catalog, self.selection))
        return out


def catalog_image_spec(spec: OperatorCatalogSpec) -> ImageSpec:
    """The catalog as an image entry: to its target repository, in no mirror set."""
    return ImageSpec(source=spec.catalog.repo_only(), destination=spec.target_repository, mirror_sets=(),
                     index=-1)


PLAN_KEY = "operators"  # the catalogs' place in ``Plan.sections``: their CatalogPlans
REPORT_KEY = "catalogs"  # and in ``Report.sections``: one entry per catalog


def catalog_plans(the_plan: Plan) -> list[CatalogPlan]:
    return the_plan.sections.get(PLAN_KEY) or []


def catalog_entries(report: Report | None) -> list[dict]:
    return report.sections.get(REPORT_KEY) or [] if report is not None else []


def add_to_plan(the_plan: Plan, manifest: SyncManifest, catalogs: tuple[OperatorCatalogSpec, ...],
                store_for: StoreFor, *, by_tag: bool = False, from_layout: bool = False) -> None:
    """Read and filter every catalog of the manifest; add its jobs (once each) to ``the_plan``.

    A filter the catalog cannot satisfy (an unknown package, a filtered-out default channel) raises
    ``InputError`` at the manifest's line, before anything is copied. A catalog that cannot be read is a planning
    failure of that catalog alone. ``by_tag`` copies the catalog by its tag (into an export, so that the import
    finds it by the name the manifest gives). An oci:// catalog is read from its layout on disk, unless the run
    reads everything from a layout (``from_layout``: an import, whose export carried it by its name).
    """
    listed = {s.source: s for s in manifest.images}
    plans = the_plan.sections.setdefault(PLAN_KEY, [])
    for spec in catalogs:
        cp = plan_catalog(spec, manifest, store_for, from_layout=from_layout)
        plans.append(cp)
        if cp.error is not None:
            the_plan.failures.append(PlanFailure(cp.job.spec, cp.error, section=PLAN_KEY))
            continue
        if by_tag and spec.catalog.tag:
            cp.job = replace(cp.job, ref=spec.catalog.tag)
        specs = [spec_for(listed, ref) for ref in cp.images.values()]
        add_jobs(the_plan, [cp.job] + [CopyJob(s, ref.digest or ref.tag, destinations(manifest, s))
                                       for s, ref in zip(specs, cp.images.values())])


def plan_catalog(spec: OperatorCatalogSpec, manifest: SyncManifest, store_for: StoreFor, *,
                 from_layout: bool = False) -> CatalogPlan:
    job_spec = catalog_image_spec(spec)
    cp = CatalogPlan(spec, CopyJob(job_spec, spec.catalog.digest or spec.catalog.tag or "latest",
                                   destinations(manifest, job_spec)))
    try:
        local = spec.layout is not None and not from_layout
        if local:
            store, repo = spec.layout_store(), spec.catalog.repository
            store.check()  # a bad layout is bad input (exit 2), named by file and field
        else:
            store, repo = store_for(spec.catalog)
        cp.source = (store, repo)
        flt = spec.filter
        only = {p.name for p in flt.packages} if flt.packages and not flt.resolve_dependencies else None
        cp.digest, cp.catalog = read_catalog(store, repo, spec.catalog.digest or spec.catalog.tag, packages=only)
        cp.selection = select(cp.catalog, spec.filter)
    except FilterInputError as exc:
        raise manifest.error(spec.path + exc.path, f"{exc.message} (catalog {spec.name})") from None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a catalog that cannot be read fails alone; the run goes on
        cp.error = f"catalog {spec.name}: {describe(exc)}"
        return cp
    cp.job = CopyJob(job_spec, cp.digest, cp.job.destinations, source_store=store if local else None)
    bad: dict[tuple[str, str], str] = {}
    for key, images in images_of(cp.catalog, cp.selection).items():
        for text in images:
            try:
                cp.images.setdefault(text, reference.parse(text))
            except InputError as exc:
                bad[key] = f"names an image that is not a valid reference ({exc.message})"
    if bad:
        cp.selection = without(cp.catalog, cp.selection, bad)
        needed = {i for imgs in images_of(cp.catalog, cp.selection).values() for i in imgs}
        cp.images = {t: r for t, r in cp.images.items() if t in needed}
    return cp


def read_catalog(store: ContentStore, repo: str, ref: str, *,
                 packages: set[str] | None = None) -> tuple[str, fbc.Catalog]:
    """(digest, FBC) of the catalog at ``ref``: pinned first, then read from the linux/amd64 image (or the first
    platform of an index without one); every platform of a catalog carries the same FBC.

    With ``packages``, only their folders (``<root>/<package>/``, opm's layout) and the files directly in the root
    are kept: a filter naming a few packages of Red Hat's catalogs then holds megabytes, not the whole FBC. A
    catalog laid out otherwise (a named package not found that way) is read whole."""
    desc = store.manifest_descriptor(repo, ref)
    if desc is None:
        raise UnsupportedContent(f"{store.describe()}/{repo}:{ref} not found")
    _, image = any_platform_manifest(store, repo, desc.digest)
    root = rebuild.configs_root(image_config(store, repo, image))

    def wanted(path: str) -> bool:
        if not fbc.is_fbc_file(path, root):
            return False
        below = path[len(root) + 1:].split("/")
        return packages is None or len(below) == 1 or below[0] in packages

    files = read_files(store, repo, image, wanted, max_file_bytes=MAX_FBC_FILE_BYTES, max_total_bytes=MAX_FBC_BYTES)
    catalog = fbc.load(files, root, consume=True)
    if packages is not None and not packages <= set(catalog.packages):
        return read_catalog(store, repo, desc.digest)
    return desc.digest, catalog


def _record_key(rec: ImageRecord) -> tuple[str, str]:
    return (rec.source, rec.tag or rec.digest or "")


INTERRUPTED = "the run was interrupted before the catalog was rebuilt"


def finish(plans: list[CatalogPlan], report: Report, store_for: StoreFor,
           target_for: Callable[[str], ContentStore] | None, *, interrupted: bool = False) -> list[dict]:
    """After the copies: per catalog, the bundles whose images are not on every mirror left out, the filtered
    catalog rebuilt and pushed by tag to every mirror holding the original (``target_for(registry)``: that mirror's
    store; None when the run has no mirrors to push to, as in an export). Returns the report's ``catalogs``.
    An ``interrupted`` run rebuilds nothing: each catalog's entry says so (and keeps the previous one, see
    :func:`keep_previous`)."""
    records = {_record_key(r): r for r in report.images}
    out = []
    for cp in plans:
        entry: dict = {"catalog": cp.spec.name, "sourceDigest": cp.digest, "mirrors": [],
                       "error": cp.error or (INTERRUPTED if interrupted else None)}
        out.append(entry)
        if interrupted:
            continue
        if cp.error is not None or cp.selection is None:
            continue
        missing: dict[tuple[str, str], str] = {}
        for key, images in images_of(cp.catalog, cp.selection).items():
            for text in images:
                ref = cp.images.get(text)
                rec = records.get((ref.repo_only().name, ref.digest or ref.tag)) if ref else None
                if rec is None or not rec.onMirror:
                    why = rec.error if rec is not None and rec.error else "not copied"
                    missing[key] = f"{text} is not on every mirror: {why}"
                    break
        selection = without(cp.catalog, cp.selection, missing)
        entry.update(_selection_dict(cp.catalog, selection))
        entry["images"] = sorted({i for imgs in images_of(cp.catalog, selection).values() for i in imgs})
        catalog_record = records.get(_record_key_of_job(cp))
        if target_for is None or catalog_record is None:
            continue
        filtered = apply(cp.catalog, selection)
        rebuilt = None
        for dest, rec_dest in zip(cp.job.destinations, catalog_record.destinations):
            target_ref = f"{dest.mirror.registry}/{dest.repository}:{cp.spec.target_tag}"
            mirror = {"mirror": dest.mirror.location, "reference": target_ref, "digest": None, "status": "failed",
                      "error": None}
            entry["mirrors"].append(mirror)
            if not rec_dest.ok:
                mirror["error"] = f"the original catalog is not on this mirror: {rec_dest.error}"
                continue
            try:
                if rebuilt is None:
                    store, repo = cp.source or store_for(cp.spec.catalog)
                    if selection.unchanged:
                        rebuilt = rebuild.Rebuilt(store.get_manifest(repo, cp.digest))
                    else:
                        rebuilt = rebuild.build(store, repo, cp.digest, lambda root: fbc.render(filtered, root))
                mirror["status"] = rebuild.push(target_for(dest.mirror.registry), dest.repository, rebuilt,
                                                cp.spec.target_tag)
                mirror["digest"] = rebuilt.digest
            except Exception as exc:  # noqa: BLE001 - this mirror's catalog fails, the rest of the run stands
                mirror["error"] = f"rebuilding the filtered catalog: {describe(exc)}"
                _fail_destination(catalog_record, rec_dest, mirror["error"])
    return out


def keep_previous(report: Report, previous: Report | None, manifest: SyncManifest) -> None:
    """A failed run never takes a catalog or its images away from a cluster. A catalog this run could not read
    (its source down, say) keeps what the previous report gave: its entry (so the CatalogSource stays, naming the
    catalog rebuilt then) and a failed record for each image its bundles need, which the carry-over then confirms
    on the mirrors like any failed image's. A mirror the rebuilt catalog did not reach keeps the catalog the
    previous report had there."""
    before = {c.get("catalog"): c for c in catalog_entries(previous)}
    listed = {s.source: s for s in manifest.images}
    recorded = {_record_key(r) for r in report.images}
    for entry in catalog_entries(report):
        old = before.get(entry["catalog"])
        error = entry.get("error")
        if not old or not old.get("mirrors"):
            continue
        if error is None:  # read and filtered: a mirror the new catalog did not reach keeps the one it had
            had = {m["mirror"]: m for m in old["mirrors"] if m.get("digest")}
            entry["mirrors"] = [m if m.get("digest") or m["mirror"] not in had else
                                {**had[m["mirror"]], "error": f"{m.get('error')}; the catalog of the previous "
                                                              f"report is kept"}
                                for m in entry["mirrors"]]
            continue
        entry.update({k: v for k, v in old.items() if k != "error"})
        entry["mirrors"] = [{**m, "error": f"not rebuilt this run; kept from the previous report ({error})"}
                            for m in old["mirrors"]]
        for ref in recorded_images(old):
            spec = spec_for(listed, ref)
            if (spec.source.name, ref.digest or ref.tag) in recorded:
                continue  # this run planned it (and its record says what happened to it)
            report.images.append(ImageRecord(
                source=spec.source.name, tag=None if ref.digest else ref.tag, digest=ref.digest, status=Status.FAILED,
                mirrorSets=list(spec.mirror_sets), error=error,
                destinations=[d.record(Status.FAILED, error=error) for d in destinations(manifest, spec)]))


def recorded_images(entry: dict) -> list[Reference]:
    """The images a report's catalog entry says its kept bundles need (an entry a user edited into something that
    is no reference is skipped)."""
    out = []
    for text in entry.get("images") or []:
        try:
            out.append(reference.parse(text))
        except InputError:
            continue
    return out


def _record_key_of_job(cp: CatalogPlan) -> tuple[str, str]:
    return (cp.job.source.name, cp.job.ref)


def _fail_destination(record: ImageRecord, dest, error: str) -> None:
    """The catalog's record says the mirror lacks the catalog the cluster would use (so the run exits 1)."""
    dest.status, dest.error, dest.onMirror = Status.FAILED, error, False
    record.onMirror = False
    ok = [d for d in record.destinations if d.ok]
    record.status = Status.PARTIAL if ok else Status.FAILED
    record.error = record.error or error


def _selection_dict(catalog: fbc.Catalog, sel: Selection) -> dict:
    bundles = []
    for package, name in sel.bundles():
        b = catalog.packages[package].bundles[name]
        bundles.append({"package": package, "name": name, "version": b.version_text, "image": b.image,
                        "reason": sel.reasons[(package, name)]})
    return {"full": sel.unchanged,
            "packages": {p: {"defaultChannel": sel.defaults.get(p), "channels": sel.channels[p]}
                         for p in sorted(sel.channels)},
            "bundles": bundles, "leftOut": list(sel.left_out), "dependenciesAdded": list(sel.added)}
