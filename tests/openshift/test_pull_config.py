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


def _output_dir(tmp_path, catalogs):
    """An earlier run's output directory: its mirror sets in cluster-resources/, its report beside them."""
    import json

    (tmp_path / "cluster-resources").mkdir()
    (tmp_path / "cluster-resources" / "imagedigestmirrorset.yaml").write_text(IDMS)
    (tmp_path / "report.json").write_text(json.dumps({"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport",
                                                      "images": [], "catalogs": catalogs}))
    return tmp_path


def _catalog(catalog, *references, status="pushed"):
    return {"catalog": catalog, "mirrors": [{"mirror": r.rsplit("/", 1)[0], "reference": r, "digest": "sha256:" + "2" * 64,
                                             "status": status} for r in references]}


def test_an_output_directory_gives_its_catalogs_under_their_own_tag_to_the_tier_below(tmp_path):
    out = _output_dir(tmp_path, [
        _catalog("registry.redhat.io/redhat/redhat-operator-index:v4.15",
                 "enterprise.example/ent/redhat/redhat-operator-index:v4.15", "backup.example/b/index:v4.15"),
        _catalog("registry.redhat.io/redhat/certified-operator-index:v4.15",
                 "enterprise.example/ent/certified:v4.15-filtered"),  # targetTag: a mirror keeps the tag it is asked
        _catalog("quay.io/ns/failed-index:v1", "enterprise.example/ent/ns/failed-index:v1", status="failed"),
        _catalog("oci:///srv/catalogs/index", "enterprise.example/ent/index:v1"),
    ])
    config = load_pull_config(str(out))
    resolver = Resolver(config)
    by_tag = [s.reference for s in resolver.resolve("registry.redhat.io/redhat/redhat-operator-index:v4.15").sources]
    assert by_tag == ["enterprise.example/ent/redhat/redhat-operator-index:v4.15", "backup.example/b/index:v4.15",
                      "registry.redhat.io/redhat/redhat-operator-index:v4.15"]
    # the rebuilt catalog's digest is only on the mirrors: read there by digest too
    digest = "@sha256:" + "2" * 64
    assert resolver.resolve("registry.redhat.io/redhat/redhat-operator-index" + digest).sources[0].reference == \
        "enterprise.example/ent/redhat/redhat-operator-index" + digest
    for ref in ("registry.redhat.io/redhat/certified-operator-index:v4.15", "quay.io/ns/failed-index:v1"):
        assert [s.reference for s in resolver.resolve(ref).sources] == [ref]
    assert _first_mirror(config, "quay.io/ns/app@sha256:" + "1" * 64).startswith("enterprise.example/ent/ns/app@")
    assert 'location = "enterprise.example/ent/redhat/redhat-operator-index"' in registries_conf_text(str(out))


def test_the_cluster_resources_alone_give_no_catalog_entry_and_a_broken_report_is_named(tmp_path):
    out = _output_dir(tmp_path, [_catalog("quay.io/ns/index:v1", "enterprise.example/ent/ns/index:v1")])
    resolver = Resolver(load_pull_config(str(out / "cluster-resources")))
    assert [s.reference for s in resolver.resolve("quay.io/ns/index:v1").sources] == ["quay.io/ns/index:v1"]
    (out / "report.json").write_text("{")
    with pytest.raises(InputError, match="report.json.*not a mirrorsync report"):
        load_pull_config(str(out))
