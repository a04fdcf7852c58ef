"""Where the pipeline sends each source read under ``options.sourceMirrors``: the registries.conf resolver's order."""

from mirrorsync.openshift import registries_conf as regconf
from mirrorsync.pipeline.source_mirrors import reader_through_mirrors
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
