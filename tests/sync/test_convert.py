"""``mirrorsync convert``: skopeo sync files and ImageSetConfigurations to manifests that mirrorsync loads."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mirrorsync.pipeline import sections
from mirrorsync import convert
from mirrorsync.sync import manifest
from mirrorsync.errors import InputError
from mirrorsync.sync.tag_selection import selects_tag

# The example of skopeo-sync(1), with one unquoted tag that YAML would read as a number
SKOPEO = """\
registry.example.com:
    images:
        busybox: []
        redis:
            - "1.0"
            - 1.10
            - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
    images-by-tag-regex:
        nginx: ^1\\.13\\.[12]-alpine-perl$
    images-by-semver:
        alpine: ">= 3.12.0"
    credentials:
        username: john
        password: this is a secret
    tls-verify: true
    cert-dir: /home/john/certs
quay.io:
    tls-verify: false
    images:
        coreos/etcd:
            - latest
"""

ISC = """\
kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/{version}
archiveSize: 4
storageConfig:
  local: {{path: /tmp/metadata}}
mirror:
  platform:
    channels:
    - name: stable-4.16
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16
  helm: {{}}
  additionalImages:
  - name: registry.redhat.io/ubi8/ubi:latest
  - name: registry.redhat.io/ubi8/ubi:8.9
  - name: quay.io/a/b@sha256:0000000000000000000000000000000011111111111111111111111111111111
  - name: docker.io/library/alpine:3.19
  - name: quay.io/c/d
  blockedImages:
  - name: alpine
  - name: registry.redhat.io/ubi9/ubi
"""


def write(tmp_path: Path, text: str, name: str = "in.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def loaded(text: str):
    return sections.parse_manifest(text, "out.yaml")


def test_skopeo_sync_file_becomes_an_equivalent_manifest(tmp_path):
    src = write(tmp_path, SKOPEO)
    text = convert.convert(src, ["mirror.local:5000/m"])
    m = loaded(text)
    assert [x.location for x in m.mirrors] == ["mirror.local:5000/m"]
    images = list(m.images)
    # alpine's '>= 3.12.0' is two entries: Masterminds also takes two-part tags (3.12, v3.13) as 3.12.0, 3.13.0
    assert [s.source.name for s in images] == ["registry.example.com/busybox", "registry.example.com/redis",
                                                "registry.example.com/nginx", "registry.example.com/alpine",
                                                "registry.example.com/alpine", "quay.io/coreos/etcd"]
    assert images[0].all_tags
    assert images[1].tags == ("1.0", "1.10") and images[1].digests == ("sha256:" + "0" * 32 + "1" * 32,)
    assert images[2].include == (r"^1\.13\.[12]-alpine-perl$",)
    assert images[3].semver.text == ">= 3.12.0"
    assert [t for t in ("3.11", "3.12", "v3.12", "3.20", "4", "3.12.0") if selects_tag(images[4], t)] == [
        "3.12", "v3.12", "3.20", "4"]
    assert images[5].tags == ("latest",)
    # where skopeo sync puts them: the last path component under the mirror
    assert [s.destination for s in images] == ["busybox", "redis", "nginx", "alpine", "alpine", "etcd"]
    scoped = loaded(convert.convert(src, ["m.io"], scoped=True))
    assert [s.destination for s in scoped.images][:2] == ["registry.example.com/busybox", "registry.example.com/redis"]
    assert m.settings_for("registry.example.com").cert_dir == "/home/john/certs"
    assert m.settings_for("registry.example.com").tls_verify is True
    assert m.settings_for("quay.io").tls_verify is False
    # the secret is nowhere; the comment names where it was and what to do
    assert "this is a secret" not in text and "john" not in text.replace("/home/john/", "")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any(f"{src}:12: registry.example.com.credentials: not copied" in c and "--authfile" in c
               for c in comments)
    assert any(f"{src}:11: registry.example.com.images-by-semver.alpine:" in c for c in comments)


def test_semver_lists_and_commas_of_newer_skopeo(tmp_path):
    src = write(tmp_path, "r.io:\n  images-by-semver:\n    a:\n      - '3.12 - 3.13'\n      - '>= 3.17, < 4'\n")
    m = loaded(convert.convert(src, ["m.io"]))
    assert m.images[0].semver.text == "3.12 - 3.13 || >= 3.17, < 4"


def test_image_set_configuration(tmp_path):
    for version in ("v1alpha2", "v2alpha1"):
        src = write(tmp_path, ISC.format(version=version), f"isc-{version}.yaml")
        text = convert.convert(src, ["mirror.local:5000", "backup.local"], insecure_mirror=True)
        m = loaded(text)
        assert [(s.source.name, s.tags, s.digests) for s in m.images] == [
            ("registry.redhat.io/ubi8/ubi", ("latest", "8.9"), ()),
            ("quay.io/a/b", (), ("sha256:" + "0" * 32 + "1" * 32,)),
            ("quay.io/c/d", ("latest",), ()),
        ]
        assert m.settings_for("mirror.local:5000").tls_verify is False
        assert m.settings_for("backup.local").tls_verify is False
        [catalog] = m.sections["operators"]
        assert str(catalog.catalog) == "registry.redhat.io/redhat/redhat-operator-index:v4.16"
        comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        assert [c.name for c in m.sections["platform"].channels] == ["stable-4.16"]  # the manifest's platform section
        dependencies = ":11: mirror.operators[0]: dependencies of kept bundles are added only with"
        assert (f"{src}{dependencies}" in comments) == (version == "v1alpha2")
        for where in (":3: archiveSize:", ":4: storageConfig:", ":12: mirror.helm: names no repositories or local charts",
                      ":17: mirror.additionalImages[3].name: docker.io/library/alpine:3.19 left out: blocked by "
                      "mirror.blockedImages[0]",
                      ":21: mirror.blockedImages[1]: blocks no additional image"):
            assert f"{src}{where}" in comments, where


def test_v2alpha1_blocked_images_may_be_patterns(tmp_path):
    src = write(tmp_path, "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n"
                          "  additionalImages:\n  - name: quay.io/a/x:1\n  - name: quay.io/b/y:1\n"
                          "  blockedImages:\n  - name: 'quay\\.io/a/.*'\n")
    assert [s.source.name for s in loaded(convert.convert(src, ["m.io"])).images] == ["quay.io/b/y"]


@pytest.mark.parametrize("text,expected", [
    ("r.io:\n  images:\n    App: [v1]\n", "in.yaml:3: r.io.images.App: invalid reference"),
    ("r.io:\n  images:\n    a: v1\n", "in.yaml:3: r.io.images.a: must be a list of tags and digests"),
    ("r.io:\n  images:\n    a: ['sha256:abc']\n", "in.yaml:3: r.io.images.a[0]: invalid digest"),
    ("r.io:\n  images-by-semver:\n    a: '>= 1 <'\n", "in.yaml:3: r.io.images-by-semver.a: invalid version range"),
    ("r.io:\n  images-by-tag-regex:\n    a: '('\n", "in.yaml:3: r.io.images-by-tag-regex.a: regular expression"),
    ("r.io:\n  tls-verify: maybe\n  images: {a: [v1]}\n", "in.yaml:2: r.io.tls-verify: must be true or false"),
    ("r.io:\n  cert-dir: /c\n", "in.yaml:1: names no images"),
    ("'bad host':\n  images: {a: [v1]}\n", "in.yaml:1: bad host: invalid registry host"),
    ("- a\n", "in.yaml:1: must be a mapping"),
    ("r.io:\n  images: {a: [v1]}\nr.io:\n  images: {b: [v1]}\n", "in.yaml:3: r.io: duplicate key 'r.io'"),
    ("? [a]\n: x\n", "in.yaml:1: mapping keys must be plain scalars"),
    ("r.io: [\n", "in.yaml:2: invalid YAML"),
    ("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v9\n",
     "in.yaml:2: apiVersion: unsupported ImageSetConfiguration version"),
    ("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n"
     "  - name: 'quay.io/X'\n", "in.yaml:5: mirror.additionalImages[0].name: invalid reference"),
    ("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators: []\n",
     "in.yaml:3: mirror: no mirror.additionalImages"),
    ("a.io:\n  images: {x/app: [v1], y/app: [v1]}\n",
     "in.yaml:2: a.io.images.y/app: the converted manifest would not load: a.io/y/app and a.io.images.x/app "
     "(a.io/x/app) both land on destination 'app'"),
])
def test_bad_input_is_one_line(tmp_path, text, expected):
    src = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        convert.convert(src, ["m.io"])
    message = str(info.value)
    assert message.startswith(f"{tmp_path}/{expected}"), message
    assert "\n" not in message and info.value.exit_code == 2


def test_scoped_keeps_repositories_of_one_basename_apart(tmp_path):
    src = write(tmp_path, "a.io:\n  images: {x/app: [v1], y/app: [v1]}\n")
    with pytest.raises(InputError, match="both land on destination 'app'.*--scoped keeps the whole name"):
        convert.convert(src, ["m.io"])
    m = loaded(convert.convert(src, ["m.io"], scoped=True))
    assert [s.destination for s in m.images] == ["a.io/x/app", "a.io/y/app"]


def test_mirrors_are_required_and_checked(tmp_path):
    src = write(tmp_path, SKOPEO)
    with pytest.raises(InputError, match=r"^--mirror: give at least one --mirror"):
        convert.convert(src, [])
    with pytest.raises(InputError, match=r"^--mirror: invalid mirror 'Bad Mirror'"):
        convert.convert(src, ["Bad Mirror"])


def cli(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    return subprocess.run([sys.executable, "-m", "mirrorsync", "convert", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def test_cli_writes_atomically_and_nothing_on_bad_input(tmp_path):
    src = write(tmp_path, SKOPEO, "sync.yml")
    out = tmp_path / "manifest.yaml"
    ok = cli(src, "--output", str(out), "--mirror", "m.io", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout == "", ok.stderr
    assert manifest.load(str(out)).images[0].source.name == "registry.example.com/busybox"
    before = out.read_bytes()
    bad = write(tmp_path, "r.io:\n  images:\n    a: v1\n", "bad.yml")
    proc = cli(bad, "--output", str(out), "--mirror", "m.io", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {bad}:3: r.io.images.a: must be a list of tags and digests"]
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yml", "manifest.yaml", "sync.yml"]  # no temp left
    missing = cli(src, cwd=tmp_path)
    assert missing.returncode == 2 and "--mirror" in missing.stderr
    stdout = cli(src, "--mirror", "m.io", cwd=tmp_path)
    assert stdout.returncode == 0 and yaml.safe_load(stdout.stdout)["mirrors"] == ["m.io"]


def test_an_image_set_configuration_platform_becomes_the_platform_section(tmp_path):
    src = write(tmp_path, """\
kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  platform:
    architectures: [amd64, arm64]
    graph: true
    channels:
    - name: stable-4.15
      minVersion: 4.15.1
      maxVersion: 4.15.10
      shortestPath: true
      type: ocp
    - name: okd-scos-4.15
      type: okd
    - name: fast-4.16
      full: true
""")
    text = convert.convert(src, ["m.io"])
    p = loaded(text).sections["platform"]
    assert p.architectures == ("amd64", "arm64")
    assert [(c.name, str(c.max_version.release) if c.max_version else None, c.shortest_path, c.type, c.full)
            for c in p.channels] == [("stable-4.15", "(4, 15, 10)", True, "ocp", False),
                                     ("okd-scos-4.15", None, False, "okd", False),
                                     ("fast-4.16", None, False, "ocp", True)]
    assert "maxVersion: 4.15.10" in text  # the version as written, not the number 4.151
    # the graph-data image with oc-mirror's base and data, which are the manifest's defaults
    assert p.graph is not None and str(p.graph.base_image) == "registry.access.redhat.com/ubi9/ubi:latest"
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "mirror.platform.graph" not in comments and "mirror.platform.channels" not in comments


def test_operators_carry_over_with_oc_mirror_names(tmp_path):
    src = write(tmp_path, "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n"
                          "  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15\n"
                          "    targetCatalog: my/index\n    targetTag: 4.15\n    packages:\n"
                          "    - name: advanced-cluster-management\n      defaultChannel: release-2.10\n"
                          "      bundles: [{name: acm.v2.10.1}]\n      channels:\n      - name: release-2.10\n"
                          "        minVersion: 2.10.1\n        maxVersion: 2.10.4\n")
    text = convert.convert(src, ["m.io"])
    [catalog] = loaded(text).sections["operators"]
    assert (catalog.target_repository, catalog.target_tag) == ("my/index", "4.15")
    [acm] = catalog.filter.packages
    assert (acm.name, acm.default_channel) == ("advanced-cluster-management", "release-2.10")
    assert [(c.name, str(c.min_version), str(c.max_version)) for c in acm.channels] == \
        [("release-2.10", "2.10.1", "2.10.4")]
    assert f"{src}:11: mirror.operators[0].packages[0].bundles: no equivalent" in text
    assert "images:" not in text
