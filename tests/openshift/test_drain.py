"""The drain verdict: machine-config-operator pkg/daemon/drain.go, isDrainRequired and
isSafeContainerRegistryConfChanges (with allDigestOnlyMirror and searchRegistryMirror), applied to the
registries.conf the MCO renders. Each expected verdict below is what that Go function returns for the pair of
rendered files, traced by hand through its checks (named in each case)."""

from __future__ import annotations

import pytest

from mirrorsync.openshift.crs import ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE, MirrorEntry, MirrorSet
from mirrorsync.openshift.drain import DRAIN, NONE, RELOAD, compare, registries_conf_verdict, unsafe_changes
from mirrorsync.openshift.mirror_set_changes import mirror_set_changes
from mirrorsync.openshift.registries_conf import Endpoint, RegistriesConf, Registry, base_config


def idms(*entries: MirrorEntry, name: str = "mirrorsync") -> MirrorSet:
    return MirrorSet(IDMS, name, entries)


def itms(*entries: MirrorEntry, name: str = "mirrorsync") -> MirrorSet:
    return MirrorSet(ITMS, name, entries)


def entry(source: str, *mirrors: str, policy: str | None = None) -> MirrorEntry:
    return MirrorEntry(source, mirrors, policy)


A = entry("quay.io/ocp/a", "mirror.example:5000/ocp/a")
B = entry("quay.io/ocp/b", "mirror.example:5000/ocp/b")

# (old, new, verdict, reasons that must appear); one case per rule of isSafeContainerRegistryConfChanges.
MATRIX = {
    # the rendered files are equal: registries.conf is not in the MachineConfig diff, isDrainRequired says no
    "no change": ([idms(A)], [idms(A)], NONE, []),
    "renamed object, same file": ([idms(A, name="x")], [idms(A, name="y")], NONE, []),
    # new registry, allDigestOnlyMirror true -> safe
    "add IDMS entry": ([idms(A)], [idms(A, B)], RELOAD, []),
    "first IDMS": ([], [idms(A)], RELOAD, []),
    # an ICSP renders digest-only mirrors like an IDMS
    "add ICSP entry": ([idms(A)], [idms(A), MirrorSet(ICSP, "c", (B,))], RELOAD, []),
    # new registry whose mirror is tag-only: allDigestOnlyMirror false -> unsafe
    "add ITMS entry": ([idms(A)], [idms(A), itms(B)], DRAIN, ["quay.io/ocp/b: registry added"]),
    # the same mirror now listed twice, digest-only then tag-only: searchRegistryMirror finds the old digest-only
    # one for the tag-only copy, "pull-from-mirror value for mirror ... has changed"
    "add ITMS for an IDMS source": ([idms(A)], [idms(A), itms(A)], DRAIN,
                                    ["quay.io/ocp/a: mirror mirror.example:5000/ocp/a changed pull-from-mirror"]),
    # existing registry gains another, tag-only mirror: "mirror ... has been added ... pull-from-mirror set to"
    "add a tag-only mirror to an IDMS source": ([idms(A)], [idms(A), itms(entry(A.source, "tags.example/a"))], DRAIN,
                                                ["quay.io/ocp/a: mirror tags.example/a added with pull-from-mirror "
                                                 '"tag-only"']),
    # old registry missing from new: "registry ... has been removed"
    "remove an entry": ([idms(A, B)], [idms(A)], DRAIN, ["quay.io/ocp/b: registry removed"]),
    "remove an ITMS entry": ([itms(A, B)], [itms(A)], DRAIN, ["quay.io/ocp/b: registry removed"]),
    # same registry, a mirror gone: "mirror ... has been removed in registry"
    "remove a mirror": ([idms(entry("quay.io/ocp/a", "m1.example/a", "m2.example/a"))],
                        [idms(entry("quay.io/ocp/a", "m1.example/a"))], DRAIN,
                        ["quay.io/ocp/a: mirror m2.example/a removed"]),
    # not DeepEqual, but prefix/location/blocked/insecure equal, no mirror lost, none added: safe
    "reorder mirrors": ([idms(entry("quay.io/ocp/a", "m1.example/a", "m2.example/a"))],
                        [idms(entry("quay.io/ocp/a", "m2.example/a", "m1.example/a"))], RELOAD, []),
    # an existing registry gains a digest-only mirror: safe
    "add a digest-only mirror": ([idms(entry("quay.io/ocp/a", "m1.example/a"))],
                                 [idms(entry("quay.io/ocp/a", "m1.example/a", "m2.example/a"))], RELOAD, []),
    # blocked = true appears: "blocked value for registry ... has changed"
    "source becomes NeverContactSource": ([idms(A)], [idms(entry(*[A.source, *A.mirrors],
                                                                 policy=NEVER_CONTACT_SOURCE))], DRAIN,
                                          ["quay.io/ocp/a: blocked changed from false to true"]),
    "NeverContactSource lifted": ([idms(entry(*[A.source, *A.mirrors], policy=NEVER_CONTACT_SOURCE))], [idms(A)],
                                  DRAIN, ["quay.io/ocp/a: blocked changed from true to false"]),
    # a new registry with digest-only and tag-only mirrors: allDigestOnlyMirror false
    "add a registry with mixed mirrors": ([idms(A)], [idms(A, B), itms(entry("quay.io/ocp/b", "tags.example/b"))],
                                          DRAIN, ["quay.io/ocp/b: registry added with mirrors not all digest-only "
                                                  "(digest-only, tag-only)"]),
}


@pytest.mark.parametrize("name", MATRIX)
def test_verdict_matrix(name):
    old, new, verdict, reasons = MATRIX[name]
    result = compare(old, new).verdict
    assert result.verdict == verdict, result
    for reason in reasons:
        assert any(r.startswith(reason) for r in result.reasons), (reason, result.reasons)
    assert bool(result.reasons) == (verdict == DRAIN)


def _conf(search: list[str]) -> RegistriesConf:
    return RegistriesConf(unqualified_search_registries=search)


@pytest.mark.parametrize("old, new, verdict", [
    (["registry.access.redhat.com", "docker.io"], ["registry.access.redhat.com", "docker.io", "quay.io"], RELOAD),
    (["registry.access.redhat.com", "docker.io"], ["registry.access.redhat.com"], DRAIN),  # shrunk
    (["registry.access.redhat.com", "docker.io"], ["quay.io", "registry.access.redhat.com", "docker.io"], DRAIN),
    (["registry.access.redhat.com", "docker.io"], ["docker.io", "registry.access.redhat.com"], DRAIN),  # reordered
])
def test_unqualified_search_registries_may_only_grow_at_the_end(old, new, verdict):
    result = registries_conf_verdict(_conf(old), _conf(new))
    assert result.verdict == verdict
    if verdict == DRAIN:
        assert result.reasons[0].startswith("unqualified-search-registries changed")


def test_prefix_location_and_insecure_changes_drain():
    old = base_config()
    old.registries = [Registry(location="quay.io/a", mirrors=[Endpoint("m/a", pull_from_mirror="digest-only")])]
    new = base_config()
    new.registries = [Registry(location="quay.io/a", insecure=True,
                               mirrors=[Endpoint("m/a", pull_from_mirror="digest-only")])]
    assert unsafe_changes(old, new) == ["quay.io/a: insecure changed from false to true"]
    # the same scope (the prefix, when set), now with a prefix and another location: each check fails
    new.registries = [Registry(prefix="quay.io/a", location="other.example/a",
                               mirrors=[Endpoint("m/a", pull_from_mirror="digest-only")])]
    assert unsafe_changes(old, new) == ['quay.io/a: prefix changed from "" to "quay.io/a"',
                                        'quay.io/a: location changed from "quay.io/a" to "other.example/a"']


def test_pull_from_mirror_may_become_digest_only_but_not_leave_it():
    def conf(pull_from_mirror: str) -> RegistriesConf:
        c = base_config()
        c.registries = [Registry(location="quay.io/a", mirrors=[Endpoint("m/a", pull_from_mirror=pull_from_mirror)])]
        return c

    assert registries_conf_verdict(conf("tag-only"), conf("digest-only")).verdict == RELOAD
    result = registries_conf_verdict(conf("digest-only"), conf("tag-only"))
    assert result.verdict == DRAIN
    assert result.reasons == ('quay.io/a: mirror m/a changed pull-from-mirror from "digest-only" to "tag-only"',)


def test_every_reason_is_given_scope_by_scope():
    old = [idms(A, B)]
    new = [itms(entry("quay.io/ocp/c", "m/c"))]
    reasons = compare(old, new).verdict.reasons
    assert reasons == ("quay.io/ocp/a: registry removed", "quay.io/ocp/b: registry removed",
                       "quay.io/ocp/c: registry added with mirrors not all digest-only (tag-only)")


def test_verdict_lines():
    assert compare([idms(A)], [idms(A)]).verdict.line() == "no change"
    assert compare([idms(A)], [idms(A, B)]).verdict.line() == "CRI-O reload, no drain"
    assert compare([idms(A, B)], [idms(A)]).verdict.line() == "drain: quay.io/ocp/b: registry removed"


def test_object_changes():
    changes = mirror_set_changes([idms(A, B), itms(A, name="gone")],
                                 [idms(A, entry("quay.io/ocp/b", "other/b")), idms(name="empty")])
    assert [c.to_dict() for c in changes.added] == [{"kind": IDMS, "name": "empty"}]
    assert [c.to_dict() for c in changes.removed] == [
        {"kind": ITMS, "name": "gone", "source": "quay.io/ocp/a", "mirrors": ["mirror.example:5000/ocp/a"]}]
    assert [c.to_dict() for c in changes.changed] == [
        {"kind": IDMS, "name": "mirrorsync", "source": "quay.io/ocp/b",
         "old": {"mirrors": ["mirror.example:5000/ocp/b"]}, "new": {"mirrors": ["other/b"]}}]
    assert changes.lines()[-1] == \
        "~ ImageDigestMirrorSet mirrorsync: quay.io/ocp/b: mirror.example:5000/ocp/b -> other/b"


def test_the_metrics_know_the_verdicts():
    from mirrorsync.openshift.drain import VERDICTS
    from mirrorsync.sync.metrics import APPLY_VERDICTS

    assert APPLY_VERDICTS == VERDICTS
