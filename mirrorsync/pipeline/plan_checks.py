"""What ``plan`` checks beyond the plan itself, so that it fails where ``run`` would: the tags and digests an entry
names exist on the source (one HEAD each), which registries have credentials, and which entries select nothing
(a warning ``run`` gives too)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import describe
from ..registry import auth, reference
from ..sync.engines import Clients
from ..sync.manifest import ImageSpec, SyncManifest
from ..sync import plan as plan_mod
from ..sync.plan import CopyJob, Plan, PlanFailure


def _named_path(manifest: SyncManifest, spec: ImageSpec, ref: str) -> tuple:
    """Where the manifest names ``ref`` of its ``images[spec.index]`` entry: ``tags[i]``, ``digests[i]`` or the
    pinned ``source``."""
    item = {}
    if manifest.source_doc is not None:
        images = manifest.source_doc.data.get("images") if isinstance(manifest.source_doc.data, dict) else None
        item = images[spec.index] if isinstance(images, list) and spec.index < len(images) else {}
    for key in ("tags", "digests"):
        values = item.get(key) if isinstance(item, dict) else None
        if isinstance(values, list) and ref in values:
            return ("images", spec.index, key, values.index(ref))
    return ("images", spec.index, "source")


def _named_jobs(manifest: SyncManifest, the_plan: Plan) -> list[CopyJob]:
    """The plan's jobs for a tag or digest the manifest's ``images`` name (not one its source's tag list gave, nor
    a section's)."""
    specs = {id(spec) for spec in manifest.images}
    return [job for job in the_plan.jobs
            if id(job.spec) in specs and (job.ref in job.spec.tags or job.ref in job.spec.digests)]


def check_sources(manifest: SyncManifest, the_plan: Plan, clients: Clients, *, workers: int = 8) -> None:
    """HEAD every tag and digest the manifest's images name on its source; one that is not there (or cannot be
    asked for) becomes a planning failure at its manifest line, and its job leaves the plan."""

    def missing(job: CopyJob) -> str | None:
        try:
            found = clients.get(job.source.registry).manifest_descriptor(job.source.repository, job.ref)
        except Exception as exc:  # noqa: BLE001 - reported per job, the others go on
            return f"cannot check {reference.at(job.source.name, job.ref)} on the source: {describe(exc)}"
        return None if found is not None else f"{reference.at(job.source.name, job.ref)} is not on the source"

    jobs = _named_jobs(manifest, the_plan)
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="head") as pool:
        answers = list(pool.map(missing, jobs))
    gone = set()
    for job, problem in zip(jobs, answers):
        if problem is not None:
            gone.add(id(job))
            the_plan.failures.append(PlanFailure(job.spec, str(manifest.error(
                _named_path(manifest, job.spec, job.ref), problem))))
    the_plan.jobs = [job for job in the_plan.jobs if id(job) not in gone]


def offline_plan(manifest: SyncManifest) -> tuple[Plan, list[str]]:
    """The plan of the images whose tags and digests the manifest names, read from no registry (``plan
    --offline``), and a line for each part that needs a registry to plan: an entry selecting from its source's tag
    list, a section (releases, catalogs)."""

    def no_tag_list(_source) -> list[str]:
        raise LookupError("offline")

    the_plan = plan_mod.build(manifest, no_tag_list)
    left = [f"images[{f.spec.index}] ({f.spec.source.name}): not planned (--offline: it selects from the "
            "source's tag list)" for f in the_plan.failures]
    left += [f"{section.key}: not planned (--offline: planning it reads the registries)"
             for section, _ in manifest.present_sections()]
    the_plan.failures = []
    return the_plan, left


def unselected(manifest: SyncManifest, the_plan: Plan) -> list[str]:
    """A warning (``file:line: images[i]: ...``) for each entry that selects no image at all, with why: its source
    lists no tags, or each of its tags was left for the reasons counted."""
    out = []
    for selection in the_plan.selections:
        spec = selection.spec
        if spec.tags or spec.digests or any(d.taken for d in selection.decisions):
            continue
        if not selection.decisions:
            why = "its source lists no tags"
        else:
            reasons = Counter(d.reason for d in selection.decisions).most_common()
            shown = "; ".join(f"{n} {reason}" for reason, n in reasons[:3])
            more = f"; {sum(n for _, n in reasons[3:])} for other reasons" if len(reasons) > 3 else ""
            why = f"of the {len(selection.decisions)} tags its source lists: {shown}{more}"
        out.append(str(manifest.error(("images", spec.index), f"{spec.source.name} selects no tag ({why})")))
    return out


@dataclass(frozen=True)
class HostCredentials:
    host: str
    found: bool
    auth_file: str | None  # the registry's own authFile, if the manifest gives one

    def line(self) -> str:
        if self.found:
            return f"credentials for {self.host}: found"
        if self.auth_file:
            return f"credentials for {self.host}: none in its authFile {self.auth_file} (anonymous)"
        return f"credentials for {self.host}: none (anonymous)"

    def to_dict(self) -> dict:
        return {"host": self.host, "found": self.found, **({"authFile": self.auth_file} if self.auth_file else {})}


def credentials(manifest: SyncManifest, auth_file: str | None = None) -> list[HostCredentials]:
    """For each registry the run reads or writes (the sources, then the mirrors), whether an auth file has credentials for it (or for one of its
    repositories the manifest names). Raises ``InputError`` as ``run`` would for a file that cannot be used."""
    repositories: dict[str, set[str | None]] = {}  # in the manifest's order: the sources, then the mirrors
    for spec in manifest.images:
        repositories.setdefault(spec.source.registry, set()).add(spec.source.repository)
    for host in sorted(manifest.source_hosts()):
        repositories.setdefault(host, set()).add(None)
    for mirror in manifest.mirrors:
        repositories.setdefault(mirror.registry, set()).add(mirror.namespace or None)
    out = []
    for host in repositories:
        own = manifest.settings_for(host).auth_file
        found = any(auth.lookup(host, repo, auth_file=own or auth_file) is not None
                    for repo in sorted(repositories[host], key=lambda r: r or ""))
        out.append(HostCredentials(host, found, own))
    return out
