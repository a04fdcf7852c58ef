"""The update-graph data (a tar.gz of the cincinnati-graph-data repository, as
``https://api.openshift.com/api/upgrades_info/graph-data`` serves it) as the one layer of the graph-data image.

The tarball's members are untrusted: a member named absolutely or with ``..``, a link leading out of the data, a
member below a symbolic link, a device or FIFO is refused, as are more members or bytes than the caps below (the real data is a few MiB in a few
thousand files). What is kept goes under ``/var/lib/cincinnati-graph-data/`` in one reproducible layer: entries
sorted, mtime 0, owned by root (uid/gid 0), the members' permission bits kept (setuid, setgid and sticky bits
dropped: nothing in graph data needs them).
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass

from ...oci.image_build import gzip_layer, tar_entry

ROOT = "var/lib/cincinnati-graph-data"
# what the OSUS's graph-data init container runs: the data into the volume the policy engine reads
CMD = ["/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"]
HISTORY = "mirrorsync: the update-graph data under /var/lib/cincinnati-graph-data/"

MAX_TARBALL_BYTES = 64 << 20  # compressed, as read from the URL or the file
MAX_DATA_BYTES = 512 << 20  # every member's size, uncompressed
MAX_MEMBERS = 100_000
_PERMISSIONS = 0o777


class GraphDataError(ValueError):
    """The tarball is no graph data this tool will build an image from (the message says why)."""


@dataclass(frozen=True)
class Member:
    path: str  # below ROOT, normalised, no leading "./"
    kind: bytes  # tarfile.REGTYPE, DIRTYPE, SYMTYPE or LNKTYPE
    mode: int
    data: bytes = b""
    link: str = ""  # a symlink's target as written; a hard link's member path


def members(tarball: bytes) -> list[Member]:
    """The tarball's members, checked (``GraphDataError``), sorted; a later member of the same path wins, as an
    extraction would leave it."""
    if not tarball.startswith(b"\x1f\x8b"):
        raise GraphDataError("is not gzip-compressed (a graph-data tarball is a tar.gz)")
    found: dict[str, Member] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            for n, info in enumerate(tar):
                if n >= MAX_MEMBERS:
                    raise GraphDataError(f"has more than {MAX_MEMBERS} members")
                path = _path(info.name)
                if path is None:
                    continue  # the archive's root directory itself
                member = _member(tar, info, path, found)
                total += len(member.data)
                if total > MAX_DATA_BYTES:
                    raise GraphDataError(f"holds more than {MAX_DATA_BYTES >> 20} MiB")
                found[path] = member
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise GraphDataError(f"is not a readable tar.gz ({exc})") from None
    if not any(m.kind == tarfile.REGTYPE for m in found.values()):
        raise GraphDataError("holds no files")
    # a link checked as a path could still lead out through another link (``l -> .`` then ``l/m -> ../x``): no
    # member may lie below one
    links = {p for p, m in found.items() if m.kind == tarfile.SYMTYPE}
    for path in found:
        parts = path.split("/")
        below = next((d for d in ("/".join(parts[:n]) for n in range(1, len(parts))) if d in links), None)
        if below is not None:
            raise GraphDataError(f"member {path!r} lies below the symbolic link {below!r}")
    return [found[p] for p in sorted(found, key=lambda p: p.split("/"))]


def _path(name: str) -> str | None:
    if name.startswith("/"):
        raise GraphDataError(f"member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise GraphDataError(f"member {name!r} leads out of the data (..)")
    return "/".join(parts) or None


def _member(tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, found: dict[str, Member]) -> Member:
    mode = info.mode & _PERMISSIONS
    if info.isreg():
        if info.size > MAX_DATA_BYTES:
            raise GraphDataError(f"member {path!r} is larger than {MAX_DATA_BYTES >> 20} MiB")
        f = tar.extractfile(info)
        return Member(path, tarfile.REGTYPE, mode, f.read() if f is not None else b"")
    if info.isdir():
        return Member(path, tarfile.DIRTYPE, mode)
    if info.issym():
        target = info.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise GraphDataError(f"member {path!r} is a symbolic link leading out of the data ({target!r})")
        return Member(path, tarfile.SYMTYPE, 0o777, link=target)
    if info.islnk():
        target = _path(info.linkname)
        if target is None or found.get(target) is None or found[target].kind != tarfile.REGTYPE:
            raise GraphDataError(f"member {path!r} is a hard link to {info.linkname!r}, no file before it")
        return Member(path, tarfile.LNKTYPE, mode, link=target)
    raise GraphDataError(f"member {path!r} is a device, FIFO or other special file")


def layer(tarball: bytes) -> tuple[bytes, str]:
    """(the gzip'd layer, its diff_id): the checked members under ``ROOT``, in a reproducible tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = members(tarball)
        explicit = {m.path for m in entries if m.kind == tarfile.DIRTYPE}
        done: set[str] = set()

        def parents(path: str) -> None:
            # a directory the tarball names no entry for gets one, root's 0755, before what it holds
            parts = path.split("/")[:-1]
            for n in range(0, len(parts) + 1):
                d = "/".join(parts[:n])
                if d not in done and d not in explicit:
                    done.add(d)
                    tar.addfile(tar_entry(_in_root(d), tarfile.DIRTYPE, 0o755))

        for m in entries:
            parents(m.path)
            info = tar_entry(_in_root(m.path), m.kind, m.mode)
            if m.kind == tarfile.REGTYPE:
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
                continue
            if m.kind == tarfile.LNKTYPE:
                info.linkname = _in_root(m.link)
            elif m.kind == tarfile.SYMTYPE:
                info.linkname = m.link
            done.add(m.path)
            tar.addfile(info)
    return gzip_layer(raw.getvalue())


def _in_root(path: str) -> str:
    return f"{ROOT}/{path}" if path else ROOT
