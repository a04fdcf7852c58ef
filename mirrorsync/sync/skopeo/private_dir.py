"""The engine's private directory (its policy file, skopeo's temporary files), locked while the engine lives, and
the removal of those that killed runs left behind."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

# (earlier versions named theirs "mirrorsync-skopeo-*" and held no lock: one may be running, so those are never touched)
PRIVATE_PREFIX = "mirrorsync-skopeo."


def private_dir() -> tuple[Path, int]:
    """A new 0700 directory for the engine's policy file and skopeo's temporary files, and the descriptor that
    holds its lock (``flock``) while the engine lives.

    A run killed before it could clean up leaves its directory behind (skopeo's partial downloads can be large);
    its lock died with it, so each new engine first removes those unlocked ones of the user. A directory is
    locked before it takes a name that cleanup looks at, so a starting run's is never taken for a leftover.
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{PRIVATE_PREFIX}*"):
        _remove_if_abandoned(old)
    hidden = Path(tempfile.mkdtemp(prefix=f".{PRIVATE_PREFIX}new.", dir=base))
    fd = os.open(hidden, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    path = base / f"{PRIVATE_PREFIX}{hidden.name.rsplit('.', 1)[-1]}"
    os.rename(hidden, path)
    return path, fd


def _remove_if_abandoned(path: Path) -> None:
    try:
        if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a live engine's
    else:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)
