"""Property: with depth-limited mirrors (``maxNestedPaths``), mirror path templates (``mirrors[].path``) and
whatever scopes the images ask for, the mirror sets built from the report send every copied reference to the
repository that holds it, as the MCO renders registries.conf and containers/image resolves it (the project's
oracle, ``mirrorsync.openshift.resolve``), and no wider entry misroutes a flattened or laid-out repository."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mirrorsync.errors import InputError
from mirrorsync.openshift.crs import parse_mirror_set
from mirrorsync.openshift.documents import Document
from mirrorsync.openshift.mirrorsets import build_mirror_sets
from mirrorsync.openshift.registries_conf import render_registries_conf
from mirrorsync.openshift.resolve import config_from_mirror_sets, resolve
from mirrorsync.sync import plan as plan_mod
from mirrorsync.sync.manifest import parse
from mirrorsync.sync.report import ImageRecord, Report, mirrored_sources

DIGEST = "sha256:" + "1" * 64
# one to four components below the host, siblings in shared namespaces, and names that a join could confuse
_PATHS = ["ns/app", "ns/tools", "ns/app/sub", "ns/app/sub/api", "ns/app-sub/api", "team/a/b/c", "team/a/b/d",
          "team/x", "top", "ns/app/sub/web"]
_MIRRORS = {"limited": ("quay.mirror.local:5000/ocp", 3), "harbor": ("harbor.mirror.local", 2),
            "plain": ("plain.mirror.local/copy", None),
            # a layout the site dictates (mirrors[].path), alone and under a depth limit
            "templated": ("{location: tpl.mirror.local/proj, path: '{namespace}-{repo}'}", None),
            "templated-limited": ("{location: tpl2.mirror.local/proj, path: 'x/{path}'}", 3)}


@st.composite
def manifests(draw: st.DrawFn) -> str:
    mirrors = draw(st.lists(st.sampled_from(sorted(_MIRRORS)), min_size=1, max_size=3, unique=True))
    limits = {_MIRRORS[m][0].split("/")[0].removeprefix("{location: "): _MIRRORS[m][1]
              for m in mirrors if _MIRRORS[m][1]}
    images = []
    for path in draw(st.lists(st.sampled_from(_PATHS), min_size=1, max_size=6, unique=True)):
        scope = draw(st.sampled_from(["repository", "namespace", "registry", "wildcard"]))
        sets = draw(st.sampled_from(["[digest, tag]", "[digest]", "[tag]"]))
        images.append(f"  - {{source: src.example.com/{path}, tags: [v1], digests: ['{DIGEST}'], "
                      f"scope: {scope}, mirrorSets: {sets}}}")
    registries = "".join(f"  {host}: {{maxNestedPaths: {n}}}\n" for host, n in limits.items())
    return ("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\n"
            f"mirrors: [{', '.join(_MIRRORS[m][0] for m in mirrors)}]\n"
            + (f"registries:\n{registries}" if registries else "") + "images:\n" + "\n".join(images) + "\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_every_copied_reference_resolves_to_the_repository_holding_it(text: str) -> None:
    try:
        m = parse(text, "m.yaml")
    except InputError as exc:  # two of the sources flatten onto one repository: refused, never mirrored
        assert "both land on" in str(exc)
        assume(False)
    records = []
    for spec in m.images:
        dests = plan_mod.destinations(m, spec)
        for tag, digest in ((spec.tags[0], DIGEST), (None, DIGEST)):
            records.append(ImageRecord(source=spec.source.name, tag=tag, digest=digest, status="copied",
                                       mirrorSets=list(spec.mirror_sets), scope=spec.scope,
                                       destinations=[d.record("copied") for d in dests]))
    report = Report("m.yaml", "native", [mm.location for mm in m.mirrors], "", images=records)
    files = build_mirror_sets(mirrored_sources([report]))
    sets = [parse_mirror_set(Document(d, f.filename)) for f in files for d in yaml.safe_load_all(f.text)]
    render_registries_conf(sets)  # the MCO accepts it
    config = config_from_mirror_sets(sets)
    flattened = {spec.source.name for spec in m.images
                 if any(d.flattened_from for d in plan_mod.destinations(m, spec))}
    for spec in m.images:
        where = [d.name for d in plan_mod.destinations(m, spec)]
        for wanted, suffix in (("digest" in spec.mirror_sets, f"@{DIGEST}"), ("tag" in spec.mirror_sets, ":v1")):
            if not wanted:
                continue
            got = resolve(spec.source.name + suffix, config)
            # every mirror, in the manifest's order, at the repository holding it; then the source
            assert [s.reference for s in got.sources] == [w + suffix for w in where] + [spec.source.name + suffix]
            if spec.source.name in flattened:
                assert got.matched_prefix == spec.source.name  # its own entry, never a wider one
    for ms in sets:  # a flattened repository's entry is its own: no wider entry is made from it
        for entry in ms.entries:
            if any(entry.source == s or entry.source == s.rsplit("/", 1)[0] for s in flattened):
                assert entry.source in {spec.source.name for spec in m.images}


def test_a_flattened_repository_is_not_reached_through_its_siblings_namespace_entry() -> None:
    """The case the property is about, spelled out: ns/app and ns/tools widen to one ns entry on a mirror that
    keeps their paths; ns/app/sub, flattened there, keeps an entry of its own that wins (longest prefix)."""
    m = parse("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [quay.mirror.local:5000/ocp]\n"
              "registries: {quay.mirror.local:5000: {maxNestedPaths: 3}}\nimages:\n"
              + "".join(f"  - {{source: src.example.com/{p}, tags: [v1], scope: namespace}}\n"
                        for p in ("ns/app", "ns/tools", "ns/app/sub")), "m.yaml")
    records = [ImageRecord(source=s.source.name, tag="v1", digest=DIGEST, status="copied", scope=s.scope,
                           destinations=[d.record("copied") for d in plan_mod.destinations(m, s)])
               for s in m.images]
    files = build_mirror_sets(mirrored_sources([Report("m.yaml", "native", [m.mirrors[0].location], "", images=records)]))
    sets = [parse_mirror_set(Document(d, f.filename)) for f in files for d in yaml.safe_load_all(f.text)]
    assert sorted((e.source, e.mirrors) for ms in sets if ms.kind == "ImageDigestMirrorSet" for e in ms.entries) == [
        ("src.example.com/ns", ("quay.mirror.local:5000/ocp/ns",)),
        ("src.example.com/ns/app/sub", ("quay.mirror.local:5000/ocp/ns/app-sub",))]
    got = resolve(f"src.example.com/ns/app/sub@{DIGEST}", config_from_mirror_sets(sets))
    assert got.sources[0].reference == f"quay.mirror.local:5000/ocp/ns/app-sub@{DIGEST}"
