"""Where the pipeline sends each source read under ``options.sourceMirrors``: the registries.conf resolver's order."""

from mirrorsync.openshift import registries_conf as regconf
from mirrorsync.pipeline.sections import load_manifest
import mirrorsync.openshift.pull_config as pull_config_module
from mirrorsync.pipeline.source_mirrors import (drop_ins_skopeo_adds, insecure_not_applied, pull_config, reader,
                                                reader_through_mirrors)
from support.memstore import MemoryStore

CONF = """
[[registry]]
prefix = "quay.io/ns"
location = "quay.io/ns"
[[registry.mirror]]
location = "digests.example/ns"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.example/ns"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "all.example/mirror/ns"

[[registry]]
prefix = "blocked.example/ns"
location = "blocked.example/ns"
blocked = true
[[registry.mirror]]
location = "all.example/b"
"""


class _Clients:
    def __init__(self):
        self.stores = {}

    def get(self, host):
        return self.stores.setdefault(host, MemoryStore(host))


def _labels(through, name, by_digest):
    return [loc.label for loc in through.locations(name, by_digest=by_digest)]


def test_digest_reads_skip_tag_only_mirrors_and_tag_reads_skip_digest_only_ones():
    through = reader_through_mirrors(regconf.loads(CONF), _Clients())
    assert _labels(through, "quay.io/ns/app", True) == ["digests.example/ns/app", "all.example/mirror/ns/app",
                                                         "quay.io/ns/app"]
    assert _labels(through, "quay.io/ns/app", False) == ["tags.example/ns/app", "all.example/mirror/ns/app",
                                                          "quay.io/ns/app"]
    assert _labels(through, "other.example/x", True) == ["other.example/x"]  # no entry: the source itself


def test_a_blocked_source_is_never_read():
    through = reader_through_mirrors(regconf.loads(CONF), _Clients())
    assert _labels(through, "blocked.example/ns/app", True) == ["all.example/b/app"]


def test_locations_are_stores_of_the_run_clients_with_the_path_there():
    clients = _Clients()
    loc = reader_through_mirrors(regconf.loads(CONF), clients).locations("quay.io/ns/app", by_digest=True)[1]
    assert loc.store is clients.stores["all.example"] and loc.repo == "mirror/ns/app" and loc.mirror


def test_insecure_in_a_registries_conf_is_not_applied_and_is_warned_about(tmp_path, caplog):
    conf = tmp_path / "zone.conf"
    conf.write_text('[[registry]]\nprefix = "quay.io/ns"\nlocation = "quay.io/ns"\n'
                    '[[registry.mirror]]\nlocation = "plain.example:5000/ns"\ninsecure = true\n'
                    '[[registry.mirror]]\nlocation = "trusted.example/ns"\ninsecure = true\n')
    m = tmp_path / "m.yaml"
    m.write_text(f"apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [enclave.example/m]\n"
                 f"options: {{sourceMirrors: {conf}}}\nregistries: {{'plain.example:5000': {{tlsVerify: false}}}}\n"
                 "images: [{source: quay.io/ns/app, tags: [v1]}]\n")
    manifest = load_manifest(str(m))
    assert insecure_not_applied(pull_config(manifest), manifest) == ["trusted.example"]
    with caplog.at_level("WARNING"):
        reader(manifest, _Clients())
    [warning] = [r.getMessage() for r in caplog.records if "insecure" in r.getMessage()]
    assert warning == (f"{conf}: insecure = true for trusted.example is not applied (trust comes from the manifest): "
                       "set registries.trusted.example.tlsVerify: false to read it without TLS verification")


def test_the_drop_ins_skopeo_merges_over_its_registries_conf_are_named(tmp_path, monkeypatch):
    system = tmp_path / "registries.conf.d"
    system.mkdir()
    (system / "shortnames.conf").write_text('[aliases]\n"busybox" = "docker.io/library/busybox"\n')
    (system / "zone.conf").write_text('[[registry]]\nprefix = "quay.io/ns"\nlocation = "quay.io/ns"\n')
    monkeypatch.setattr(pull_config_module, "SYSTEM_DROP_IN_DIR", str(system))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert drop_ins_skopeo_adds("[[registry]]\n") == [str(system / "zone.conf")]
    assert drop_ins_skopeo_adds(None) == []  # `system`: skopeo's own search is sourceMirrors' too
