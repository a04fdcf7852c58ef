"""What a run's rebuilt catalogs give the tier below it: mirror entries, original catalog repository -> the
repositories that hold the rebuilt catalog under the same tag, for reads by tag and by digest (the rebuilt
catalog's digest is only there), for ``options.sourceMirrors`` pointed at that run's output directory.

The cluster objects name the rebuilt catalog on the mirror itself (a CatalogSource), so the mirror sets a run
writes have no entry for the catalog's repository; an enclave that reads the catalog by its original name and tag
through them would go to the source. These entries are read from the run's report and never written for a
cluster. A catalog rebuilt under another tag (``targetTag``) or named by digest (the rebuilt one has another)
gives none: a registries.conf mirror keeps the tag and digest it is asked for.
"""

from __future__ import annotations

from ...errors import InputError
from ...registry.reference import parse_named
from ...sync.report import Report
from ...sync.section import mirrors_holding
from ..crs import IDMS, ITMS, MirrorEntry, MirrorSet
from .planning import catalog_entries

NAME = "mirrorsync-catalogs"


def catalog_mirror_sets(report: Report, file: str) -> list[MirrorSet]:
    """An IDMS and an ITMS (not for a cluster: what the next tier reads through) of the catalogs ``report`` says
    are on its mirrors under their own tag; none when it has no such catalog."""
    mirrors: dict[str, list[str]] = {}
    for entry in catalog_entries(report):
        try:
            source = parse_named(str(entry.get("catalog") or ""))
        except (ValueError, InputError):  # oci:// (a layout on disk): no registry below can be asked for it by that name
            continue
        if source.tag is None or source.digest is not None:
            continue
        for repository, tag, item in mirrors_holding(entry):
            held = mirrors.setdefault(source.repo_only().name, [])
            if tag == source.tag and item.get("status") in ("pushed", "up-to-date") and repository not in held:
                held.append(repository)
    entries = tuple(MirrorEntry(src, tuple(held)) for src, held in sorted(mirrors.items()) if held)
    return [MirrorSet(kind, NAME, entries, file=file) for kind in (IDMS, ITMS)] if entries else []
