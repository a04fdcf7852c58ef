"""``signedIdentity``: which identity (``critical.identity.docker-reference``) a signature may claim for an image,
decided as containers/image decides it (signature/policy_reference_match.go).

The image's reference is the one the copy reads: ``host/repo:tag`` for a job by tag, ``host/repo@digest`` for one
by digest. References are parsed and normalised as docker/reference does (``busybox`` is
``docker.io/library/busybox``); a claimed identity that does not parse matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..registry import reference
from ..registry.reference import DOMAIN, Reference
from ..yamlsource import Reader

MATCH_EXACT = "matchExact"
MATCH_REPO_DIGEST_OR_EXACT = "matchRepoDigestOrExact"
MATCH_REPOSITORY = "matchRepository"
EXACT_REFERENCE = "exactReference"
EXACT_REPOSITORY = "exactRepository"
REMAP_IDENTITY = "remapIdentity"

_FIELDS = {MATCH_EXACT: (), MATCH_REPO_DIGEST_OR_EXACT: (), MATCH_REPOSITORY: (),
           EXACT_REFERENCE: ("dockerReference",), EXACT_REPOSITORY: ("dockerRepository",),
           REMAP_IDENTITY: ("prefix", "signedPrefix")}

# remapIdentity prefixes (validateIdentityRemappingPrefix): a host[:port] alone, or a name that starts with one
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_ONLY = re.compile(rf"{DOMAIN}", re.ASCII)
_NAME_WITH_DOMAIN = re.compile(rf"{DOMAIN}/{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)


@dataclass(frozen=True)
class SignedIdentity:
    type: str
    docker_reference: str | None = None  # exactReference
    docker_repository: str | None = None  # exactRepository
    prefix: str | None = None  # remapIdentity
    signed_prefix: str | None = None

    def accepts(self, image: Reference, claimed: str) -> bool:
        """Whether a signature claiming ``claimed`` is acceptable for ``image`` (policy_reference_match.go)."""
        signed = _parse(claimed)
        if signed is None:
            return False
        if self.type == MATCH_EXACT:
            return not _name_only(image) and not _name_only(signed) and str(signed) == str(image)
        if self.type == MATCH_REPO_DIGEST_OR_EXACT:
            return _repo_digest_or_exact(image, signed)
        if self.type == MATCH_REPOSITORY:
            return signed.name == image.name
        if self.type == EXACT_REFERENCE:
            intended = _parse(self.docker_reference or "")
            return (intended is not None and not _name_only(intended) and not _name_only(signed)
                    and str(signed) == str(intended))
        if self.type == EXACT_REPOSITORY:
            intended = _parse(self.docker_repository or "")
            return intended is not None and signed.name == intended.name
        if self.type == REMAP_IDENTITY:
            remapped = self._remap(image)
            return remapped is not None and _repo_digest_or_exact(remapped, signed)
        return False

    def _remap(self, image: Reference) -> Reference | None:
        """``image`` with ``prefix`` replaced by ``signedPrefix`` where its name starts with it (whole
        components), else ``image`` itself; None when the result is not a canonical reference."""
        prefix, name = self.prefix or "", image.name
        if not (name == prefix or (name.startswith(prefix) and name[len(prefix):len(prefix) + 1] == "/")):
            return image
        text = str(image).replace(prefix, self.signed_prefix or "", 1)
        remapped = _parse(text)
        return remapped if remapped is not None and str(remapped) == text else None  # ParseNamed: canonical only

    def to_dict(self) -> dict[str, str]:
        d = {"type": self.type}
        for key, value in (("dockerReference", self.docker_reference), ("dockerRepository", self.docker_repository),
                           ("prefix", self.prefix), ("signedPrefix", self.signed_prefix)):
            if value is not None:
                d[key] = value
        return d


DEFAULT_IDENTITY = SignedIdentity(MATCH_REPO_DIGEST_OR_EXACT)  # when a requirement names none


def _parse(text: str) -> Reference | None:
    """containers/image's ParseNormalizedNamed (its fork of docker/reference): unlike distribution's today, a first
    component in upper case is not taken for a host, so the name is not lowercase and does not parse."""
    first, sep, _ = text.partition("/")
    if sep and first != first.lower() and not ("." in first or ":" in first or first == "localhost"):
        return None
    try:
        return reference.parse_normalized_named(text)
    except ValueError:
        return None


def _name_only(ref: Reference) -> bool:
    return ref.tag is None and ref.digest is None


def _repo_digest_or_exact(intended: Reference, signed: Reference) -> bool:
    """matchRepoDigestOrExact over two references: a tagged image needs exactly its reference signed, one by
    digest only its repository (the digest itself is checked against the payload separately)."""
    if _name_only(signed):
        return False
    if intended.tag is not None:
        return str(signed) == str(intended)
    if intended.digest is not None:
        return signed.name == intended.name
    return False


def parse_identity(r: Reader, value: Any, path: tuple) -> SignedIdentity:
    """A ``signedIdentity`` object, with exactly the fields its type has (as containers/image requires)."""
    if not isinstance(value, dict):
        raise r.fail(path, "must be an object with a type")
    kind = value.get("type")
    if kind not in _FIELDS:
        raise r.fail(path + ("type",), f"unknown signedIdentity type {kind!r} (one of {', '.join(_FIELDS)})"
                     if kind is not None else f"missing (one of {', '.join(_FIELDS)})")
    r.mapping(value, path, {"type", *_FIELDS[kind]})
    for key in _FIELDS[kind]:
        if key not in value:
            raise r.fail(path, f"{key}: missing (signedIdentity {kind} needs it)")
        if not isinstance(value[key], str):
            raise r.fail(path + (key,), "must be a string")
    if kind == EXACT_REFERENCE:
        ref = _parse(value["dockerReference"])
        if ref is None:
            raise r.fail(path + ("dockerReference",), f"invalid reference {value['dockerReference']!r}")
        if _name_only(ref):
            raise r.fail(path + ("dockerReference",), f"{value['dockerReference']!r} has neither a tag nor a digest")
        return SignedIdentity(kind, docker_reference=value["dockerReference"])
    if kind == EXACT_REPOSITORY:
        if _parse(value["dockerRepository"]) is None:
            raise r.fail(path + ("dockerRepository",), f"invalid repository {value['dockerRepository']!r}")
        return SignedIdentity(kind, docker_repository=value["dockerRepository"])
    if kind == REMAP_IDENTITY:
        for key in ("prefix", "signedPrefix"):
            if not valid_remap_prefix(value[key]):
                raise r.fail(path + (key,), f"prefix {value[key]!r} is not valid (host[:port] or host[:port]/path)")
        return SignedIdentity(kind, prefix=value["prefix"], signed_prefix=value["signedPrefix"])
    return SignedIdentity(kind)


def valid_remap_prefix(text: str) -> bool:
    return bool(_DOMAIN_ONLY.fullmatch(text) or _NAME_WITH_DOMAIN.fullmatch(text))
