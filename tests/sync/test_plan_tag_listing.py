"""Tag lists are read concurrently and bounded, once per source; the plan is the same as a serial one: manifest
order, one failure per entry whose source cannot be listed, the other entries planned."""

import textwrap
import threading
import time

from mirrorsync.errors import RegistryError
from mirrorsync.sync import manifest, plan


def load(n: int, extra: str = ""):
    images = "".join(f"  - source: quay.io/team/app{i}\n    allTags: true\n" for i in range(n))
    return manifest.parse(textwrap.dedent("""\
        apiVersion: mirrorsync.dev/v1alpha1
        kind: SyncManifest
        mirrors: [mirror.example:5000/m]
        images:
        """) + images + extra, "m.yaml")


class Lister:
    """A fake tag lister that records how many calls overlap; ``barrier`` makes calls wait for each other."""

    def __init__(self, barrier: threading.Barrier | None = None, fail: set[str] = frozenset()) -> None:
        self.barrier = barrier
        self.fail = fail
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls: list[str] = []

    def __call__(self, ref):
        with self.lock:
            self.calls.append(ref.name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            index = int(ref.name.rsplit("app", 1)[1])
            time.sleep(0.001 * (index % 3))  # finish out of manifest order
            if ref.name in self.fail:
                raise RegistryError(f"listing tags of {ref.name}: HTTP 503")
            return [f"v{index}", "common"]
        finally:
            with self.lock:
                self.in_flight -= 1


def test_listing_is_concurrent_and_bounded():
    # A barrier of 4 is passed only when 4 listings wait at once: a serial build would break it (BrokenBarrier
    # after its timeout, i.e. a failure for every entry); more than 4 at once is counted.
    lister = Lister(barrier=threading.Barrier(4, timeout=30))
    the_plan = plan.build(load(12), lister, workers=4)
    assert the_plan.failures == []
    assert lister.most_in_flight == 4
    assert sorted(lister.calls) == sorted(f"quay.io/team/app{i}" for i in range(12))


def test_plan_keeps_manifest_order_and_per_entry_failures():
    broken = {"quay.io/team/app3", "quay.io/team/app7"}
    concurrent = plan.build(load(10), Lister(fail=broken), workers=8)
    serial = plan.build(load(10), Lister(fail=broken), workers=1)
    assert concurrent.to_dict() == serial.to_dict()
    assert [str(j) for j in concurrent.jobs] == [
        f"quay.io/team/app{i}:{tag}" for i in range(10) if f"quay.io/team/app{i}" not in broken
        for tag in (f"v{i}", "common")]
    assert [(f.spec.index, f.error) for f in concurrent.failures] == [
        (3, "listing tags of quay.io/team/app3: HTTP 503"), (7, "listing tags of quay.io/team/app7: HTTP 503")]
    assert [s.spec.index for s in concurrent.selections] == [i for i in range(10) if i not in (3, 7)]


def test_a_source_named_by_two_entries_is_listed_once():
    extra = "  - source: quay.io/team/app1\n    include: ['^v']\n"
    lister = Lister()
    the_plan = plan.build(load(3, extra), lister)
    assert sorted(lister.calls) == ["quay.io/team/app0", "quay.io/team/app1", "quay.io/team/app2"]
    # both entries of app1 got the list: the second selects v1 (its jobs dedupe against the first entry's)
    assert [len(s.decisions) for s in the_plan.selections] == [2, 2, 2, 2]
    assert [d.taken for d in the_plan.selections[3].decisions] == [True, False]


def test_an_unexpected_exception_fails_its_entry_only():
    def list_tags(ref):
        if ref.name.endswith("app1"):
            raise ValueError("bad page")
        return ["v1"]

    the_plan = plan.build(load(3), list_tags)
    assert [f.error for f in the_plan.failures] == ["listing tags of quay.io/team/app1: ValueError: bad page"]
    assert [str(j) for j in the_plan.jobs] == ["quay.io/team/app0:v1", "quay.io/team/app2:v1"]
