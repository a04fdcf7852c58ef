"""The registries.conf a run reads its sources through (``options.sourceMirrors``): a registries.conf file, IDMS/ITMS/
ICSP files or directories (such as an earlier run's cluster-resources/) rendered as the MCO would, or the file
containers tools read (``system``). An earlier run's output directory gives its mirror sets and, from its report,
tag mirror entries for the catalogs it rebuilt (:mod:`.catalogs.next_tier`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..sync import report as report_file
from ..sync.manifest import SYSTEM_REGISTRIES_CONF as SYSTEM
from . import registries_conf as regconf
from .catalogs.next_tier import catalog_mirror_sets
from .crs import MirrorSet, load_mirror_sets
from .registries_conf import RegistriesConf
from .resolve import NODE_CONFIG_PATH, config_from_mirror_sets

_MIRROR_SET_SUFFIXES = (".yaml", ".yml", ".json")


def system_registries_conf() -> str:
    """The file containers/image reads: ``$CONTAINERS_REGISTRIES_CONF``, else the user's, else the system's."""
    given = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if given:
        return given
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    user = os.path.join(config_home, "containers", "registries.conf")
    return user if os.path.exists(user) else NODE_CONFIG_PATH


def _is_mirror_sets(where: str) -> bool:
    return os.path.isdir(where) or where.endswith(_MIRROR_SET_SUFFIXES)


def _mirror_sets(where: str) -> list[MirrorSet]:
    """The mirror sets in ``where``, and for an output directory (its report beside them) its catalogs' entries."""
    if not os.path.exists(where):
        raise InputError("no such file or directory", file=where)
    report = os.path.join(where, report_file.REPORT_FILE)
    catalogs = catalog_mirror_sets(report_file.load(report), report) if os.path.isfile(report) else []
    return load_mirror_sets([where], require=not catalogs) + catalogs


def load_pull_config(where: str) -> RegistriesConf:
    """The loaded configuration ``where`` names (InputError naming the file that is wrong)."""
    if where == SYSTEM:
        return regconf.load(system_registries_conf())
    if _is_mirror_sets(where):
        return config_from_mirror_sets(_mirror_sets(where))
    return regconf.load(where)


def registries_conf_text(where: str) -> str | None:
    """The registries.conf text that says the same to a containers tool (skopeo's ``--registries-conf``); None
    for ``system``, which such a tool finds itself."""
    if where == SYSTEM:
        return None
    if _is_mirror_sets(where):
        return regconf.render_registries_conf(_mirror_sets(where))
    try:
        return Path(where).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=where) from None
