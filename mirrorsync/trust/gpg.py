"""GPG ("simple signing", "atomic container signature") signatures, verified with ``gpgv`` (GnuPG's verify-only
tool: it trusts exactly the keyring it is given, and needs no agent) in a temporary directory holding the policy's
keys, as containers/image's gpgme mechanism verifies them.

A signature is an OpenPGP signed message (not detached) whose signed data is the payload
``{"critical": {"type": "atomic container signature", "image": {"docker-manifest-digest"}, "identity":
{"docker-reference"}}, "optional": {...}}``. It is accepted when gpgv reports a good signature (``VALIDSIG``) by a
key of the keyring that has not expired or been revoked, and the payload it gives names the digest being copied
and an identity the requirement's ``signedIdentity`` accepts.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from typing import Callable

from ..errors import InputError
from .sigstore import EXPIRED_KEY, INVALID_SIGNATURE, WRONG_KEY, Refused, check_claims, one_of, read_payload

SIGNATURE_TYPE = "atomic container signature"
MAX_SIGNATURE_BYTES = 1 << 20
_ARMOR = re.compile(rb"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY BLOCK-----", re.S)


def gpgv() -> str:
    """The gpgv binary; missing is bad input for a policy that needs it (it is installed with GnuPG)."""
    found = shutil.which("gpgv")
    if found is None:
        raise InputError("signedBy needs gpgv (GnuPG) on PATH to check GPG signatures; install gnupg")
    return found


def dearmor(data: bytes) -> bytes:
    """Key file bytes as gpgv reads them: binary OpenPGP packets (ASCII-armored blocks decoded, others as they are)."""
    blocks = _ARMOR.findall(data)
    if not blocks:
        return data
    out = b""
    for block in blocks:
        _, _, body = block.partition(b"\n\n") if b"\n\n" in block else (b"", b"", block)
        lines = [ln.strip() for ln in body.replace(b"\r", b"").split(b"\n") if ln.strip()]
        out += base64.b64decode(b"".join(ln for ln in lines if not ln.startswith(b"=")))
    return out


def verify_message(keyrings: tuple[bytes, ...], signature: bytes) -> bytes:
    """The data signed in ``signature`` if gpgv accepts it with ``keyrings``; else :class:`Refused`."""
    with tempfile.TemporaryDirectory(prefix="mirrorsync-gpgv-") as home:
        keyring, message = os.path.join(home, "trusted.gpg"), os.path.join(home, "signature")
        with open(keyring, "wb") as f:
            for k in keyrings:
                f.write(dearmor(k))
        with open(message, "wb") as f:
            f.write(signature)
        proc = subprocess.run([gpgv(), "--homedir", home, "--keyring", keyring, "--status-fd", "2", "--output", "-",
                               message], capture_output=True, timeout=60, env={"PATH": os.environ.get("PATH", ""),
                                                                               "LC_ALL": "C"})
    status = {line.split()[1] for line in proc.stderr.decode(errors="replace").splitlines()
              if line.startswith("[GNUPG:] ") and len(line.split()) > 1}
    if status & {"EXPKEYSIG", "REVKEYSIG", "EXPSIG"}:
        raise Refused(EXPIRED_KEY, "the signature was made by a key that has expired or been revoked")
    if proc.returncode != 0 or "VALIDSIG" not in status:
        if status & {"NODATA", "BADARMOR"} or not status:
            raise Refused(INVALID_SIGNATURE, "not an OpenPGP signature")
        raise Refused(WRONG_KEY, "the GPG signature does not verify with any trusted key")
    return proc.stdout


def accepted(signatures: list[bytes], keyrings: tuple[bytes, ...], digest: str,
             identity_ok: Callable[[str], bool]) -> None:
    """One signature accepted is enough; else :class:`Refused` with the most telling reason."""
    def check(sig: bytes) -> None:
        check_claims(read_payload(verify_message(keyrings, sig), SIGNATURE_TYPE), digest, identity_ok)

    one_of(signatures, check)
