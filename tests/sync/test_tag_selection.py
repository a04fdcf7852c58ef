"""``semver`` and ``latest`` in the manifest, and the reason given for every listed tag."""

import textwrap

import pytest

from mirrorsync.sync import manifest, plan
from mirrorsync.errors import InputError

HEAD = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example.com]
images:
  - source: registry.example.com/app
"""

TAGS = ["latest", "1.0.0", "v1.2.3", "1.3.0-rc.1", "1.4.0", "1.4.0-beta", "2.0.0", "1.5", "1.2.3-fips", "v1.9.9"]


def entry(body: str):
    return manifest.parse(HEAD + textwrap.indent(textwrap.dedent(body), "    "), "m.yaml")


def decide(body: str, tags=TAGS) -> dict[str, str]:
    m = entry(body)
    the_plan = plan.build(m, lambda ref: list(tags))
    (selection,) = the_plan.selections
    assert [d.tag for d in selection.decisions] == list(dict.fromkeys(tags))
    taken = [j.tag for j in the_plan.jobs]
    assert taken == [d.tag for d in selection.decisions if d.taken]
    return {d.tag: ("taken: " if d.taken else "left: ") + d.reason for d in selection.decisions}


def taken(body: str, tags=TAGS) -> list[str]:
    return [t for t, why in decide(body, tags).items() if why.startswith("taken")]


def test_semver_range_takes_versions_in_it_and_says_why_for_every_tag():
    why = decide("semver: '>=1.2 <2'\n")
    assert [t for t, w in why.items() if w.startswith("taken")] == ["v1.2.3", "1.4.0", "v1.9.9"]
    assert why["v1.2.3"] == "taken: matches semver '>=1.2 <2'"
    assert why["latest"] == "left: not a version, so outside semver '>=1.2 <2'"
    assert why["1.5"] == "left: not a version, so outside semver '>=1.2 <2'"
    assert why["2.0.0"] == "left: outside semver '>=1.2 <2'"
    assert why["1.3.0-rc.1"] == "left: a pre-release, and semver '>=1.2 <2' names none of 1.3.0"


def test_prerelease_taken_only_when_the_range_names_one_on_its_version():
    assert taken("semver: '>=1.3.0-rc.0 <2'\n") == ["1.3.0-rc.1", "1.4.0", "v1.9.9"]
    assert taken("semver: '^1.4.0-alpha'\n") == ["1.4.0", "1.4.0-beta", "v1.9.9"]


def test_latest_alone_takes_the_highest_releases():
    why = decide("latest: 2\n")
    assert [t for t, w in why.items() if w.startswith("taken")] == ["2.0.0", "v1.9.9"]
    assert why["2.0.0"] == "taken: among the latest 2"
    assert why["1.4.0"] == "left: not among the latest 2"
    assert why["latest"] == "left: not a version, and latest 2 counts versions"
    assert why["1.4.0-beta"].startswith("left: a pre-release")


def test_latest_after_semver_include_exclude():
    assert taken("semver: '<2'\nlatest: 2\n") == ["1.4.0", "v1.9.9"]
    why = decide("include: ['^1\\.']\nexclude: ['^1\\.4']\nlatest: 2\n")
    assert why["1.4.0"] == "left: excluded by '^1\\\\.4'"
    assert why["v1.9.9"] == "left: matches no include pattern"
    assert why["1.5"] == "left: not a version, and latest 2 counts versions"
    assert [t for t, w in why.items() if w.startswith("taken")] == ["1.0.0"]  # the rest are pre-releases
    assert taken("allTags: true\nexclude: ['^v']\nlatest: 1\n") == ["2.0.0"]
    assert decide("allTags: true\nexclude: ['^v']\nlatest: 1\n")["2.0.0"] == "taken: allTags, among the latest 1"


def test_named_tags_are_taken_whatever_the_filters_say():
    why = decide("tags: [latest]\nsemver: '~1.4'\n")
    assert why["latest"] == "taken: named in tags"
    assert taken("tags: [latest]\nsemver: '~1.4'\n") == ["latest", "1.4.0"]


def test_include_and_alltags_keep_their_meaning():
    assert taken("include: ['^v']\n") == ["v1.2.3", "v1.9.9"]
    assert decide("allTags: true\n")["latest"] == "taken: allTags"


def test_one_version_under_two_tags_counts_twice_in_a_stable_order():
    assert taken("latest: 2\n", ["1.2.3", "v1.2.3", "1.0.0"]) == ["1.2.3", "v1.2.3"]


def test_a_hostile_tag_list_cannot_add_jobs_or_lines():
    tags = [5, "1.0.0\nv9.9.9: taken: forged", "../x", "1.0.0"]
    m = entry("allTags: true\n")
    the_plan = plan.build(m, lambda ref: tags)
    assert [j.tag for j in the_plan.jobs] == ["1.0.0"]
    (selection,) = the_plan.selections
    assert [str(d) for d in selection.decisions] == [
        "5 (int): left: not a valid tag name (from the registry's tag list)",
        "1.0.0\\nv9.9.9: taken: forged: left: not a valid tag name (from the registry's tag list)",
        "../x: left: not a valid tag name (from the registry's tag list)",
        "1.0.0: taken: allTags"]


def test_plan_json_carries_selections():
    m = entry("semver: '1.x'\n")
    d = plan.build(m, lambda ref: ["1.0.0", "x"]).to_dict()
    assert d["selections"] == [{"source": "registry.example.com/app", "entry": 0, "tags": [
        {"tag": "1.0.0", "taken": True, "reason": "matches semver '1.x'"},
        {"tag": "x", "taken": False, "reason": "not a version, so outside semver '1.x'"}]}]
    assert [j["tag"] for j in d["jobs"]] == ["1.0.0"]


def test_entries_that_list_no_tags_have_no_selection():
    m = entry("tags: [v1]\n")
    assert plan.build(m, lambda ref: pytest.fail("listed")).selections == []


@pytest.mark.parametrize("body,expected", [
    ("semver: '>=1.2 <'\n", "m.yaml:6: images[0].semver: invalid version range '>=1.2 <'"),
    ("semver: 1.2\n", "m.yaml:6: images[0].semver: must be a string, got the number 1.2 (quote it"),
    ("semver: ''\n", "m.yaml:6: images[0].semver: must be a non-empty string"),
    ("latest: 0\n", "m.yaml:6: images[0].latest: must be a whole number of tags, 1 or more, got 0"),
    ("latest: true\n", "m.yaml:6: images[0].latest: must be a whole number"),
    ("latest: '3'\n", "m.yaml:6: images[0].latest: must be a whole number"),
    ("tags: [v1]\nexclude: [x]\n", "m.yaml:7: images[0].exclude: exclude filters the tag list: use it with allTags, "
                                   "include, semver or latest"),
])
def test_bad_fields_are_one_line_with_file_line_field(body, expected):
    with pytest.raises(InputError) as info:
        entry(body)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)


def test_semver_is_per_image_not_a_default():
    text = HEAD.replace("images:\n", "defaults: {semver: '>=1'}\nimages:\n") + "    tags: [v1]\n"
    with pytest.raises(InputError, match=r"m.yaml:4: defaults.semver: unknown field"):
        manifest.parse(text, "m.yaml")


def test_old_manifests_load_and_select_as_before():
    m = entry("include: ['^1\\.']\nexclude: ['-']\n")
    assert m.images[0].semver is None and m.images[0].latest is None
    assert taken("include: ['^1\\.']\nexclude: ['-']\n") == ["1.0.0", "1.4.0", "1.5"]
