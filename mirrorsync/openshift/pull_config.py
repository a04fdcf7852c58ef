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


SYSTEM_DROP_IN_DIR = NODE_CONFIG_PATH + ".d"


def _user_config(name: str) -> str:
    # containers/image: $HOME/.config/containers/..., whatever XDG_CONFIG_HOME says
    return os.path.join(os.path.expanduser("~"), ".config", "containers", name)


def system_registries_conf() -> str:
    """The file containers/image reads: ``$CONTAINERS_REGISTRIES_CONF``, else the user's, else the system's."""
    given = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if given:
        return given
    user = _user_config("registries.conf")
    return user if os.path.exists(user) else NODE_CONFIG_PATH


def drop_in_files(main: str) -> list[str]:
    """The ``registries.conf.d`` files containers/image merges over ``main`` (sysregistriesv2's configWrapper):
    the user's directory alone when ``main`` is the user's file, else the system's and then the user's (also
    under ``--registries-conf`` or ``$CONTAINERS_REGISTRIES_CONF``); in each, the ``.conf`` files directly in it,
    in lexical order."""
    user_dir = _user_config("registries.conf.d")
    dirs = [user_dir] if main == _user_config("registries.conf") else [SYSTEM_DROP_IN_DIR, user_dir]
    files: list[str] = []
    for directory in dirs:
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InputError(f"reading registries.conf.d: {exc.strerror or exc}", file=directory) from None
        files += [os.path.join(directory, n) for n in names
                  if n.endswith(".conf") and not os.path.isdir(os.path.join(directory, n))]
    return files


def _system_config() -> RegistriesConf:
    """What containers/image makes of the system's configuration: the main file (none: empty, unless named by
    ``$CONTAINERS_REGISTRIES_CONF``), then each drop-in over it: its ``[[registry]]`` tables replace those of the
    same prefix, its ``unqualified-search-registries`` and ``short-name-mode`` (when set) the earlier ones."""
    main = system_registries_conf()
    if os.path.exists(main) or os.environ.get("CONTAINERS_REGISTRIES_CONF"):
        config = regconf.load(main)
    else:
        config = RegistriesConf()
    for path in drop_in_files(main):
        drop_in = regconf.load(path)
        by_prefix = {r.prefix: r for r in config.registries}
        by_prefix.update({r.prefix: r for r in drop_in.registries})
        config.registries = [by_prefix[p] for p in sorted(by_prefix)]
        if drop_in.unqualified_search_registries:
            config.unqualified_search_registries = drop_in.unqualified_search_registries
        if drop_in.short_name_mode:
            config.short_name_mode = drop_in.short_name_mode
    return config


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
        return _system_config()
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
