"""``options.sourceMirrors`` forms: a registries.conf, mirror-set files or directories, or the system's file."""

import pytest

from mirrorsync.errors import InputError
from mirrorsync.openshift.pull_config import load_pull_config, registries_conf_text, system_registries_conf
from mirrorsync.openshift.resolve import Resolver

IDMS = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: tier1}
spec:
  imageDigestMirrors:
  - source: quay.io/ns/app
    mirrors: [enterprise.example/ent/ns/app]
"""


def _first_mirror(config, ref):
    return Resolver(config).resolve(ref).sources[0].reference


def test_a_directory_of_mirror_sets_is_what_a_node_makes_of_it(tmp_path):
    (tmp_path / "imagedigestmirrorset.yaml").write_text(IDMS)
    (tmp_path / "catalogsource.yaml").write_text("apiVersion: v1\nkind: CatalogSource\nmetadata: {name: x}\n")
    config = load_pull_config(str(tmp_path))
    assert _first_mirror(config, "quay.io/ns/app@sha256:" + "1" * 64) == \
        "enterprise.example/ent/ns/app@sha256:" + "1" * 64
    assert 'location = "enterprise.example/ent/ns/app"' in registries_conf_text(str(tmp_path))


def test_a_registries_conf_is_read_as_containers_image_reads_it(tmp_path):
    conf = tmp_path / "r.conf"
    conf.write_text('[[registry]]\nprefix = "quay.io"\nlocation = "quay.io"\n'
                    '[[registry.mirror]]\nlocation = "m.example/q"\n')
    assert _first_mirror(load_pull_config(str(conf)), "quay.io/a/b:v1") == "m.example/q/a/b:v1"
    assert registries_conf_text(str(conf)) == conf.read_text()


def test_system_is_the_file_containers_tools_read(tmp_path, monkeypatch):
    conf = tmp_path / "sys.conf"
    conf.write_text('[[registry]]\nprefix = "quay.io"\nlocation = "quay.io"\nblocked = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    assert system_registries_conf() == str(conf)
    assert Resolver(load_pull_config("system")).resolve("quay.io/a/b:v1").sources[0].blocked
    assert registries_conf_text("system") is None  # skopeo finds it itself


def test_what_is_missing_is_named(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        load_pull_config(str(tmp_path / "gone.yaml"))
    with pytest.raises(InputError, match="cannot read"):
        load_pull_config(str(tmp_path / "gone.conf"))
