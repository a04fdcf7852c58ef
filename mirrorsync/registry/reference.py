"""The distribution reference grammar: ``[host[:port]/]path[:tag][@digest]``.

Follows github.com/distribution/reference (the grammar containers/image and the registry use), including
Docker Hub normalisation (``busybox`` -> ``docker.io/library/busybox``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import InvalidReference
from ..oci.content import DIGEST_HEX_LENGTHS

DEFAULT_REGISTRY = "docker.io"
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
OFFICIAL_NAMESPACE = "library"
NAME_TOTAL_LENGTH_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
PATH = rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
# Go's \w is ASCII; Python's would let "v١" or "tagé" through, which no registry accepts.
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# \Z, not $: Python's $ also matches before a trailing newline, so "v1\n" passed as a tag.
_DOMAIN_RE = re.compile(rf"^{DOMAIN}\Z")
_PATH_RE = re.compile(rf"^{PATH}\Z")
_TAG_RE = re.compile(rf"^{TAG}\Z")
_DIGEST_RE = re.compile(rf"^{DIGEST}\Z")
_ANCHORED = re.compile(rf"^(?P<name>(?:{DOMAIN}/)?{PATH})(?::(?P<tag>{TAG}))?(?:@(?P<digest>{DIGEST}))?\Z")


@dataclass(frozen=True, order=True)
class Reference:
    """A parsed image reference. ``registry`` is host[:port]; ``repository`` is the path below it."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``: what registries.conf and the mirror sets call a source."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host the registry API is really served from (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, tag=None, digest=digest)

    def repo_only(self) -> Reference:
        return replace(self, tag=None, digest=None)

    @property
    def identifier(self) -> str | None:
        """What to ask a registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def split_domain(name: str) -> tuple[str, str]:
    """Split a name into (domain, path) as distribution/reference does, normalising Docker Hub."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_REGISTRY, name
    if domain == LEGACY_DEFAULT_REGISTRY:
        domain = DEFAULT_REGISTRY
    if domain == DEFAULT_REGISTRY and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    return domain, path


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is well formed, of a known algorithm and of its length."""
    if not _DIGEST_RE.match(digest):
        raise InvalidReference(f"invalid digest {digest!r}")
    algorithm, _, hex_ = digest.partition(":")
    want = DIGEST_HEX_LENGTHS.get(algorithm)
    if want is None:
        raise InvalidReference(f"unsupported digest algorithm {algorithm!r} in {digest!r}")
    if len(hex_) != want or hex_ != hex_.lower():
        raise InvalidReference(f"invalid {algorithm} digest {digest!r}")
    return digest


def validate_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise InvalidReference(f"invalid tag {tag!r}")
    return tag


def parse(text: str) -> Reference:
    """Parse a reference, normalising short names the way docker and containers/image do."""
    if not isinstance(text, str) or not text:
        raise InvalidReference("empty image reference")
    m = _ANCHORED.match(text)
    if not m:
        if text != text.strip():
            raise InvalidReference(f"invalid reference {text!r}: surrounding whitespace")
        if any(c.isupper() for c in text.split("@")[0].rsplit(":", 1)[0].split("/", 1)[-1]):
            raise InvalidReference(f"invalid reference {text!r}: repository name must be lowercase")
        raise InvalidReference(f"invalid reference {text!r}")
    domain, path = split_domain(m.group("name"))
    if not _PATH_RE.match(path):
        raise InvalidReference(f"invalid reference {text!r}: repository name must be lowercase")
    if len(f"{domain}/{path}") > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"invalid reference {text!r}: name longer than {NAME_TOTAL_LENGTH_MAX} characters")
    digest = m.group("digest")
    if digest:
        validate_digest(digest)
    return Reference(domain, path, m.group("tag"), digest)


def parse_repository(text: str) -> Reference:
    """Parse a reference that must name a repository only (no tag, no digest)."""
    ref = parse(text)
    if ref.tag or ref.digest:
        raise InvalidReference(f"{text!r} must name a repository, without tag or digest")
    return ref


def is_valid_domain(text: str) -> bool:
    return bool(_DOMAIN_RE.match(text))


def is_valid_path(text: str) -> bool:
    return bool(_PATH_RE.match(text))


DEFAULT_PORT = "443"  # a registry is HTTPS unless told otherwise


def same_host_spellings(registry: str) -> list[str]:
    """``registry`` as written, then written the other way round with the default port: ``h`` and ``h:443`` are
    one registry (httpx, like browsers, leaves a default port out of URLs)."""
    host, sep, port = registry.rpartition(":")
    if not sep or "]" in port:  # no port (an IPv6 literal's last colon is inside its brackets)
        return [registry, f"{registry}:{DEFAULT_PORT}"]
    return [registry, host] if port == DEFAULT_PORT else [registry]
