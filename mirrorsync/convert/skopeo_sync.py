"""A ``skopeo sync`` YAML source file (``skopeo sync --src yaml``) as a manifest: registries (a host, or a host and a
namespace path the images are relative to) to repositories, each listed by tag and digest, by tag regex or by semver
range; credentials never copied."""

from __future__ import annotations

from typing import Any

from .. import linear_regex
from ..errors import InputError
from ..registry import reference
from ..sync.semver import Range
from ..yamlsource import LocatedDocument
from .conversion import Conversion
from .located import Reader
from .masterminds import short_tag_pattern

SOURCE_FORMAT = "skopeo sync YAML"
_SKOPEO_KEYS = {"images", "images-by-tag-regex", "images-by-semver", "credentials", "tls-verify", "cert-dir"}
_SETTINGS = (("tls-verify", "tlsVerify"), ("cert-dir", "certDir"))


class SkopeoSync(Reader):
    def __init__(self, doc: LocatedDocument, mirrors: list[str], insecure_mirror: bool, scoped: bool) -> None:
        super().__init__(doc, mirrors, insecure_mirror, SOURCE_FORMAT)
        self.scoped = scoped
        self.settings_from: dict[str, str] = {}  # registry host -> the key its settings came from
        self.keys_of: dict[str, list[tuple[str, dict]]] = {}  # registry host -> its keys and their settings

    def convert(self) -> Conversion:
        top = self.doc.data
        if not top:
            raise self.fail((), "no registries: a skopeo sync file maps registry hosts to images")
        for key, conf in top.items():
            path = (key,)
            host = self._host(key, path)
            conf = self.mapping(conf, path)
            for setting in conf:
                if setting not in _SKOPEO_KEYS:
                    self.note(path + (setting,), "not a skopeo sync setting; ignored as skopeo ignores it")
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
                self._settings(host, key, settings)
            self.keys_of.setdefault(host, []).append((key, conf))
            self._skopeo_images(key, conf)
        self._note_shared_settings()
        if not self.out.images:
            raise self.fail((), "names no images (images, images-by-tag-regex or images-by-semver)")
        return self.out

    def _host(self, key: Any, path: tuple) -> str:
        """The registry host of a key: ``host[:port]``, or ``host[:port]/namespace`` as skopeo sync also takes
        (the images under it are relative to the namespace)."""
        host, _, namespace = str(key).partition("/")
        if not reference.is_valid_domain(host) or (namespace and not reference.is_valid_path(namespace)):
            raise self.fail(path, f"invalid registry host {key!r}: expected host[:port] or host[:port]/NAMESPACE")
        return host

    def _settings(self, host: str, key: str, settings: dict[str, Any]) -> None:
        """A manifest's registry settings are per host; keys for namespaces of one host must agree on them."""
        have = self.out.registries.setdefault(host, {})
        for input_name, name in _SETTINGS:
            if name not in settings:
                continue
            if name in have and have[name] != settings[name]:
                other = self.settings_from.get(host)
                given = f"{other}.{input_name}" if other else "--insecure-mirror"
                raise self.fail((key, input_name), f"differs from {given}: the manifest's registries settings are "
                                                   f"per host ({host})")
            have[name] = settings[name]
            self.came_from(("registries", host, name), (key, input_name))
        self.came_from(("registries", host), (key,))
        self.settings_from.setdefault(host, key)

    def _note_shared_settings(self) -> None:
        """A key of a host that does not give a setting another key of the host gives gets it too: say so."""
        for host, keys in self.keys_of.items():
            first = self.settings_from.get(host)
            for input_name, name in _SETTINGS:
                if first is None or name not in self.out.registries.get(host, {}):
                    continue
                for key, conf in keys:
                    if conf.get(input_name) is None:
                        self.note((key,), f"{input_name} not given, but {first}.{input_name} applies here too: "
                                          f"the manifest's registries settings are per host ({host})")

    def _add(self, entry: dict[str, Any], path: tuple) -> int:
        self.out.images.append(entry)
        index = len(self.out.images) - 1
        self.came_from(("images", index), path)
        return index

    def _skopeo_images(self, key: str, conf: dict) -> None:
        for repo, refs in self.mapping(conf.get("images"), (key, "images")).items():
            path = (key, "images", repo)
            entry = self._entry(key, repo, path)
            if refs is None or refs == []:  # skopeo: no tags listed means every tag
                self._add({**entry, "allTags": True}, path)
                continue
            if not isinstance(refs, list):
                raise self.fail(path, "must be a list of tags and digests")
            tags: dict[str, int] = {}
            digests: dict[str, int] = {}
            for i, item in enumerate(refs):
                item = self.string(item, path + (i,))
                try:
                    if ":" in item:
                        digests.setdefault(reference.validate_digest(item), i)
                    else:
                        tags.setdefault(reference.validate_tag(item), i)
                except InputError as exc:
                    raise self.fail(path + (i,), exc.message) from None
            if tags:
                entry["tags"] = list(tags)
            if digests:
                entry["digests"] = list(digests)
            index = self._add(entry, path)
            for name, items in (("tags", tags), ("digests", digests)):
                for j, i in enumerate(items.values()):
                    self.came_from(("images", index, name, j), path + (i,))
        for repo, regex in self.mapping(conf.get("images-by-tag-regex"), (key, "images-by-tag-regex")).items():
            path = (key, "images-by-tag-regex", repo)
            entry = self._entry(key, repo, path)
            regex = self.string(regex, path)
            try:
                linear_regex.compile(regex)  # skopeo's own engine is Go's regexp, which RE2 is
            except linear_regex.RegexError as exc:
                raise self.fail(path, f"regular expression {regex!r} is not valid Go/RE2 syntax: {exc}") from None
            self._add({**entry, "include": [regex]}, path)  # skopeo searches, as include does
        for repo, constraint in self.mapping(conf.get("images-by-semver"), (key, "images-by-semver")).items():
            self._semver(key, repo, constraint)

    def _semver(self, key: str, repo: Any, constraint: Any) -> None:
        path = (key, "images-by-semver", repo)
        entry = self._entry(key, repo, path)
        # newer skopeo also takes a list of constraints, any of which may match
        parts = constraint if isinstance(constraint, list) else [constraint]
        texts = [self.string(p, path + ((i,) if isinstance(constraint, list) else ())) for i, p in enumerate(parts)]
        text = " || ".join(texts)
        try:
            rng = Range.parse(text)
        except InputError as exc:
            raise self.fail(path, exc.message) from None
        self._add({**entry, "semver": text}, path)
        # Masterminds reads the tag 3.12 as 3.12.0, in any range: '>= 3.12.0' takes it as '= 3.7' takes 3.7
        short = short_tag_pattern(rng)
        if short is None:  # no M or M.m tag is in the range (= 3.7.1): the semver entry takes what skopeo does
            return
        self._add({**entry, "include": [short]}, path)
        self.note(path, "skopeo's Masterminds/semver also counts tags such as 3.7 or v3 as versions (3.7.0, "
                        "3.0.0): a second entry takes those in the range by an include pattern, the semver entry "
                        "the MAJOR.MINOR.PATCH ones")

    def _entry(self, key: str, repo: Any, path: tuple) -> dict[str, Any]:
        """source and destination of a repository: skopeo sync puts it at the mirror's ``<last path component>``,
        with --scoped at ``<host>/<path>``."""
        ref = self.ref(f"{key}/{repo}", path)
        if ref.tag or ref.digest:
            raise self.fail(path, f"{repo!r} must name a repository, without tag or digest")
        destination = ref.name if self.scoped else ref.repository.rsplit("/", 1)[-1]
        if not reference.is_valid_path(destination):
            raise self.fail(path, f"cannot be mirrored at {destination!r} (not a repository path)")
        return {"source": ref.name, "destination": destination}
