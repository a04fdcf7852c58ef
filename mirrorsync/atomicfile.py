"""Writing files so that a reader never sees half of one: a temporary file beside it, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


def write_atomic(path: str | os.PathLike[str], text: str | bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` atomically (fsync'd temp file in the same directory, then ``os.replace``)."""
    with atomic_writer(path, mode=mode) as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into, piece by piece; it replaces ``path`` (as
    ``write_atomic`` does) when the block ends, and is removed, leaving ``path`` as it was, if the block raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
