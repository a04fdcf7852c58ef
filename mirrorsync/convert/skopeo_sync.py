"""A ``skopeo sync`` YAML source file (``skopeo sync --src yaml``) as a manifest: registry hosts to repositories,
each listed by tag and digest, by tag regex or by semver range; credentials never copied."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InputError
from ..registry import reference
from ..sync.semver import Range
from ..yamlsource import LocatedDocument
from .conversion import Conversion
from .located import Reader

SOURCE_FORMAT = "skopeo sync YAML"
_SKOPEO_KEYS = {"images", "images-by-tag-regex", "images-by-semver", "credentials", "tls-verify", "cert-dir"}


class SkopeoSync(Reader):
    def __init__(self, doc: LocatedDocument, mirrors: list[str], insecure_mirror: bool, scoped: bool) -> None:
        super().__init__(doc, mirrors, insecure_mirror, SOURCE_FORMAT)
        self.scoped = scoped

    def convert(self) -> Conversion:
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
