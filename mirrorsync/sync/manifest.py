"""The sync manifest: which source repositories to take, what of them, and which mirrors to fill.

A versioned public contract (``apiVersion: mirrorsync.dev/v1alpha1``, ``kind: SyncManifest``), documented in the
README. Loading validates everything up front so that a bad file is one clear line and nothing is copied.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Sequence

from ..errors import InputError
from ..registry import reference
from ..registry.reference import Reference
from ..registry.settings import RegistrySettings  # noqa: F401 - part of the manifest model, re-exported
from ..yamlsource import (LocatedDocument, Reader, base_dir, field_name, load_documents, local_path, read_text,
                          type_name as _type_name)
from .platforms import MODES as PLATFORM_MODES, Platform, PlatformFilter
from .semver import Range


class Section(Protocol):
    """What the manifest needs of a section (:class:`mirrorsync.sync.section.Section`): its key, how to read its
    part, and the registries that part names."""

    key: str

    def parse(self, reader: Reader, value: Any, manifest_file: str) -> Any: ...

    def source_hosts(self, spec: Any) -> set[str]: ...

API_VERSION = "mirrorsync.dev/v1alpha1"
KIND = "SyncManifest"
SUPPORTED_API_VERSIONS = (API_VERSION,)

POLICIES = ("AllowContactingSource", "NeverContactSource")
MIRROR_SETS = ("digest", "tag")
SCOPES = ("repository", "namespace", "registry", "wildcard")
ENGINES = ("native", "skopeo")


MAX_NESTED_PATHS = 64  # past this a depth limit is a typo: no registry nests that deep


def flatten(path: str, max_nested_paths: int | None) -> str:
    """``path`` with at most ``max_nested_paths`` components, as oc-mirror's ``--max-nested-paths`` counts them:
    the first N-1 kept, the rest joined with ``-`` (``ocp/a/b/c`` with 2: ``ocp/a-b-c``). None: unchanged."""
    parts = path.split("/")
    if max_nested_paths is None or len(parts) <= max_nested_paths:
        return path
    keep = max_nested_paths - 1
    return "/".join(parts[:keep] + ["-".join(parts[keep:])])


PATH_FIELDS = ("namespace", "repo", "path")  # what a mirror's path template may name


def render_path(template: str, destination: str) -> str:
    """``destination`` (``ns/sub/app``) laid out by a mirror's path template: ``{path}`` is all of it, ``{repo}``
    its last component (``app``), ``{namespace}`` the rest (``ns/sub``, empty for a one-component path). Empty
    components are dropped, and the separators an empty value leaves at a component's ends."""
    namespace, _, repo = destination.rpartition("/")
    text = template.format(namespace=namespace, repo=repo, path=destination)
    return "/".join(part for part in (p.strip("._-") for p in text.split("/")) if part)


def check_path_template(template: str) -> str:
    """``template`` if it names only :data:`PATH_FIELDS` and lays out every path as a repository path."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise InputError(f"invalid path template {template!r}: {exc}") from None
    for name, spec, conv in fields:
        if name not in PATH_FIELDS or spec or conv:
            raise InputError(f"invalid path template {template!r}: {{{name}}} is not one of "
                             f"{', '.join('{' + f + '}' for f in PATH_FIELDS)}")
    if not any(name in ("repo", "path") for name, _, _ in fields):
        raise InputError(f"path template {template!r} names neither {{repo}} nor {{path}}: every image would "
                         "land on one repository")
    for sample in ("ns/sub/app", "app"):
        rendered = render_path(template, sample)
        if not reference.is_valid_path(rendered):
            raise InputError(f"path template {template!r} lays out {sample} as {rendered!r}, not a repository "
                             "path (lowercase components separated by '/')")
    return template


@dataclass(frozen=True)
class Mirror:
    """A mirror target: ``host[:port][/namespace]``, how deep its host lets repositories nest, and the layout a
    site dictates below it (``mirrors[].path``)."""

    registry: str
    namespace: str = ""
    max_nested_paths: int | None = None  # registries.<host>.maxNestedPaths or --max-nested-paths; None: no limit
    path: str | None = None  # a path template (render_path); None: the destination as it is

    @property
    def location(self) -> str:
        return f"{self.registry}/{self.namespace}" if self.namespace else self.registry

    def unflattened(self, destination: str) -> str:
        """The repository path (below the host) ``destination`` would land on without a depth limit or path
        template: what tells two sources apart."""
        return f"{self.namespace}/{destination}" if self.namespace else destination

    def repository(self, destination: str) -> str:
        """The repository path (below the host) that ``destination`` lands on in this mirror: laid out by its path
        template, flattened to its host's depth limit; the one place every section's mirror names come from."""
        return flatten(self.unflattened(render_path(self.path, destination) if self.path else destination),
                       self.max_nested_paths)

    def layout(self) -> str:
        """What lays out its repositories, for messages: its depth limit and path template."""
        parts = [f"maxNestedPaths {self.max_nested_paths}"] if self.max_nested_paths is not None else []
        return " and ".join(parts + ([f"path {self.path!r}"] if self.path else []))

    def __str__(self) -> str:
        return self.location


@dataclass(frozen=True)
class ImageSpec:
    """One ``images[]`` entry, with defaults applied."""

    source: Reference  # repository only
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    all_tags: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    destination: str = ""
    mirror_source_policy: str | None = None
    mirror_sets: tuple[str, ...] = MIRROR_SETS
    scope: str = "repository"
    index: int = 0  # position in the manifest, for messages
    semver: Range | None = None
    latest: int | None = None
    platforms: tuple[Platform, ...] = ()  # empty: every platform
    platform_mode: str = "sparse"
    signatures: bool = False  # cosign's sha256-<hex>.sig/.att/.sbom tags travel with the image
    referrers: bool = False  # OCI 1.1 referrers travel with the image...
    referrer_types: tuple[str, ...] = ()  # ...only those of these artifact types (empty: all)
    # a source that cannot be asked for them (down, say) leaves the image as the mirror holds it, with a warning,
    # instead of failing it: for companions mirrorsync adds on its own (a release image's signatures)
    companions_best_effort: bool = False

    @property
    def platform_filter(self) -> PlatformFilter | None:
        return PlatformFilter(self.platforms, self.platform_mode) if self.platforms else None

    @property
    def rewrites_index(self) -> bool:
        """Whether a mirrored index may differ from the source's, so only tag mirror entries can serve it."""
        return bool(self.platforms) and self.platform_mode == "rewrite"

    @property
    def fed_mirror_sets(self) -> list[str]:
        """The mirror sets its images feed: a rewritten index is not the source's digest, so a pull by digest
        cannot be sent to it; only tag mirror entries."""
        return ["tag"] if self.rewrites_index else list(self.mirror_sets)

    @property
    def lists_tags(self) -> bool:
        """Whether the source's tag list must be read to know which tags to take."""
        return self.all_tags or bool(self.include) or self.semver is not None or self.latest is not None


@dataclass(frozen=True)
class Options:
    engine: str = "native"
    concurrency: int = 8
    blob_concurrency: int = 8
    retries: int = 5
    timeout: float = 60.0
    # a host a run failed to reach for this many images in a row is given up for the rest of the run (0: never)
    give_up_after: int = 5
    # where sources are read through (a registries.conf, a directory or file of IDMS/ITMS/ICSP, or SYSTEM), as a
    # path relative to the working directory; None: every source is read from itself
    source_mirrors: str | None = None
    # a containers-policy.json(5) every image must satisfy before it is copied (signature_gate.py); the path
    # resolved against the manifest's directory. None: no signature check
    signature_policy: str | None = None
    # a containers-registries.d(5) directory: where GPG signatures live (lookaside), whether cosign's are read
    registries_d: str | None = None
    # write ClusterImagePolicy objects for the signature policy's sigstoreSigned scopes (openshift/cluster_image_policies)
    cluster_image_policy: bool = False


SYSTEM_REGISTRIES_CONF = "system"  # options.sourceMirrors: the registries.conf containers tools would read


@dataclass(frozen=True)
class SyncManifest:
    file: str
    mirrors: tuple[Mirror, ...]
    images: tuple[ImageSpec, ...]
    registries: dict[str, RegistrySettings] = field(default_factory=dict)
    options: Options = Options()
    # the other sections the manifest gives, by key (``platform``: the releases' spec), as their ``parse`` read them
    sections: dict[str, Any] = field(default_factory=dict)
    # the sections it was read with (see :mod:`.section`), given or not
    section_types: tuple[Section, ...] = field(default=(), compare=False, repr=False)
    # where each value came from, for errors found after parsing (None for a manifest built in code)
    source_doc: LocatedDocument | None = field(default=None, compare=False, repr=False)

    def present_sections(self) -> list[tuple[Section, Any]]:
        """The sections this manifest gives, with their specs, in the order they were plugged in."""
        return [(s, self.sections[s.key]) for s in self.section_types if s.key in self.sections]

    def source_hosts(self) -> set[str]:
        """The registries content is read from: the images' sources and what the sections name (the releases
        named directly, the catalogs; the hosts an update graph names are known only once it is read)."""
        hosts = {spec.source.registry for spec in self.images}
        for section, spec in self.present_sections():
            hosts |= section.source_hosts(spec)
        return hosts

    def settings_for(self, host: str) -> RegistrySettings:
        """The settings of ``host``, also where one of them is written with the default port (``h`` vs ``h:443``)."""
        return next((self.registries[h] for h in reference.same_host_spellings(host) if h in self.registries),
                    RegistrySettings())

    def with_insecure(self, host: str) -> SyncManifest:
        """This manifest with ``host`` (a registry one reads from) as ``tlsVerify: false``: TLS unverified, plain
        HTTP allowed (``--insecure`` of ``catalog list`` and ``release info``); its other settings stay."""
        registries = dict(self.registries)
        key = next((h for h in reference.same_host_spellings(host) if h in registries), host)
        registries[key] = replace(self.settings_for(host), tls_verify=False)
        return replace(self, registries=registries)

    def error(self, path: tuple, message: str) -> InputError:
        """An input error at ``path`` (``("images", 0, "mirrorSourcePolicy")``) with the file and line."""
        if self.source_doc is not None:
            return self.source_doc.error(path, message)
        return InputError(message, file=self.file or None, field=field_name(path))

    def check_icsp(self) -> None:
        """Refuse ``--icsp`` before anything is copied when an image feeds IDMS with NeverContactSource: an ICSP
        cannot say it, and the MCO refuses the same source with and without it."""
        for spec in self.images:
            if spec.mirror_source_policy == "NeverContactSource" and "digest" in spec.mirror_sets:
                path = ("images", spec.index, "mirrorSourcePolicy")
                if self.source_doc is not None and path not in self.source_doc.lines:
                    path = ("defaults", "mirrorSourcePolicy")
                raise self.error(path, "NeverContactSource cannot be written as an ImageContentSourcePolicy "
                                       "(--icsp), and the MCO refuses the same source with and without it; drop "
                                       "--icsp or the policy")


_TOP_KEYS = {"apiVersion", "kind", "mirrors", "registries", "defaults", "images", "options"}
_REGISTRY_KEYS = {"tlsVerify": "tls_verify", "certDir": "cert_dir", "authFile": "auth_file",
                  "maxNestedPaths": "max_nested_paths"}
_DEFAULT_KEYS = {"mirrorSourcePolicy", "mirrorSets", "scope", "platforms", "platformMode", "signatures", "referrers"}
_IMAGE_KEYS = ({"source", "tags", "digests", "allTags", "include", "exclude", "destination", "semver", "latest"}
               | _DEFAULT_KEYS)
_PATH_OPTIONS = {"signaturePolicy": "signature_policy", "registriesD": "registries_d"}
_OPTION_KEYS = {"engine": str, "concurrency": int, "blobConcurrency": int, "retries": int, "timeout": (int, float),
                "giveUpAfter": int, "sourceMirrors": str}


def _parse_mirror(text: str) -> Mirror:
    registry, _, namespace = text.partition("/")
    if not reference.is_valid_domain(registry) or (namespace and not reference.is_valid_path(namespace)):
        raise InputError(f"invalid mirror {text!r}: expected host[:port][/namespace] in lowercase path form")
    return Mirror(registry, namespace)


def _read_mirror(r: Reader, value: Any, path: tuple) -> Mirror:
    """A ``mirrors[]`` entry: ``host[:port][/namespace]``, or ``{location: ..., path: TEMPLATE}``."""
    if not isinstance(value, dict):
        return r.checked(path, _parse_mirror, r.string(value, path))
    r.mapping(value, path, {"location", "path"})
    if "location" not in value:
        raise r.fail(path, "location: missing (host[:port][/namespace])")
    mirror = r.checked(path + ("location",), _parse_mirror, r.string(value["location"], path + ("location",)))
    if "path" not in value:
        return mirror
    template = r.checked(path + ("path",), check_path_template, r.string(value["path"], path + ("path",)))
    return replace(mirror, path=template)


def load(path: str, sections: Sequence[Section] = (), *, max_nested_paths: int | None = None) -> SyncManifest:
    """Load and validate a sync manifest file, with the ``sections`` it may give besides its images."""
    return parse(read_text(path), path, sections, max_nested_paths=max_nested_paths)


def parse(text: str, file: str = "<manifest>", sections: Sequence[Section] = (), *,
          max_nested_paths: int | None = None) -> SyncManifest:
    """Validate a sync manifest given as YAML text, with the ``sections`` it may give besides its images.

    ``max_nested_paths`` (``--max-nested-paths``): every mirror's depth limit, over ``registries.<host>``'s."""
    docs = load_documents(text, file)
    if len(docs) != 1:
        raise InputError(f"expected exactly one YAML document, found {len(docs)}", file=file)
    doc = docs[0]
    r = Reader(doc)
    top = r.mapping(doc.data, (), _TOP_KEYS | {s.key for s in sections})

    api_version = top.get("apiVersion")
    if api_version is None:
        raise r.fail((), f"apiVersion: missing (expected {API_VERSION})")
    if api_version not in SUPPORTED_API_VERSIONS:
        raise r.fail(("apiVersion",), f"unsupported version {api_version!r} (this mirrorsync reads {', '.join(SUPPORTED_API_VERSIONS)})")
    if top.get("kind") != KIND:
        raise r.fail(("kind",), f"must be {KIND}, got {top.get('kind')!r}")

    if "mirrors" not in top:
        raise r.fail((), "mirrors: missing (list at least one mirror registry)")
    if not isinstance(top["mirrors"], list):
        raise r.fail(("mirrors",), f"must be a list, got {_type_name(top['mirrors'])}")
    if not top["mirrors"]:
        raise r.fail(("mirrors",), "must list at least one mirror")
    mirrors = tuple(_read_mirror(r, m, ("mirrors", i)) for i, m in enumerate(top["mirrors"]))
    seen_mirrors: set[str] = set()
    for i, m in enumerate(mirrors):
        if m.location in seen_mirrors:
            raise r.fail(("mirrors", i), f"mirror {m.location!r} is listed twice")
        seen_mirrors.add(m.location)

    registries: dict[str, RegistrySettings] = {}
    reg_map = top.get("registries") or {}
    if not isinstance(reg_map, dict):
        raise r.fail(("registries",), f"must be a mapping of host to settings, got {_type_name(reg_map)}")
    for host, settings in reg_map.items():
        path = ("registries", host)
        if not isinstance(host, str) or not reference.is_valid_domain(host):
            raise r.fail(path, f"invalid registry host {host!r}: expected host[:port]")
        settings = r.mapping(settings if settings is not None else {}, path, set(_REGISTRY_KEYS))
        kwargs: dict[str, Any] = {}
        if "tlsVerify" in settings:
            kwargs["tls_verify"] = r.boolean(settings["tlsVerify"], path + ("tlsVerify",))
        for key in ("certDir", "authFile"):  # relative to the manifest's directory, as every manifest path
            if key in settings:
                kwargs[_REGISTRY_KEYS[key]] = local_path(base_dir(file), r.string(settings[key], path + (key,)))
        if "maxNestedPaths" in settings:
            depth = settings["maxNestedPaths"]
            if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_NESTED_PATHS:
                raise r.fail(path + ("maxNestedPaths",),
                             f"must be a whole number of path components from 1 to {MAX_NESTED_PATHS}, got {depth!r}")
            kwargs["max_nested_paths"] = depth
        registries[host] = RegistrySettings(**kwargs)
    mirrors = tuple(_with_depth(m, registries, max_nested_paths) for m in mirrors)

    options = _parse_options(r, top.get("options"), file)
    defaults = _parse_per_image(r, r.mapping(top.get("defaults") or {}, ("defaults",), _DEFAULT_KEYS), ("defaults",))

    given = {s.key: s.parse(r, top[s.key], file) for s in sections if s.key in top}
    if "images" not in top and not given:
        keys = [s.key for s in sections]
        named = f"{', '.join(keys[:-1])} or {keys[-1]}" if len(keys) > 1 else "".join(keys)
        others = f", or give a {named} section" if sections else ""
        raise r.fail((), f"images: missing (list the source repositories to mirror{others})")
    image_list = top.get("images", [])
    if not isinstance(image_list, list) or (not image_list and not given):
        raise r.fail(("images",), "must be a non-empty list")
    images = tuple(_parse_image(r, item, i, defaults) for i, item in enumerate(image_list))

    landed: dict[str, ImageSpec] = {}
    by_source: dict[Reference, ImageSpec] = {}
    for spec in images:
        prev = landed.get(spec.destination)
        if prev and prev.source != spec.source:
            raise r.fail(("images", spec.index, "destination"),
                         f"{spec.source.name} and images[{prev.index}] ({prev.source.name}) both land on "
                         f"destination {spec.destination!r}")
        landed.setdefault(spec.destination, spec)
        first = by_source.setdefault(spec.source, spec)
        # One source repository becomes one mirror-set entry, so its entries must agree on where and how.
        for attr, key in (("destination", "destination"), ("mirror_source_policy", "mirrorSourcePolicy"),
                          ("scope", "scope")):
            if getattr(first, attr) != getattr(spec, attr):
                raise r.fail(("images", spec.index, key),
                             f"{spec.source.name} is also images[{first.index}] with {key} "
                             f"{getattr(first, attr)!r}; entries for one source must agree")
    manifest = SyncManifest(file=file, mirrors=mirrors, images=images, registries=registries, options=options,
                            sections=given, section_types=tuple(sections), source_doc=doc)
    check_flattening(manifest, flag=f"--max-nested-paths {max_nested_paths}" if max_nested_paths else None)
    return manifest


def _with_depth(mirror: Mirror, registries: dict[str, RegistrySettings], given: int | None) -> Mirror:
    """``mirror`` with its depth limit: ``given`` (the command line's), else its host's ``maxNestedPaths`` (also
    where the host is written with the default port)."""
    if given is not None:
        return replace(mirror, max_nested_paths=given)
    for host in reference.same_host_spellings(mirror.registry):
        if host in registries:
            return replace(mirror, max_nested_paths=registries[host].max_nested_paths)
    return mirror


def check_flattening(manifest: SyncManifest, *, flag: str | None = None) -> None:
    """Refuse two ``images`` entries whose repositories a mirror's depth limit or path template lays out onto one:
    one would overwrite the other's tags. (What the other sections add is checked once planned:
    ``plan.check_collisions``.)"""
    for index, mirror in enumerate(manifest.mirrors):
        if mirror.max_nested_paths is None and mirror.path is None:
            continue
        landed: dict[str, ImageSpec] = {}
        for spec in manifest.images:
            repo = mirror.repository(spec.destination)
            prev = landed.setdefault(repo, spec)
            if prev.destination != spec.destination:
                limit = flag or (f"registries.{mirror.registry}.maxNestedPaths: {mirror.max_nested_paths}"
                                 if mirror.path is None else f"mirrors[{index}] ({mirror.layout()})")
                path = ("images", spec.index, "destination")
                if manifest.source_doc is not None and path not in manifest.source_doc.lines:
                    path = ("images", spec.index, "source")
                raise manifest.error(path, f"{spec.source.name} and images[{prev.index}] ({prev.source.name}) "
                                           f"both land on {mirror.registry}/{repo} with {limit}; give one of "
                                           "them another destination")


def _parse_options(r: Reader, value: Any, file: str) -> Options:
    if value is None:
        return Options()
    r.mapping(value, ("options",), set(_OPTION_KEYS) | set(_PATH_OPTIONS) | {"clusterImagePolicy"})
    kwargs: dict[str, Any] = {}
    if "clusterImagePolicy" in value:
        kwargs["cluster_image_policy"] = r.boolean(value["clusterImagePolicy"], ("options", "clusterImagePolicy"))
    base = os.path.dirname(os.path.abspath(file)) if file and not file.startswith("<") else os.getcwd()
    for key, name in _PATH_OPTIONS.items():  # relative to the manifest's directory
        if key in value:
            text = r.string(value[key], ("options", key))
            kwargs[name] = os.path.normpath(os.path.join(base, os.path.expanduser(text)))
    names = {"blobConcurrency": "blob_concurrency", "giveUpAfter": "give_up_after"}
    for key, want in _OPTION_KEYS.items():
        if key not in value:
            continue
        v, path = value[key], ("options", key)
        if key == "engine":
            kwargs["engine"] = r.choice(v, path, ENGINES)
            continue
        if key == "sourceMirrors":
            text = r.string(v, path)
            # a path in the manifest is relative to the manifest's directory, as the user reads it
            kwargs["source_mirrors"] = text if text == SYSTEM_REGISTRIES_CONF else \
                os.path.join(os.path.dirname(file), os.path.expanduser(text))
            continue
        lowest = 0 if key in ("retries", "giveUpAfter") else 1
        highest = 86400 if key == "timeout" else 256  # a day: past that a timeout is a typo (and an OverflowError)
        # a chained comparison, so that NaN (false against everything) and infinity are refused too
        if isinstance(v, bool) or not isinstance(v, want) or not lowest <= v <= highest:
            raise r.fail(path, f"must be a number from {lowest} to {highest}, got {v!r}")
        kwargs[names.get(key, key)] = v
    return Options(**kwargs)


def _parse_per_image(r: Reader, value: dict, path: tuple) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "mirrorSourcePolicy" in value:
        out["mirror_source_policy"] = r.choice(value["mirrorSourcePolicy"], path + ("mirrorSourcePolicy",), POLICIES)
    if "mirrorSets" in value:
        sets = r.string_list(value["mirrorSets"], path + ("mirrorSets",))
        for i, s in enumerate(sets):
            r.choice(s, path + ("mirrorSets", i), MIRROR_SETS)
        if not sets:
            raise r.fail(path + ("mirrorSets",), "must name at least one of digest, tag")
        out["mirror_sets"] = tuple(sorted(set(sets)))
    if "scope" in value:
        out["scope"] = r.choice(value["scope"], path + ("scope",), SCOPES)
    if "platforms" in value:
        texts = r.string_list(value["platforms"], path + ("platforms",))
        if not texts:
            raise r.fail(path + ("platforms",), "must list at least one platform (leave it out for all of them)")
        out["platforms"] = tuple(dict.fromkeys(r.checked(path + ("platforms", i), Platform.parse, t)
                                               for i, t in enumerate(texts)))
    if "platformMode" in value:
        out["platform_mode"] = r.choice(value["platformMode"], path + ("platformMode",), PLATFORM_MODES)
    if "signatures" in value:
        out["signatures"] = r.boolean(value["signatures"], path + ("signatures",))
    if "referrers" in value:
        out.update(_parse_referrers(r, value["referrers"], path + ("referrers",)))
    return out


def _parse_referrers(r: Reader, value: Any, path: tuple) -> dict[str, Any]:
    """``true``/``false``, or ``{artifactTypes: [...]}`` for only those."""
    if isinstance(value, dict):
        r.mapping(value, path, {"artifactTypes"})
        if "artifactTypes" not in value:
            raise r.fail(path, "artifactTypes: missing (or write referrers: true for every artifact type)")
        types = r.string_list(value["artifactTypes"], path + ("artifactTypes",))
        if not types:
            raise r.fail(path + ("artifactTypes",), "must list at least one artifact type")
        return {"referrers": True, "referrer_types": tuple(dict.fromkeys(types))}
    return {"referrers": r.boolean(value, path), "referrer_types": ()}


def parse_semver_latest(r: Reader, item: dict, path: tuple, counted: str) -> tuple[Range | None, int | None]:
    """An entry's ``semver`` range and ``latest: N`` (``counted``: what N counts, "tags"), either or both unset."""
    semver = None
    if "semver" in item:
        semver = r.checked(path + ("semver",), Range.parse, r.string(item["semver"], path + ("semver",)))
    latest = item.get("latest")
    if "latest" in item and (isinstance(latest, bool) or not isinstance(latest, int) or latest < 1):
        raise r.fail(path + ("latest",), f"must be a whole number of {counted}, 1 or more, got {latest!r}")
    return semver, latest


def _parse_image(r: Reader, item: Any, index: int, defaults: dict[str, Any]) -> ImageSpec:
    path = ("images", index)
    item = r.mapping(item, path, _IMAGE_KEYS)
    if "source" not in item:
        raise r.fail(path, "source: missing")
    src = r.checked(path + ("source",), reference.parse, r.string(item["source"], path + ("source",)))
    tags = [r.checked(path + ("tags", i), reference.validate_tag, t)
            for i, t in enumerate(r.string_list(item.get("tags", []), path + ("tags",)))]
    digests = [r.checked(path + ("digests", i), reference.validate_digest, d)
               for i, d in enumerate(r.string_list(item.get("digests", []), path + ("digests",)))]
    if src.tag:
        tags.insert(0, src.tag)
    if src.digest:
        digests.insert(0, src.digest)
    all_tags = r.boolean(item["allTags"], path + ("allTags",)) if "allTags" in item else False
    include = [r.regex(p, path + ("include", i)) for i, p in enumerate(r.string_list(item.get("include", []), path + ("include",)))]
    exclude = [r.regex(p, path + ("exclude", i)) for i, p in enumerate(r.string_list(item.get("exclude", []), path + ("exclude",)))]
    semver, latest = parse_semver_latest(r, item, path, "tags")
    lists = all_tags or include or semver is not None or latest is not None
    if not (tags or digests or lists):
        raise r.fail(path, "nothing selected: give tags, digests, allTags: true, include patterns, semver or "
                           "latest (or pin the source with :tag or @digest)")
    if exclude and not lists:
        raise r.fail(path + ("exclude",), "exclude filters the tag list: use it with allTags, include, semver or "
                                          "latest")
    destination = src.repository
    if "destination" in item:
        destination = r.string(item["destination"], path + ("destination",)).strip("/")
        if not reference.is_valid_path(destination):
            raise r.fail(path + ("destination",), f"invalid repository path {destination!r}: "
                                                  "lowercase components separated by '/'")
    per_image = dict(defaults)
    per_image.update(_parse_per_image(r, item, path))
    if per_image.get("platform_mode") == "rewrite" and per_image.get("platforms"):
        # A rewritten index has a digest of its own: only a pull by tag can be sent to it.
        where = path + ("platformMode",) if "platformMode" in item else ("defaults", "platformMode")
        if digests:
            raise r.fail(where, "rewrite pushes a new index under the image's tag, so a pull by "
                                "the source digest cannot be served from the mirror: select tags, not digests, "
                                "or use platformMode: sparse")
        if "tag" not in per_image.get("mirror_sets", MIRROR_SETS):
            raise r.fail(where, "rewrite is served by tag mirror entries only: mirrorSets must "
                                "include tag")
    return ImageSpec(source=src.repo_only(), tags=tuple(dict.fromkeys(tags)), digests=tuple(dict.fromkeys(digests)),
                     all_tags=all_tags, include=tuple(include), exclude=tuple(exclude), destination=destination,
                     index=index, semver=semver, latest=latest, **per_image)
