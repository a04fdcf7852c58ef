"""Archive parts: an export packed into ``mirrorsync-export-NNNN.tar`` files of at most a given size (whole files
per part), and unpacked back into the directory on import."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
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


# What an export packs into its parts (transfer.py's payload): nothing else may come out of one.
_PAYLOAD_RE = re.compile(r"^(?:blobs/sha256/[a-f0-9]{64}|blobs/sha512/[a-f0-9]{128}|oci-layout|index\.json"
                         r"|manifest\.yaml)$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def unpack(directory: Path, sums: dict[str, str]) -> list[Path]:
    """Extract the archive parts back into ``directory`` (files already there at full size are kept: resumable).

    A part is hostile input: only the layout's own names, as plain files, each hashed against ``SHA256SUMS`` as it
    is written and renamed into place only when it matches. Nothing is opened through a symbolic link (files are
    created relative to directory descriptors, ``O_NOFOLLOW|O_EXCL``), and a refused part leaves the directory
    as this call found it: every file and directory it created is removed.
    """
    parts = parts_in(directory)
    root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    created: list[tuple[int, str, bool]] = []  # (dir fd, name, is a directory), in order of creation
    dirs: dict[str, int] = {"": root}
    try:
        for part in parts:
            _unpack_part(part, sums, dirs, created)
    except BaseException:
        for fd, name, is_dir in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=fd) if is_dir else os.unlink(name, dir_fd=fd)
        raise
    finally:
        for fd in dirs.values():
            os.close(fd)
    return parts


def _unpack_part(part: Path, sums: dict[str, str], dirs: dict[str, int], created: list) -> None:
    limit = part.stat().st_size
    written = 0
    try:
        with tarfile.open(part, "r:") as tar:
            for info in tar:
                name = info.name
                if not _PAYLOAD_RE.match(name) or name not in sums:
                    raise InputError(f"member {name!r} is not a file an export writes", file=str(part))
                if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or info.sparse is not None:
                    raise InputError(f"member {name!r} is not a plain file", file=str(part))
                written += info.size
                if written > limit:
                    raise InputError(f"members larger than the part itself ({limit} bytes)", file=str(part))
                parent, _, leaf = name.rpartition("/")
                fd = _open_dir(parent, dirs, created, part)
                try:
                    st = os.stat(leaf, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None and not stat.S_ISREG(st.st_mode):
                    raise InputError(f"{name} is already there and is not a plain file (a symbolic link?)",
                                     file=str(part))
                if st is not None and st.st_size == info.size:
                    continue
                src = tar.extractfile(info)
                assert src is not None
                _extract(src, info.size, fd, leaf, sums[name], created, part, name)
    except tarfile.TarError as exc:
        raise InputError(f"not a tar archive, or a damaged one: {exc}", file=str(part)) from None
    except EOFError:
        raise InputError("not a tar archive, or a damaged one: ends early", file=str(part)) from None


def _open_dir(relative: str, dirs: dict[str, int], created: list, part: Path) -> int:
    """A descriptor of ``relative`` (under the export directory), made where missing, never through a link."""
    if relative in dirs:
        return dirs[relative]
    parent, _, leaf = relative.rpartition("/")
    pfd = _open_dir(parent, dirs, created, part)
    try:
        fd = os.open(leaf, _DIR_FLAGS, dir_fd=pfd)
    except FileNotFoundError:
        os.mkdir(leaf, 0o755, dir_fd=pfd)
        created.append((pfd, leaf, True))
        fd = os.open(leaf, _DIR_FLAGS, dir_fd=pfd)
    except (NotADirectoryError, OSError) as exc:
        if isinstance(exc, NotADirectoryError) or exc.errno == errno.ELOOP:
            raise InputError(f"{relative} is a symbolic link or not a directory; an export holds neither",
                             file=str(part)) from None
        raise
    dirs[relative] = fd
    return fd


def _extract(src, size: int, fd: int, leaf: str, expected: str, created: list, part: Path, name: str) -> None:
    while True:
        tmp = f".{leaf[:16]}.{secrets.token_hex(8)}.unpack.tmp"
        try:
            out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
            break
        except FileExistsError:
            continue
    try:
        h = hashlib.sha256()
        n = 0
        with os.fdopen(out_fd, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                n += len(chunk)
                if n > size:
                    break
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if n != size or h.hexdigest() != expected:
            raise InputError(f"export is damaged: {name}: checksum mismatch", file=str(part))
        os.replace(tmp, leaf, src_dir_fd=fd, dst_dir_fd=fd)
        created.append((fd, leaf, False))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=fd)
        raise
