"""registries.conf rendering (against the vectors recorded from the real MCO) and loading (containers/image rules)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mirrorsync.openshift.crs import API_VERSION, ICSP, IDMS, ITMS, MirrorEntry, MirrorSet, load_mirror_sets, \
    parse_mirror_set
from mirrorsync.openshift.documents import Document
from mirrorsync.errors import InputError
from mirrorsync.openshift.registries_conf import _merged_mirror_sets, as_loaded, build_registries_conf, dumps, loads, \
    render_registries_conf, scope_is_nested_inside_scope

VECTOR_DIR = Path(__file__).parents[1] / "data" / "regconf"
VECTORS = sorted(VECTOR_DIR.glob("*.json"))
RENDERED_VECTORS = [p for p in VECTORS if json.loads(p.read_text())["expected"]["registries_conf"] is not None]
_KINDS = {"idms": IDMS, "itms": ITMS, "icsp": ICSP}


def vector_objects(vector: dict[str, Any]) -> list[dict[str, Any]]:
    objs = []
    for key in ("idms", "icsp", "itms"):
        for obj in vector["input"][key]:
            kind = _KINDS[key]
            objs.append({"apiVersion": API_VERSION[kind], "kind": kind, "metadata": {"name": obj["name"]},
                         "spec": obj["spec"]})
    return objs


def vector_sets(vector: dict[str, Any]) -> list[MirrorSet]:
    return [parse_mirror_set(Document(obj, "vector.yaml")) for obj in vector_objects(vector)]


def as_parsed(text: str) -> list[dict[str, Any]]:
    """Our TOML read back, in the shape of the vectors' ``expected.parsed``."""
    out = []
    for reg in tomllib.loads(text).get("registry", []):
        out.append({"prefix": reg.get("prefix", ""), "location": reg.get("location", ""),
                    "insecure": reg.get("insecure", False), "blocked": reg.get("blocked", False),
                    "mirrors": [{"location": m.get("location", ""), "insecure": m.get("insecure", False),
                                 "pull_from_mirror": m.get("pull-from-mirror", "")} for m in reg.get("mirror", [])]})
    return out


def test_all_vectors_are_present() -> None:
    # a lost or half-copied tests/data/regconf must not pass as "nothing to test"
    assert len(VECTORS) == 197
    assert len(RENDERED_VECTORS) == 137


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    expected = vector["expected"]
    sets = vector_sets(vector)
    insecure, blocked = vector["input"]["insecure"], vector["input"]["blocked"]
    if expected["error"] is not None:
        with pytest.raises(InputError) as info:
            render_registries_conf(sets, insecure, blocked)
        assert info.value.message == expected["error"]
        return
    text = render_registries_conf(sets, insecure, blocked)
    assert as_parsed(text) == expected["parsed"]
    assert tomllib.loads(text) == tomllib.loads(expected["registries_conf"])


@pytest.mark.parametrize("path", RENDERED_VECTORS, ids=lambda p: p.stem)
def test_vector_bytes_match_the_mco_encoder(path: Path) -> None:
    # Not required for correctness, but it lets people diff our output against a node's file.
    vector = json.loads(path.read_text())
    text = render_registries_conf(vector_sets(vector), vector["input"]["insecure"], vector["input"]["blocked"])
    assert text == vector["expected"]["registries_conf"]


@pytest.mark.parametrize("path", RENDERED_VECTORS, ids=lambda p: p.stem)
def test_as_loaded_is_a_toml_round_trip(path: Path) -> None:
    vector = json.loads(path.read_text())
    config = build_registries_conf(vector_sets(vector), vector["input"]["insecure"], vector["input"]["blocked"])
    try:
        want = loads(dumps(config))
    except InputError as exc:
        with pytest.raises(InputError) as info:
            as_loaded(config)
        assert info.value.message == exc.message
        return
    assert as_loaded(config) == want


def test_vectors_through_files_and_directories(tmp_path: Path) -> None:
    vector = json.loads((VECTOR_DIR / "hw_mco_test_merge.json").read_text())
    objs = vector_objects(vector)
    (tmp_path / "a-idms.yaml").write_text(yaml.safe_dump_all(objs[:1]))
    (tmp_path / "b-rest.yml").write_text(yaml.safe_dump_all(objs[1:]))
    # oc-mirror writes CatalogSources next to its mirror sets; a directory load must skip them.
    (tmp_path / "c-catalog.yaml").write_text("apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\n"
                                              "metadata: {name: cs}\n")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    text = render_registries_conf(load_mirror_sets([tmp_path]))
    assert text == vector["expected"]["registries_conf"]


def test_mco_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "idms.yaml"
    path.write_text("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: d\nspec:\n"
                    "  imageDigestMirrors:\n  - source: quay.io/a\n    mirrors: [m.local/a]\n"
                    "  - source: quay.io/b\n    mirrors: [quay.io/b]\n    mirrorSourcePolicy: NeverContactSource\n")
    with pytest.raises(InputError) as info:
        render_registries_conf(load_mirror_sets([path]))
    err = info.value
    assert err.message == ('cannot set mirrorSourcePolicy: NeverContactSource if the source "quay.io/b" '
                           "is one of the mirrors")
    assert (err.file, err.line) == (str(path), 9)
    assert err.field == "ImageDigestMirrorSet d: spec.imageDigestMirrors[1].mirrors[0]"


def test_no_objects_gives_the_mco_base_file() -> None:
    assert render_registries_conf([]) == (
        'unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]\n'
        'short-name-mode = ""\nadditional-layer-store-auth-helper = ""\n')


@pytest.mark.parametrize(("sub", "sup", "expected"), [
    ("quay.io", "example.com", False),
    ("quay.io", "quay.io", True),
    ("quay.io:443", "quay.io", False),
    ("quay.io.example.com", "quay.io", False),
    ("quay.io2", "quay.io", False),
    ("quay.io/ns1/ns2/ns3", "quay.io", True),
    ("bar/example.foo", "*.foo", False),
    ("example/bar.foo:400", "*.foo", False),
    ("*.foo.example.com", "*.example.com", True),
    ("foo.example.com/bar", "*.example.com", True),
    ("foo.example.com:443/bar/baz", "*.example.com", True),
    ("foo.example.com", "*example.com", False),
])
def test_scope_is_nested_inside_scope(sub: str, sup: str, expected: bool) -> None:
    # The table of runtime-utils' own unit test.
    assert scope_is_nested_inside_scope(sub, sup) is expected


def test_merge_keeps_each_list_order_and_drops_trailing_source() -> None:
    # runtime-utils' "Example" case: vendor defaults plus admin-configured local mirrors.
    merged = _merged_mirror_sets([
        ("source.vendor.com", ("registry2.vendor.com",), None),
        ("source.vendor2.com", ("registry1.vendor2.com", "registry2.vendor2.com"), None),
        ("source.vendor.com", ("local-mirror.example.com",), None),
        ("source.vendor2.com", ("local-mirror2.example.com", "registry2.vendor2.com", "registry1.vendor2.com"), None),
    ])
    assert [(m.source, m.mirrors) for m in merged] == [
        ("source.vendor.com", ["local-mirror.example.com", "registry2.vendor.com"]),
        ("source.vendor2.com", ["local-mirror2.example.com", "registry1.vendor2.com", "registry2.vendor2.com"]),
    ]
    assert _merged_mirror_sets([("s.com", ("s.com", "s.com"), "NeverContactSource")]) == []


def test_build_keeps_entry_order_digest_then_tag_then_blocked_then_insecure() -> None:
    sets = [MirrorSet(ITMS, "t", (MirrorEntry("a.io", ("m.io/t",)), MirrorEntry("z.io", ("m.io/z",)))),
            MirrorSet(IDMS, "d", (MirrorEntry("b.io", ("m.io/b",), "NeverContactSource"),))]
    config = build_registries_conf(sets, insecure=["i.io", "z.io"], blocked=["*.bl.io"])
    assert [(r.scope, r.insecure, r.blocked) for r in config.registries] == [
        ("b.io", False, True), ("a.io", False, False), ("z.io", True, False), ("*.bl.io", False, True),
        ("i.io", True, False)]
    # the file keeps MCO's order; containers/image sorts what it loads by prefix
    reloaded = loads(dumps(config))
    assert [(r.prefix, r.location) for r in reloaded.registries] == [
        ("*.bl.io", ""), ("a.io", "a.io"), ("b.io", "b.io"), ("i.io", "i.io"), ("z.io", "z.io")]


# --- loading (containers/image sysregistriesv2) -----------------------------------------------------------------

def test_loads_normalises_like_containers_image() -> None:
    config = loads('unqualified-search-registries = ["docker.io/"]\n'
                   '[[registry]]\nlocation = "quay.io/ns/"\n[[registry.mirror]]\nlocation = "m.local/x/"\n'
                   '[[registry]]\nprefix = "quay.io/ns"\nlocation = "other.io"\n'
                   '[[registry]]\nprefix = "*.example.com"\nblocked = true\n')
    assert config.unqualified_search_registries == ["docker.io"]
    # Same prefix twice: the first entry wins and the second is dropped; what stays is sorted by prefix.
    assert [(r.prefix, r.location, [m.location for m in r.mirrors]) for r in config.registries] == [
        ("*.example.com", "", []), ("quay.io/ns", "quay.io/ns", ["m.local/x"])]


@pytest.mark.parametrize(("text", "message"), [
    ('[[registry]]\nlocation = "http://quay.io"\n',
     "invalid location 'http://quay.io': URI schemes are not supported"),
    ('[[registry]]\ninsecure = true\n', "invalid condition: both location and prefix are unset"),
    ('[[registry]]\nprefix = "quay.io"\n',
     "invalid condition: location is unset and prefix is not in the format: *.example.com"),
    ('[[registry]]\nlocation = "quay.io"\n[[registry.mirror]]\ninsecure = true\n',
     "invalid condition: mirror location is unset"),
    ('[[registry]]\nlocation = "q.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "sometimes"\n',
     'unsupported pull-from-mirror value "sometimes" for mirror "m.io"'),
    ('[[registry]]\nlocation = "q.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\n'
     'pull-from-mirror = "tag-only"\n',
     'cannot set mirror usage mirror-by-digest-only for the registry ("q.io") and pull-from-mirror for '
     'per-mirror ("m.io") at the same time'),
    ('[[registry]]\nlocation = "q.io"\npull-from-mirror = "all"\n',
     'pull-from-mirror must not be set for a non-mirror registry "q.io"'),
    ('[[registry]]\nlocation = "q.io"\n[[registry]]\nprefix = "q.io/x"\nlocation = "q.io"\ninsecure = true\n',
     "registry 'q.io' is defined multiple times with conflicting 'insecure' setting"),
    ('[registries.search]\nregistries = ["docker.io"]\n',
     "registries.conf version 1 ([registries.search] etc.) is not supported; use version 2"),
])
def test_loads_refuses_what_containers_image_refuses(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        loads(text, path="/etc/containers/registries.conf")
    assert info.value.message == message
    assert info.value.file == "/etc/containers/registries.conf"


def test_loads_rejects_wrong_types_with_the_field() -> None:
    with pytest.raises(InputError) as info:
        loads('[[registry]]\nlocation = "q.io"\ninsecure = "yes"\n')
    assert info.value.field == "registry[0].insecure"
    with pytest.raises(InputError, match="invalid TOML"):
        loads("[[registry]\n")


# --- the command ------------------------------------------------------------------------------------------------

def _vector_file(tmp_path: Path, name: str) -> tuple[dict[str, Any], Path]:
    vector = json.loads((VECTOR_DIR / f"{name}.json").read_text())
    path = tmp_path / "crs.yaml"
    path.write_text(yaml.safe_dump_all(vector_objects(vector)))
    return vector, path


def _scope_args(vector: dict[str, Any]) -> list[str]:
    args = []
    for scope in vector["input"]["insecure"]:
        args += ["--insecure", scope]
    for scope in vector["input"]["blocked"]:
        args += ["--blocked", scope]
    return args


def test_cli_prints_what_the_mco_writes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    vector, path = _vector_file(tmp_path, "hw_mco_test_wildcard_scopes")
    result = CliRunner().invoke(app, ["registries-conf", str(path), *_scope_args(vector)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == vector["expected"]["registries_conf"]
    assert result.stderr == ""
    out = tmp_path / "etc" / "registries.conf"
    out.parent.mkdir()
    result = CliRunner().invoke(app, ["registries-conf", str(tmp_path), "--output", str(out), *_scope_args(vector)])
    assert (result.exit_code, result.stdout) == (0, "")
    assert out.read_text() == vector["expected"]["registries_conf"]


def test_cli_mco_refusal_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    vector, path = _vector_file(tmp_path, "hw_seed_docs_conflict")
    result = CliRunner().invoke(app, ["registries-conf", str(path), *_scope_args(vector)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}:")
    assert result.stderr.endswith(f": {vector['expected']['error']}\n")
    assert result.stderr.count("\n") == 1
    result = CliRunner().invoke(app, ["registries-conf", str(path), "--insecure", "*.foo/bar"])
    assert (result.exit_code, result.stderr) == (2, 'error: invalid entry for insecure registries "*.foo/bar"\n')


def test_cli_warns_about_what_only_the_api_server_refuses(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    vector, path = _vector_file(tmp_path, "hw_policy_bogus_value")
    result = CliRunner().invoke(app, ["registries-conf", str(path)])
    assert result.exit_code == 0
    assert result.stdout == vector["expected"]["registries_conf"]
    assert result.stderr.startswith("warning: ") and 'unsupported value "Never"' in result.stderr
