"""The skopeo executable: finding it, checking its version, and the signature policy it would read by itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ...errors import EngineError, describe

# --preserve-digests (fail rather than rewrite a manifest) appeared in skopeo 1.6.0; without it a copy could
# silently change digests, which the mirror sets rely on.
MIN_VERSION = (1, 6, 0)
INSTALL_HINT = ("install skopeo 1.6 or newer (Debian/Ubuntu: apt-get install skopeo; RHEL/Fedora: "
                "dnf install skopeo), or choose the native engine (--engine native)")
POLICY_FILES = ("~/.config/containers/policy.json", "/etc/containers/policy.json")
VERSION_TIMEOUT = 30.0


class SkopeoUnavailable(EngineError):
    """skopeo is missing or too old; nothing was copied or written, so it is a usage error (exit code 2)."""

    exit_code = 2


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``skopeo version 1.9.3`` (or ``... 1.13.3 commit: ...``) -> (1, 9, 3); None if there is no version."""
    m = re.search(r"version\s+v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def find_skopeo(binary: str | None = None) -> tuple[str, tuple[int, int, int]]:
    """The skopeo executable to run and its version; raises ``SkopeoUnavailable`` saying what to install."""
    path = shutil.which(binary or "skopeo")
    if path is None:
        raise SkopeoUnavailable(f"the skopeo engine needs skopeo, which is not on PATH: {INSTALL_HINT}")
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SkopeoUnavailable(f"cannot run {path} --version ({describe(exc)}): {INSTALL_HINT}") from None
    version = parse_version(proc.stdout + proc.stderr) if proc.returncode == 0 else None
    if version is None:
        raise SkopeoUnavailable(f"{path} --version did not say which version it is: {INSTALL_HINT}")
    if version < MIN_VERSION:
        have = ".".join(map(str, version))
        raise SkopeoUnavailable(f"{path} is skopeo {have}, too old for --preserve-digests: {INSTALL_HINT}")
    if not hasattr(os, "memfd_create"):
        raise SkopeoUnavailable("the skopeo engine hands skopeo its credentials in memory (memfd), which needs "
                                "Linux; choose the native engine (--engine native)")
    return path, version


def system_policy() -> str | None:
    """The signature policy skopeo would read by itself, or None when the machine has none."""
    for candidate in POLICY_FILES:
        path = Path(os.path.expanduser(candidate))
        if path.is_file():
            return str(path)
    return None
