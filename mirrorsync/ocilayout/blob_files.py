"""A layout's blob files, read as a registry's answers are: the name must be a digest (no path escapes), the file a
regular file (no symbolic link, FIFO or device), a manifest no longer than the registry client reads, and the bytes
those of the digest."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import DigestMismatch, NotFound
from ..oci.content import digest_of
from ..registry import limits

HEX = re.compile(r"^[a-f0-9]{64}$|^[a-f0-9]{128}$")


def blob_path(layout: Path, digest: str) -> Path:
    """``blobs/<algorithm>/<hex>`` of ``digest``; anything else (``../``, a slash, an unknown algorithm) is no
    digest, so no file outside the layout's blobs can be named."""
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in ("sha256", "sha512") or not HEX.match(hexpart):
        raise DigestMismatch(f"not a digest: {digest!r}")
    return layout / "blobs" / algorithm / hexpart


def open_blob(path: Path) -> BinaryIO:
    """The blob file for reading, refused when it is a symbolic link or no regular file (a FIFO would hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except OSError as exc:
        raise DigestMismatch(f"{path}: cannot be read as a blob ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DigestMismatch(f"{path}: not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_manifest(path: Path, digest: str, what: str, where: str) -> bytes:
    """A manifest's bytes from its blob file: at most the registry client's limit, hashing to ``digest``."""
    with open_blob(path) as f:
        # the registry client's limit: a layout from disk is no more trusted than a registry
        data = f.read(limits.MANIFEST_BODY + 1)
    if len(data) > limits.MANIFEST_BODY:
        raise limits.too_large(what, where, limits.MANIFEST_BODY)
    actual = digest_of(data, digest)
    if actual != digest:
        raise DigestMismatch(f"manifest {path}: content has digest {actual}, expected {digest}")
    return data
