"""When an auth file's mode is worth a warning: only when someone it is not meant for can read it and the one
running mirrorsync can change that.

- Readable by others (any user of the machine): always a warning.
- Readable by its group only (``0640``, ``0440``): a warning only when the file is ours to ``chmod`` (owned by the
  user running mirrorsync, on a file system mounted writable). A file owned by another user or on a read-only
  mount has the mode its mounter chose, which nothing this process does can change: a Kubernetes secret volume
  (``defaultMode: 0440``, group ``fsGroup``, mounted read-only), as the shipped CronJob mounts it. Warning about it
  every night helps no one; the README says at install time what the mode means.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def ours_to_chmod(file: Path, st: os.stat_result) -> bool:
    """Whether the running user could ``chmod`` ``file``: it owns it and its file system is mounted writable."""
    if st.st_uid != os.geteuid():
        return False
    try:
        return not os.statvfs(file).f_flag & os.ST_RDONLY
    except OSError:
        return True


def exposure_warning(file: Path) -> str | None:
    """The warning ``file``'s mode deserves (see the module's text), or None."""
    try:
        st = file.stat()
    except OSError:
        return None
    mode = st.st_mode & 0o777
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    if ours_to_chmod(file, st):
        return f"auth file {file} is readable by group or others (mode {mode:o}); chmod 600 it"
    if mode & stat.S_IROTH:
        return (f"auth file {file} is readable by others (mode {mode:o}); it is not ours to chmod (another user's, "
                "or a read-only mount): mount it with mode 0400 or 0440 (a Kubernetes secret volume's defaultMode)")
    return None
