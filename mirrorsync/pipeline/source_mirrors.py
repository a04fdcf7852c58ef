"""Reading sources through mirrors (``options.sourceMirrors``): the resolver a node uses
(:mod:`mirrorsync.openshift.resolve`) says where each read goes, the engine gets a store named by the original
repositories (:class:`~mirrorsync.sync.through_mirrors.SourceThroughMirrors`)."""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

from ..errors import InputError
from ..openshift.pull_config import load_pull_config, registries_conf_text
from ..openshift.registries_conf import RegistriesConf
from ..openshift.resolve import Resolver
from ..registry.reference import parse_named
from ..sync.engines import Clients
from ..sync.manifest import SyncManifest
from ..sync.through_mirrors import Location, SourceThroughMirrors

_FIELD = ("options", "sourceMirrors")
T = TypeVar("T")
# any digest: a node's choice of mirrors depends on whether a reference has one, never on which
_ANY_DIGEST = "@sha256:" + "0" * 64


def pull_config(manifest: SyncManifest) -> RegistriesConf | None:
    """The configuration ``options.sourceMirrors`` names, loaded (an error at that manifest line when it cannot
    be); None without the option."""
    return _from_option(manifest, load_pull_config)


def registries_conf_for_tools(manifest: SyncManifest) -> str | None:
    """The same configuration as registries.conf text, for skopeo; None without the option or for ``system``."""
    return _from_option(manifest, registries_conf_text)


def _from_option(manifest: SyncManifest, read: Callable[[str], T]) -> T | None:
    where = manifest.options.source_mirrors
    if where is None:
        return None
    try:
        return read(where)
    except InputError as exc:
        raise manifest.error(_FIELD, str(exc)) from None


def reader_through_mirrors(config: RegistriesConf, clients: Clients) -> SourceThroughMirrors:
    """Sources read where a node would pull them: mirrors in order (digest-only ones for digest reads, tag-only
    ones for tag reads), the source last unless it is blocked or NeverContactSource."""
    resolver = Resolver(config)

    @functools.lru_cache(maxsize=4096)
    def locate(name: str, by_digest: bool) -> tuple[Location, ...]:
        resolution = resolver.resolve(name + _ANY_DIGEST if by_digest else name + ":latest")
        locations = []
        for source in resolution.sources:
            if source.blocked:
                continue
            ref = parse_named(source.reference)
            locations.append(Location(clients.get(ref.registry), ref.repository, ref.name, mirror=source.mirror))
        return tuple(locations)

    return SourceThroughMirrors(locate)


def reader(manifest: SyncManifest, clients: Clients) -> SourceThroughMirrors | None:
    """The run's reader through ``options.sourceMirrors``; None without the option."""
    config = pull_config(manifest)
    return None if config is None else reader_through_mirrors(config, clients)
