"""migrate-icsp against what `oc adm migrate icsp` (openshift/oc pkg/cli/admin/migrate/icsp) produces."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from mirrorsync.errors import InputError
from mirrorsync.openshift.migrate_icsp import migrate_icsp, migrate_icsp_file
from support.crds import validate


# The input and expected bytes of oc's own TestGenerateIDMS ("convert multiple icsps to idms").
OC_INPUT = """\
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata:
  name: multiple-convert-1
  labels: {icspIdx: "1"}
  annotations: {icspCon: idms}
spec:
  repositoryDigestMirrors:
  - source: source.example.com
    mirrors: [z1.example.com, y2.example.com, x3.example.com]
  - source: source.example.net
    mirrors: [z1.example.net, y2.example.net, x3.example.net]
---
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata:
  name: multiple-convert-2
  labels: {icspIdx: "2"}
  annotations: {icspCon: idms}
spec:
  repositoryDigestMirrors:
  - source: source.example.com
    mirrors: [z1.example.com, y2.example.com, x3.example.com]
  - source: source.example.net
    mirrors: [z1.example.net, y2.example.net, x3.example.net]
"""
OC_ONE = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
    annotations:
        icspCon: idms
    labels:
        icspIdx: "{n}"
    name: multiple-convert-{n}
spec:
    imageDigestMirrors:
        - mirrors:
            - z1.example.com
            - y2.example.com
            - x3.example.com
          source: source.example.com
        - mirrors:
            - z1.example.net
            - y2.example.net
            - x3.example.net
          source: source.example.net
"""
OC_OUTPUT = OC_ONE.format(n=1) + "---\n" + OC_ONE.format(n=2)

FROM_A_CLUSTER = """\
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata:
  creationTimestamp: "2023-05-04T10:11:12Z"
  generation: 3
  name: mirror-ocp
  resourceVersion: "123456"
  uid: 0b7a3f1e-1111-2222-3333-444455556666
  labels: {}
  someFutureField: dropped by the typed decoding
spec:
  repositoryDigestMirrors:
  - source: quay.io/openshift-release-dev/ocp-release
    mirrors: [mirror.registry.com:443/ocp/release]
  - source: quay.io/openshift-release-dev/ocp-v4.0-art-dev
    mirrors: []
  - source: registry.example.com/only
status: {}
"""


def test_matches_oc_bytes_for_several_icsps_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "icsp.yaml"
    path.write_text(OC_INPUT)
    migrated = migrate_icsp_file(path)
    assert migrated.name == "multiple-convert-1"
    assert migrated.text == OC_OUTPUT


def test_metadata_kept_except_creation_timestamp_and_empty_mirrors_omitted(tmp_path: Path) -> None:
    path = tmp_path / "icsp.yaml"
    path.write_text(FROM_A_CLUSTER)
    obj = yaml.safe_load(migrate_icsp_file(path).text)
    assert obj == {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ImageDigestMirrorSet",
        "metadata": {"generation": 3, "name": "mirror-ocp", "resourceVersion": "123456",
                     "uid": "0b7a3f1e-1111-2222-3333-444455556666"},
        "spec": {"imageDigestMirrors": [
            {"source": "quay.io/openshift-release-dev/ocp-release", "mirrors": ["mirror.registry.com:443/ocp/release"]},
            {"source": "quay.io/openshift-release-dev/ocp-v4.0-art-dev"},
            {"source": "registry.example.com/only"}]},
    }
    validate(obj)


def test_icsp_without_spec_gives_an_empty_list(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\n"
                    "metadata: {name: e}\n")
    assert migrate_icsp_file(path).text == (
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n    name: e\nspec:\n"
        "    imageDigestMirrors: []\n")


def test_writes_one_file_per_input_into_dest_dir(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yml"
    a.write_text(OC_INPUT)
    b.write_text(FROM_A_CLUSTER)
    dest = tmp_path / "out" / "nested"
    written = migrate_icsp([a, b], dest)
    assert [os.path.dirname(p) for p in written] == [str(dest), str(dest)]
    assert re.fullmatch(r"imagedigestmirrorset_multiple-convert-1\.\d{6,19}\.yaml", os.path.basename(written[0]))
    assert re.fullmatch(r"imagedigestmirrorset_mirror-ocp\.\d{6,19}\.yaml", os.path.basename(written[1]))
    assert Path(written[0]).read_text() == OC_OUTPUT
    assert sorted(p.name for p in dest.iterdir()) == sorted(os.path.basename(p) for p in written)  # no temp files


def test_default_dest_is_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in.yaml").write_text(OC_INPUT)
    monkeypatch.chdir(tmp_path)
    [written] = migrate_icsp(["in.yaml"])
    assert os.path.dirname(written) == os.getcwd()


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: d}\n",
     "expected an ImageContentSourcePolicy (operator.openshift.io/v1alpha1), got ImageDigestMirrorSet "
     "(config.openshift.io/v1)"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
     "expected an ImageContentSourcePolicy (operator.openshift.io/v1alpha1), got ConfigMap (v1)"),
    ("apiVersion: config.openshift.io/v1\nkind: ImageContentSourcePolicy\nmetadata: {name: c}\n",
     "expected an ImageContentSourcePolicy (operator.openshift.io/v1alpha1), got ImageContentSourcePolicy "
     "(config.openshift.io/v1)"),
    ("- a\n- b\n", "expected an ImageContentSourcePolicy (operator.openshift.io/v1alpha1), got something that is "
     "not an object"),
    ("apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata:\n  name: x\n"
     "  labels: {a: 1}\n", "must be a mapping of strings to strings"),
])
def test_anything_but_an_icsp_is_an_error_and_nothing_is_written(tmp_path: Path, text: str, message: str) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(OC_INPUT)
    bad.write_text(OC_INPUT + "---\n" + text)
    dest = tmp_path / "out"
    with pytest.raises(InputError) as info:
        migrate_icsp([good, bad], dest)
    assert info.value.message == message
    assert info.value.file == str(bad)
    assert not dest.exists()


def test_a_file_without_objects_is_an_error(tmp_path: Path) -> None:
    # Comment-only documents between objects are skipped, but a file must hold at least one ICSP.
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n---\n")
    with pytest.raises(InputError) as info:
        migrate_icsp([path], tmp_path)
    assert (info.value.file, info.value.message) == (str(path), "no ImageContentSourcePolicy found")


def test_dest_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(OC_INPUT)
    (tmp_path / "taken").write_text("")
    with pytest.raises(InputError) as info:
        migrate_icsp([tmp_path / "in.yaml"], tmp_path / "taken")
    assert info.value.message == f'"{tmp_path / "taken"}" exists and is a file'


# --- the command ------------------------------------------------------------------------------------------------

def test_cli_writes_files_and_prints_like_oc(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(OC_INPUT)
    b.write_text(FROM_A_CLUSTER)
    dest = tmp_path / "idms-files"
    result = CliRunner().invoke(app, ["migrate-icsp", str(a), str(b), "--dest-dir", str(dest)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ["multiple-convert-1", "mirror-ocp"]):
        match = re.fullmatch(rf"wrote ImageDigestMirrorSet to ({re.escape(str(dest))}/imagedigestmirrorset_"
                             rf"{name}\.\d{{6,19}}\.yaml)", line)
        assert match, line
        assert Path(match.group(1)).is_file()
    assert Path(lines[0].split(" to ", 1)[1]).read_text() == OC_OUTPUT


def test_cli_refuses_a_non_icsp_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    path = tmp_path / "idms.yaml"
    path.write_text("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: d}\n")
    result = CliRunner().invoke(app, ["migrate-icsp", str(path), "--dest-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (f"error: {path}:2: kind: expected an ImageContentSourcePolicy "
                             "(operator.openshift.io/v1alpha1), got ImageDigestMirrorSet (config.openshift.io/v1)\n")
    assert not (tmp_path / "out").exists()
