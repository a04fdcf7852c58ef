"""Unit tests of depth-limited mirrors (``registries.<host>.maxNestedPaths``, ``--max-nested-paths``): how a path
is flattened, where the manifest refuses collisions, what the plan and the report say, and that prune never takes
a flattened repository's content for something the manifest no longer selects. The real registry, skopeo and
registries.conf are in tests/integration/test_depth_limits.py."""

from __future__ import annotations

import textwrap

import pytest

from mirrorsync.errors import InputError
from mirrorsync.pipeline.prune import decide
from mirrorsync.sync import manifest as manifest_mod, plan as plan_mod
from mirrorsync.sync.manifest import Mirror, flatten
from mirrorsync.sync.plan import CopyJob, Destination, check_collisions
from mirrorsync.sync.report import ImageRecord, Report, loads, mirrored_sources

SRC = "src.example.com"
MIRROR = "mirror.example.com:5000"


def parse(images: str, *, depth: int | None = 2, mirrors: str = f"[{MIRROR}/ocp]"):
    registries = f"registries:\n  {MIRROR}: {{maxNestedPaths: {depth}}}\n" if depth is not None else ""
    return manifest_mod.parse(f"apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: {mirrors}\n"
                              f"{registries}images:\n{textwrap.dedent(images)}", "m.yaml")


def error(*args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        parse(*args, **kwargs)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("path, depth, flat", [
    ("ocp/a/b/c", 2, "ocp/a-b-c"),
    ("ocp/a/b/c", 3, "ocp/a/b-c"),
    ("ocp/a/b/c", 4, "ocp/a/b/c"),
    ("ocp/a/b/c", 1, "ocp-a-b-c"),
    ("ocp/a", 2, "ocp/a"),
    ("a", 1, "a"),
    ("ocp/a/b/c", None, "ocp/a/b/c"),
])
def test_flatten_keeps_n_minus_one_components_and_joins_the_rest(path, depth, flat):
    assert flatten(path, depth) == flat


def test_the_namespace_counts_and_every_destination_says_what_it_was_flattened_from():
    m = parse(f"""\
        - source: {SRC}/team/app/sub/api
          tags: [v1]
        - source: {SRC}/top
          tags: [v1]
        """)
    assert m.mirrors == (Mirror(MIRROR, "ocp", 2),)
    (deep,), (shallow,) = (plan_mod.destinations(m, spec) for spec in m.images)
    assert (deep.repository, deep.flattened_from) == ("ocp/team-app-sub-api", "ocp/team/app/sub/api")
    assert deep.record("copied").flattenedFrom == f"{MIRROR}/ocp/team/app/sub/api"
    assert (shallow.repository, shallow.flattened_from, shallow.flattened_name) == ("ocp/top", None, None)
    # the same host written with its default port, and no limit on another host
    other = manifest_mod.parse("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\n"
                               "mirrors: [quay.example.com:443/x, other.example.com]\n"
                               "registries: {quay.example.com: {maxNestedPaths: 2}}\n"
                               f"images: [{{source: {SRC}/a/b, tags: [v1]}}]\n", "m.yaml")
    assert [m.repository(other.images[0].destination) for m in other.mirrors] == ["x/a-b", "a/b"]


@pytest.mark.parametrize("value", ["0", "65", "two", "true", "1.5"])
def test_a_bad_depth_is_refused_at_its_line(value):
    message = error(f"  - {{source: {SRC}/a, tags: [v1]}}\n", depth=value)
    assert message.startswith("m.yaml:5: registries.mirror.example.com:5000.maxNestedPaths: must be a whole "
                              "number of path components from 1 to 64"), message


def test_two_images_flattened_onto_one_repository_are_refused_at_load_naming_both():
    message = error(f"""\
        - source: {SRC}/a/b/c
          tags: [v1]
        - source: {SRC}/a-b/c
          tags: [v1]
        """)
    assert message == (f"m.yaml:9: images[1].source: {SRC}/a-b/c and images[0] ({SRC}/a/b/c) both land on "
                       f"{MIRROR}/ocp/a-b-c with registries.{MIRROR}.maxNestedPaths: 2; give one of them another "
                       "destination")
    # with a destination of its own, each lands apart
    parse(f"""\
        - source: {SRC}/a/b/c
          tags: [v1]
        - source: {SRC}/a-b/c
          destination: other/c
          tags: [v1]
        """)


def test_the_command_line_limit_wins_and_is_checked_the_same():
    text = (f"apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [{MIRROR}/ocp]\n"
            f"registries: {{{MIRROR}: {{maxNestedPaths: 2}}}}\nimages:\n"
            f"- {{source: {SRC}/a/b/c, tags: [v1]}}\n- {{source: {SRC}/a/b-c, tags: [v1]}}\n")
    with pytest.raises(InputError, match="maxNestedPaths: 2"):
        manifest_mod.parse(text, "m.yaml")
    deep = manifest_mod.parse(text, "m.yaml", max_nested_paths=4)  # deep enough: both land apart, unflattened
    assert [deep.mirrors[0].repository(s.destination) for s in deep.images] == ["ocp/a/b/c", "ocp/a/b-c"]
    with pytest.raises(InputError) as info:
        manifest_mod.parse(text, "m.yaml", max_nested_paths=3)
    assert info.value.exit_code == 2
    assert str(info.value) == (f"m.yaml:7: images[1].source: {SRC}/a/b-c and images[0] ({SRC}/a/b/c) both land on "
                               f"{MIRROR}/ocp/a/b-c with --max-nested-paths 3; give one of them another destination")


def test_the_plan_refuses_sources_of_any_section_that_flatten_onto_one_repository():
    m = parse(f"  - {{source: {SRC}/x, tags: [v1]}}\n")
    spec = m.images[0]
    mirror = m.mirrors[0]

    def job(source: str, destination: str) -> CopyJob:
        return CopyJob(manifest_mod.ImageSpec(source=manifest_mod.reference.parse(source), destination=destination),
                       "v1", (Destination.of(mirror, destination),))

    # a release's image and its components may share a repository: not flattened, not a collision
    check_collisions([job(f"{SRC}/release", "openshift/release"), job(f"{SRC}/art-dev", "openshift/release"),
                      CopyJob(spec, "v1", plan_mod.destinations(m, spec))])
    with pytest.raises(InputError) as info:
        check_collisions([job(f"{SRC}/redhat/bundle/a", "redhat/bundle/a"), job(f"{SRC}/other", "redhat-bundle-a")])
    assert info.value.exit_code == 2
    assert str(info.value) == (f"mirror {MIRROR}/ocp: {SRC}/redhat/bundle/a and {SRC}/other both land on "
                               f"{MIRROR}/ocp/redhat-bundle-a laid out by maxNestedPaths 2 "
                               f"({MIRROR}/ocp/redhat/bundle/a and {MIRROR}/ocp/redhat-bundle-a): give one of them "
                               "another destination, or change the layout")


def test_the_report_records_flattened_from_keeps_old_reports_loading_and_entries_per_repository():
    m = parse(f"""\
        - source: {SRC}/team/app/api
          scope: namespace
          tags: [v1]
        """)
    dest = plan_mod.destinations(m, m.images[0])[0]
    record = ImageRecord(source=f"{SRC}/team/app/api", tag="v1", digest="sha256:" + "1" * 64, status="copied",
                         scope="namespace", destinations=[dest.record("copied")])
    report = Report("m.yaml", "native", [f"{MIRROR}/ocp"], "", images=[record])
    again = loads(report.to_json())
    assert again.images[0].destinations[0].flattenedFrom == f"{MIRROR}/ocp/team/app/api"
    # a flattened path is not the source's below any wider scope: its entry is the repository's own
    (src,) = mirrored_sources([again])
    assert (src.mirrors, src.scope) == ((f"{MIRROR}/ocp/team-app-api",), "repository")
    old = report.to_json().replace(f',\n          "flattenedFrom": "{MIRROR}/ocp/team/app/api"', "")
    assert "flattenedFrom" not in old and loads(old).images[0].destinations[0].flattenedFrom is None


@pytest.mark.parametrize("run_depth, prune_depth", [(2, None), (None, 2), (2, 2)])
def test_prune_keeps_a_flattened_repository_whatever_limit_it_is_given(run_depth, prune_depth):
    images = f"  - {{source: {SRC}/team/app/api, tags: [v1]}}\n"
    ran = parse(images, depth=run_depth)
    dest = plan_mod.destinations(ran, ran.images[0])[0]
    report = Report("m.yaml", "native", [f"{MIRROR}/ocp"], "", images=[ImageRecord(
        source=f"{SRC}/team/app/api", tag="v1", digest="sha256:" + "1" * 64, status="copied",
        destinations=[dest.record("copied")])])
    pruning = parse(images, depth=prune_depth)
    removals, _, pruned = decide(report, pruning, plan_mod.build(pruning, lambda ref: []))
    assert (removals, pruned) == ([], None)
    # and what the manifest no longer selects still goes from the flattened repository
    gone = parse(f"  - {{source: {SRC}/team/app/api, tags: [v2]}}\n", depth=prune_depth)
    removals, _, _ = decide(report, gone, plan_mod.build(gone, lambda ref: []))
    assert [(r.repository, r.tag) for r in removals] == [(dest.name, "v1")]


# --- mirror path templates (mirrors[].path) -------------------------------------------------------------------

def templated(images: str, path: str, *, depth: int | None = None):
    registries = f"registries: {{{MIRROR}: {{maxNestedPaths: {depth}}}}}\n" if depth else ""
    return manifest_mod.parse(f"apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\n"
                              f"mirrors:\n- location: {MIRROR}/proj\n  path: '{path}'\n- {MIRROR}/plain\n"
                              f"{registries}images:\n{textwrap.dedent(images)}", "m.yaml")


@pytest.mark.parametrize("template, destination, laid_out", [
    ("{namespace}-{repo}", "team/app/api", "team/app-api"),
    ("{namespace}-{repo}", "app", "app"),
    ("mirrored/{path}", "team/app", "mirrored/team/app"),
    ("{repo}", "team/app", "app"),
    ("all/{namespace}/{repo}", "app", "all/app"),
])
def test_a_path_template_lays_out_the_destination(template, destination, laid_out):
    assert manifest_mod.render_path(template, destination) == laid_out


def test_a_templated_mirror_keeps_its_layout_records_where_it_came_from_and_refuses_collisions():
    m = templated(f"""\
        - {{source: {SRC}/team/app/api, tags: [v1]}}
        - {{source: {SRC}/top, tags: [v1]}}
        """, "{namespace}-{repo}", depth=2)
    assert [mirror.repository(s.destination) for s in m.images for mirror in m.mirrors] == [
        "proj/team-app-api", "plain/team-app-api", "proj/top", "plain/top"]
    templ, plain = plan_mod.destinations(m, m.images[0])
    assert templ.flattened_name == f"{MIRROR}/proj/team/app/api" and plain.flattened_from == "plain/team/app/api"
    message = error_of(lambda: templated(f"""\
        - {{source: {SRC}/a/app, tags: [v1]}}
        - {{source: {SRC}/b/app, tags: [v1]}}
        """, "{repo}"))
    assert message == (f"m.yaml:9: images[1].source: {SRC}/b/app and images[0] ({SRC}/a/app) both land on "
                       f"{MIRROR}/proj/app with mirrors[0] (path '{{repo}}'); give one of them another destination")


@pytest.mark.parametrize("template, why", [
    ("{host}/{repo}", "{host} is not one of {namespace}, {repo}, {path}"),
    ("{repo!r}", "{repo} is not one of"),
    ("{namespace}", "names neither {repo} nor {path}"),
    ("Upper/{repo}", "lays out ns/sub/app as 'Upper/app', not a repository path"),
    ("{repo", "invalid path template '{repo'"),
])
def test_a_bad_path_template_is_refused_at_its_line(template, why):
    message = error_of(lambda: templated(f"- {{source: {SRC}/a, tags: [v1]}}\n", template))
    assert message.startswith("m.yaml:5: mirrors[0].path: ") and why in message, message


def error_of(load) -> str:
    with pytest.raises(InputError) as info:
        load()
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    return str(info.value)
