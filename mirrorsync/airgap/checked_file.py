"""A file in a layout written crash-safe: a temporary file beside it, checked against its digest and size,
fsync'd, then renamed; a reader never sees a partial or wrong blob under its digest."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable

from ..errors import DigestMismatch
from ..oci.content import hasher


def write_checked(path: Path, chunks: Iterable[bytes], digest: str, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:16]}.", suffix=".tmp", dir=path.parent)
    try:
        h = hasher(digest)
        n = 0
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                h.update(chunk)
                n += len(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        got = f"{digest.partition(':')[0]}:{h.hexdigest()}"
        if got != digest or n != size:
            raise DigestMismatch(f"blob {digest}: received {n} bytes hashing to {got}, expected {size} bytes")
        os.chmod(tmp, 0o644)
        # Two writers of the same blob write the same bytes: whichever rename lands last is as good.
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
