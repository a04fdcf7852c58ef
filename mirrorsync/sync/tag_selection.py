"""Which tags of a source's tag list an image entry takes, and why each tag was taken or left.

The filters apply in this order, each only when the entry sets it: a tag named in ``tags`` is always taken;
otherwise it must match an ``include`` pattern (unless ``allTags``), match no ``exclude`` pattern, and satisfy the
``semver`` range; ``latest: N`` then keeps the N highest versions among the tags still in, leaving out tags that are
not versions. Without ``semver``, ``latest`` takes no pre-releases (as the range ``*`` would not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .. import linear_regex
from ..errors import InputError
from ..registry import reference
from .companions import travels_with_its_image
from .semver import Range, Version

if TYPE_CHECKING:
    from .manifest import ImageSpec

_ANY_RELEASE = Range.parse("*")

VersionOf = Callable[[str], "Version | None"]  # the version a tag names (charts: ``_`` stands for ``+``)


@dataclass(frozen=True)
class TagDecision:
    tag: str
    taken: bool
    reason: str  # "matches semver '>=1.2 <2'", "excluded by '-rc'", "not among the latest 3"

    def __str__(self) -> str:
        # a registry's tag list is not trusted to hold only valid tags: never print its line breaks
        text = f"{self.tag}: {'taken' if self.taken else 'left'}: {self.reason}"
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)

    def to_dict(self) -> dict:
        return {"tag": self.tag, "taken": self.taken, "reason": self.reason}


def filter_reason(spec: ImageSpec, tag: str, version_of: VersionOf = Version.parse) -> tuple[bool, str]:
    """(passes, why) for ``tag`` under the entry's per-tag filters: allTags, include, exclude, semver."""
    if travels_with_its_image(spec, tag):
        return False, "a signature or referrers tag: copied with the image it belongs to"
    why = []
    if spec.include and not spec.all_tags:
        pattern = next((p for p in spec.include if linear_regex.search(p, tag)), None)
        if pattern is None:
            return False, "matches no include pattern"
        why.append(f"matches include {pattern!r}")
    elif spec.all_tags:
        why.append("allTags")
    pattern = next((p for p in spec.exclude if linear_regex.search(p, tag)), None)
    if pattern is not None:
        return False, f"excluded by {pattern!r}"
    if spec.semver is not None:
        version = version_of(tag)
        if version is None:
            return False, f"not a version, so outside semver {spec.semver.text!r}"
        if not spec.semver.allows(version):
            return False, f"outside semver {spec.semver.text!r}"
        if not spec.semver.allows_prerelease(version):
            return False, f"a pre-release, and semver {spec.semver.text!r} names none of {'.'.join(map(str, version.release))}"
        why.append(f"matches semver {spec.semver.text!r}")
    return True, ", ".join(why)


def selects_tag(spec: ImageSpec, tag: str) -> bool:
    """Whether ``tag`` (from the source's tag list) passes allTags/include/exclude/semver; ``latest``, which needs
    the whole list, is applied by :func:`select`."""
    return filter_reason(spec, tag)[0]


def select(spec: ImageSpec, available: list[str], version_of: VersionOf = Version.parse) -> list[TagDecision]:
    """A decision for every tag in ``available`` (the source's tag list, in its order); ``version_of`` reads the
    version a tag names (semver, latest)."""
    passed: dict[str, str] = {}
    decisions: dict[str, TagDecision] = {}
    available = [t if isinstance(t, str) else f"{t!r} ({type(t).__name__})" for t in available]
    for tag in dict.fromkeys(available):
        try:
            reference.validate_tag(tag)
        except InputError:
            decisions[tag] = TagDecision(tag, False, "not a valid tag name (from the registry's tag list)")
            continue
        if tag in spec.tags:
            decisions[tag] = TagDecision(tag, True, "named in tags")
            continue
        ok, why = filter_reason(spec, tag, version_of)
        if ok:
            passed[tag] = why
        else:
            decisions[tag] = TagDecision(tag, False, why)
    if spec.latest is not None:
        versions = {}
        for tag in passed:
            version = version_of(tag)
            if version is None:
                decisions[tag] = TagDecision(tag, False, f"not a version, and latest {spec.latest} counts versions")
            elif spec.semver is None and version not in _ANY_RELEASE:
                decisions[tag] = TagDecision(tag, False, f"a pre-release, which latest {spec.latest} counts only "
                                                         "when semver names one")
            else:
                versions[tag] = version
        # highest first; tags naming one version (1.2.3 and v1.2.3) in a stable order
        ranked = sorted(versions, key=lambda t: (versions[t], t), reverse=True)
        for i, tag in enumerate(ranked):
            if i < spec.latest:
                decisions[tag] = TagDecision(tag, True, ", ".join(filter(None, (passed[tag],
                                                                             f"among the latest {spec.latest}"))))
            else:
                decisions[tag] = TagDecision(tag, False, f"not among the latest {spec.latest}")
    else:
        for tag, why in passed.items():
            decisions[tag] = TagDecision(tag, True, why)
    return [decisions[tag] for tag in dict.fromkeys(available)]
