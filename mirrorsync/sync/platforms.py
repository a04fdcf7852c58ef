"""Which platforms of an image to mirror (``platforms``, ``platformMode``), and the index that carries them.

``sparse`` keeps the source's index bytes (so its digest, which nodes and mirror sets rely on) and copies only the
listed platforms' manifests; ``rewrite`` pushes a new index with only those entries, which has a digest of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import InputError, UnsupportedContent
from ..oci.content import Descriptor, Manifest, parse_manifest, sha256_digest

MODES = ("sparse", "rewrite")

# Architectures whose variant-less entry means one variant, as containerd's platform matching normalises them.
_DEFAULT_VARIANT = {"arm64": "v8"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``os/architecture[/variant]``, e.g. ``linux/amd64`` or ``linux/arm64/v8``."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(p and p == p.strip() for p in parts):
            raise InputError(f"{text!r} is not a platform: write os/architecture[/variant], e.g. linux/arm64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, os: str, architecture: str, variant: str | None) -> bool:
        """Whether an index entry (or image config) of that platform is this one: a listed platform without a
        variant takes every variant of its architecture; ``linux/arm64/v8`` also takes an arm64 entry that does
        not name its variant."""
        if (os, architecture) != (self.os, self.architecture):
            return False
        if self.variant is None:
            return True
        return (variant or _DEFAULT_VARIANT.get(architecture)) == self.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class PlatformFilter:
    platforms: tuple[Platform, ...]
    mode: str = "sparse"

    @property
    def rewrite(self) -> bool:
        return self.mode == "rewrite"


@dataclass(frozen=True)
class Selection:
    """What of one source image goes to the mirrors."""

    top: Manifest  # what is pushed under the tag: the source's own manifest, or the rewritten index
    children: tuple[Descriptor, ...]  # the source index entries copied (empty for a single image)
    taken: tuple[str, ...]  # the platforms copied, as the source names them
    missing: tuple[str, ...]  # listed platforms the source does not have
    source_digest: str

    @property
    def rewritten(self) -> bool:
        return self.top.digest != self.source_digest


def _entry_platform(entry: dict) -> tuple[str, str, str | None] | None:
    p = entry.get("platform")
    if not isinstance(p, dict) or not isinstance(p.get("os"), str) or not isinstance(p.get("architecture"), str):
        return None
    variant = p.get("variant")
    return p["os"], p["architecture"], variant if isinstance(variant, str) and variant else None


def _name(os: str, architecture: str, variant: str | None) -> str:
    return "/".join(p for p in (os, architecture, variant) if p)


def select(top: Manifest, filt: PlatformFilter, config_platform=None) -> Selection:
    """The entries of ``top`` (an index) the filter takes, and the manifest to push for them.

    A single image is taken whole when ``config_platform()`` (its config's os, architecture, variant) matches.
    Raises ``UnsupportedContent`` when nothing matches: copying nothing would look like success.
    """
    wanted = ", ".join(map(str, filt.platforms))
    if not top.is_index:
        os, arch, variant = config_platform()
        if not any(p.matches(os, arch, variant) for p in filt.platforms):
            raise UnsupportedContent(f"single-platform image {top.digest} is {_name(os, arch, variant)}, not one "
                                     f"of the listed platforms ({wanted})")
        return Selection(top, (), (_name(os, arch, variant),), (), top.digest)
    doc = json.loads(top.data)
    entries = [e for e in doc.get("manifests") or [] if isinstance(e, dict)]
    kept: list[dict] = []
    found: set[Platform] = set()
    for entry in entries:
        plat = _entry_platform(entry)
        hits = [p for p in filt.platforms if plat is not None and p.matches(*plat)]
        if hits:
            kept.append(entry)
            found.update(hits)
    have = sorted({_name(*p) for e in entries if (p := _entry_platform(e))})
    if not kept:
        raise UnsupportedContent(f"index {top.digest} has none of the listed platforms ({wanted}); it has "
                                 f"{', '.join(have) or 'no platform entries'}")
    missing = tuple(str(p) for p in filt.platforms if p not in found)
    keep_digests = {e.get("digest") for e in kept}
    children = tuple(c for c in top.children if c.digest in keep_digests)
    taken = tuple(_name(*_entry_platform(e)) for e in kept)  # type: ignore[misc]
    pushed = top
    if filt.rewrite and len(kept) < len(entries):
        doc["manifests"] = kept
        # Compact, in the source's key order: deterministic, so the next run computes the same digest and finds
        # the mirror up to date.
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        pushed = parse_manifest(data, top.media_type, sha256_digest(data))
    return Selection(pushed, children, taken, missing, top.digest)
