"""The distribution reference grammar: ``[host[:port]/]path[:tag][@digest]``.

Follows github.com/distribution/reference (the grammar containers/image and the registry use), including
Docker Hub normalisation (``busybox`` -> ``docker.io/library/busybox``).
"""

from __future__ import annotations

import functools

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

    @functools.cached_property  # one string for every record of the source's images, not one each
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


def is_digest(ref: str) -> bool:
    """Whether ``ref``, the tag-or-digest part of a reference (what a registry is asked for), is a digest: a tag
    has no colon, a digest always one (``sha256:...``)."""
    return ":" in ref


def at(repository: str, ref: str) -> str:
    """``repository@digest`` or ``repository:tag``: a repository and the tag or digest asked of it, as text."""
    return f"{repository}@{ref}" if is_digest(ref) else f"{repository}:{ref}"


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


# containers/image's docker/reference, as nodes parse what they pull (``resolve``): the same grammar as
# :func:`parse`, but its own normalisation steps and error messages (raised as ValueError), which the test
# vectors from containers/image compare. Go's \w is ASCII-only, hence re.ASCII.
_NAME = rf"(?:{DOMAIN}/)?{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
_REFERENCE_RE = re.compile(rf"({_NAME})(?::({TAG}))?(?:@({DIGEST}))?", re.ASCII)
_ANCHORED_NAME_RE = re.compile(rf"(?:({DOMAIN})/)?({PATH_COMPONENT}(?:/{PATH_COMPONENT})*)", re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")


def _validate_docker_digest(digest: str) -> None:
    algorithm, _, encoded = digest.partition(":")
    want = DIGEST_HEX_LENGTHS.get(algorithm)
    if want is None:
        raise ValueError("unsupported digest algorithm")
    if len(encoded) != want:
        raise ValueError("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise ValueError("invalid checksum digest format")


def _parse_docker(text: str) -> tuple[str, str, str | None, str | None]:
    """docker/reference Parse, with its error messages (raised as ValueError): (domain, path, tag, digest)."""
    match = _REFERENCE_RE.fullmatch(text)
    if not match:
        if text == "":
            raise ValueError("repository name must have at least one component")
        if _REFERENCE_RE.fullmatch(text.lower()):
            raise ValueError("repository name must be lowercase")
        raise ValueError("invalid reference format")
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ValueError(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    name_match = _ANCHORED_NAME_RE.fullmatch(name)
    domain, path = (name_match.group(1) or "", name_match.group(2)) if name_match else ("", name)
    if digest:
        _validate_docker_digest(digest)
    return domain, path, tag, digest


def parse_normalized_named(text: str) -> Reference:
    """docker/reference ParseNormalizedNamed: short names get docker.io (and library/) added."""
    if _IDENTIFIER_RE.fullmatch(text):
        raise ValueError(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_domain(text)  # the tag and digest ride along in the remainder
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise ValueError("invalid reference format: repository name must be lowercase")
    domain, path, tag, digest = _parse_docker(f"{domain}/{remainder}")
    if not domain:
        raise ValueError(f"reference {text} has no name")
    return Reference(domain, path, tag, digest)


def parse_named(text: str) -> Reference:
    """docker/reference ParseNamed: like ParseNormalizedNamed, but only canonical (fully spelled-out) names."""
    named = parse_normalized_named(text)
    if str(named) != text:
        raise ValueError("repository name must be canonical")
    return named



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
