"""Loading, checking and writing IDMS/ITMS/ICSP objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mirrorsync.openshift.crs import ICSP, IDMS, ITMS, MirrorEntry, MirrorSet, is_valid_mirror, is_valid_source, \
    load_mirror_sets, parse_mirror_set
from mirrorsync.openshift.documents import Document, load_documents
from mirrorsync.openshift.goyaml import dump_yaml, dump_yaml_documents
from mirrorsync.openshift.mco import crd_problems, is_valid_scope, validate_for_mco
from mirrorsync.errors import InputError

THREE_KINDS = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: digest
spec:
  imageDigestMirrors:
  - source: quay.io/ocp/release
    mirrors:
    - m1.example.com:5000/ocp/release
    - m2.example.com/ocp/release
    mirrorSourcePolicy: NeverContactSource
---
# a comment-only document between objects is not an object
---
apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata: {name: tags}
spec:
  imageTagMirrors:
  - source: docker.io/library
---
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata:
  name: legacy
spec:
  repositoryDigestMirrors:
  - source: registry.example.com/a
    mirrors: [m.example.com/a]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loads_all_three_kinds_from_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "crs.yaml", THREE_KINDS)
    sets = load_mirror_sets([path])
    assert sets == [
        MirrorSet(IDMS, "digest", (MirrorEntry("quay.io/ocp/release",
                                               ("m1.example.com:5000/ocp/release", "m2.example.com/ocp/release"),
                                               "NeverContactSource"),)),
        MirrorSet(ITMS, "tags", (MirrorEntry("docker.io/library"),)),
        MirrorSet(ICSP, "legacy", (MirrorEntry("registry.example.com/a", ("m.example.com/a",)),)),
    ]
    assert [(s.file, s.line) for s in sets] == [(str(path), 1), (str(path), 15), (str(path), 22)]
    assert [e.line for e in sets[0].entries] == [7]


def test_oc_get_list_output_and_json_files(tmp_path: Path) -> None:
    items = [yaml.safe_load(doc) for doc in THREE_KINDS.split("---\n") if yaml.safe_load(doc)]
    write(tmp_path, "list.yaml", "apiVersion: v1\nkind: List\nitems:\n"
          "- apiVersion: config.openshift.io/v1\n  kind: ImageDigestMirrorSet\n  metadata: {name: digest}\n"
          "- apiVersion: config.openshift.io/v1\n  kind: ImageTagMirrorSet\n  metadata: {name: tags}\n")
    write(tmp_path, "typed.json", json.dumps({"apiVersion": "operator.openshift.io/v1alpha1",
                                              "kind": "ImageContentSourcePolicyList", "items": items[2:]}))
    sets = load_mirror_sets([tmp_path])
    assert [(s.kind, s.name) for s in sets] == [(IDMS, "digest"), (ITMS, "tags"), (ICSP, "legacy")]
    assert [s.line for s in sets] == [4, 7, None]  # list items keep their own line; JSON has none


def test_directories_skip_other_kinds_but_not_kindless_documents(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", THREE_KINDS)
    write(tmp_path, "b.yaml", "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata: {name: c}\n")
    write(tmp_path, "c.txt", "ignored: [")
    assert [s.name for s in load_mirror_sets([tmp_path])] == ["digest", "tags", "legacy"]
    bad = write(tmp_path, "d.yml", "apiVersion: config.openshift.io/v1\nmetadata: {name: no-kind}\n")
    with pytest.raises(InputError) as info:
        load_mirror_sets([tmp_path])
    assert (info.value.file, info.value.field) == (str(bad), "kind")


def test_timestamps_stay_text(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "metadata:\n  creationTimestamp: 2023-01-02T03:04:05Z\n")
    assert load_documents(path)[0].data == {"metadata": {"creationTimestamp": "2023-01-02T03:04:05Z"}}


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("kind: ConfigMap\napiVersion: v1\n", 1, "kind",
     "kind 'ConfigMap' is not one of ImageDigestMirrorSet, ImageTagMirrorSet, ImageContentSourcePolicy"),
    ("apiVersion: config.openshift.io/v1\nkind: ImageContentSourcePolicy\n", 1, "apiVersion",
     "ImageContentSourcePolicy must have apiVersion operator.openshift.io/v1alpha1, not 'config.openshift.io/v1'"),
    ("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nspec:\n  imageDigestMirrors:\n"
     "  - source: q.io\n    mirrors: m.io\n", 6, "spec.imageDigestMirrors[0].mirrors", "must be a list"),
    ("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nspec:\n  imageDigestMirrors:\n"
     "  - source: q.io\n    mirrors:\n    - m.io\n    - 5000\n", 8, "spec.imageDigestMirrors[0].mirrors[1]",
     "must be a string"),
    ("apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nspec:\n  imageTagMirrors:\n"
     "  - mirrors: [m.io]\n", 5, "spec.imageTagMirrors[0]", "source is required"),
    ("apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nspec:\n"
     "  repositoryDigestMirrors:\n  - source: q.io\n    mirrorSourcePolicy: NeverContactSource\n", 6,
     "spec.repositoryDigestMirrors[0].mirrorSourcePolicy",
     "ImageContentSourcePolicy has no mirrorSourcePolicy (use an ImageDigestMirrorSet)"),
    ("- just\n- a list\n", 1, None, "not a Kubernetes object (expected a mapping with apiVersion and kind)"),
    ("a: [1, 2\n", 2, None, "invalid YAML: did not find expected ',' or ']'"),
])
def test_bad_input_names_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None,
                                             message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(InputError) as info:
        load_mirror_sets([path])
    err = info.value
    assert (err.file, err.line, err.field, err.message) == (str(path), line, field, message)


def test_missing_path_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        load_mirror_sets([tmp_path / "nope.yaml"])
    path = write(tmp_path, "bad.json", '{"kind": \n')
    with pytest.raises(InputError) as info:
        load_mirror_sets([path])
    assert info.value.message.startswith("invalid JSON") and info.value.line == 2


@pytest.mark.parametrize(("text", "valid"), [
    ("quay.io", True), ("quay.io/ns/repo", True), ("reg.local:5000/a__b/c--d", True), ("*.example.com", True),
    ("localhost:5000", True), ("quay.io/Foo", False), ("quay.io/ns/", False), ("http://quay.io", False),
    ("quay.io/a:tag", False), ("*.example.com/ns", False), ("*example.com", False), ("", False),
    ("-bad.io", False), ("quay.io/a\n", False),
])
def test_source_pattern(text: str, valid: bool) -> None:
    assert is_valid_source(text) is valid


@pytest.mark.parametrize(("text", "valid"), [
    ("m.local", True), ("m.local:5000/a/b", True), ("*.mirror.com", False), ("mirror.com:port", False),
    ("mirror.com/", False), ("m.local\n", False),
])
def test_mirror_pattern(text: str, valid: bool) -> None:
    assert is_valid_mirror(text) is valid


@pytest.mark.parametrize(("scope", "valid"), [
    ("example.com", True), ("*.example.com", True), ("**.example.com", False), ("example.*.com", False),
    ("*.example.com/foo/bar", False), ("*.example.com:foo", False), ("*example.com", False), ("", False),
    ("quay.io/ns/", True),
])
def test_scope_check_matches_runtime_utils(scope: str, valid: bool) -> None:
    assert is_valid_scope(scope) is valid


def test_mco_checks_idms_then_icsp_then_itms() -> None:
    sets = [MirrorSet(ITMS, "t", (MirrorEntry("quay.io/bad3/"),)),
            MirrorSet(ICSP, "i", (MirrorEntry("quay.io/bad2/"),)),
            MirrorSet(IDMS, "d", (MirrorEntry("quay.io/ok", ("m.io",)),))]
    with pytest.raises(InputError) as info:
        validate_for_mco(sets)
    assert info.value.message == 'invalid format for source "quay.io/bad2/"'
    assert info.value.field == "ImageContentSourcePolicy i: spec.repositoryDigestMirrors[0].source"


def test_mco_treats_unset_policy_and_icsp_as_allow() -> None:
    validate_for_mco([MirrorSet(IDMS, "a", (MirrorEntry("q.io", ("m.io",), "AllowContactingSource"),)),
                      MirrorSet(ICSP, "b", (MirrorEntry("q.io", ("n.io",)),))])
    with pytest.raises(InputError, match="conflicting mirrorSourcePolicy"):
        validate_for_mco([MirrorSet(ICSP, "b", (MirrorEntry("q.io", ("n.io",)),)),
                          MirrorSet(ITMS, "a", (MirrorEntry("q.io", (), "NeverContactSource"),))])


def test_scope_errors_come_first() -> None:
    with pytest.raises(InputError) as info:
        validate_for_mco([MirrorSet(IDMS, "d", (MirrorEntry("bad/"),))], insecure=["ok.io"], blocked=["a.*.com"])
    assert info.value.message == 'invalid entry for blocked registries "a.*.com"'


def test_crd_problems_are_what_the_api_server_adds() -> None:
    ms = MirrorSet(IDMS, "", (MirrorEntry("q.io", ("m.io", "m.io"), "Never"), MirrorEntry("Q.io/A", ("*.m",))))
    assert [e.message for e in crd_problems(ms)] == [
        "metadata.name is required",
        "mirrors must not contain duplicates",
        'unsupported value "Never": must be one of NeverContactSource, AllowContactingSource',
        'invalid format for source "Q.io/A"',
        'invalid format for mirror "*.m"',
    ]
    # The ICSP CRD has no patterns (the MCO checks those), so only the name and the policy would be refused.
    assert crd_problems(MirrorSet(ICSP, "i", (MirrorEntry("Q.io/A", ("*.m",)),))) == []


def test_dump_yaml_matches_oc_output_and_round_trips() -> None:
    obj = {"apiVersion": "config.openshift.io/v1", "kind": "ImageDigestMirrorSet",
           "metadata": {"name": "convert", "labels": {"icspIdx": "1"}, "annotations": {"icspCon": "idms"}},
           "spec": {"imageDigestMirrors": [{"source": "source.example.com", "mirrors": ["z1.example.com",
                                                                                      "y2.example.com"]}]}}
    # The bytes of oc's own unit test for `oc adm migrate icsp` (gopkg.in/yaml.v3 layout).
    assert dump_yaml(obj) == (
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n    annotations:\n"
        "        icspCon: idms\n    labels:\n        icspIdx: \"1\"\n    name: convert\nspec:\n"
        "    imageDigestMirrors:\n        - mirrors:\n            - z1.example.com\n            - y2.example.com\n"
        "          source: source.example.com\n")
    tricky = {"a": ["yes", "1.5", "", "null", "x: y", "#c", "- d", "2023-01-01", "0x1f", "ok-value", True, 7,
                    "@at", "%pct", "-", "-x", "*star", "&amp", "!bang", "a\nb", " lead", "it's", '"q"', "[x]"],
              "b": {}, "c": [], "d": None, "e": [{"f": {"g": "h"}}, ["i", "j"]], "k": "trailing "}
    assert yaml.safe_load(dump_yaml(tricky)) == tricky
    assert list(yaml.safe_load_all(dump_yaml_documents([tricky, obj]))) == [tricky, obj]


def test_keys_are_ordered_as_yaml_v3_orders_them() -> None:
    # Numbers inside keys compare by value, and a non-letter sorts before a letter (unlike plain string order).
    keys = ["node10", "a_b", "node2", "aB", "app", "app.kubernetes.io/name", "b"]
    text = dump_yaml({k: 1 for k in keys})
    assert [line.split(":")[0] for line in text.splitlines()] == [
        "a_b", "aB", "app", "app.kubernetes.io/name", "b", "node2", "node10"]


def test_to_object_is_what_the_loader_reads_back() -> None:
    ms = MirrorSet(ITMS, "t", (MirrorEntry("q.io/a", ("m.io/a",), "NeverContactSource"), MirrorEntry("r.io")))
    assert parse_mirror_set(Document(ms.to_object(), "x")) == ms
