"""A file-based catalog (FBC) as opm writes it: documents in JSON or YAML, several per file, one folder per package.

Documents are kept as the dicts they were read as, so that what filtering does not touch (unknown schemas, icons,
descriptions, properties) is written back as it came. Writing is deterministic: the same catalog gives the same
bytes, so a rebuilt catalog image keeps its digest from run to run.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field

import yaml

from ...errors import MirrorsyncError
from ...sync.semver import Version

PACKAGE = "olm.package"
CHANNEL = "olm.channel"
BUNDLE = "olm.bundle"
DEPRECATIONS = "olm.deprecations"
CONFIGS_LABEL = "operators.operatorframework.io.index.configs.v1"
DEFAULT_CONFIGS = "/configs"
FBC_SUFFIXES = (".json", ".yaml", ".yml")
CATALOG_FILE = "catalog.json"
_PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class CatalogError(MirrorsyncError):
    """A catalog that cannot be read or filtered (its content, not the manifest, is at fault)."""


@dataclass(frozen=True)
class Entry:
    """A channel entry: a bundle and the upgrade edges into it."""

    name: str
    replaces: str | None = None
    skips: tuple[str, ...] = ()
    skip_range: str | None = None


@dataclass
class Channel:
    package: str
    name: str
    entries: list[Entry]
    doc: dict

    def heads(self) -> list[str]:
        """The entries no other entry replaces or skips (skipRange does not count), sorted."""
        pointed = {e.replaces for e in self.entries if e.replaces} | {s for e in self.entries for s in e.skips}
        return sorted(e.name for e in self.entries if e.name not in pointed)


@dataclass
class Bundle:
    package: str
    name: str
    image: str
    version: Version | None
    version_text: str
    related_images: list[tuple[str, str]]  # (name, image) as listed
    doc: dict

    def properties(self, kind: str) -> list:
        return [p.get("value") for p in self.doc.get("properties") or [] if isinstance(p, dict) and p.get("type") == kind]

    @property
    def images(self) -> list[str]:
        """The bundle image and every related image, each once, bundle first (a bundle whose manifests are in
        its ``olm.bundle.object`` properties may have no image)."""
        return list(dict.fromkeys(i for i in [self.image, *(image for _, image in self.related_images)] if i))


@dataclass
class Package:
    name: str
    doc: dict
    channels: dict[str, Channel] = field(default_factory=dict)
    bundles: dict[str, Bundle] = field(default_factory=dict)
    others: list[dict] = field(default_factory=list)  # deprecations and unknown schemas naming this package

    @property
    def default_channel(self) -> str | None:
        return self.doc.get("defaultChannel")


@dataclass
class Catalog:
    packages: dict[str, Package] = field(default_factory=dict)
    others: list[dict] = field(default_factory=list)  # documents that name no known package, kept as they are

    def bundle(self, package: str, name: str) -> Bundle | None:
        pkg = self.packages.get(package)
        return pkg.bundles.get(name) if pkg else None


class _NoAliasLoader(yaml.SafeLoader):  # the pure-Python loader: libyaml composes nodes in C
    """YAML without aliases: opm never writes them, and a few nested aliases expand into gigabytes when the
    documents are written back as JSON (a "billion laughs" catalog)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not allowed in a catalog")
        return super().compose_node(parent, index)


def parse_documents(data: bytes, where: str) -> list[dict]:
    """The documents of one FBC file: a stream of JSON objects, or YAML documents."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogError(f"{where}: not UTF-8 text") from None
    stripped = text.lstrip()
    if not stripped:
        return []
    docs: list = []
    if stripped.startswith("{"):
        decoder = json.JSONDecoder()
        pos = len(text) - len(stripped)
        try:
            while pos < len(text):
                doc, pos = decoder.raw_decode(text, pos)
                docs.append(doc)
                while pos < len(text) and text[pos].isspace():
                    pos += 1
        except ValueError as exc:
            raise CatalogError(f"{where}: invalid JSON ({exc})") from None
        except RecursionError:
            raise CatalogError(f"{where}: invalid JSON (nested too deeply)") from None
    else:
        try:
            docs = [d for d in yaml.load_all(text, Loader=_NoAliasLoader) if d is not None]
        except yaml.YAMLError as exc:
            raise CatalogError(f"{where}: invalid YAML ({' '.join(str(exc).split())})") from None
        except RecursionError:
            raise CatalogError(f"{where}: invalid YAML (nested too deeply)") from None
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("schema"), str):
            raise CatalogError(f"{where}: a document without a schema")
    return docs


def is_fbc_file(path: str, root: str) -> bool:
    """Whether ``path`` (no leading ``/``) is a document file below the configs root (also without ``/``)."""
    return (path.startswith(root + "/") and path.endswith(FBC_SUFFIXES)
            and not any(part.startswith(".") for part in path[len(root) + 1:].split("/")))


def load(files: dict[str, bytes], root: str, *, consume: bool = False) -> Catalog:
    """The catalog in ``files`` (path -> bytes, as read from an image) below ``root``; files are read in path
    order so that a catalog split over several files loads the same way every time. ``consume`` takes each file
    out of ``files`` as it is parsed, so that a whole catalog's bytes (tens of MB for Red Hat's) are not held
    beside its documents."""
    docs: list[tuple[dict, str]] = []
    for path in sorted(files):
        data = files.pop(path) if consume else files[path]
        if is_fbc_file(path, root):
            docs += [(d, path) for d in parse_documents(data, path)]
    return from_documents(docs)


def from_documents(docs: list[tuple[dict, str]]) -> Catalog:
    catalog = Catalog()
    for doc, where in docs:
        if doc["schema"] == PACKAGE:
            name = _text(doc, "name", where)
            if not _PACKAGE_NAME.fullmatch(name):
                # it becomes a folder of the rebuilt image: "../bin" would write outside the configs directory
                raise CatalogError(f"{where}: package name {name!r} is not a name (letters, digits, '.', '_', '-')")
            if name in catalog.packages:
                raise CatalogError(f"{where}: package {name!r} is declared twice")
            catalog.packages[name] = Package(name, doc)
    for doc, where in docs:
        schema = doc["schema"]
        if schema == PACKAGE:
            continue
        owner = doc.get("package")
        pkg = catalog.packages.get(owner) if isinstance(owner, str) else None
        if schema in (CHANNEL, BUNDLE) and pkg is None:
            raise CatalogError(f"{where}: {schema} {doc.get('name')!r} names package {owner!r}, which the "
                               f"catalog does not declare")
        if schema == CHANNEL:
            channel = Channel(pkg.name, _text(doc, "name", where), _entries(doc, where), doc)
            pkg.channels[channel.name] = channel
        elif schema == BUNDLE:
            bundle = _bundle(doc, pkg.name, where)
            pkg.bundles[bundle.name] = bundle
        elif pkg is not None:
            pkg.others.append(doc)
        else:
            catalog.others.append(doc)
    return catalog


def _text(doc: dict, key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}: {doc.get('schema')} without a {key}")
    return value


def _entries(doc: dict, where: str) -> list[Entry]:
    out = []
    for e in doc.get("entries") or []:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise CatalogError(f"{where}: channel {doc.get('name')!r} has an entry without a name")
        skips = e.get("skips") or []
        out.append(Entry(e["name"], e.get("replaces") or None, tuple(str(s) for s in skips), e.get("skipRange")))
    return out


def _bundle(doc: dict, package: str, where: str) -> Bundle:
    name = _text(doc, "name", where)
    version_text = ""
    for p in doc.get("properties") or []:
        if isinstance(p, dict) and p.get("type") == PACKAGE and isinstance(p.get("value"), dict):
            version_text = str(p["value"].get("version") or "")
    related = [(str(r.get("name") or ""), str(r.get("image") or "")) for r in doc.get("relatedImages") or []
               if isinstance(r, dict)]
    return Bundle(package, name, str(doc.get("image") or ""), Version.parse(version_text), version_text, related,
                  doc)


def package_documents(pkg: Package) -> list[dict]:
    """A package's documents in a fixed order: the package, channels and bundles by name, then the rest."""
    return ([pkg.doc] + [pkg.channels[c].doc for c in sorted(pkg.channels)]
            + [pkg.bundles[b].doc for b in sorted(pkg.bundles)] + list(pkg.others))


def render(catalog: Catalog, root: str) -> dict[str, bytes]:
    """The catalog as files below ``root``: ``<root>/<package>/catalog.json`` per package (a stream of JSON
    objects, as ``opm render`` writes), and the documents of no package in ``<root>/catalog.json``."""
    files = {}
    for name in sorted(catalog.packages):
        files[posixpath.join(root, name, CATALOG_FILE)] = _json_stream(package_documents(catalog.packages[name]))
    if catalog.others:
        files[posixpath.join(root, CATALOG_FILE)] = _json_stream(catalog.others)
    return files


def _json_stream(docs: list[dict]) -> bytes:
    return "".join(json.dumps(d, indent=4, ensure_ascii=False) + "\n" for d in docs).encode()
