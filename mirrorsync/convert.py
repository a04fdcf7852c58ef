"""``mirrorsync convert``: a sync manifest from another tool's configuration.

Reads a ``skopeo sync`` YAML source file (``skopeo sync --src yaml``) or an oc-mirror ``ImageSetConfiguration``
(``mirror.openshift.io/v1alpha2`` or ``v2alpha1``) and writes the manifest that mirrors the same images. What has
no equivalent becomes a comment at the top of the output naming the input's file, line and field; nothing is
dropped silently. Credentials in a skopeo sync file are never copied: a manifest is not a place for secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import InputError
from .registry import reference
from .yamlsource import LocatedDocument, field_name, parse_documents, read_text
from .pipeline.sections import parse_manifest
from .sync import manifest as manifest_mod
from .sync.semver import Range

ISC_KIND = "ImageSetConfiguration"
ISC_API_VERSIONS = ("mirror.openshift.io/v1alpha2", "mirror.openshift.io/v2alpha1")
_SKOPEO_KEYS = {"images", "images-by-tag-regex", "images-by-semver", "credentials", "tls-verify", "cert-dir"}


@dataclass
class Conversion:
    """The manifest's content, and what could not be carried over (``FILE:LINE: field: why`` lines)."""

    source_format: str
    mirrors: list[str]
    registries: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    platform: dict[str, Any] | None = None  # an ImageSetConfiguration's releases
    operators: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)  # (input line, text)

    def render(self, input_file: str) -> str:
        lines = [f"# Converted by `mirrorsync convert` from {_one_line(input_file)} ({self.source_format})."]
        if self.notes:
            lines.append(f"# Not carried over ({len(self.notes)}):")
            lines += [f"#   {_one_line(note)}" for _, note in sorted(self.notes, key=lambda n: n[0])]
        doc: dict[str, Any] = {"apiVersion": manifest_mod.API_VERSION, "kind": manifest_mod.KIND,
                               "mirrors": self.mirrors}
        if self.registries:
            doc["registries"] = self.registries
        if self.images or (self.platform is None and not self.operators):
            doc["images"] = self.images
        if self.platform is not None:
            doc["platform"] = self.platform
        if self.operators:
            doc["operators"] = self.operators
        return "\n".join(lines) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False,
                                                        allow_unicode=True, width=120)


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _raw(loader, node: yaml.Node, path: tuple, lines: dict, file: str) -> Any:
    """Scalars as the text written, as Go's YAML decoders hand them to a string field (``1.10`` stays ``1.10``);
    null and booleans by their resolved tag."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("mapping keys must be plain scalars", file=file,
                                 line=key_node.start_mark.line + 1, field=field_name(path))
            key = key_node.value
            if key in out:
                raise InputError(f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1,
                                 field=field_name(path + (key,)))
            out[key] = _raw(loader, value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_raw(loader, item, path + (i,), lines, file) for i, item in enumerate(node.value)]
    if node.tag.endswith(":null"):
        return None
    if node.tag.endswith(":bool"):
        return node.value.lower() in ("true", "yes", "on")
    return node.value


def _load(text: str, file: str) -> LocatedDocument:
    def convert(loader, node, index):
        lines: dict = {}
        return LocatedDocument(file, _raw(loader, node, (), lines, file), lines)

    docs = parse_documents(text, file, convert)
    if len(docs) != 1:
        raise InputError(f"expected exactly one YAML document, found {len(docs)}", file=file)
    return docs[0]


class _Converter:
    def __init__(self, doc: LocatedDocument, mirrors: list[str], insecure_mirror: bool, source_format: str,
                 scoped: bool = False) -> None:
        self.doc = doc
        self.scoped = scoped
        self.out = Conversion(source_format, mirrors)
        if insecure_mirror:
            for m in mirrors:
                self.out.registries[m.partition("/")[0]] = {"tlsVerify": False}

    def fail(self, path: tuple, message: str) -> InputError:
        return self.doc.error(path, message)

    def note(self, path: tuple, message: str) -> None:
        line = self.doc.line(path) or 0
        where = f"{self.doc.file}:{line}" if line else self.doc.file
        self.out.notes.append((line, f"{where}: {field_name(path)}: {message}"))

    def mapping(self, value: Any, path: tuple) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "must be a mapping")
        return value

    def string(self, value: Any, path: tuple) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "must be a non-empty string")
        return value

    def ref(self, text: Any, path: tuple) -> reference.Reference:
        try:
            return reference.parse(self.string(text, path))
        except InputError as exc:
            raise self.fail(path, exc.message) from None

    # skopeo sync ---------------------------------------------------------------------------------------------

    def skopeo(self) -> Conversion:
        top = self.doc.data
        if not top:
            raise self.fail((), "no registries: a skopeo sync file maps registry hosts to images")
        for host, conf in top.items():
            path = (host,)
            if not reference.is_valid_domain(host):
                raise self.fail(path, f"invalid registry host {host!r}: expected host[:port]")
            conf = self.mapping(conf, path)
            for key in conf:
                if key not in _SKOPEO_KEYS:
                    self.note(path + (key,), "not a skopeo sync setting; ignored as skopeo ignores it")
            settings: dict[str, Any] = {}
            if "tls-verify" in conf:
                if not isinstance(conf["tls-verify"], bool):
                    raise self.fail(path + ("tls-verify",), "must be true or false")
                settings["tlsVerify"] = conf["tls-verify"]
            if conf.get("cert-dir") is not None:
                settings["certDir"] = self.string(conf["cert-dir"], path + ("cert-dir",))
            if conf.get("credentials") is not None:
                self.mapping(conf["credentials"], path + ("credentials",))
                self.note(path + ("credentials",),
                          f"not copied (a manifest is no place for secrets): log in to {host} into an auth file "
                          f"(skopeo login --authfile FILE {host}) and give it as --authfile or "
                          f"registries.{host}.authFile")
            if settings:
                self.out.registries.setdefault(host, {}).update(settings)
            self._skopeo_images(host, conf)
        if not self.out.images:
            raise self.fail((), "names no images (images, images-by-tag-regex or images-by-semver)")
        return self.out

    def _skopeo_images(self, host: str, conf: dict) -> None:
        for repo, refs in self.mapping(conf.get("images"), (host, "images")).items():
            path = (host, "images", repo)
            entry = self._entry(host, repo, path)
            if refs is None or refs == []:  # skopeo: no tags listed means every tag
                self.out.images.append({**entry, "allTags": True})
                continue
            if not isinstance(refs, list):
                raise self.fail(path, "must be a list of tags and digests")
            tags, digests = [], []
            for i, item in enumerate(refs):
                item = self.string(item, path + (i,))
                try:
                    if ":" in item:
                        digests.append(reference.validate_digest(item))
                    else:
                        tags.append(reference.validate_tag(item))
                except InputError as exc:
                    raise self.fail(path + (i,), exc.message) from None
            if tags:
                entry["tags"] = list(dict.fromkeys(tags))
            if digests:
                entry["digests"] = list(dict.fromkeys(digests))
            self.out.images.append(entry)
        for repo, regex in self.mapping(conf.get("images-by-tag-regex"), (host, "images-by-tag-regex")).items():
            path = (host, "images-by-tag-regex", repo)
            entry = self._entry(host, repo, path)
            regex = self.string(regex, path)
            try:
                re.compile(regex)
            except re.error as exc:
                raise self.fail(path, f"regular expression {regex!r} does not compile in Python: {exc}") from None
            self.out.images.append({**entry, "include": [regex]})  # skopeo searches, as include does
        for repo, constraint in self.mapping(conf.get("images-by-semver"), (host, "images-by-semver")).items():
            path = (host, "images-by-semver", repo)
            entry = self._entry(host, repo, path)
            # newer skopeo also takes a list of constraints, any of which may match
            parts = constraint if isinstance(constraint, list) else [constraint]
            texts = [self.string(p, path + ((i,) if isinstance(constraint, list) else ())) for i, p in enumerate(parts)]
            text = " || ".join(texts)
            try:
                Range.parse(text)
            except InputError as exc:
                raise self.fail(path, exc.message) from None
            self.out.images.append({**entry, "semver": text})
            self.note(path, "skopeo's Masterminds/semver also counts tags such as 3.12 or v3 as versions; "
                            "mirrorsync's semver takes MAJOR.MINOR.PATCH tags only: check `mirrorsync plan`")

    def _entry(self, host: str, repo: Any, path: tuple) -> dict[str, Any]:
        """source and destination of a repository: skopeo sync puts it at the mirror's ``<last path component>``,
        with --scoped at ``<host>/<path>``."""
        ref = self.ref(f"{host}/{repo}", path)
        if ref.tag or ref.digest:
            raise self.fail(path, f"{repo!r} must name a repository, without tag or digest")
        destination = ref.name if self.scoped else ref.repository.rsplit("/", 1)[-1]
        if not reference.is_valid_path(destination):
            raise self.fail(path, f"cannot be mirrored at {destination!r} (not a repository path)")
        return {"source": ref.name, "destination": destination}

    # oc-mirror ImageSetConfiguration --------------------------------------------------------------------------

    def image_set(self) -> Conversion:
        top = self.doc.data
        api = top.get("apiVersion")
        if api not in ISC_API_VERSIONS:
            raise self.fail(("apiVersion",), f"unsupported ImageSetConfiguration version {api!r} (convert reads "
                                             f"{', '.join(ISC_API_VERSIONS)})")
        for key in top:
            if key == "archiveSize":
                self.note((key,), "use `mirrorsync export --archive-size SIZE` for archives of a bounded size")
            elif key == "storageConfig":
                self.note((key,), "mirrorsync keeps no metadata image: what a run did is its report.json")
            elif key not in ("apiVersion", "kind", "mirror"):
                self.note((key,), "no equivalent in a sync manifest")
        mirror = self.mapping(top.get("mirror"), ("mirror",))
        for key in mirror:
            if key == "platform":
                self.out.platform = self._platform(mirror[key], ("mirror", key))
            elif key == "operators":
                self.out.operators = self._operators(mirror[key], api)
            elif key in ("helm", "samples"):
                self.note(("mirror", key), "not supported by mirrorsync yet: mirror these with oc-mirror")
            elif key not in ("additionalImages", "blockedImages"):
                self.note(("mirror", key), "no equivalent in a sync manifest")
        blocked = self._blocked(mirror.get("blockedImages"), api)
        additional = mirror.get("additionalImages") or []
        if not isinstance(additional, list):
            raise self.fail(("mirror", "additionalImages"), "must be a list of {name: IMAGE}")
        by_source: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(additional):
            path = ("mirror", "additionalImages", i)
            item = self.mapping(item, path)
            ref = self.ref(item.get("name"), path + ("name",))
            for key in item:
                if key != "name":
                    self.note(path + (key,), "no equivalent in a sync manifest")
            blocker = next((b for b in blocked if b[1](ref)), None)
            if blocker is not None:
                self.note(path + ("name",), f"{ref} left out: blocked by mirror.blockedImages[{blocker[0]}]")
                continue
            entry = by_source.setdefault(ref.name, {"source": ref.name})
            if ref.digest:
                entry.setdefault("digests", []).append(ref.digest)
            else:  # oc-mirror takes latest when a name has neither tag nor digest
                entry.setdefault("tags", []).append(ref.tag or "latest")
        for index, _ in blocked:
            if not any(n.endswith(f"blocked by mirror.blockedImages[{index}]") for _, n in self.out.notes):
                self.note(("mirror", "blockedImages", index), "blocks no additional image; mirrorsync does not "
                                                                "apply it to platform or operator images")
        self.out.images = [{k: (list(dict.fromkeys(v)) if isinstance(v, list) else v) for k, v in e.items()}
                           for e in by_source.values()]
        if not self.out.images and self.out.platform is None and not self.out.operators:
            raise self.fail(("mirror",), "no mirror.additionalImages, mirror.platform or mirror.operators to mirror "
                                         "(the sections convert carries over)")
        return self.out

    def _platform(self, value: Any, path: tuple) -> dict[str, Any] | None:
        """oc-mirror's ``platform`` as the manifest's (the same names); what has no equivalent is a note."""
        out: dict[str, Any] = {}
        for key, item in self.mapping(value, path).items():
            where = path + (key,)
            if key == "architectures":
                out[key] = item
            elif key == "channels":
                out[key] = [c for i, ch in enumerate(item if isinstance(item, list) else [])
                            if (c := self._channel(ch, where + (i,))) is not None]
            elif key == "release":  # v2alpha1: one release image named directly
                out.setdefault("releases", []).append(item)
            elif key == "graph":
                self.note(where, "mirrorsync builds no graph-data image: run an update service from the "
                                 "mirrored releases, or point clusters at the public one")
            else:
                self.note(where, "no equivalent in a sync manifest")
        if not out.get("channels"):
            out.pop("channels", None)
        return out if out.get("channels") or out.get("releases") else None

    def _channel(self, value: Any, path: tuple) -> dict[str, Any] | None:
        channel = self.mapping(value, path)
        if channel.get("type", "ocp") != "ocp":
            self.note(path + ("type",), f"{channel.get('type')} releases are not supported: only ocp")
            return None
        out: dict[str, Any] = {}
        for key, item in channel.items():
            if key in ("name", "minVersion", "maxVersion", "shortestPath"):
                out[key] = item
            elif key == "full" and item:
                self.note(path + (key,), "every release of the channel: give minVersion and maxVersion instead "
                                         "(without them mirrorsync takes the channel head, as oc-mirror does)")
            elif key not in ("type", "full"):
                self.note(path + (key,), "no equivalent in a sync manifest")
        return out


    def _operators(self, value: Any, api: str) -> list[dict[str, Any]]:
        """``mirror.operators`` as the manifest's ``operators``: the same names and meaning (oc-mirror v2's);
        keys with no equivalent are comments."""
        if not isinstance(value, list):
            raise self.fail(("mirror", "operators"), "must be a list of catalogs")
        out = []
        for i, item in enumerate(value):
            path = ("mirror", "operators", i)
            entry = self._keep(self.mapping(item, path), path, ("catalog", "full", "targetCatalog", "targetTag"))
            packages = []
            for j, pkg in enumerate(item.get("packages") or []):
                ppath = path + ("packages", j)
                kept = self._keep(self.mapping(pkg, ppath), ppath,
                                  ("name", "defaultChannel", "minVersion", "maxVersion"))
                channels = [self._keep(self.mapping(ch, ppath + ("channels", k)), ppath + ("channels", k),
                                       ("name", "minVersion", "maxVersion"))
                            for k, ch in enumerate(pkg.get("channels") or [])]
                packages.append({**kept, **({"channels": channels} if channels else {})})
            if packages:
                entry["packages"] = packages
            if api.endswith("v1alpha2"):
                self.note(path, "dependencies of kept bundles are added only with resolveDependencies: true "
                                "(oc-mirror v2's behaviour)")
            out.append(entry)
        return out

    def _keep(self, item: dict, path: tuple, keys: tuple[str, ...]) -> dict[str, Any]:
        nested = {"packages", "channels"}
        for key in item:
            if key not in keys and key not in nested:
                self.note(path + (key,), "no equivalent in a sync manifest")
        return {k: str(item[k]) if isinstance(item[k], (int, float)) and not isinstance(item[k], bool) else item[k]
                for k in keys if k in item}

    def _blocked(self, value: Any, api: str) -> list[tuple[int, Any]]:
        """(index, predicate) per blockedImages entry. v1alpha2 blocks by image name (``alpine`` blocks
        docker.io/library/alpine); v2alpha1 also takes full references and regular expressions."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(("mirror", "blockedImages"), "must be a list of {name: IMAGE}")
        out = []
        for i, item in enumerate(value):
            path = ("mirror", "blockedImages", i)
            name = self.string(self.mapping(item, path).get("name"), path + ("name",))

            def blocks(ref: reference.Reference, name=name) -> bool:
                if name in (str(ref), ref.name, ref.repository, ref.repository.rsplit("/", 1)[-1]):
                    return True
                if api.endswith("v2alpha1"):
                    try:
                        return re.search(name, str(ref)) is not None
                    except re.error:
                        return False
                return False

            out.append((i, blocks))
        return out


def convert(path: str, mirrors: list[str], *, insecure_mirror: bool = False, scoped: bool = False) -> str:
    """The manifest text for the skopeo sync file or ImageSetConfiguration at ``path``; ``InputError`` if the file
    is not one, or the result would not load."""
    if not mirrors:
        raise InputError("give at least one --mirror HOST[:PORT][/NAMESPACE]: neither a skopeo sync file nor an "
                         "ImageSetConfiguration names the mirrors", field="--mirror")
    for m in mirrors:
        try:
            manifest_mod._parse_mirror(m)
        except InputError as exc:
            raise InputError(exc.message, field="--mirror") from None
    doc = _load(read_text(path), path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "must be a mapping: a skopeo sync file or an ImageSetConfiguration")
    if doc.data.get("kind") == ISC_KIND:
        conversion = _Converter(doc, list(mirrors), insecure_mirror, "oc-mirror ImageSetConfiguration "
                                f"{doc.data.get('apiVersion')}").image_set()
    else:
        conversion = _Converter(doc, list(mirrors), insecure_mirror, "skopeo sync YAML", scoped).skopeo()
    text = conversion.render(path)
    try:
        parse_manifest(text, "<converted>")
    except InputError as exc:  # e.g. two repositories landing on one destination
        hint = "" if scoped or doc.data.get("kind") == ISC_KIND else \
            " (skopeo sync puts each repository at its last path component; --scoped keeps the whole name)"
        raise InputError(f"the converted manifest would not load: {exc}{hint}", file=path) from None
    return text
