"""Building IDMS/ITMS/ICSP objects from what was mirrored."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mirrorsync.openshift.mirrorsets as mirrorsets
from mirrorsync.openshift.crs import ICSP, IDMS, ITMS, parse_mirror_set
from mirrorsync.openshift.documents import Document
from mirrorsync.errors import InputError
from mirrorsync.openshift.mirrorsets import MirroredSource, MirrorSetFile, build_mirror_sets
from mirrorsync.openshift.registries_conf import render_registries_conf
from mirrorsync.openshift.resolve import config_from_mirror_sets, resolve
from support.crds import validate

NEVER, ALLOW = "NeverContactSource", "AllowContactingSource"
DIGEST = "@sha256:" + "0" * 64


def objects(files: list[MirrorSetFile]) -> dict[str, list[dict[str, Any]]]:
    """Every emitted document, checked against its CRD (support.crds) and with unique mirrors, ICSP ones too."""
    out = {}
    for f in files:
        docs = list(yaml.safe_load_all(f.text))
        for doc in docs:
            validate(doc)
            for entry in doc["spec"][next(iter(doc["spec"]))]:
                assert len(set(entry.get("mirrors", []))) == len(entry.get("mirrors", []))
        out[f.filename] = docs
    return out


def entries(files: list[MirrorSetFile], filename: str) -> list[dict[str, Any]]:
    return [e for doc in objects(files).get(filename, []) for e in doc["spec"][next(iter(doc["spec"]))]]


def test_per_repository_by_default_sorted_with_stable_bytes() -> None:
    sources = [
        MirroredSource("quay.io/ocp/release", ("m1.example.com:5000/ocp/release", "m2.example.com/ocp/release"),
                       by_digest=True, by_tag=False, policy=NEVER),
        MirroredSource("docker.io/library/busybox", ("m1.example.com:5000/library/busybox",), True, True),
    ]
    files = build_mirror_sets(sources)
    assert [f.filename for f in files] == ["imagedigestmirrorset.yaml", "imagetagmirrorset.yaml"]
    assert files[0].text == """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
    name: mirrorsync
spec:
    imageDigestMirrors:
        - mirrors:
            - m1.example.com:5000/library/busybox
          source: docker.io/library/busybox
        - mirrorSourcePolicy: NeverContactSource
          mirrors:
            - m1.example.com:5000/ocp/release
            - m2.example.com/ocp/release
          source: quay.io/ocp/release
"""
    assert entries(files, "imagetagmirrorset.yaml") == [
        {"source": "docker.io/library/busybox", "mirrors": ["m1.example.com:5000/library/busybox"]}]
    assert build_mirror_sets(list(reversed(sources))) == files


def test_only_files_with_content_and_empty_input() -> None:
    assert build_mirror_sets([]) == []
    files = build_mirror_sets([MirroredSource("q.io/a", ("m.io/a",), by_digest=False, by_tag=True)])
    assert [f.filename for f in files] == ["imagetagmirrorset.yaml"]
    assert build_mirror_sets([MirroredSource("q.io/a", ("m.io/a",), by_digest=False, by_tag=False)]) == []


def test_duplicate_sources_merge_keeping_mirror_order() -> None:
    files = build_mirror_sets([
        MirroredSource("q.io/a", ("m1.io/a", "m2.io/a"), True, False),
        MirroredSource("q.io/a", ("m3.io/a", "m1.io/a", "m3.io/a"), False, True, ALLOW),
    ])
    want = [{"source": "q.io/a", "mirrors": ["m1.io/a", "m2.io/a", "m3.io/a"], "mirrorSourcePolicy": ALLOW}]
    assert entries(files, "imagedigestmirrorset.yaml") == want
    assert entries(files, "imagetagmirrorset.yaml") == want
    with pytest.raises(InputError) as info:
        build_mirror_sets([MirroredSource("q.io/a", ("m1.io/a",), True, False, NEVER),
                           MirroredSource("q.io/a", ("m1.io/a",), True, False)])
    assert info.value.message == "conflicting mirrorSourcePolicy: NeverContactSource and unset"


def ns(repo: str, policy: str | None = None, scope: str = "namespace", mirror: str = "m.io:5000/mirror",
       by_tag: bool = False) -> MirroredSource:
    return MirroredSource(f"quay.io/{repo}", (f"{mirror}/{repo}",), True, by_tag, policy, scope)


def test_namespace_scope_when_asked_and_the_mirror_keeps_the_path() -> None:
    files = build_mirror_sets([ns("ocp/release"), ns("ocp/installer"), ns("other/app", scope="repository")])
    assert entries(files, "imagedigestmirrorset.yaml") == [
        {"source": "quay.io/ocp", "mirrors": ["m.io:5000/mirror/ocp"]},
        {"source": "quay.io/other/app", "mirrors": ["m.io:5000/mirror/other/app"]}]


def test_registry_and_wildcard_scopes() -> None:
    files = build_mirror_sets([ns("ocp/release", scope="registry"), ns("team/app", scope="registry")])
    assert entries(files, "imagedigestmirrorset.yaml") == [{"source": "quay.io", "mirrors": ["m.io:5000/mirror"]}]
    wild = [MirroredSource(f"{host}.registry.example.com/team/app", ("m.io/all/team/app",), True, False,
                           scope="wildcard") for host in ("eu", "us")]
    assert entries(build_mirror_sets(wild), "imagedigestmirrorset.yaml") == [
        {"source": "*.registry.example.com", "mirrors": ["m.io/all"]}]
    # A host with a port cannot be written as *.host: the widest left is the registry itself.
    ported = MirroredSource("eu.registry.example.com:5000/team/app", ("m.io/all/team/app",), True, False,
                            scope="wildcard")
    assert entries(build_mirror_sets([ported]), "imagedigestmirrorset.yaml") == [
        {"source": "eu.registry.example.com:5000", "mirrors": ["m.io/all"]}]


def test_no_widening_when_the_mirror_does_not_keep_the_path() -> None:
    src = MirroredSource("quay.io/ocp/release", ("m.io/flat-release",), True, False, scope="registry")
    assert entries(build_mirror_sets([src]), "imagedigestmirrorset.yaml") == [
        {"source": "quay.io/ocp/release", "mirrors": ["m.io/flat-release"]}]
    # The mirror keeps "release" but not "ocp/release": a namespace entry is still possible.
    src = MirroredSource("quay.io/ocp/release", ("m.io/x/release",), True, False, scope="registry")
    assert entries(build_mirror_sets([src]), "imagedigestmirrorset.yaml") == [
        {"source": "quay.io/ocp", "mirrors": ["m.io/x"]}]


def test_never_contact_source_is_never_widened() -> None:
    files = build_mirror_sets([ns("ocp/release", NEVER, scope="wildcard"), ns("ocp/installer", NEVER)])
    assert [e["source"] for e in entries(files, "imagedigestmirrorset.yaml")] == [
        "quay.io/ocp/installer", "quay.io/ocp/release"]


def test_disagreeing_repositories_stay_per_repository() -> None:
    mixed_mirrors = [ns("ocp/release"), ns("ocp/installer", mirror="other.io/mirror")]
    assert [e["source"] for e in entries(build_mirror_sets(mixed_mirrors), "imagedigestmirrorset.yaml")] == [
        "quay.io/ocp/installer", "quay.io/ocp/release"]
    # A NeverContactSource repository does not collapse; its own, more specific entry keeps applying to it.
    mixed_policy = [ns("ocp/release"), ns("ocp/installer", NEVER)]
    assert [(e["source"], e.get("mirrorSourcePolicy")) for e in
            entries(build_mirror_sets(mixed_policy), "imagedigestmirrorset.yaml")] == [
        ("quay.io/ocp", None), ("quay.io/ocp/installer", NEVER)]
    # None and AllowContactingSource mean the same to the MCO, so they collapse (keeping the explicit value).
    files = build_mirror_sets([ns("ocp/release"), ns("ocp/installer", ALLOW)])
    assert entries(files, "imagedigestmirrorset.yaml") == [
        {"source": "quay.io/ocp", "mirrors": ["m.io:5000/mirror/ocp"], "mirrorSourcePolicy": ALLOW}]


def test_a_wider_entry_that_would_hide_other_mirrors_is_withdrawn() -> None:
    # registries.conf keeps one entry per prefix for digest and tag mirrors alike: a digest-only quay.io/ocp
    # entry would hide the tag mirrors that quay.io/ocp/release gets from the registry-wide entry.
    release = MirroredSource("quay.io/ocp/release", ("m.io/ocp/release",), True, True, scope="registry")
    other = MirroredSource("quay.io/ocp/other", ("n.io/ocp/other",), True, False, scope="namespace")
    files = build_mirror_sets([release, other])
    assert entries(files, "imagedigestmirrorset.yaml") == [
        {"source": "quay.io", "mirrors": ["m.io"]},
        {"source": "quay.io/ocp/other", "mirrors": ["n.io/ocp/other"]}]
    assert entries(files, "imagetagmirrorset.yaml") == [{"source": "quay.io", "mirrors": ["m.io"]}]


def test_no_wider_entry_inside_a_never_contact_source_repository() -> None:
    sources = [MirroredSource("quay.io/ocp", ("m.io/ocp",), True, False, NEVER),
               MirroredSource("quay.io/ocp/sub/app", ("m.io/ocp/sub/app",), True, False, scope="namespace")]
    assert [e["source"] for e in entries(build_mirror_sets(sources), "imagedigestmirrorset.yaml")] == [
        "quay.io/ocp", "quay.io/ocp/sub/app"]


def test_a_repository_named_like_the_wider_scope_must_agree() -> None:
    agreeing = [ns("ocp/release"), MirroredSource("quay.io/ocp", ("m.io:5000/mirror/ocp",), True, False)]
    assert entries(build_mirror_sets(agreeing), "imagedigestmirrorset.yaml") == [
        {"source": "quay.io/ocp", "mirrors": ["m.io:5000/mirror/ocp"]}]
    clashing = [ns("ocp/release"), MirroredSource("quay.io/ocp", ("elsewhere.io/ocp",), True, False)]
    assert [e["source"] for e in entries(build_mirror_sets(clashing), "imagedigestmirrorset.yaml")] == [
        "quay.io/ocp", "quay.io/ocp/release"]


def test_icsp_on_request() -> None:
    sources = [MirroredSource("q.io/a", ("m.io/a",), True, True, ALLOW),
               MirroredSource("q.io/t", ("m.io/t",), False, True)]
    files = build_mirror_sets(sources, icsp=True)
    assert [f.filename for f in files] == ["imagedigestmirrorset.yaml", "imagetagmirrorset.yaml",
                                           "imagecontentsourcepolicy.yaml"]
    [icsp] = objects(files)["imagecontentsourcepolicy.yaml"]
    assert icsp == {"apiVersion": "operator.openshift.io/v1alpha1", "kind": "ImageContentSourcePolicy",
                    "metadata": {"name": "mirrorsync"},
                    "spec": {"repositoryDigestMirrors": [{"source": "q.io/a", "mirrors": ["m.io/a"]}]}}
    with pytest.raises(InputError, match="cannot express NeverContactSource"):
        build_mirror_sets([MirroredSource("q.io/a", ("m.io/a",), True, False, NEVER)], icsp=True)


def test_large_sets_are_split_with_stable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirrorsets, "MAX_OBJECT_BYTES", 2048)
    sources = [MirroredSource(f"quay.io/team/app{i:03d}", (f"m.io/team/app{i:03d}",), True, False)
               for i in range(60)]
    files = build_mirror_sets(sources, name="mirror-sets")
    docs = objects(files)["imagedigestmirrorset.yaml"]
    assert len(docs) > 2
    assert [d["metadata"]["name"] for d in docs] == [f"mirror-sets-{i}" for i in range(len(docs))]
    for text in files[0].text.split("---\n"):
        assert len(text) <= 2048
    assert [e["source"] for d in docs for e in d["spec"]["imageDigestMirrors"]] == sorted(s.source for s in sources)
    assert build_mirror_sets(list(reversed(sources)), name="mirror-sets") == files


@pytest.mark.parametrize(("source", "message"), [
    (MirroredSource("quay.io/a:tag", ("m.io/a",), True, False), "source must be a repository"),
    (MirroredSource("quay.io", ("m.io",), True, False), "source must be a repository"),
    (MirroredSource("*.quay.io/a", ("m.io",), True, False), "source must be a repository"),
    (MirroredSource("quay.io/a", (), True, False), "at least one mirror is required"),
    (MirroredSource("quay.io/a", ("*.m.io",), True, False), "invalid mirror '*.m.io'"),
    (MirroredSource("quay.io/a", ("m.io/A",), True, False), "invalid mirror 'm.io/A'"),
    (MirroredSource("quay.io/a", ("m.io/a",), True, False, "Never"), "policy must be one of"),
    (MirroredSource("quay.io/a", ("m.io/a",), True, False, scope="org"), "scope must be one of"),
])
def test_bad_input(source: MirroredSource, message: str) -> None:
    with pytest.raises(InputError) as info:
        build_mirror_sets([source])
    assert info.value.message.startswith(message)
    assert info.value.field == f"mirrored source {source.source!r}"


def test_mco_refusal_and_bad_name() -> None:
    with pytest.raises(InputError) as info:
        build_mirror_sets([MirroredSource("quay.io/a", ("m.io/a", "quay.io/a"), True, False, NEVER)])
    assert info.value.message == ('cannot set mirrorSourcePolicy: NeverContactSource if the source "quay.io/a" '
                                  "is one of the mirrors")
    with pytest.raises(InputError, match="DNS subdomain"):
        build_mirror_sets([], name="Mirror_Sync")


# --- property: whatever scopes are asked for, mirrored repositories pull exactly as per-repository entries say ---

_REPOS = ["quay.io/ocp/release", "quay.io/ocp/installer", "quay.io/ocp", "quay.io/other/app",
          "a.registry.example.com/team/app", "b.registry.example.com/team/app", "reg.local:5000/ns/app"]
_MIRRORS = ["m1.local/{path}", "m1.local/{path}", "m2.local:5000/copy/{path}", "m1.local/flat"]


@st.composite
def mirrored_sources(draw: st.DrawFn) -> list[MirroredSource]:
    out = []
    for repo in draw(st.lists(st.sampled_from(_REPOS), min_size=1, max_size=6, unique=True)):
        path = repo.split("/", 1)[1]
        mirrors = tuple(dict.fromkeys(m.format(path=path) for m in
                                      draw(st.lists(st.sampled_from(_MIRRORS), min_size=1, max_size=2))))
        out.append(MirroredSource(repo, mirrors, draw(st.booleans()), draw(st.booleans()),
                                  draw(st.sampled_from([None, ALLOW, NEVER])), draw(st.sampled_from(
                                      mirrorsets.SCOPES))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mirrored_sources())
def test_scopes_never_change_how_mirrored_repositories_are_pulled(sources: list[MirroredSource]) -> None:
    wide = build_mirror_sets(sources)
    narrow = build_mirror_sets([MirroredSource(s.source, s.mirrors, s.by_digest, s.by_tag, s.policy)
                                for s in sources])
    objects(wide)
    sets_wide = [parse_mirror_set(Document(d, f.filename)) for f in wide for d in yaml.safe_load_all(f.text)]
    sets_narrow = [parse_mirror_set(Document(d, f.filename)) for f in narrow for d in yaml.safe_load_all(f.text)]
    render_registries_conf(sets_wide)  # the MCO accepts it
    conf_wide, conf_narrow = config_from_mirror_sets(sets_wide), config_from_mirror_sets(sets_narrow)
    for src in sources:
        for wanted, suffix in ((src.by_digest, DIGEST), (src.by_tag, ":v1")):
            if wanted:
                got, want = resolve(src.source + suffix, conf_wide), resolve(src.source + suffix, conf_narrow)
                assert (got.sources, got.blocked) == (want.sources, want.blocked)
    # A wider entry is never NeverContactSource: that would break unmirrored repositories.
    repos = {s.source for s in sources}
    for ms in sets_wide:
        for entry in ms.entries:
            if entry.source not in repos:
                assert entry.policy != NEVER
    assert {ms.kind for ms in sets_wide} <= {IDMS, ITMS, ICSP}
