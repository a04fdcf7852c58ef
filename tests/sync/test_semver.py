"""The range grammar, table-tested with the examples of node-semver's own fixtures (test/fixtures/range-include.js
and range-exclude.js of npm/node-semver, the rows without the loose or includePrerelease options)."""

import pytest

from mirrorsync.errors import InputError
from mirrorsync.sync.semver import Range, Version

INCLUDED = [
    ("1.0.0 - 2.0.0", "1.2.3"), ("^1.2.3+build", "1.2.3"), ("^1.2.3+build", "1.3.0"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3"), ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha"), ("1.2.3+asdf - 2.4.3+asdf", "1.2.3"),
    ("1.0.0", "1.0.0"), (">=*", "0.2.4"), ("*", "1.2.3"), ("*", "v1.2.3"), (">=1.0.0", "1.0.0"),
    (">=1.0.0", "1.0.1"), (">=1.0.0", "1.1.0"), (">1.0.0", "1.0.1"), (">1.0.0", "1.1.0"), ("<=2.0.0", "2.0.0"),
    ("<=2.0.0", "1.9999.9999"), ("<=2.0.0", "0.2.9"), ("<2.0.0", "1.9999.9999"), ("<2.0.0", "0.2.9"),
    (">= 1.0.0", "1.0.0"), (">=  1.0.0", "1.0.1"), (">=   1.0.0", "1.1.0"), ("> 1.0.0", "1.0.1"),
    (">  1.0.0", "1.1.0"), ("<=   2.0.0", "2.0.0"), ("<= 2.0.0", "1.9999.9999"), ("<=  2.0.0", "0.2.9"),
    ("<    2.0.0", "1.9999.9999"), ("<\t2.0.0", "0.2.9"), (">=0.1.97", "v0.1.97"), (">=0.1.97", "0.1.97"),
    ("0.1.20 || 1.2.4", "1.2.4"), (">=0.2.3 || <0.0.1", "0.0.0"), (">=0.2.3 || <0.0.1", "0.2.3"),
    (">=0.2.3 || <0.0.1", "0.2.4"), ("||", "1.3.4"), ("2.x.x", "2.1.3"), ("1.2.x", "1.2.3"),
    ("1.2.x || 2.x", "2.1.3"), ("1.2.x || 2.x", "1.2.3"), ("x", "1.2.3"), ("2.*.*", "2.1.3"), ("1.2.*", "1.2.3"),
    ("1.2.* || 2.*", "2.1.3"), ("1.2.* || 2.*", "1.2.3"), ("2", "2.1.2"), ("2.3", "2.3.1"), ("~0.0.1", "0.0.1"),
    ("~0.0.1", "0.0.2"), ("~x", "0.0.9"), ("~2", "2.0.9"), ("~2.4", "2.4.0"), ("~2.4", "2.4.5"),
    ("~>3.2.1", "3.2.2"), ("~1", "1.2.3"), ("~>1", "1.2.3"), ("~> 1", "1.2.3"), ("~1.0", "1.0.2"),
    ("~ 1.0", "1.0.2"), ("~ 1.0.3", "1.0.12"), (">=1", "1.0.0"), (">= 1", "1.0.0"), ("<1.2", "1.1.1"),
    ("< 1.2", "1.1.1"), ("~v0.5.4-pre", "0.5.5"), ("~v0.5.4-pre", "0.5.4"), ("=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.7.2"), (">=0.7.x", "0.7.2"), ("<=0.7.x", "0.6.2"), ("~1.2.1 >=1.2.3", "1.2.3"),
    ("~1.2.1 =1.2.3", "1.2.3"), ("~1.2.1 1.2.3", "1.2.3"), ("~1.2.1 >=1.2.3 1.2.3", "1.2.3"),
    ("~1.2.1 1.2.3 >=1.2.3", "1.2.3"), (">=1.2.1 1.2.3", "1.2.3"), ("1.2.3 >=1.2.1", "1.2.3"),
    (">=1.2.3 >=1.2.1", "1.2.3"), (">=1.2.1 >=1.2.3", "1.2.3"), (">=1.2", "1.2.8"), ("^1.2.3", "1.8.1"),
    ("^0.1.2", "0.1.2"), ("^0.1", "0.1.2"), ("^0.0.1", "0.0.1"), ("^1.2", "1.4.2"), ("^1.2 ^1", "1.4.2"),
    ("^1.2.3-alpha", "1.2.3-pre"), ("^1.2.0-alpha", "1.2.0-pre"), ("^0.0.1-alpha", "0.0.1-beta"),
    ("^0.0.1-alpha", "0.0.1"), ("^0.1.1-alpha", "0.1.1-beta"), ("^x", "1.2.3"), ("x - 1.0.0", "0.9.7"),
    ("x - 1.x", "0.9.7"), ("1.0.0 - x", "1.9.7"), ("1.x - x", "1.9.7"), ("<=7.x", "7.9.9"),
    # Masterminds' additions that skopeo sync files use: commas as AND, !=, a v in the range
    (">= 1.2, < 3.0.0", "2.9.0"), (">=1.2 !=1.4.0", "1.4.1"), (">=v2.40.0", "v2.41.0"),
]

EXCLUDED = [
    ("1.0.0 - 2.0.0", "2.2.3"), ("1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2"), ("1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha"),
    ("^1.2.3+build", "2.0.0"), ("^1.2.3+build", "1.2.0"), ("^1.2.3", "1.2.3-pre"), ("^1.2", "1.2.0-pre"),
    (">1.2", "1.3.0-beta"), ("<=1.2.3", "1.2.3-beta"), ("^1.2.3", "1.2.3-beta"), ("=0.7.x", "0.7.0-asdf"),
    (">=0.7.x", "0.7.0-asdf"), ("1.0.0", "1.0.1"), (">=1.0.0", "0.0.0"), (">=1.0.0", "0.0.1"),
    (">=1.0.0", "0.1.0"), (">1.0.0", "0.0.1"), (">1.0.0", "0.1.0"), ("<=2.0.0", "3.0.0"),
    ("<=2.0.0", "2.9999.9999"), ("<=2.0.0", "2.2.9"), ("<2.0.0", "2.9999.9999"), ("<2.0.0", "2.2.9"),
    (">=0.1.97", "v0.1.93"), (">=0.1.97", "0.1.93"), ("0.1.20 || 1.2.4", "1.2.3"), (">=0.2.3 || <0.0.1", "0.0.3"),
    (">=0.2.3 || <0.0.1", "0.2.2"), ("2.x.x", "1.1.3"), ("2.x.x", "3.1.3"), ("1.2.x", "1.3.3"),
    ("1.2.x || 2.x", "3.1.3"), ("1.2.x || 2.x", "1.1.3"), ("2.*.*", "1.1.3"), ("2.*.*", "3.1.3"),
    ("1.2.*", "1.3.3"), ("1.2.* || 2.*", "3.1.3"), ("1.2.* || 2.*", "1.1.3"), ("2", "1.1.2"), ("2.3", "2.4.1"),
    ("~0.0.1", "0.1.0-alpha"), ("~0.0.1", "0.1.0"), ("~2.4", "2.5.0"), ("~2.4", "2.3.9"), ("~>3.2.1", "3.3.2"),
    ("~>3.2.1", "3.2.0"), ("~1", "0.2.3"), ("~>1", "2.2.3"), ("~1.0", "1.1.0"), ("<1", "1.0.0"),
    (">=1.2", "1.1.1"), ("~v0.5.4-beta", "0.5.4-alpha"), ("=0.7.x", "0.8.2"), (">=0.7.x", "0.6.2"),
    ("<0.7.x", "0.7.2"), ("<1.2.3", "1.2.3-beta"), ("=1.2.3", "1.2.3-beta"), (">1.2", "1.2.8"),
    ("^0.0.1", "0.0.2-alpha"), ("^0.0.1", "0.0.2"), ("^1.2.3", "2.0.0-alpha"), ("^1.2.3", "1.2.2"),
    ("^1.2", "1.1.9"), ("*", "v1.2.3-foo"), ("^1.0.0", "2.0.0-rc1"),
    (">= 1.2, < 3.0.0", "3.0.0"), (">=1.2 !=1.4.0", "1.4.0"),
]


@pytest.mark.parametrize("text,version", INCLUDED)
def test_included(text, version):
    assert Version.parse(version) in Range.parse(text)


@pytest.mark.parametrize("text,version", EXCLUDED)
def test_excluded(text, version):
    assert Version.parse(version) not in Range.parse(text)


@pytest.mark.parametrize("tag", ["latest", "1.2", "1", "1.02.0", "01.2.3", "1.2.3.4", "V1.2.3", "v", "1.2.3-",
                                 "1.2.3-01", "stable-1.2.3", "1.2.3_1"])
def test_tags_that_are_not_versions(tag):
    assert Version.parse(tag) is None


def test_precedence_is_semver_11():
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"]
    parsed = [Version.parse(v) for v in order]
    assert sorted(reversed(parsed)) == parsed
    assert Version.parse("v1.2.3") == Version.parse("1.2.3")


def test_prerelease_rule_says_which_part_refused():
    r = Range.parse(">=1.2 <2")
    rc = Version.parse("1.3.0-rc.1")
    assert r.allows(rc) and not r.allows_prerelease(rc) and rc not in r
    assert rc in Range.parse(">=1.3.0-rc.0 <2")


@pytest.mark.parametrize("text", ["", "  ", ">=", "1.2.3.4", "abc", ">=1.2 <", "!=1.2", "1.2.3 - ", "=>1.2",
                                  "^^1"])
def test_bad_ranges(text):
    with pytest.raises(InputError) as info:
        Range.parse(text)
    assert "\n" not in str(info.value)


from hypothesis import given, settings, strategies as st  # noqa: E402

_RANGE_ALPHABET = st.sampled_from(list("0123456789.xX*^~<>=!-|, vrc+a"))


@settings(max_examples=400, deadline=None)
@given(st.text(_RANGE_ALPHABET, max_size=30), st.text(_RANGE_ALPHABET, max_size=20))
def test_any_text_is_a_range_or_one_input_error_and_any_tag_a_version_or_none(text, tag):
    try:
        r = Range.parse(text)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    v = Version.parse(tag)
    if v is not None:
        assert (v in r) == (r.allows(v) and r.allows_prerelease(v))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3),
                          st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", "rc"])), max_size=2)),
                min_size=2, max_size=8))
def test_ordering_is_total_and_matches_str_round_trip(parts):
    versions = [Version(M, m, p, tuple(pre)) for M, m, p, pre in parts]
    for v in versions:
        assert Version.parse(str(v)) == v
    ordered = sorted(versions)
    assert all(a <= b for a, b in zip(ordered, ordered[1:]))
