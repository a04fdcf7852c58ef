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


def test_system_is_the_file_containers_tools_read(tmp_path, monkeypatch, machine):
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


def _conf(path, prefix, mirror):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[[registry]]\nprefix = "{prefix}"\nlocation = "{prefix}"\n'
                    f'[[registry.mirror]]\nlocation = "{mirror}"\n')
    return path


def _mirrors(config, ref):
    return [s.reference for s in Resolver(config).resolve(ref).sources]


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A home and a system drop-in directory of the test's own."""
    import mirrorsync.openshift.pull_config as pull_config

    home, system = tmp_path / "home", tmp_path / "etc" / "registries.conf.d"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    monkeypatch.setattr(pull_config, "SYSTEM_DROP_IN_DIR", str(system))
    monkeypatch.setattr(pull_config, "NODE_CONFIG_PATH", str(tmp_path / "etc" / "registries.conf"))
    return home / ".config" / "containers", system


def test_system_merges_the_drop_ins_in_containers_order(tmp_path, machine, monkeypatch):
    user, system = machine
    main = _conf(tmp_path / "main.conf", "quay.io/ns", "main.example/ns")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(main))
    _conf(system / "20-late.conf", "quay.io/ns", "late.example/ns")  # after 10-: it wins for its prefix
    _conf(system / "10-early.conf", "quay.io/ns", "early.example/ns")
    _conf(system / "30-other.conf", "docker.io/library", "other.example/lib")
    _conf(system / "ignored.toml", "docker.io/library", "never.example/lib")  # only .conf files
    _conf(user / "registries.conf.d" / "00-user.conf", "docker.io/library", "user.example/lib")  # user's come last
    config = load_pull_config("system")
    assert _mirrors(config, "quay.io/ns/app:v1") == ["late.example/ns/app:v1", "quay.io/ns/app:v1"]
    assert _mirrors(config, "docker.io/library/busybox:1") == ["user.example/lib/busybox:1",
                                                               "docker.io/library/busybox:1"]


def test_a_users_registries_conf_reads_only_the_users_drop_ins(machine):
    user, system = machine
    _conf(user / "registries.conf", "quay.io/ns", "main.example/ns")
    _conf(system / "10-system.conf", "quay.io/ns", "system.example/ns")
    assert _mirrors(load_pull_config("system"), "quay.io/ns/app:v1") == ["main.example/ns/app:v1", "quay.io/ns/app:v1"]
    _conf(user / "registries.conf.d" / "10-user.conf", "quay.io/ns", "user.example/ns")
    assert _mirrors(load_pull_config("system"), "quay.io/ns/app:v1") == ["user.example/ns/app:v1", "quay.io/ns/app:v1"]


def test_no_main_file_is_an_empty_one_and_a_broken_drop_in_is_named(machine):
    user, system = machine
    _conf(system / "10-system.conf", "quay.io/ns", "system.example/ns")
    assert _mirrors(load_pull_config("system"), "quay.io/ns/app:v1") == ["system.example/ns/app:v1",
                                                                         "quay.io/ns/app:v1"]
    (system / "20-broken.conf").write_text("[[registry]]\nlocation = 7\n")
    with pytest.raises(InputError) as caught:
        load_pull_config("system")
    assert caught.value.file == str(system / "20-broken.conf")
