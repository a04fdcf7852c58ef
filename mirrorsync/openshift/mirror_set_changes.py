"""What changed between two collections of mirror sets, object by object and entry by entry.

Objects are matched by kind and name, entries within an object by source (the n-th entry of a source with the
n-th of the same source); an entry is changed when its mirrors (order included: nodes try them in order) or its
``mirrorSourcePolicy`` differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .crs import MirrorEntry, MirrorSet


@dataclass(frozen=True)
class EntryChange:
    """One entry added, removed or changed; ``old``/``new`` None where it does not exist (``source`` None: an
    object without entries added or removed)."""

    kind: str
    name: str
    source: str | None
    old: MirrorEntry | None = None
    new: MirrorEntry | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.source is not None:
            d["source"] = self.source
        if self.old is not None and self.new is not None:
            d["old"] = _entry_dict(self.old)
            d["new"] = _entry_dict(self.new)
        elif self.old or self.new:
            d.update(_entry_dict(self.old or self.new))  # type: ignore[arg-type]
        return d

    def line(self) -> str:
        where = f"{self.kind} {self.name or '<unnamed>'}"
        if self.source is None:
            return f"{where} (no entries)"
        if self.old is not None and self.new is not None:
            return f"{where}: {self.source}: {_entry_text(self.old)} -> {_entry_text(self.new)}"
        return f"{where}: {self.source} -> {_entry_text(self.old or self.new)}"  # type: ignore[arg-type]


def _entry_dict(entry: MirrorEntry) -> dict[str, Any]:
    d: dict[str, Any] = {"mirrors": list(entry.mirrors)}
    if entry.policy is not None:
        d["mirrorSourcePolicy"] = entry.policy
    return d


def _entry_text(entry: MirrorEntry) -> str:
    return (", ".join(entry.mirrors) or "(no mirrors)") + (f" ({entry.policy})" if entry.policy else "")


@dataclass(frozen=True)
class Changes:
    """The object-level difference between two collections of mirror sets."""

    added: tuple[EntryChange, ...] = ()
    removed: tuple[EntryChange, ...] = ()
    changed: tuple[EntryChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        """``+``, ``-`` and ``~`` lines, in that order."""
        return ([f"+ {c.line()}" for c in self.added] + [f"- {c.line()}" for c in self.removed]
                + [f"~ {c.line()}" for c in self.changed])


def _keyed_entries(ms: MirrorSet) -> dict[tuple[str, int], MirrorEntry]:
    seen: dict[str, int] = {}
    keyed = {}
    for entry in ms.entries:
        n = seen.get(entry.source, 0)
        seen[entry.source] = n + 1
        keyed[(entry.source, n)] = entry
    return keyed


def _by_object(sets: Iterable[MirrorSet]) -> dict[tuple[str, str], dict[tuple[str, int], MirrorEntry]]:
    objects: dict[tuple[str, str], dict[tuple[str, int], MirrorEntry]] = {}
    for ms in sets:
        # Two objects of one kind and name: the API server keeps the last one applied.
        objects[(ms.kind, ms.name)] = _keyed_entries(ms)
    return objects


def mirror_set_changes(old: Iterable[MirrorSet], new: Iterable[MirrorSet]) -> Changes:
    """What ``new`` adds, removes and changes relative to ``old`` (sorted by kind, name, source)."""
    before, after = _by_object(old), _by_object(new)
    added, removed, changed = [], [], []
    for kind, name in sorted(before.keys() | after.keys()):
        old_entries, new_entries = before.get((kind, name)), after.get((kind, name))
        if old_entries is None and not new_entries:
            added.append(EntryChange(kind, name, None))
        if new_entries is None and not old_entries:
            removed.append(EntryChange(kind, name, None))
        old_entries, new_entries = old_entries or {}, new_entries or {}
        for key in sorted(old_entries.keys() | new_entries.keys()):
            o, n = old_entries.get(key), new_entries.get(key)
            if o is None:
                added.append(EntryChange(kind, name, key[0], new=n))
            elif n is None:
                removed.append(EntryChange(kind, name, key[0], old=o))
            elif (o.mirrors, o.policy) != (n.mirrors, n.policy):
                changed.append(EntryChange(kind, name, key[0], o, n))
    return Changes(tuple(added), tuple(removed), tuple(changed))
