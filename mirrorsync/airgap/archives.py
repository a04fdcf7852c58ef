"""Archive parts: an export packed into ``mirrorsync-export-NNNN.tar`` files of at most a given size (whole files
per part), and unpacked back into the directory on import."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tarfile
from pathlib import Path

from ..errors import InputError
from .layout import LOCK_FILE

PART_PREFIX = "mirrorsync-export-"
PART_RE = re.compile(rf"^{PART_PREFIX}(\d{{4,}})\.tar$")
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
MIN_ARCHIVE_SIZE = 1 << 20


def parse_size(text: str) -> int:
    """``4G``, ``700M``, ``4GB``, ``1.5GiB`` or plain bytes, as ``split -b`` reads sizes: K=1024, KB=1000."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*", text or "", re.IGNORECASE)
    if not m:
        raise InputError(f"{text!r} is not a size (for example 4G, 700M, 25GB)", field="--archive-size")
    number, unit, suffix = float(m.group(1)), m.group(2).upper(), m.group(3).lower()
    if not unit and suffix:
        raise InputError(f"{text!r} is not a size (for example 4G, 700M, 25GB)", field="--archive-size")
    base = 1000 if suffix == "b" else 1024
    return int(number * base ** " KMGT".index(unit or " "))


def _member_size(size: int) -> int:
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


def _archive_size(members: int) -> int:
    # two zero blocks end a tar, and tarfile pads the whole archive to a multiple of RECORDSIZE
    return -(-(members + 2 * _BLOCK) // _RECORD) * _RECORD


def pack(directory: Path, names: list[str], limit: int) -> list[Path]:
    """Pack ``names`` into ``mirrorsync-export-NNNN.tar`` parts of at most ``limit`` bytes; remove the originals.

    Whole files only, in order; a file that cannot fit in a part of its own is an error, and then nothing is
    removed (the layout stays usable as it is).
    """
    groups: list[list[str]] = [[]]
    used = 0
    for name in names:
        size = _member_size((directory / name).stat().st_size)
        if _archive_size(size) > limit:
            raise InputError(f"{name} ({(directory / name).stat().st_size} bytes) does not fit in an archive part "
                             f"of {limit} bytes; choose a larger --archive-size", field="--archive-size")
        if groups[-1] and _archive_size(used + size) > limit:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += size
    parts: list[Path] = []
    for i, group in enumerate(groups, 1):
        part = directory / f"{PART_PREFIX}{i:04d}.tar"
        tmp = directory / f".{part.name}.tmp"
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for name in group:
                info = tar.gettarinfo(directory / name, arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(directory / name, "rb") as f:
                    tar.addfile(info, f)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, part)
        parts.append(part)
    for name in names:
        (directory / name).unlink()
    shutil.rmtree(directory / "blobs", ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (directory / LOCK_FILE).unlink()
    return parts


def parts_in(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if PART_RE.match(p.name))


def unpack(directory: Path, sums: dict[str, str]) -> list[Path]:
    """Extract the archive parts back into ``directory`` (files already there at full size are kept: resumable)."""
    parts = parts_in(directory)
    for part in parts:
        with tarfile.open(part, "r") as tar:
            for info in tar:
                name = info.name
                if not info.isfile() or name not in sums:
                    raise InputError(f"unexpected member {name!r}", file=str(part))
                dest = directory / name
                if dest.is_file() and dest.stat().st_size == info.size:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(info)
                assert src is not None
                tmp = dest.with_name(f".{dest.name[:16]}.unpack.tmp")
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.replace(tmp, dest)
    return parts
