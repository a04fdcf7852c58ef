"""Reading sources through mirrors (``options.sourceMirrors``): the resolver a node uses
(:mod:`mirrorsync.openshift.resolve`) says where each read goes, the engine gets a store named by the original
repositories (:class:`~mirrorsync.sync.through_mirrors.SourceThroughMirrors`)."""

from __future__ import annotations

import functools
import logging
from typing import Callable, TypeVar

from ..errors import InputError
from ..openshift import registries_conf as regconf
from ..openshift.pull_config import drop_in_files, load_pull_config, registries_conf_text
from ..openshift.registries_conf import RegistriesConf
from ..openshift.resolve import Resolver
from ..registry.reference import parse_named
from ..sync.engines import Clients
from ..sync.manifest import SyncManifest
from ..sync.through_mirrors import Location, SourceThroughMirrors

log = logging.getLogger(__name__)
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


def drop_ins_skopeo_adds(registries_conf: str | None) -> list[str]:
    """The machine's registries.conf.d files with ``[[registry]]`` tables that skopeo merges over the
    ``--registries-conf`` it is given (containers/image reads them whatever that flag says): where one names a
    source's prefix, skopeo reads that source as it says, not as ``sourceMirrors`` does."""
    if registries_conf is None:
        return []
    out = []
    for path in drop_in_files(""):
        try:
            if regconf.load(path).registries:
                out.append(path)
        except InputError:
            out.append(path)  # skopeo refuses it: the run says so at the first copy
    return out


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


def insecure_not_applied(config: RegistriesConf, manifest: SyncManifest) -> list[str]:
    """The hosts ``config`` marks ``insecure = true`` (a registry or one of its mirrors) that the manifest verifies:
    trust comes from the manifest's ``registries.<host>`` alone, so those locations are read with TLS verified."""
    hosts: list[str] = []
    for registry in config.registries:
        for location, insecure in ((registry.location, registry.insecure),
                                   *((m.location, m.insecure) for m in registry.mirrors)):
            host = location.split("/", 1)[0]
            if insecure and host and manifest.settings_for(host).tls_verify and host not in hosts:
                hosts.append(host)
    return hosts


def reader(manifest: SyncManifest, clients: Clients) -> SourceThroughMirrors | None:
    """The run's reader through ``options.sourceMirrors``; None without the option. A location the configuration
    marks insecure and the manifest does not is warned about (it is read with TLS verified all the same)."""
    config = pull_config(manifest)
    if config is None:
        return None
    for host in insecure_not_applied(config, manifest):
        log.warning("%s: insecure = true for %s is not applied (trust comes from the manifest): set "
                    "registries.%s.tlsVerify: false to read it without TLS verification",
                    manifest.options.source_mirrors, host, host)
    return reader_through_mirrors(config, clients)
