"""OpenShift releases end to end against the real registry: a channel range, the shortest path, the head only and a
release named directly are mirrored with every component at its digest, in oc-mirror v2's layout; the mirror sets
are valid and make skopeo pull every component by its original name with the source stopped; a second run copies
nothing; the signature ConfigMap holds exactly the store's files; export/import carry releases."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter

import httpx
import pytest
import yaml

from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support import crds
from support.cli import mirrorsync, registry_settings
from support.cosign import Signer, sign
from devtools.openshift import GraphServer, push_release
from support.releases import assert_on_mirror, build_channel, build_multi_release, idms_entries, push_component

pytestmark = pytest.mark.integration


@pytest.fixture
def channel(registry, pusher_for, unique_repo):
    """The four releases of stable-4.15 in the shared source registry, under a prefix of the test's own."""
    return build_channel(pusher_for(registry), unique_repo("rel"))


@pytest.fixture
def graph_server(channel):
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as server:
        yield server


@pytest.fixture
def mirror(mirror_registry):
    c = RegistryClient(mirror_registry.host, settings=RegistrySettings(tls_verify=False),
                       policy=RetryPolicy(attempts=1))
    yield c
    c.close()


def release_manifest(tmp_path, source, mirror_location, mirror_registry, **platform):
    """A manifest with a platform section and no images."""
    doc = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest", "mirrors": [mirror_location],
           "registries": {r.host: registry_settings(r) for r in (source, mirror_registry)}, "platform": platform}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(manifest, out, *extra):
    # short backoffs: the tests that stop the update service or the source would otherwise wait out the retries
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), *extra, env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return proc, report


def test_a_channel_range_mirrors_every_release_and_component_once(tmp_path, registry, mirror_registry, channel,
                                                                  graph_server, mirror, unique_repo):
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                channels=[{"name": "stable-4.15", "minVersion": "4.15.1", "maxVersion": "4.15.3"}],
                                updateService=graph_server.url)
    out = tmp_path / "out"
    proc, report = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    wanted = [channel.by_version(v) for v in ("4.15.1", "4.15.2", "4.15.3")]
    assert [(r["version"], r["digest"], r["channel"], r["architecture"], r["mirrorTag"], r["components"],
             r["status"]) for r in report["releases"]] == [
        (r.version, r.digest, "stable-4.15", "amd64", f"{r.version}-x86_64", 5, "copied") for r in wanted]
    assert_on_mirror(mirror, ns, wanted)
    assert mirror.manifest_descriptor(f"{ns}/openshift/release-images", "4.15.0-x86_64") is None

    # etcd is one image in all three releases: its blobs cross once, the other releases only add their tags
    etcd = channel.releases[0].components["etcd"]
    records = [i for i in report["images"] if i["digest"] == etcd.digest]
    assert sorted(i["mirrorTag"] for i in records) == [f"{v}-x86_64-etcd" for v in ("4.15.1", "4.15.2", "4.15.3")]
    assert sum(d["blobsSent"] for i in records for d in i["destinations"]) == len(etcd.blobs)
    # every distinct component image is read from its source once
    distinct = {img.digest for r in wanted for img in r.components.values()}
    assert sum(1 for i in report["images"] if i["bytesRead"] > 0 and i["digest"] in distinct) == len(distinct)

    # the IDMS: the release repository and both component repositories, digest only, valid for the CRD
    entries = idms_entries(out)
    mirror_ns = f"{mirror_registry.host}/{ns}"
    assert entries == {f"{registry.host}/{channel.release_repo}": [f"{mirror_ns}/openshift/release-images"],
                       f"{registry.host}/{channel.component_repos[0]}": [f"{mirror_ns}/openshift/release"],
                       f"{registry.host}/{channel.component_repos[1]}": [f"{mirror_ns}/openshift/release"]}
    assert not (out / "cluster-resources" / "imagetagmirrorset.yaml").exists()
    # the install-config block says the same, beside cluster-resources/ (it is not a cluster object)
    block = yaml.safe_load((out / "install-config-imagedigestsources.yaml").read_text())
    assert {e["source"]: e["mirrors"] for e in block["imageDigestSources"]} == entries
    assert "install-config" not in (out / "cluster-resources" / "Kustomization").read_text()

    # verify finds every image the report promises on the mirror
    checked = mirrorsync("verify", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # a second run copies nothing
    proc, again = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    assert again["totals"]["copied"] == 0 and again["totals"]["bytesSent"] == 0
    assert {i["status"] for i in again["images"]} == {"up-to-date"}
    assert [r["status"] for r in again["releases"]] == ["up-to-date"] * 3


def test_verify_checks_every_release_image_and_component_from_the_manifest_and_the_report(
        tmp_path, registry, mirror_registry, channel, graph_server, unique_repo, closed_port):
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                channels=[{"name": "stable-4.15", "minVersion": "4.15.2"}],
                                updateService=graph_server.url)
    out = tmp_path / "out"
    proc, _ = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    for target in (manifest, out):
        checked = mirrorsync("verify", str(target))
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # a component the newest release runs goes missing from the mirror: both ways of verifying name it
    cli = channel.by_version("4.15.3").components["cli"]
    deleted = httpx.delete(f"http://{mirror_registry.host}/v2/{ns}/openshift/release/manifests/{cli.digest}")
    assert deleted.status_code == 202, deleted.text
    for target in (manifest, out):
        checked = mirrorsync("verify", str(target))
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert f"{ns}/openshift/release:4.15.3-x86_64-cli" in checked.stdout, checked.stdout
    # with the update service down, what the manifest selects is unknown: that is a problem, not a pass
    down = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                            channels=[{"name": "stable-4.15"}], updateService=f"http://127.0.0.1:{closed_port}/g")
    checked = mirrorsync("verify", str(down), env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    assert checked.returncode == 1 and "channel stable-4.15 (amd64)" in checked.stdout + checked.stderr


def test_shortest_path_takes_only_the_releases_on_it(tmp_path, registry, mirror_registry, channel, graph_server,
                                                     mirror, unique_repo):
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                channels=[{"name": "stable-4.15", "minVersion": "4.15.0", "maxVersion": "4.15.3",
                                           "shortestPath": True}],
                                updateService=graph_server.url)
    proc, report = run(manifest, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    # edges 0→1, 0→2, 1→2, 1→3, 2→3: two hops, through the lower version on a tie
    assert [r["version"] for r in report["releases"]] == ["4.15.0", "4.15.1", "4.15.3"]
    assert_on_mirror(mirror, ns, [channel.by_version(v) for v in ("4.15.0", "4.15.1", "4.15.3")])
    assert mirror.manifest_descriptor(f"{ns}/openshift/release-images", "4.15.2-x86_64") is None


def test_no_bounds_takes_the_channel_head_only(tmp_path, registry, mirror_registry, channel, graph_server, mirror,
                                               unique_repo):
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                channels=[{"name": "stable-4.15"}], updateService=graph_server.url)
    proc, report = run(manifest, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert [r["version"] for r in report["releases"]] == ["4.15.3"]
    assert_on_mirror(mirror, ns, [channel.by_version("4.15.3")])
    old_cli = channel.by_version("4.15.0").components["cli"]
    assert mirror.manifest_descriptor(f"{ns}/openshift/release", old_cli.digest) is None
    assert graph_server.requests == [{"channel": "stable-4.15", "arch": "amd64", "accept": "application/json"}]


def test_a_release_named_directly_needs_no_graph_and_brings_its_signatures(tmp_path, registry, mirror_registry,
                                                                            pusher_for, mirror, unique_repo,
                                                                            closed_port):
    multi = build_multi_release(pusher_for(registry), unique_repo("rel"))
    store = tmp_path / "signatures"
    hexpart = multi.digest.split(":")[1]
    (store / f"sha256={hexpart}").mkdir(parents=True)
    files = {1: b"\x89signature one\x00", 2: b"signature two"}
    for n, data in files.items():
        (store / f"sha256={hexpart}" / f"signature-{n}").write_bytes(data)
    (store / f"sha256={'0' * 64}").mkdir()  # another release's: not this one's business
    (store / f"sha256={'0' * 64}" / "signature-1").write_bytes(b"other")
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                releases=[f"{multi.repository}:{multi.tag}"], signatures=str(store),
                                # never asked: a release named directly needs no graph
                                updateService=f"http://127.0.0.1:{closed_port}/graph")
    out = tmp_path / "out"
    proc, report = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    [rel] = report["releases"]
    assert (rel["version"], rel["digest"], rel["architecture"], rel["mirrorTag"], rel["channel"]) == (
        "4.16.0", multi.digest, "multi", "4.16.0-multi", None)
    assert_on_mirror(mirror, ns, [multi])
    # a multi-arch component is mirrored whole: its index and every child
    cli = multi.components["cli"]
    for child in cli.children.values():
        assert mirror.manifest_descriptor(f"{ns}/openshift/release", child) is not None

    [cm] = yaml.safe_load_all((out / "cluster-resources" / "release-signatures.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"] == {
        "name": f"sha256-{hexpart}", "namespace": "openshift-config-managed",
        "labels": {"release.openshift.io/verification-signatures": ""}}
    assert {k: base64.b64decode(v) for k, v in cm["binaryData"].items()} == {
        f"sha256-{hexpart}-{n}": data for n, data in files.items()}
    assert "release-signatures.yaml" in (out / "cluster-resources" / "Kustomization").read_text()
    # the report is the one seam: generate writes the same files from it
    gen = tmp_path / "gen"
    proc = mirrorsync("generate", str(out / "report.json"), "-o", str(gen))
    assert proc.returncode == 0, proc.stderr
    for name in ("cluster-resources/release-signatures.yaml", "cluster-resources/imagedigestmirrorset.yaml",
                 "cluster-resources/Kustomization", "install-config-imagedigestsources.yaml"):
        assert (gen / name).read_bytes() == (out / name).read_bytes(), name


def test_a_release_images_cosign_signature_travels_with_it(tmp_path, registry, mirror_registry, pusher_for,
                                                           mirror, unique_repo):
    multi = build_multi_release(pusher_for(registry), unique_repo("rel"))
    repo = multi.repository.split("/", 1)[1]
    signer = Signer(tmp_path / "key")
    sig = sign(pusher_for(registry), signer, repo, multi.digest)
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                releases=[f"{multi.repository}:{multi.tag}"])
    proc, report = run(manifest, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    # beside the release image on the mirror, under cosign's tag, byte for byte (so it still verifies)
    held = mirror.manifest_descriptor(f"{ns}/openshift/release-images", sig.tag)
    assert held is not None and held.digest == sig.digest
    [top] = [i for i in report["images"] if i["digest"] == multi.digest]
    assert [(c["kind"], c["digest"], c.get("tag")) for c in top["companions"]] == [("signature", sig.digest, sig.tag)]
    # components are not signed one by one: nothing is looked for beside them
    assert all("companions" not in i for i in report["images"] if i["digest"] != multi.digest)
    again, report = run(manifest, tmp_path / "out")
    assert again.returncode == 0 and {i["status"] for i in report["images"]} == {"up-to-date"}


def test_a_release_without_signatures_is_a_warning_not_a_failure(tmp_path, registry, mirror_registry, channel,
                                                                 graph_server, unique_repo):
    store = tmp_path / "signatures"
    store.mkdir()
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{unique_repo('m')}", mirror_registry,
                                channels=[{"name": "stable-4.15"}], updateService=graph_server.url,
                                signatures=str(store))
    out = tmp_path / "out"
    proc, report = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    assert "no signature for release 4.15.3" in proc.stderr
    assert report["releases"][0]["signatures"] == {}
    assert not (out / "cluster-resources" / "release-signatures.yaml").exists()


def test_an_update_service_that_cannot_be_read_fails_the_channel_not_the_run(tmp_path, registry, mirror_registry,
                                                                            channel, graph_server, unique_repo):
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{unique_repo('m')}", mirror_registry,
                                channels=[{"name": "stable-4.15"}, {"name": "fast-4.15"}],
                                updateService=graph_server.url)
    proc, report = run(manifest, tmp_path / "out")
    assert proc.returncode == 1, proc.stderr
    assert report["status"] == "PartiallyFailed"
    by_status = Counter(r["status"] for r in report["releases"])
    assert by_status == {"copied": 1, "failed": 1}
    failed = next(r for r in report["releases"] if r["status"] == "failed")
    assert failed["error"].startswith("channel fast-4.15 (amd64): ") and "HTTP 404" in failed["error"]


def test_nodes_pull_every_component_from_the_mirror_with_the_source_stopped(tmp_path, make_registry,
                                                                            mirror_registry, pusher_for,
                                                                            unique_repo, skopeo):
    source = make_registry("release-source")
    channel = build_channel(pusher_for(source), "ocp")
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as server:
        manifest = release_manifest(tmp_path, source, f"{mirror_registry.host}/{unique_repo('m')}", mirror_registry,
                                    channels=[{"name": "stable-4.15", "minVersion": "4.15.2"}],
                                    updateService=server.url)
        out = tmp_path / "out"
        proc, _ = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    conf = tmp_path / "registries.conf"
    rendered = mirrorsync("registries-conf", str(out), "--insecure", mirror_registry.host, "--output", str(conf))
    assert rendered.returncode == 0, rendered.stderr
    source.stop()
    pulls = [r.pull_spec for r in channel.releases[2:]]
    pulls += sorted({img.digest_reference for r in channel.releases[2:] for img in r.components.values()})
    for ref in pulls:
        raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{ref}").stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == ref.rsplit("@", 1)[1], ref


def test_skopeo_engine_tags_components_as_the_native_one(tmp_path, registry, mirror_registry, channel,
                                                        graph_server, mirror, unique_repo):
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                channels=[{"name": "stable-4.15"}], updateService=graph_server.url)
    proc, report = run(manifest, tmp_path / "out", "--engine", "skopeo")
    assert proc.returncode == 0, proc.stderr
    assert report["engine"] == "skopeo"
    assert_on_mirror(mirror, ns, [channel.by_version("4.15.3")])


def test_export_and_import_carry_releases_and_their_signatures(tmp_path, registry, mirror_registry, channel,
                                                              graph_server, mirror, unique_repo):
    ns = unique_repo("m")
    store = tmp_path / "signatures"
    head = channel.by_version("4.15.3")
    (store / f"sha256={head.digest.split(':')[1]}").mkdir(parents=True)
    (store / f"sha256={head.digest.split(':')[1]}" / "signature-1").write_bytes(b"sig")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                channels=[{"name": "stable-4.15", "minVersion": "4.15.2"}],
                                updateService=graph_server.url, signatures=str(store))
    export_dir = tmp_path / "export"
    proc = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert proc.returncode == 0, proc.stderr
    # the disconnected side: no update service, no source registry, no signature store
    graph_server.stop()
    store.joinpath(f"sha256={head.digest.split(':')[1]}", "signature-1").unlink()
    out = tmp_path / "out"
    proc = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert [(r["version"], r["status"]) for r in report["releases"]] == [("4.15.2", "copied"), ("4.15.3", "copied")]
    assert_on_mirror(mirror, ns, [channel.by_version("4.15.2"), head])
    [cm] = yaml.safe_load_all((out / "cluster-resources" / "release-signatures.yaml").read_text())
    assert cm["binaryData"] == {f"sha256-{head.digest.split(':')[1]}-1": base64.b64encode(b"sig").decode()}
    assert (out / "install-config-imagedigestsources.yaml").exists()


def test_release_info_prints_version_upgrades_and_components(tmp_path, registry, mirror_registry, channel):
    rel = channel.by_version("4.15.2")
    ref = f"{rel.repository}:{rel.tag}"
    manifest = release_manifest(tmp_path, registry, mirror_registry.host, mirror_registry, releases=[ref])
    proc = mirrorsync("release", "info", ref, "--manifest", str(manifest), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["version"], info["digest"], info["previous"], info["architecture"]) == (
        "4.15.2", rel.digest, ["4.15.1", "4.15.0"], "amd64")
    assert info["components"] == {name: img.digest_reference for name, img in rel.components.items()}
    # --insecure instead of a manifest: the plain-HTTP registry is read as catalog list reads one
    assert json.loads(mirrorsync("release", "info", ref, "--insecure", "--output", "json").stdout) == info
    refused = mirrorsync("release", "info", ref, "--output", "json")  # HTTPS to a plain-HTTP registry
    assert refused.returncode == 1 and refused.stdout == "" and refused.stderr.count("\n") == 1
    text = mirrorsync("release", "info", ref, "--manifest", str(manifest))
    assert text.returncode == 0, text.stderr
    assert "Name:      4.15.2" in text.stdout and "Upgrades: 4.15.1, 4.15.0" in text.stdout
    assert f"  etcd        {rel.components['etcd'].digest_reference}" in text.stdout
    # not a release image: one line, exit 1
    other = mirrorsync("release", "info", f"{rel.components['cli'].digest_reference}", "--manifest", str(manifest))
    assert other.returncode == 1 and other.stderr.count("\n") == 1
    assert "is not a release image: it has no release-manifests/image-references" in other.stderr


def test_a_failed_run_keeps_the_releases_an_earlier_run_mirrored(tmp_path, make_registry, mirror_registry,
                                                                 pusher_for, unique_repo):
    source = make_registry("release-source")
    channel = build_channel(pusher_for(source), "ocp")
    server = GraphServer({("stable-4.15", "amd64"): channel.graph()}).start()
    try:
        manifest = release_manifest(tmp_path, source, f"{mirror_registry.host}/{unique_repo('m')}", mirror_registry,
                                    channels=[{"name": "stable-4.15", "minVersion": "4.15.2"}],
                                    updateService=server.url)
        out = tmp_path / "out"
        proc, first = run(manifest, out)
        assert proc.returncode == 0, proc.stderr
    finally:
        server.stop()
    idms = (out / "cluster-resources" / "imagedigestmirrorset.yaml").read_bytes()
    block = (out / "install-config-imagedigestsources.yaml").read_bytes()

    # the update service is gone: the channel fails, its releases are planned from the previous report
    proc, report = run(manifest, out)
    assert proc.returncode == 1, proc.stderr
    assert "planned from the previous report" in proc.stderr
    assert [(r["version"], r["status"]) for r in report["releases"]] == [
        ("4.15.2", "up-to-date"), ("4.15.3", "up-to-date"), (None, "failed")]
    assert (out / "cluster-resources" / "imagedigestmirrorset.yaml").read_bytes() == idms

    # and the source too: images planned by digest whose mirror tag is there need no source at all
    source.stop()
    proc, report = run(manifest, out)
    assert proc.returncode == 1, proc.stderr
    assert [r["status"] for r in report["releases"]] == ["up-to-date", "up-to-date", "failed"]
    assert len(report["images"]) == len(first["images"])
    assert all(i["status"] == "up-to-date" and i["onMirror"] for i in report["images"])
    assert (out / "cluster-resources" / "imagedigestmirrorset.yaml").read_bytes() == idms
    assert (out / "install-config-imagedigestsources.yaml").read_bytes() == block
    assert report["removedEntries"] == []


def test_plan_shows_each_release_image_and_its_tag_on_the_mirrors(tmp_path, registry, mirror_registry, channel,
                                                                 graph_server):
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/p", mirror_registry,
                                channels=[{"name": "stable-4.15"}], updateService=graph_server.url)
    proc = mirrorsync("plan", str(manifest))
    assert proc.returncode == 0, proc.stderr
    head = channel.by_version("4.15.3")
    assert (f"{head.pull_spec} -> {mirror_registry.host}/p/openshift/release-images:4.15.3-x86_64"
            in proc.stdout.splitlines())
    cli = head.components["cli"]
    assert (f"{cli.digest_reference} -> {mirror_registry.host}/p/openshift/release:4.15.3-x86_64-cli"
            in proc.stdout.splitlines())
    # five components and the release image, then the update graph they make (the head alone: nothing offered)
    lines = proc.stdout.splitlines()
    assert len(lines[:lines.index("update graph over the mirrored releases (as an update service serves it): "
                                  "1 release, 0 updates among them")]) == 6


def test_a_missing_graph_file_or_signature_directory_is_bad_input(tmp_path, registry, mirror_registry):
    for platform, where in (({"channels": [{"name": "stable-4.15"}], "updateService": "graph.json"},
                             "platform.updateService: "),
                            # an okd channel's own graph file; the ocp updateService (missing too) is no channel's
                            ({"channels": [{"name": "stable-4", "type": "okd", "updateService": "okd.json"}],
                              "updateService": "graph.json"}, "platform.channels[0].updateService: "),
                            ({"releases": [f"{registry.host}/a/b:1"], "signatures": "sigs"}, "platform.signatures: ")):
        manifest = release_manifest(tmp_path, registry, mirror_registry.host, mirror_registry, **platform)
        out = tmp_path / "out"
        proc, _ = run(manifest, out)
        assert proc.returncode == 2 and where in proc.stderr and proc.stderr.startswith(f"error: {manifest}:")
        assert not out.exists()


def test_a_release_whose_components_share_its_repository_maps_it_to_both_mirror_repositories(
        tmp_path, registry, mirror_registry, pusher_for, mirror, unique_repo):
    # as `oc adm release new --to-image` leaves a release built into one repository
    pusher = pusher_for(registry)
    repo = unique_repo("one")
    comps = {"cli": push_component(pusher, repo, "cli", 0), "etcd": push_component(pusher, repo, "etcd", 0)}
    digest = push_release(pusher, repo, "4.15.0-x86_64", "4.15.0", comps, [])
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                releases=[f"{registry.host}/{repo}@{digest}"])
    out = tmp_path / "out"
    proc, _ = run(manifest, out)
    assert proc.returncode == 0, proc.stderr
    [idms] = yaml.safe_load_all((out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text())
    crds.validate(idms)
    assert idms["spec"]["imageDigestMirrors"] == [{
        "source": f"{registry.host}/{repo}",
        "mirrors": [f"{mirror_registry.host}/{ns}/openshift/release",
                    f"{mirror_registry.host}/{ns}/openshift/release-images"]}]
