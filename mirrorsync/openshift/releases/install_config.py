"""The ``imageDigestSources`` block of ``install-config.yaml`` for a new cluster installed from the mirrors: the
release repository and every component repository, each with the mirrors that hold them, as the IDMS says.

Not a cluster object, so it is written beside ``cluster-resources/``, never in it (``oc apply -f`` would send it).
"""

from __future__ import annotations

from ...sync.report import Report, mirrored_sources
from ..goyaml import dump_yaml
from .records import release_records

FILENAME = "install-config-imagedigestsources.yaml"


def block(reports: list[Report]) -> str | None:
    """The block's YAML text, or None when no release reached the mirrors."""
    wanted = {s for rep in reports for r in release_records(rep) for s in ([r.source] if r.source else []) + r.componentSources}
    entries = [{"source": src.source, "mirrors": list(src.mirrors)} for src in mirrored_sources(reports)
               if src.source in wanted and src.by_digest]
    if not entries:
        return None
    return ("# Written by mirrorsync: add to install-config.yaml to install a cluster from the mirrors.\n"
            + dump_yaml({"imageDigestSources": entries}))
