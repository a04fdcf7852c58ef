"""The update-graph data image (``platform.graph``) in a run: the graph data read and checked and the base image
pinned while planning (either unusable is bad input: exit 2, nothing written), the base image copied by digest into
``<mirror>/openshift/graph-image`` as an ordinary job (its layers are the new image's lower layers, and its source
repository gets a digest-only IDMS entry there), and after the copies the image built over it and pushed as
``<mirror>/openshift/graph-image:latest`` (see :mod:`.graph_data` for the layer). The same data over the same base
gives the same digest, so a second run finds the tag in place and pushes nothing (``up-to-date``).

The report's ``graphImage`` (one entry) says what was built where; the UpdateService is rendered from it.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Callable

from ...errors import InputError, describe
from ...oci import image_build
from ...oci.content import sha256_digest
from ...oci.image_build import NewLayer
from ...oci.store import ContentStore
from ...sync.manifest import ImageSpec, SyncManifest
from ...sync.plan import CopyJob, Plan, destinations
from ...sync.report import Report
from ...sync.section import SourceFor
from . import graph_data
from .select import RELEASE_IMAGES
from .spec import GraphSpec

log = logging.getLogger(__name__)

REPOSITORY = "openshift/graph-image"
TAG = "latest"
PLAN_KEY = "graphImage"  # its place in ``Plan.sections`` (a GraphPlan) and in the report (one entry)
REPORT_KEY = "graphImage"
_FIELD = ("platform", "graph")
CARRIED_DATA = "carriedData"  # only in an export's report: the tarball (base64), under the export's SHA256SUMS


def carried_data(manifest: SyncManifest, carried: Report | None) -> tuple[bytes, str]:
    """(tarball, base image digest) that an export's report carries for the import to build from."""
    found = [e for e in entries(carried) if e.get(CARRIED_DATA) and e.get("baseDigest")]
    if not found:
        raise manifest.error(_FIELD, "the export carries no graph data: export with platform.graph in its manifest")
    try:
        return base64.b64decode(found[0][CARRIED_DATA], validate=True), str(found[0]["baseDigest"])
    except ValueError:
        raise manifest.error(_FIELD, "the export's report carries graph data that is not base64") from None


@dataclass
class GraphPlan:
    spec: GraphSpec
    job: CopyJob  # the base image, by digest, to the graph image's repository on every mirror
    data: bytes  # the tarball
    layer: tuple[bytes, str]  # the graph data layer: gzip'd bytes, diff_id

    @property
    def data_digest(self) -> str:
        return sha256_digest(self.data)

    def to_dict(self) -> dict:
        return {"baseImage": str(self.spec.base_image), "baseDigest": self.job.ref, "data": self.spec.data,
                "dataDigest": self.data_digest}


def read_data(spec: GraphSpec, manifest: SyncManifest, web) -> bytes:
    """The tarball, from its URL (through the run's ``web``) or its file; one that cannot be read is bad input."""
    where = _FIELD + ("data",)
    try:
        if spec.data.startswith(("http://", "https://")):
            return web.get(spec.data, action="reading the graph data URL", limit=graph_data.MAX_TARBALL_BYTES,
                           kind="graph data")
        with open(spec.data, "rb") as f:
            data = f.read(graph_data.MAX_TARBALL_BYTES + 1)
        if len(data) > graph_data.MAX_TARBALL_BYTES:
            raise InputError(f"is larger than {graph_data.MAX_TARBALL_BYTES >> 20} MiB")
        return data
    except InputError as exc:
        raise manifest.error(where, f"{spec.data}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - no graph data, no image: nothing is written
        raise manifest.error(where, f"{spec.data}: cannot be read: {describe(exc)}") from None


def add_to_plan(the_plan: Plan, manifest: SyncManifest, spec: GraphSpec, source_for: SourceFor,
                data: bytes, *, base_digest: str | None = None) -> GraphPlan:
    """Check the graph data, pin the base image (at ``base_digest`` where an export's report gives it), and plan
    its copy (``InputError`` for either unusable)."""
    try:
        layer = graph_data.layer(data)
    except graph_data.GraphDataError as exc:
        raise manifest.error(_FIELD + ("data",), f"{spec.data} {exc}") from None
    base = spec.base_image
    try:
        store, repo = source_for(base)
        desc = store.manifest_descriptor(repo, base_digest or base.identifier)
        if desc is None:
            raise InputError("not found")
    except Exception as exc:  # noqa: BLE001 - the image cannot be built without it: nothing is written
        why = exc.message if isinstance(exc, InputError) else describe(exc)
        raise manifest.error(_FIELD + ("baseImage",), f"{base}: cannot be read: {why}") from None
    job_spec = ImageSpec(source=base.repo_only(), destination=REPOSITORY, mirror_sets=("digest",), index=-1)
    job = CopyJob(job_spec, desc.digest, destinations(manifest, job_spec))
    if not any((j.source, j.ref, j.destinations) == (job.source, job.ref, job.destinations) for j in the_plan.jobs):
        the_plan.jobs.append(job)
    gp = GraphPlan(spec, job, data, layer)
    the_plan.sections[PLAN_KEY] = gp
    return gp


def finish(gp: GraphPlan, report: Report, source_for: SourceFor,
           mirror_for: Callable[[str], ContentStore] | None) -> dict:
    """After the copies: the image built over the base and pushed to every mirror the base reached
    (``mirror_for(host)``; None into an export's layout, where nothing is built and the entry carries the tarball
    for the import to build from). Returns the report's entry."""
    entry = {**gp.to_dict(), "namespace": gp.spec.namespace, "replicas": gp.spec.replicas, "mirrors": []}
    if mirror_for is None:
        entry[CARRIED_DATA] = base64.b64encode(gp.data).decode()
    names = [d.name for d in gp.job.destinations]
    record = next((r for r in report.images if (r.source, r.digest) == (gp.job.source.name, gp.job.ref)
                   and [d.repository for d in r.destinations] == names), None)
    if mirror_for is None or record is None:
        return entry
    built = None
    for dest, rec_dest in zip(gp.job.destinations, record.destinations):
        mirror = {"mirror": dest.mirror.location, "reference": f"{dest.name}:{TAG}",
                  "releases": f"{dest.mirror.registry}/{dest.mirror.repository(RELEASE_IMAGES)}",
                  "digest": None, "status": "failed", "error": None}
        entry["mirrors"].append(mirror)
        if not rec_dest.onMirror:
            mirror["error"] = f"the base image is not on this mirror: {rec_dest.error}"
            continue
        try:
            if built is None:
                store, repo = source_for(gp.spec.base_image)
                blob, diff_id = gp.layer
                built = image_build.build_over(store, repo, gp.job.ref, lambda config: NewLayer(
                    blob, diff_id, graph_data.HISTORY, graph_data.CMD))
            mirror["status"] = image_build.push(mirror_for(dest.mirror.registry), dest.repository, built, TAG)
            mirror["digest"] = built.digest
        except Exception as exc:  # noqa: BLE001 - this mirror's graph image fails, the rest of the run stands
            mirror["error"] = f"building the graph-data image: {describe(exc)}"
            log.error("graph-data image for %s: %s", dest.name, mirror["error"])
    return entry


def keep_previous(entry: dict, previous: Report | None) -> dict:
    """A mirror this run's graph image did not reach keeps the one the previous report had there (named with why),
    so the UpdateService does not go away with a failed run."""
    had = {m.get("mirror"): m for e in entries(previous) for m in e.get("mirrors") or [] if m.get("digest")}
    entry["mirrors"] = [m if m.get("digest") or m["mirror"] not in had else
                        {**had[m["mirror"]], "status": "failed",
                         "error": f"{m.get('error')}; the graph-data image of the previous report is kept"}
                        for m in entry["mirrors"]]
    return entry


def entries(report: Report | None) -> list[dict]:
    return report.sections.get(REPORT_KEY) or [] if report is not None else []


def failed(report: Report) -> bool:
    return any(m.get("status") not in ("pushed", "up-to-date") for e in entries(report) for m in e.get("mirrors") or [])
