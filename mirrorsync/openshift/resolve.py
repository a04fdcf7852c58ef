"""Which locations a node tries, in order, when it pulls an image: containers/image ``sysregistriesv2`` rules.

The registries.conf entry with the longest matching prefix applies (``*.host`` prefixes match subdomains); among
equally long ones, the prefix that sorts first (containers/image keeps its entries sorted by prefix and takes the
first longest match, so ``*.example.com`` beats ``a.example.com``, and ``*.a.example.com`` beats
``b.a.example.com``). Its mirrors are filtered by ``pull-from-mirror`` (``digest-only`` mirrors serve digest references, ``tag-only`` ones
tag references) and come first, the primary location last. A location is refused when the most specific entry
for it is ``blocked``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..registry.reference import Reference, parse_named, parse_normalized_named
from .crs import MirrorSet
from .registries_conf import DIGEST_ONLY, TAG_ONLY, Endpoint, RegistriesConf, Registry, as_loaded, \
    build_registries_conf

NODE_CONFIG_PATH = "/etc/containers/registries.conf"

def normalize_reference(text: str) -> str:
    """The fully qualified form a node uses: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    try:
        named = parse_normalized_named(text)
    except ValueError as exc:
        raise InputError(str(exc), field=f"reference {text!r}") from None
    if named.tag is None and named.digest is None:
        named = named.with_tag("latest")
    return str(named)


def _ref_matching_subdomain_prefix(ref: str, prefix: str) -> int:
    index = ref.find(prefix)
    if index == -1 or "/" in ref[:index]:
        return -1
    index += len(prefix)
    if index == len(ref):
        return index
    return index if ref[index] in ":/@" else -1


def ref_matching_prefix(ref: str, prefix: str) -> int:
    """Length of ``ref`` that ``prefix`` matches, or -1. ``example.com`` also matches ``example.com:5000``."""
    if prefix.startswith("*."):
        return _ref_matching_subdomain_prefix(ref, prefix[1:])
    if len(ref) < len(prefix):
        return -1
    if len(ref) == len(prefix):
        return len(prefix) if ref == prefix else -1
    if not ref.startswith(prefix):
        return -1
    return len(prefix) if ref[len(prefix)] in ":/@" else -1


def find_registry(config: RegistriesConf, ref: str) -> Registry | None:
    """The entry that applies to ``ref``: the longest matching prefix, the first one among equally long ones.

    ``config`` is a loaded one (:func:`~mirrorsync.openshift.registries_conf.loads`, :func:`config_from_mirror_sets`), whose
    entries are sorted by prefix as containers/image sorts them: "first" means the prefix that sorts first.
    """
    best: Registry | None = None
    best_len = 0
    for reg in config.registries:
        if ref_matching_prefix(ref, reg.prefix) != -1 and len(reg.prefix) > best_len:
            best, best_len = reg, len(reg.prefix)
    return best


class Resolver:
    """Resolves many references against one loaded configuration (which must not change meanwhile).

    Same answers as :func:`find_registry` and :func:`resolve`, with the entries indexed by prefix.
    """

    def __init__(self, config: RegistriesConf) -> None:
        self.config = config
        self._exact: dict[str, tuple[int, Registry]] = {}
        self._wildcards: list[tuple[int, Registry]] = []
        for i, reg in enumerate(config.registries):
            if reg.prefix.startswith("*."):
                self._wildcards.append((i, reg))
            else:
                self._exact.setdefault(reg.prefix, (i, reg))

    def find_registry(self, ref: str) -> Registry | None:
        """See :func:`find_registry`."""
        # (length, -position): longer wins, then earlier in the loaded entries (the prefix that sorts first).
        best: tuple[int, int, Registry] | None = None
        for i, c in enumerate(ref + "/"):
            if i and c in ":/@":
                hit = self._exact.get(ref[:i])
                if hit is not None and (best is None or (i, -hit[0]) > best[:2]):
                    best = (i, -hit[0], hit[1])
        for position, reg in self._wildcards:
            if ref_matching_prefix(ref, reg.prefix) != -1 and \
                    (best is None or (len(reg.prefix), -position) > best[:2]):
                best = (len(reg.prefix), -position, reg)
        return best[2] if best else None

    def resolve(self, reference: str) -> Resolution:
        """See :func:`resolve`."""
        return _resolve(reference, self.find_registry)


@dataclass(frozen=True)
class PullSource:
    """One location a node tries; ``blocked`` means the client refuses to contact it."""

    reference: str
    mirror: bool
    insecure: bool = False
    pull_from_mirror: str = ""
    blocked: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "mirror": self.mirror, "insecure": self.insecure,
                "pullFromMirror": self.pull_from_mirror, "blocked": self.blocked}


@dataclass(frozen=True)
class Resolution:
    """The pull sources for one reference, in the order they are tried."""

    reference: str
    sources: tuple[PullSource, ...]
    blocked: bool
    matched_prefix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "matchedPrefix": self.matched_prefix, "blocked": self.blocked,
                "sources": [s.to_json() for s in self.sources]}


def _rewrite(ref: Reference, prefix: str, endpoint: Endpoint) -> Reference:
    ref_string = str(ref)
    prefix_len = ref_matching_prefix(ref_string, prefix)
    if prefix_len == -1:
        raise InputError(f"invalid prefix '{prefix}' for reference '{ref_string}'")
    if endpoint.location == "":
        if not prefix.startswith("*."):
            raise InputError(f"invalid prefix '{prefix}' for empty location, should be in the format: *.example.com")
        return ref
    try:
        return parse_named(endpoint.location + ref_string[prefix_len:])
    except ValueError as exc:
        raise InputError(f"rewriting reference: {exc}", field=f"location {endpoint.location!r}") from None


def resolve(reference: str, config: RegistriesConf) -> Resolution:
    """The ordered pull sources for ``reference`` under ``config`` (short names are normalised first).

    Raises InputError for a malformed reference, or when a mirror cannot be applied to it (containers/image
    then fails the pull with the same message).
    """
    return _resolve(reference, lambda ref: find_registry(config, ref))


def _resolve(reference: str, find: Callable[[str], Registry | None]) -> Resolution:
    try:
        named = parse_normalized_named(reference)
    except ValueError as exc:
        raise InputError(str(exc), field=f"reference {reference!r}") from None
    if named.tag is None and named.digest is None:
        named = named.with_tag("latest")
    registry = find(named.name)
    if registry is None:
        return Resolution(str(named), (PullSource(str(named), mirror=False),), blocked=False)

    digested = named.digest is not None
    endpoints: list[tuple[Endpoint, bool]] = []
    for mirror in registry.mirrors:
        if registry.mirror_by_digest_only and not digested:
            continue
        if (mirror.pull_from_mirror == DIGEST_ONLY and not digested) or \
                (mirror.pull_from_mirror == TAG_ONLY and digested):
            continue
        endpoints.append((mirror, True))
    endpoints.append((Endpoint(registry.location, registry.insecure), False))

    sources = []
    for endpoint, is_mirror in endpoints:
        rewritten = _rewrite(named, registry.prefix, endpoint)
        applies = find(rewritten.name)
        sources.append(PullSource(str(rewritten), is_mirror, endpoint.insecure, endpoint.pull_from_mirror,
                                  blocked=applies is not None and applies.blocked))
    return Resolution(str(named), tuple(sources), registry.blocked, registry.prefix)


def config_from_mirror_sets(sets: Iterable[MirrorSet], insecure: Sequence[str] = (),
                            blocked: Sequence[str] = ()) -> RegistriesConf:
    """The configuration a node ends up with: rendered as the MCO does, then loaded as containers/image does."""
    return as_loaded(build_registries_conf(sets, insecure, blocked), path=NODE_CONFIG_PATH)
