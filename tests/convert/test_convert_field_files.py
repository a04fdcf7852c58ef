"""``convert`` on the shapes real files have (issue 36, items 1, 2, 5, 6 and 8): skopeo sync keys with a namespace,
``docker://`` names, several documents in one file, refusals that name the input's line and field (never the
converted text's), OKD channels, ``full`` and ``kubeVirtContainer`` (issue 28), and Masterminds semver ranges
written for two-part tags. Each file here is written for the test in the shape of the ones users have."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mirrorsync import convert
from mirrorsync.convert.masterminds import short_tag_pattern
from mirrorsync.errors import InputError
from mirrorsync.pipeline.sections import parse_manifest
from mirrorsync.sync.semver import Range, Version
from mirrorsync.sync.tag_selection import selects_tag

ISC = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"


def write(tmp_path: Path, text: str, name: str = "in.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def refusal(path: str, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        convert.convert(path, *args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2 and "<converted>" not in message, message
    return message


# item 1 -----------------------------------------------------------------------------------------------------------

NAMESPACED = """\
registry.gitlab.example.net/platform-team:
  tls-verify: false
  images:
    tools/kubectl: [v1.30.2]
    builder: []
registry.gitlab.example.net/apps:
  images-by-tag-regex:
    frontend: ^release-
k8s.registry.example.org/sig-storage:
  images:
    csi-provisioner: [v5.0.1, v5.0.2]
"""


def test_skopeo_keys_with_a_namespace_path_hold_images_relative_to_it(tmp_path):
    src = write(tmp_path, NAMESPACED)
    text = convert.convert(src, ["mirror.example.net/m"])
    m = parse_manifest(text, "out.yaml")
    assert [(s.source.name, s.destination) for s in m.images] == [
        ("registry.gitlab.example.net/platform-team/tools/kubectl", "kubectl"),
        ("registry.gitlab.example.net/platform-team/builder", "builder"),
        ("registry.gitlab.example.net/apps/frontend", "frontend"),
        ("k8s.registry.example.org/sig-storage/csi-provisioner", "csi-provisioner"),
    ]
    assert m.images[0].tags == ("v1.30.2",) and m.images[1].all_tags and m.images[2].include == ("^release-",)
    # the manifest's registry settings are per host: the other namespace of the host gets them too, and is told
    assert m.settings_for("registry.gitlab.example.net").tls_verify is False
    assert m.settings_for("k8s.registry.example.org").tls_verify is True
    assert (f"{src}:6: registry.gitlab.example.net/apps: tls-verify not given, but "
            "registry.gitlab.example.net/platform-team.tls-verify applies here too") in text
    scoped = parse_manifest(convert.convert(src, ["mirror.example.net"], scoped=True), "out.yaml")
    assert scoped.images[0].destination == "registry.gitlab.example.net/platform-team/tools/kubectl"


@pytest.mark.parametrize("text, expected", [
    ("registry.example.net/Team:\n  images: {a: [v1]}\n",
     "in.yaml:1: registry.example.net/Team: invalid registry host 'registry.example.net/Team'"),
    ("r.example.net/a:\n  tls-verify: false\n  images: {x: [v1]}\nr.example.net/b:\n  tls-verify: true\n"
     "  images: {y: [v1]}\n",
     "in.yaml:5: r.example.net/b.tls-verify: differs from r.example.net/a.tls-verify: the manifest's registries "
     "settings are per host (r.example.net)"),
    ("r.example.net/a:\n  images: {x/app: [v1]}\nr.example.net/b:\n  images: {app: [v1]}\n",
     "in.yaml:4: r.example.net/b.images.app: the converted manifest would not load: r.example.net/b/app and "
     "r.example.net/a.images.x/app (r.example.net/a/x/app) both land on destination 'app'"),
])
def test_namespaced_keys_refused_where_they_are_written(tmp_path, text, expected):
    assert refusal(write(tmp_path, text), ["m.example.net"]).startswith(f"{tmp_path}/{expected}")


# item 2 -----------------------------------------------------------------------------------------------------------

def test_docker_transport_names_are_the_registry_images_they_name(tmp_path):
    src = write(tmp_path, ISC + textwrap.dedent("""\
        mirror:
          platform:
            release: docker://quay.example.net/ocp/release:4.16.3-x86_64
          operators:
          - catalog: docker://registry.example.net/catalogs/index:v4.16
          additionalImages:
          - name: docker://registry.example.net/ubi9/ubi:latest
          - name: registry.example.net/ubi9/ubi:9.4
          - name: docker://localhost:5000/tools/jq@sha256:""" + "ab" * 32 + """
          - name: docker://registry.example.net/blocked/thing:1
          blockedImages:
          - name: docker://registry.example.net/blocked/thing
        """))
    m = parse_manifest(convert.convert(src, ["mirror.example.net"]), "out.yaml")
    assert [(s.source.name, s.tags, s.digests) for s in m.images] == [
        ("registry.example.net/ubi9/ubi", ("latest", "9.4"), ()),
        ("localhost:5000/tools/jq", (), ("sha256:" + "ab" * 32,)),
    ]
    assert [str(r) for r in m.sections["platform"].releases] == ["quay.example.net/ocp/release:4.16.3-x86_64"]
    assert str(m.sections["operators"][0].catalog) == "registry.example.net/catalogs/index:v4.16"


@pytest.mark.parametrize("body, where", [
    ("mirror:\n  additionalImages:\n  - name: oci:///srv/layouts/tool\n", ":5: mirror.additionalImages[0].name:"),
    ("mirror:\n  additionalImages:\n  - name: docker-archive:/tmp/t.tar\n", ":5: mirror.additionalImages[0].name:"),
    ("mirror:\n  platform:\n    release: dir:/srv/release\n", ":5: mirror.platform.release:"),
])
def test_other_transports_are_refused_where_they_are_written(tmp_path, body, where):
    message = refusal(write(tmp_path, ISC + body), ["m.example.net"])
    assert message.startswith(f"{tmp_path}/in.yaml{where} the ") and "transport is not supported" in message


# item 3 -----------------------------------------------------------------------------------------------------------

def test_oci_catalogs_become_absolute_layout_paths_with_oc_mirrors_destination(tmp_path):
    src = write(tmp_path, ISC + textwrap.dedent("""\
        mirror:
          operators:
          - catalog: oci://./catalogs/redhat-operator-index
            packages:
            - name: web-terminal
          - catalog: oci:///srv/layouts/custom
            targetCatalog: olm/custom
            targetTag: v2
        """))
    text = convert.convert(src, ["mirror.example.net/m"])
    assert f"catalog: oci://{tmp_path}/catalogs/redhat-operator-index\n" in text  # the manifest may live elsewhere
    first, second = parse_manifest(text, str(tmp_path / "elsewhere" / "out.yaml")).sections["operators"]
    assert (first.layout, first.target_repository, first.target_tag) == (
        f"{tmp_path}/catalogs/redhat-operator-index", "redhat-operator-index", "latest")
    assert (second.layout, second.target_repository, second.target_tag) == ("/srv/layouts/custom", "olm/custom", "v2")


def test_an_oci_catalog_without_a_path_is_refused_at_its_line(tmp_path):
    message = refusal(write(tmp_path, ISC + "mirror:\n  operators:\n  - catalog: oci://\n"), ["m.example.net"])
    assert message.startswith(f"{tmp_path}/in.yaml:5: mirror.operators[0].catalog: 'oci://': expected"), message


# item 5 -----------------------------------------------------------------------------------------------------------

MULTI = ISC + """\
mirror:
  additionalImages:
  - name: registry.example.net/first/app:1.0
---
# a second image set, as some repositories keep one per cluster
""" + ISC + """\
mirror:
  additionalImages:
  - name: registry.example.net/second/app:2.0
---
""" + ISC + "mirror: {}\n"


def test_several_documents_take_the_first_and_say_from_which_line_the_rest_is_ignored(tmp_path):
    src = write(tmp_path, MULTI)
    warned: list[str] = []
    text = convert.convert(src, ["m.example.net"], warn=warned.append)
    m = parse_manifest(text, "out.yaml")
    assert [s.source.name for s in m.images] == ["registry.example.net/first/app"]
    ignored = f"{src}:6: the YAML documents from this line on are ignored: oc-mirror reads the first document only"
    assert warned == [ignored]
    assert f"#   {ignored}" in text.splitlines()
    skopeo = write(tmp_path, "r.example.net:\n  images: {a: [v1]}\n---\nr.example.net:\n  images: {b: [v1]}\n",
                   "sync.yml")
    warned.clear()
    convert.convert(skopeo, ["m.example.net"], warn=warned.append)
    assert warned == [f"{skopeo}:3: the YAML documents from this line on are ignored: skopeo sync reads the first "
                      "document only"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    return subprocess.run([sys.executable, "-m", "mirrorsync", "convert", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def test_the_command_warns_on_stderr_and_refuses_in_one_line_with_exit_2(tmp_path):
    src = write(tmp_path, MULTI)
    out = tmp_path / "manifest.yaml"
    ok = cli(src, "--output", str(out), "--mirror", "m.example.net", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout == ""
    assert ok.stderr == f"warning: {src}:6: the YAML documents from this line on are ignored: oc-mirror reads " \
                        "the first document only\n"
    bad = write(tmp_path, ISC + "mirror:\n  platform:\n    channels:\n    - name: stable-4.16\n"
                                "      minVersion: '4.16'\n", "bad.yaml")
    out.unlink()
    refused = cli(bad, "--output", str(out), "--mirror", "m.example.net", cwd=tmp_path)
    assert refused.returncode == 2 and not out.exists() and refused.stdout == ""
    assert refused.stderr == (f"error: {bad}:7: mirror.platform.channels[0].minVersion: the converted manifest would "
                              "not load: '4.16' is not a release version (MAJOR.MINOR.PATCH, such as 4.15.3)\n")


# item 6 -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, where", [
    ("mirror:\n  platform:\n    architectures: [amd64, x86_64]\n    channels:\n    - name: stable-4.16\n",
     ":5: mirror.platform.architectures[1]:"),
    ("mirror:\n  platform:\n    channels:\n    - name: okd-4\n      type: okd\n    - name: stable-4.16\n"
     "      minVersion: 4.16.3\n      maxVersion: 4.16.1\n", ":10: mirror.platform.channels[1].maxVersion:"),
    ("mirror:\n  platform:\n    channels:\n    - name: stable-4.16\n    - name: stable-4.16\n",
     ":7: mirror.platform.channels[1].name:"),
    ("mirror:\n  platform:\n    channels:\n    - minVersion: 4.16.1\n", ":6: mirror.platform.channels[0]:"),
    ("mirror:\n  operators:\n  - catalog: registry.example.net/index:v1\n    packages:\n    - name: p\n"
     "      channels:\n      - name: stable\n        minVersion: not-a-version\n",
     ":10: mirror.operators[0].packages[0].channels[0].minVersion:"),
    ("mirror:\n  operators:\n  - catalog: 'Registry.example.net/index'\n", ":5: mirror.operators[0].catalog:"),
    ("mirror:\n  operators:\n  - full: true\n", ":5: mirror.operators[0]:"),
])
def test_refusals_of_the_converted_manifest_name_the_input_line_and_field(tmp_path, body, where):
    message = refusal(write(tmp_path, ISC + body), ["m.example.net"])
    assert message.startswith(f"{tmp_path}/in.yaml{where} the converted manifest would not load: "), message


def test_the_input_line_is_found_for_every_refusal_of_a_converted_file(tmp_path):
    """Whatever the loader refuses, the message names a line of the input file, never one of the converted text."""
    bodies = ["mirror:\n  platform:\n    architectures: [" + arch + "]\n    channels: [{name: c}]\n"
              for arch in ("x86_64", "'1'", "{}", "[amd64]")]
    bodies += ["mirror:\n  operators:\n  - catalog: " + cat + "\n" for cat in ("'a b'", "[x]", "'quay.io/A'", "''")]
    bodies += ["mirror:\n  platform:\n    channels:\n    - name: c\n      " + key + "\n"
               for key in ("minVersion: x", "maxVersion: [1]", "shortestPath: maybe", "name2: 1", "minVersion: 4.1")]
    for i, body in enumerate(bodies):
        src = write(tmp_path, ISC + body, f"case{i}.yaml")
        try:
            convert.convert(src, ["m.example.net"])
        except InputError as exc:
            assert re.match(rf"{re.escape(src)}:\d+: mirror\.", str(exc)), str(exc)
            assert "<converted>" not in str(exc) and exc.line is not None


# item 8 -----------------------------------------------------------------------------------------------------------

def test_okd_channels_full_kubevirt_and_a_named_release_are_mapped_as_the_manifest_takes_them(tmp_path):
    src = write(tmp_path, ISC + textwrap.dedent("""\
        mirror:
          platform:
            architectures: [amd64]
            kubeVirtContainer: true
            release: quay.example.net/okd/scos-release:4.16.0-okd-scos.1
            channels:
            - name: stable-scos-4
              type: okd
              full: true
            - name: stable-4.16
              type: ocp
              minVersion: 4.16.1
              maxVersion: 4.16.3
              full: true
        """))
    text = convert.convert(src, ["m.example.net"])
    assert "not supported" not in text and "no equivalent" not in text
    platform = parse_manifest(text, "out.yaml").sections["platform"]
    assert [(c.name, c.type, c.full, str(c.min_version) if c.min_version else None) for c in platform.channels] == [
        ("stable-scos-4", "okd", True, None), ("stable-4.16", "ocp", True, "4.16.1")]
    assert platform.kubevirt is True
    assert [str(r) for r in platform.releases] == ["quay.example.net/okd/scos-release:4.16.0-okd-scos.1"]


@pytest.mark.parametrize("body, where, message", [
    ("    - name: okd-4\n      type: fcos\n", ":7: mirror.platform.channels[0].type:", "must be one of ocp, okd"),
    ("    - name: stable-4\n    - name: stable-4\n      type: okd\n", ":7: mirror.platform.channels[1].name:",
     "already listed as type ocp"),
    ("    - name: c\n      full: sometimes\n", ":7: mirror.platform.channels[0].full:", "true or false"),
])
def test_what_the_manifest_refuses_of_them_names_the_input_line(tmp_path, body, where, message):
    got = refusal(write(tmp_path, ISC + "mirror:\n  platform:\n    channels:\n" + body), ["m.example.net"])
    assert got.startswith(f"{tmp_path}/in.yaml{where} the converted manifest would not load: ") and message in got


def masterminds_takes(tag: str, rng: Range) -> bool:
    """skopeo sync's rule: a tag is a version when Masterminds' loose parser reads it (v, one to three numbers, a
    pre-release); ``3.7`` is ``3.7.0``. The range itself, and its pre-release rule, as mirrorsync reads them."""
    m = re.fullmatch(r"v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z.-]+))?", tag)
    if not m:
        return False
    version = Version.parse(f"{m.group(1)}.{m.group(2) or 0}.{m.group(3) or 0}" + (f"-{m.group(4)}" if m.group(4)
                                                                                 else ""))
    return version is not None and version in rng


TAGS = [f"{p}{M}{'.' + str(m) if m is not None else ''}{'.' + str(x) if x is not None else ''}"
        for p in ("", "v") for M in range(0, 13) for m in (None, 0, 1, 6, 7, 8, 12) for x in (None, 0, 3)
        if not (m is None and x is not None)] + ["3.7.0-rc.1", "latest", "3.7-alpine", "V3.7", "03.7", "3.07"]


@pytest.mark.parametrize("constraint", ["= 3.7", "~3.7", "^3.7", "3.x", ">= 3.7, < 4", "3.6 - 3.8", "!= 3.7.0 ~3",
                                        ">=1.2 <2 || =11", "<=2", ">3.7", "^0.6", "~12.1 || 0.x",
                                        # full versions: Masterminds takes the tag 3.12 for 3.12.0 here too
                                        ">= 3.12.0", "= 3.7.0", ">=1.2.3 <2.0.0", "> 3.7.0 <= 6.0.0", "< 3.7.1",
                                        "!= 3.7.0", ">=1.2.3 <2.0.0 || =4.0.0-rc.1"])
def test_a_range_written_for_two_part_tags_takes_them_as_masterminds_does(tmp_path, constraint):
    src = write(tmp_path, f"registry.example.net/team:\n  images-by-semver:\n    lib: {constraint!r}\n")
    text = convert.convert(src, ["m.example.net"])
    m = parse_manifest(text, "out.yaml")
    assert {(s.source.name, s.destination) for s in m.images} == {("registry.example.net/team/lib", "lib")}
    rng = Range.parse(constraint)
    taken = {t for t in TAGS if any(selects_tag(spec, t) for spec in m.images)}
    assert taken == {t for t in TAGS if masterminds_takes(t, rng)}, constraint
    assert f"{src}:3: registry.example.net/team.images-by-semver.lib: skopeo's Masterminds/semver" in text


def test_a_range_no_two_part_tag_is_in_keeps_one_semver_entry_without_a_comment(tmp_path):
    assert short_tag_pattern(Range.parse("= 3.7.1")) is None  # no M or M.m tag is 3.7.1
    assert short_tag_pattern(Range.parse(">=1.2.3 <1.3.0")) is None
    src = write(tmp_path, "registry.example.net/team:\n  images-by-semver:\n    lib: '= 3.7.1'\n")
    text = convert.convert(src, ["m.example.net"])
    assert [s.semver.text for s in parse_manifest(text, "out.yaml").images] == ["= 3.7.1"]
    assert "Masterminds" not in text


def test_short_names_and_hosts_that_look_like_transports_stay_registry_images(tmp_path):
    src = write(tmp_path, ISC + "mirror:\n  additionalImages:\n  - name: alpine:latest\n  - name: ubuntu:22.04\n"
                                "  - name: oci:5000/team/app:1\n  - name: docker://busybox\n")
    m = parse_manifest(convert.convert(src, ["m.example.net"]), "out.yaml")
    assert [(s.source.name, s.tags) for s in m.images] == [
        ("docker.io/library/alpine", ("latest",)), ("docker.io/library/ubuntu", ("22.04",)),
        ("oci:5000/team/app", ("1",)), ("docker.io/library/busybox", ("latest",))]
