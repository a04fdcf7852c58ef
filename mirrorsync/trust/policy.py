"""A containers-policy.json(5) file, loaded strictly: what must be true of an image's signatures before it is copied.

Honoured: the ``docker`` transport's scopes, looked up as containers/image looks them up (:func:`scopes_for`), and
the requirement types ``insecureAcceptAnything``, ``reject``, ``sigstoreSigned`` with public keys (``keyPath``,
``keyPaths``, ``keyData``, ``keyDatas``) and ``signedBy`` with ``keyType: GPGKeys``. Every other transport is
ignored (mirrorsync reads only registries; a system policy names ``docker-daemon`` and the like). What the gate
cannot check (Fulcio and PKI certificates, Rekor, ``signedBaseLayer``, X.509 keys) and any field containers/image
does not know are refused when the file is loaded: never accepted without being checked.

Key files named by a relative path are read relative to the policy file's directory. GPG keys are checked with
``gpgv`` (:mod:`.gpg`), which must be on PATH when a policy uses ``signedBy``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..errors import InputError
from ..registry.reference import Reference
from ..yamlsource import Reader, read_text
from . import gpg, located_json
from .identity import DEFAULT_IDENTITY, SignedIdentity, parse_identity

INSECURE_ACCEPT_ANYTHING = "insecureAcceptAnything"
REJECT = "reject"
SIGSTORE_SIGNED = "sigstoreSigned"
SIGNED_BY = "signedBy"
REQUIREMENT_TYPES = (INSECURE_ACCEPT_ANYTHING, REJECT, SIGNED_BY, SIGSTORE_SIGNED)

# fields containers/image knows that this gate cannot check: refused, with the reason
_NOT_SUPPORTED = {
    "fulcio": "Fulcio (keyless) certificates are not checked by mirrorsync; give public keys (keyPath/keyData)",
    "pki": "X.509 PKI certificates are not checked by mirrorsync; give public keys (keyPath/keyData)",
    **{k: "Rekor transparency-log checks are not done by mirrorsync; leave the Rekor keys out"
       for k in ("rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas")},
}
_KEY_SOURCES = {SIGSTORE_SIGNED: ("keyPath", "keyPaths", "keyData", "keyDatas"),
                SIGNED_BY: ("keyPath", "keyPaths", "keyData")}
_FIELDS = {INSECURE_ACCEPT_ANYTHING: {"type"}, REJECT: {"type"},
           SIGSTORE_SIGNED: {"type", "signedIdentity", *_KEY_SOURCES[SIGSTORE_SIGNED], *_NOT_SUPPORTED},
           SIGNED_BY: {"type", "keyType", "signedIdentity", *_KEY_SOURCES[SIGNED_BY]}}
_GPG_KEY_TYPES = ("GPGKeys", "signedByGPGKeys")
_X509_KEY_TYPES = ("X509Certificates", "signedByX509CAs")


@dataclass(frozen=True, eq=False)
class Requirement:
    """One requirement of a scope: its type, the keys it trusts and the identity it accepts in a signature."""

    type: str
    public_keys: tuple[Any, ...] = ()  # sigstoreSigned: cryptography public keys
    gpg_keys: tuple[bytes, ...] = ()  # signedBy: the keyring files' bytes (armored or binary)
    identity: SignedIdentity = DEFAULT_IDENTITY
    where: str = ""  # "file:line", for messages
    key_bytes: tuple[bytes, ...] = ()  # the keys as given (key files' bytes, keyData decoded)

    @property
    def needs_signatures(self) -> bool:
        return self.type in (SIGSTORE_SIGNED, SIGNED_BY)


@dataclass(frozen=True)
class Policy:
    file: str
    default: tuple[Requirement, ...]
    docker: dict[str, tuple[Requirement, ...]] = field(default_factory=dict)  # scope -> requirements
    text_digest: str = ""  # sha256 of the file's bytes

    @property
    def fingerprint(self) -> str:
        """What the policy decides with: its text and every key it names. A decision made under another
        fingerprint is never reused (``SignatureChecker``'s memory of earlier runs)."""
        h = hashlib.sha256(self.text_digest.encode())
        for reqs in (self.default, *self.docker.values()):
            for req in reqs:
                for k in req.key_bytes:
                    h.update(hashlib.sha256(k).digest())
        return "sha256:" + h.hexdigest()

    def requirements_for(self, image: Reference) -> tuple[str, tuple[Requirement, ...]]:
        """The scope that applies to ``image`` (a reference with a tag or a digest) and its requirements:
        the first of :func:`scopes_for` the docker transport lists, then its ``""`` scope, then ``default``."""
        for scope in scopes_for(image):
            if scope in self.docker:
                return scope, self.docker[scope]
        if "" in self.docker:
            return "docker", self.docker[""]
        return "default", self.default

    @property
    def wants_signatures(self) -> bool:
        """Whether any scope needs signatures read (a policy of acceptAnything/reject alone reads none)."""
        return any(r.needs_signatures for reqs in (self.default, *self.docker.values()) for r in reqs)


def scopes_for(image: Reference) -> list[str]:
    """The scopes containers/image looks ``image`` up in, most specific first (docker/policyconfiguration):
    ``host/repo:tag`` or ``host/repo@digest``; the repository and each parent namespace up to the host; then
    ``*.domain`` for each parent domain of the host (its port left out)."""
    name = image.name
    exact = f"{name}:{image.tag}" if image.tag else f"{name}@{image.digest}"
    out = [exact]
    while True:
        out.append(name)
        slash = name.rfind("/")
        if slash == -1:
            break
        name = name[:slash]
    host = name.split(":", 1)[0]
    while "." in host:
        host = host.split(".", 1)[1]
        out.append("*." + host)
    return out


def load(path: str) -> Policy:
    """The policy in ``path``; anything wrong with it is an ``InputError`` naming the file, line and field."""
    text = read_text(path)
    doc = located_json.parse(text, path)
    r = Reader(doc)
    base = os.path.dirname(os.path.abspath(path))
    top = r.mapping(doc.data, (), {"default", "transports"})
    if "default" not in top:
        raise r.fail((), "default: missing (containers/image requires a default policy)")
    default = _requirements(r, top["default"], ("default",), base)
    docker: dict[str, tuple[Requirement, ...]] = {}
    transports = top.get("transports", {})
    if not isinstance(transports, dict):
        raise r.fail(("transports",), f"must be an object of transport names, got {_json_type(transports)}")
    for name, scopes in transports.items():
        if not isinstance(scopes, dict):
            raise r.fail(("transports", name), f"must be an object of scopes, got {_json_type(scopes)}")
        if name != "docker":
            continue  # mirrorsync reads registries only: what other transports require does not apply
        for scope, reqs in scopes.items():
            docker[scope] = _requirements(r, reqs, ("transports", name, scope), base)
    return Policy(path, default, docker, hashlib.sha256(text.encode()).hexdigest())


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _requirements(r: Reader, value: Any, path: tuple, base: str) -> tuple[Requirement, ...]:
    if not isinstance(value, list):
        raise r.fail(path, f"must be an array of requirements, got {_json_type(value)}")
    if not value:
        raise r.fail(path, "must list at least one requirement (containers/image refuses an empty list)")
    return tuple(_requirement(r, item, path + (i,), base) for i, item in enumerate(value))


def _requirement(r: Reader, value: Any, path: tuple, base: str) -> Requirement:
    if not isinstance(value, dict):
        raise r.fail(path, f"must be an object, got {_json_type(value)}")
    kind = value.get("type")
    if kind is None:
        raise r.fail(path, f"type: missing (one of {', '.join(REQUIREMENT_TYPES)})")
    if kind == "signedBaseLayer":
        raise r.fail(path + ("type",), "signedBaseLayer is not checked by mirrorsync")
    if kind not in REQUIREMENT_TYPES:
        raise r.fail(path + ("type",), f"unknown requirement type {kind!r} (one of {', '.join(REQUIREMENT_TYPES)})")
    r.mapping(value, path, _FIELDS[kind])
    where = f"{r.doc.file}:{r.doc.line(path)}"
    if kind in (INSECURE_ACCEPT_ANYTHING, REJECT):
        return Requirement(kind, where=where)
    for key in value:
        if key in _NOT_SUPPORTED:
            raise r.fail(path + (key,), _NOT_SUPPORTED[key])
    identity = DEFAULT_IDENTITY
    if "signedIdentity" in value:
        identity = parse_identity(r, value["signedIdentity"], path + ("signedIdentity",))
    blobs = _key_blobs(r, value, path, kind, base)
    if kind == SIGNED_BY:
        key_type = value.get("keyType")
        if key_type is None:
            raise r.fail(path, "keyType: missing (GPGKeys)")
        if key_type in _X509_KEY_TYPES:
            raise r.fail(path + ("keyType",), f"{key_type} is not checked by mirrorsync (only GPGKeys)")
        if key_type not in _GPG_KEY_TYPES:
            raise r.fail(path + ("keyType",), f"unknown keyType {key_type!r} (GPGKeys)")
        r.checked(path, gpg.gpgv)  # checked with gpgv: needed now, not at the first image
        return Requirement(kind, gpg_keys=tuple(b for _, b in blobs), identity=identity, where=where,
                           key_bytes=tuple(b for _, b in blobs))
    return Requirement(kind, public_keys=tuple(_public_key(r, p, b) for p, b in blobs), identity=identity,
                       where=where, key_bytes=tuple(b for _, b in blobs))


def _key_blobs(r: Reader, value: dict, path: tuple, kind: str, base: str) -> list[tuple[tuple, bytes]]:
    """The keys' bytes, each with the path of the field that gave it; exactly one source of keys."""
    given = [k for k in _KEY_SOURCES[kind] if k in value]
    if len(given) != 1:
        names = ", ".join(_KEY_SOURCES[kind])
        raise r.fail(path, f"exactly one of {names} must be given, "
                           + (f"found {', '.join(given)}" if given else "found none"))
    key = given[0]
    v, where = value[key], path + (key,)
    if key in ("keyPaths", "keyDatas"):
        if not isinstance(v, list) or not v:
            raise r.fail(where, f"must be a non-empty array, got {_json_type(v)}")
        items = [(where + (i,), item) for i, item in enumerate(v)]
    else:
        items = [(where, v)]
    out = []
    for p, item in items:
        if not isinstance(item, str) or not item:
            raise r.fail(p, f"must be a non-empty string, got {_json_type(item)}")
        if key.startswith("keyPath"):
            out.append((p, _read_key_file(r, p, os.path.join(base, os.path.expanduser(item)))))
        else:
            try:
                out.append((p, base64.b64decode(item, validate=True)))
            except (binascii.Error, ValueError):
                raise r.fail(p, "is not base64 (keyData holds the key file's bytes, base64-encoded)") from None
    return out


def _read_key_file(r: Reader, path: tuple, file: str) -> bytes:
    try:
        with open(file, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise r.fail(path, f"key file {file}: no such file") from None
    except IsADirectoryError:
        raise r.fail(path, f"key file {file}: is a directory") from None
    except OSError as exc:
        raise r.fail(path, f"key file {file}: {exc.strerror or exc}") from None


def _public_key(r: Reader, path: tuple, data: bytes):
    """A PEM public key of a type cosign signs with: ECDSA (P-256, P-384, P-521), RSA or Ed25519."""
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise r.fail(path, f"not a PEM public key ({str(exc).splitlines()[0] if str(exc) else 'unreadable'})") \
            from None
    except Exception:  # noqa: BLE001 - cryptography's UnsupportedAlgorithm and friends
        raise r.fail(path, "not a public key of a type mirrorsync can check (ECDSA, RSA, Ed25519)") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise r.fail(path, f"a {type(key).__name__} key: cosign signatures are ECDSA, RSA or Ed25519")
    return key


def check_file(path: str) -> Policy:
    """:func:`load`, with a missing file named as the policy (the message of ``read_text`` names only the path)."""
    try:
        return load(path)
    except InputError as exc:
        if exc.line is None and exc.field is None and exc.file == path:
            raise InputError(f"signature policy: {exc.message}", file=path) from None
        raise
