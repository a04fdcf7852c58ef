"""Pull-source resolution: the vectors' recorded pulls, plus containers/image rules on hand-written configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mirrorsync.openshift.crs import API_VERSION, ICSP, IDMS, ITMS, MirrorSet, parse_mirror_set
from mirrorsync.openshift.documents import Document
from mirrorsync.errors import InputError
from mirrorsync.openshift.registries_conf import loads
from mirrorsync.openshift.resolve import PullSource, Resolver, config_from_mirror_sets, find_registry, \
    normalize_reference, ref_matching_prefix, resolve

VECTORS = sorted((Path(__file__).parents[1] / "data" / "regconf").glob("*.json"))
PULL_VECTORS = [p for p in VECTORS if json.loads(p.read_text())["expected"]["pulls"]]
LOAD_ERROR_VECTORS = [p for p in VECTORS if json.loads(p.read_text())["expected"]["load_error"]]
_KINDS = {"idms": IDMS, "itms": ITMS, "icsp": ICSP}
DIGEST = "sha256:" + "0123456789abcdef" * 4


def vector_sets(vector: dict[str, Any]) -> list[MirrorSet]:
    sets = []
    for key in ("idms", "icsp", "itms"):
        for obj in vector["input"][key]:
            kind = _KINDS[key]
            sets.append(parse_mirror_set(Document({"apiVersion": API_VERSION[kind], "kind": kind,
                                                   "metadata": {"name": obj["name"]}, "spec": obj["spec"]}, "v")))
    return sets


def test_vectors_with_pulls_are_present() -> None:
    assert len(PULL_VECTORS) == 136
    assert len(LOAD_ERROR_VECTORS) == 1


@pytest.mark.parametrize("path", PULL_VECTORS, ids=lambda p: p.stem)
def test_vector_pulls(path: Path) -> None:
    vector = json.loads(path.read_text())
    config = config_from_mirror_sets(vector_sets(vector), vector["input"]["insecure"], vector["input"]["blocked"])
    resolver = Resolver(config)
    for ref, want in vector["expected"]["pulls"].items():
        if want["error"]:
            with pytest.raises(InputError) as info:
                resolve(ref, config)
            # "parse: " is the recorder's own prefix; "rewriting reference: " is containers/image's.
            assert info.value.message == want["error"].removeprefix("parse: "), ref
            with pytest.raises(InputError):
                resolver.resolve(ref)
            continue
        got = resolve(ref, config)
        assert resolver.resolve(ref) == got
        assert got.reference == want["normalized"], ref
        assert got.matched_prefix == want["matched_prefix"], ref
        assert got.blocked == want["blocked_primary"], ref
        assert [s.to_json() for s in got.sources] == [
            {"reference": s["ref"], "mirror": s["mirror"], "insecure": s["insecure"],
             "pullFromMirror": s["pull_from_mirror"], "blocked": s["blocked"]} for s in want["sources"]], ref


@pytest.mark.parametrize("path", LOAD_ERROR_VECTORS, ids=lambda p: p.stem)
def test_vector_load_error(path: Path) -> None:
    vector = json.loads(path.read_text())
    with pytest.raises(InputError) as info:
        config_from_mirror_sets(vector_sets(vector), vector["input"]["insecure"], vector["input"]["blocked"])
    want = vector["expected"]["load_error"]
    assert f'loading registries configuration "{info.value.file}": {info.value.message}' == want


CONF = loads("""
[[registry]]
location = "quay.io/ns"
[[registry.mirror]]
location = "digest.local/ns"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "any.local/ns"
insecure = true
[[registry.mirror]]
location = "tag.local/ns"
pull-from-mirror = "tag-only"

[[registry]]
location = "old.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.local/old"

[[registry]]
prefix = "*.example.com"
[[registry.mirror]]
location = "wild.local/ex"

[[registry]]
location = "docker.io/library"
blocked = true
[[registry.mirror]]
location = "hub.local/library"

[[registry]]
location = "hub.local"
insecure = true
""")


def sources(ref: str) -> list[tuple[str, bool]]:
    return [(s.reference, s.mirror) for s in resolve(ref, CONF).sources]


def test_pull_from_mirror_filters_mirrors_and_primary_comes_last() -> None:
    assert sources("quay.io/ns/app:v1") == [("any.local/ns/app:v1", True), ("tag.local/ns/app:v1", True),
                                            ("quay.io/ns/app:v1", False)]
    assert sources(f"quay.io/ns/app@{DIGEST}") == [(f"digest.local/ns/app@{DIGEST}", True),
                                                   (f"any.local/ns/app@{DIGEST}", True),
                                                   (f"quay.io/ns/app@{DIGEST}", False)]
    assert resolve("quay.io/ns/app:v1", CONF).sources[0] == PullSource("any.local/ns/app:v1", True, insecure=True)


def test_mirror_by_digest_only_registry_flag() -> None:
    assert sources("old.io/a:v1") == [("old.io/a:v1", False)]
    assert sources(f"old.io/a@{DIGEST}") == [(f"m.local/old/a@{DIGEST}", True), (f"old.io/a@{DIGEST}", False)]


def test_resolver_index_agrees_with_the_linear_scan() -> None:
    # Equal-length prefixes: the first entry in the file wins, wildcard or not.
    config = loads('[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "w.local"\n'
                   '[[registry]]\nlocation = "a.example.com"\n[[registry.mirror]]\nlocation = "e.local"\n'
                   '[[registry]]\nlocation = "b.example.com"\n'
                   '[[registry]]\nprefix = "*.b.example.com"\nblocked = true\n'
                   '[[registry]]\nlocation = "a.example.com:5000/ns"\n')
    resolver = Resolver(config)
    for ref in ("a.example.com/x", "b.example.com/x", "c.b.example.com/x", "a.example.com:5000/ns/x",
                "a.example.com:5000/nsx", "example.com/x", "a.example.com@sha256:" + "0" * 64):
        assert resolver.find_registry(ref) is find_registry(config, ref), ref
    assert resolver.find_registry("a.example.com/x").prefix == "*.example.com"


def test_wildcard_prefix_drops_the_host_on_mirrors_and_keeps_it_on_the_primary() -> None:
    got = resolve("a.b.example.com/team/app:v1", CONF)
    assert got.matched_prefix == "*.example.com"
    assert [s.reference for s in got.sources] == ["wild.local/ex/team/app:v1", "a.b.example.com/team/app:v1"]
    assert resolve("example.com/x:v1", CONF).matched_prefix is None
    assert resolve("x.example.com.example.com/x:v1", CONF).matched_prefix is None


def test_short_names_are_normalised_and_blocked_primary_is_marked() -> None:
    got = resolve("busybox", CONF)
    assert got.reference == "docker.io/library/busybox:latest"
    assert got.blocked is True
    assert [(s.reference, s.mirror, s.insecure, s.blocked) for s in got.sources] == [
        ("hub.local/library/busybox:latest", True, False, False),
        ("docker.io/library/busybox:latest", False, False, True)]
    assert normalize_reference("index.docker.io/foo/bar") == "docker.io/foo/bar:latest"


def test_unmatched_reference_is_pulled_from_its_own_location() -> None:
    got = resolve("registry.example.org/x/y:1", CONF)
    assert got.to_json() == {"reference": "registry.example.org/x/y:1", "matchedPrefix": None, "blocked": False,
                             "sources": [{"reference": "registry.example.org/x/y:1", "mirror": False,
                                          "insecure": False, "pullFromMirror": "", "blocked": False}]}


@pytest.mark.parametrize(("ref", "message"), [
    ("quay.io/A/b:v1", "invalid reference format: repository name must be lowercase"),
    ("quay.io/a/b@sha256:abc", "invalid reference format"),
    ("quay.io/a/b@sha256:" + "0" * 63, "invalid checksum digest length"),
    ("quay.io/a/b@md5:" + "0" * 64, "unsupported digest algorithm"),
    ("", "invalid reference format"),
    ("0" * 64, f"invalid repository name ({'0' * 64}), cannot specify 64-byte hexadecimal strings"),
])
def test_malformed_references(ref: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        resolve(ref, CONF)
    assert info.value.message == message


def test_a_portless_prefix_also_catches_host_port_references() -> None:
    # containers/image's documented wart: "example.com" matches "example.com:5000/..." and rewriting then fails.
    config = loads('[[registry]]\nlocation = "q.io"\n[[registry.mirror]]\nlocation = "m.local/q"\n')
    assert find_registry(config, "q.io:5000/a").location == "q.io"
    with pytest.raises(InputError) as info:
        resolve("q.io:5000/a:v1", config)
    assert info.value.message == "rewriting reference: invalid reference format"
    assert info.value.field == "location 'm.local/q'"


@pytest.mark.parametrize(("ref", "prefix", "length"), [
    ("quay.io/a", "quay.io", 7), ("quay.io", "quay.io", 7), ("quay.iox/a", "quay.io", -1),
    ("quay.io:5000/a", "quay.io", 7), ("a.example.com/x", "*.example.com", 13),
    ("a.example.com:5000/x", "*.example.com", 13), ("example.com/x", "*.example.com", -1),
    ("q.io/a.example.com/x", "*.example.com", -1),
])
def test_ref_matching_prefix(ref: str, prefix: str, length: int) -> None:
    assert ref_matching_prefix(ref, prefix) == length


# --- the command ------------------------------------------------------------------------------------------------

def _crs(tmp_path: Path) -> Path:
    path = tmp_path / "crs.yaml"
    path.write_text("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: d}\nspec:\n"
                    "  imageDigestMirrors:\n  - source: docker.io/library\n    mirrors: [hub.local/library]\n"
                    "    mirrorSourcePolicy: NeverContactSource\n")
    return path


def test_cli_json_from_cr_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    result = CliRunner().invoke(app, ["resolve", f"busybox@{DIGEST}", str(_crs(tmp_path)), "--insecure",
                                      "hub.local", "--output", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "reference": f"docker.io/library/busybox@{DIGEST}", "matchedPrefix": "docker.io/library", "blocked": True,
        "sources": [{"reference": f"hub.local/library/busybox@{DIGEST}", "mirror": True, "insecure": True,
                     "pullFromMirror": "digest-only", "blocked": False},
                    {"reference": f"docker.io/library/busybox@{DIGEST}", "mirror": False, "insecure": False,
                     "pullFromMirror": "", "blocked": True}]}


def test_cli_text_from_a_registries_conf(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    conf = tmp_path / "registries.conf"
    conf.write_text(dumps_of(_crs(tmp_path)))
    result = CliRunner().invoke(app, ["resolve", "busybox", "--registries-conf", str(conf)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ('docker.io/library/busybox:latest (registries.conf entry "docker.io/library")\n'
                             "  1. docker.io/library/busybox:latest  (primary, blocked: never contacted)\n"
                             "every location is blocked: this pull fails\n")


def dumps_of(path: Path) -> str:
    from mirrorsync.openshift.crs import load_mirror_sets
    from mirrorsync.openshift.registries_conf import render_registries_conf

    return render_registries_conf(load_mirror_sets([path]))


@pytest.mark.parametrize(("args", "stderr"), [
    (["resolve", "busybox"], "error: give either --registries-conf FILE or CR files/directories (one of the two)\n"),
    (["resolve", "busybox", "{crs}", "--registries-conf", "{crs}"],
     "error: give either --registries-conf FILE or CR files/directories (one of the two)\n"),
    (["resolve", "quay.io/A/b", "{crs}"],
     "error: reference 'quay.io/A/b': invalid reference format: repository name must be lowercase\n"),
    (["resolve", "busybox", "--registries-conf", "{crs}"], "error: {crs}: invalid TOML: "),
])
def test_cli_errors_are_one_line_with_exit_2(tmp_path: Path, args: list[str], stderr: str) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    crs = str(_crs(tmp_path))
    result = CliRunner().invoke(app, [a.format(crs=crs) for a in args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(stderr.format(crs=crs))
    assert result.stderr.count("\n") == 1
