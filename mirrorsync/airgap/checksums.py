"""``SHA256SUMS`` of an export directory (``sha256sum -c`` format): writing, reading, verifying."""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from ..atomicfile import write_atomic
from ..errors import InputError

SUMS_FILE = "SHA256SUMS"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sums_of(directory: Path, names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        parts = Path(name).parts
        if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256":
            # a layout blob is written only after its digest was checked, and its name is that digest
            out[name] = parts[2]
        else:
            out[name] = _sha256_file(directory / name)
    return out


def write_checksums(directory: Path, names: Iterable[str], *, extra: dict[str, str] | None = None) -> None:
    """``SHA256SUMS`` in ``sha256sum`` format over ``names`` (plus already known ``extra`` sums)."""
    sums = {**(extra or {}), **sums_of(directory, names)}
    write_atomic(directory / SUMS_FILE, "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))


def read_checksums(directory: Path) -> dict[str, str]:
    """``SHA256SUMS`` of an export directory as {relative path: hex}."""
    path = directory / SUMS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"no {SUMS_FILE}: not a mirrorsync export directory", file=str(directory)) from None
    sums = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m or m.group(2).startswith("/") or ".." in Path(m.group(2)).parts:
            raise InputError("not a sha256sum line", file=str(path), line=n)
        sums[m.group(2)] = m.group(1)
    return sums


def verify_checksums(directory: Path, sums: dict[str, str], *, workers: int = 4) -> None:
    """Hash every listed file; one ``InputError`` naming what is missing or corrupt (nothing is copied then)."""
    def check(item: tuple[str, str]) -> str | None:
        name, expected = item
        try:
            got = _sha256_file(directory / name)
        except FileNotFoundError:
            return f"{name}: missing"
        return None if got == expected else f"{name}: checksum mismatch"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = [p for p in pool.map(check, sorted(sums.items())) if p]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError(f"export is damaged: {'; '.join(problems[:3])}{more}", file=str(directory / SUMS_FILE))
