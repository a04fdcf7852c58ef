"""A disconnected OpenShift site's one manifest, all features at once, against the real docker-registry: plain
images (one with ``platforms`` rewritten, one with a cosign signature), a ``platform`` section (a channel range
from a loopback update service, with a signature store) and an ``operators`` section (a filtered catalog).

Each feature has its own tests (test_releases, test_catalogs, test_platforms, test_companions); these check where
they meet: one plan, one report, one cluster-resources/ directory, one verify, one export and import.

The tests share one source, one mirror and one first run (the ``site`` fixture) and run in file order: each later
one reads what the earlier ones left; a test that deletes from the mirror puts it back, and the last ones stop the
source and the update service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.devregistry import LocalRegistry
from devtools.samples import PushedImage, SamplePusher, push_image
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support import crds
from devtools.openshift import push_catalog
from support.catalogs import catalog_files, push_related_images
from support.cli import mirrorsync, registry_settings, write_manifest
from support.cosign import Pushed, Signer, push_referrer, sign
from devtools.openshift import GraphServer
from support.releases import BuiltRelease, assert_on_mirror, build_channel, build_multi_release

pytestmark = pytest.mark.integration

NAMESPACE = "site"
CATALOG = "olm/index:v4.15"
TARGET = "olm/site-index"
PACKAGES = [{"name": "alpha", "channels": [{"name": "stable", "minVersion": "1.1.0", "maxVersion": "1.2.0"}]},
            {"name": "gamma"}]
KEPT_BUNDLES = {"alpha.v1.1.0", "alpha.v1.1.1", "alpha.v1.2.0", "gamma.v0.1.0"}
SBOM_TYPE = "application/spdx+json"
CLUSTER_FILES = {"imagedigestmirrorset.yaml", "imagetagmirrorset.yaml", "release-signatures.yaml",
                 "catalogsource.yaml", "clustercatalog.yaml"}


@dataclass
class Site:
    source: LocalRegistry
    mirror: LocalRegistry
    graph: GraphServer
    manifest: Path
    out: Path
    releases: list[BuiltRelease]
    signatures: dict[str, bytes]  # release digest -> its signature-1 in the store
    catalog_digest: str
    related: dict[str, str]  # the catalog's image names -> source "host/repo@digest"
    app: PushedImage  # three platforms; two are mirrored, rewritten
    signed: PushedImage
    sig: Pushed  # the cosign signature of ``signed``
    sbom: Pushed  # an OCI referrer of ``signed``
    release_sig: Pushed  # the cosign signature of the newest release image
    first: subprocess.CompletedProcess  # the first run

    @property
    def report(self) -> dict:
        return json.loads((self.out / "report.json").read_text())

    def image(self, repository: str) -> dict:
        [rec] = [i for i in self.report["images"] if i["source"] == f"{self.source.host}/{repository}"]
        return rec


def site_manifest(path: Path, source: LocalRegistry, mirror: LocalRegistry, graph_url: str, store: Path) -> Path:
    host = source.host
    return write_manifest(
        path, mirrors=[f"{mirror.host}/{NAMESPACE}"],
        registries={r.host: registry_settings(r) for r in (source, mirror)},
        images=[{"source": f"{host}/team/app", "tags": ["1.0"], "platforms": ["linux/amd64", "linux/arm64"],
                 "platformMode": "rewrite"},
                {"source": f"{host}/team/signed", "tags": ["1.0"], "signatures": True, "referrers": True}],
        platform={"channels": [{"name": "stable-4.15", "minVersion": "4.15.2"}], "updateService": graph_url,
                  "signatures": str(store)},
        operators=[{"catalog": f"{host}/{CATALOG}", "packages": PACKAGES, "targetCatalog": TARGET,
                    "targetTag": "v1"}])


@pytest.fixture(scope="module")
def site(_session_registries, tmp_path_factory):
    # Registries of this module's own: the mirror's whole content is compared, and the last tests stop the source.
    source, mirror = _session_registries.start("site-source"), _session_registries.start("site-mirror")
    tmp = tmp_path_factory.mktemp("site")
    with SamplePusher(source.url) as pusher:
        channel = build_channel(pusher, "ocp")
        related = push_related_images(pusher, "ops", "other")
        catalog_digest, _ = push_catalog(pusher, "olm/index", "v4.15", catalog_files(lambda n: related[n]),
                                         arches=("amd64", "arm64"))
        app = push_image(pusher, "team/app", "1.0", arches=("amd64", "arm64", "s390x"), seed=11)
        signed = push_image(pusher, "team/signed", "1.0", seed=12)
        signer = Signer(tmp / "key")
        sig = sign(pusher, signer, "team/signed", signed.digest)
        sbom = push_referrer(pusher, "team/signed", {"mediaType": signed.media_type, "digest": signed.digest,
                                                     "size": signed.size}, SBOM_TYPE)
        releases = [channel.by_version(v) for v in ("4.15.2", "4.15.3")]
        release_sig = sign(pusher, signer, channel.release_repo, releases[-1].digest)
    store, signatures = tmp / "signatures", {}
    for rel in releases:
        signatures[rel.digest] = f"signature of {rel.version}".encode()
        (store / f"sha256={rel.digest[7:]}").mkdir(parents=True)
        (store / f"sha256={rel.digest[7:]}" / "signature-1").write_bytes(signatures[rel.digest])
    graph = GraphServer({("stable-4.15", "amd64"): channel.graph()}).start()
    manifest = site_manifest(tmp / "site.yaml", source, mirror, graph.url, store)
    out = tmp / "out"
    first = mirrorsync("run", str(manifest), "--output-dir", str(out))
    yield Site(source, mirror, graph, manifest, out, releases, signatures, catalog_digest, related, app, signed,
               sig, sbom, release_sig, first)
    graph.stop()
    source.stop()
    mirror.stop()


@pytest.fixture
def client():
    """A RegistryClient for whichever registry the test names: ``client(registry)``."""
    opened: list[RegistryClient] = []

    def make(registry: LocalRegistry) -> RegistryClient:
        opened.append(RegistryClient(registry.host, settings=RegistrySettings(tls_verify=False),
                                     policy=RetryPolicy(attempts=1)))
        return opened[-1]

    yield make
    for c in opened:
        c.close()


def digest_at(mirror: RegistryClient, path: str, ref: str) -> str | None:
    found = mirror.manifest_descriptor(f"{NAMESPACE}/{path}", ref)
    return found.digest if found else None


def mirror_tags(registry: LocalRegistry) -> dict[str, list[str]]:
    """Every repository of ``registry`` with its tags, as the registry lists them."""
    repositories = httpx.get(f"{registry.url}/v2/_catalog").json()["repositories"]
    return {repo: sorted(httpx.get(f"{registry.url}/v2/{repo}/tags/list").json().get("tags") or [])
            for repo in repositories}


def files(out: Path) -> dict[str, bytes]:
    """What a run leaves for the cluster and the installer in an output directory: name -> bytes."""
    found = {f"cluster-resources/{p.name}": p.read_bytes() for p in (out / "cluster-resources").iterdir()}
    block = out / "install-config-imagedigestsources.yaml"
    return found | ({block.name: block.read_bytes()} if block.exists() else {})


def releases(report: dict) -> list[tuple]:
    return [(r["version"], r["digest"], r["mirrorTag"], r["components"], r["signatures"]) for r in report["releases"]]


def catalogs(report: dict) -> list[tuple]:
    return [(c["sourceDigest"], [b["name"] for b in c["bundles"]], c["images"], c["mirrors"][0]["digest"])
            for c in report["catalogs"]]


def companions(report: dict) -> dict[tuple, list]:
    return {(i["source"], i.get("tag")): i["companions"] for i in report["images"] if "companions" in i}


def far_side(site: Site, far: LocalRegistry, path: Path) -> Path:
    """The site's manifest as the disconnected side has it: the same content, its own mirror, and the signature
    store named as on the connected side, where it is (the import takes the signatures from the export)."""
    doc = yaml.safe_load(site.manifest.read_text())
    doc["mirrors"] = [f"{far.host}/{NAMESPACE}"]
    doc["registries"] = {far.host: registry_settings(far)}
    doc["platform"]["signatures"] = str(path.parent / "connected-side" / "signatures")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def assert_site_on_mirror(site: Site, mirror: RegistryClient, report: dict) -> None:
    """Everything the manifest selects, at the digests the source has, on ``mirror`` under ``NAMESPACE``."""
    assert_on_mirror(mirror, NAMESPACE, site.releases)
    [catalog] = report["catalogs"]
    assert len(catalog["images"]) == 4 + 2 * 3  # four bundles; alpha's three also run an operand and an agent
    for ref in catalog["images"]:
        repo, digest = ref.split("/", 1)[1].split("@")
        assert digest_at(mirror, repo, digest) == digest, ref
    [rebuilt] = catalog["mirrors"]
    assert digest_at(mirror, TARGET, "v1") == rebuilt["digest"]
    assert digest_at(mirror, TARGET, site.catalog_digest) == site.catalog_digest  # the layers it reuses
    rewritten = site.image("team/app")["rewrittenDigest"]
    assert digest_at(mirror, "team/app", "1.0") == rewritten != site.app.digest
    for platform, child in site.app.children.items():
        assert (digest_at(mirror, "team/app", child) == child) == (platform != "linux/s390x"), platform
    assert digest_at(mirror, "team/signed", "1.0") == site.signed.digest
    assert digest_at(mirror, "team/signed", site.sig.tag) == site.sig.digest
    assert digest_at(mirror, "team/signed", site.sbom.digest) == site.sbom.digest
    assert digest_at(mirror, "openshift/release-images", site.release_sig.tag) == site.release_sig.digest


def test_one_run_mirrors_releases_catalog_and_images_and_writes_one_cluster_resources(site, client):
    assert site.first.returncode == 0, site.first.stderr
    report = site.report
    assert report["status"] == "Succeeded"
    assert [(r["version"], r["digest"], r["status"], r["mirrorTag"]) for r in report["releases"]] == [
        (r.version, r.digest, "copied", f"{r.version}-x86_64") for r in site.releases]
    [catalog] = report["catalogs"]
    assert catalog["sourceDigest"] == site.catalog_digest and catalog["error"] is None
    assert {b["name"] for b in catalog["bundles"]} == KEPT_BUNDLES and catalog["leftOut"] == []
    assert catalog["mirrors"][0]["status"] == "pushed"
    app, signed = site.image("team/app"), site.image("team/signed")
    assert app["digest"] == site.app.digest and app["mirrorSets"] == ["tag"]
    assert app["platforms"] == ["linux/amd64", "linux/arm64"]
    assert sorted((c["kind"], c["digest"]) for c in signed["companions"]) == [
        ("referrer", site.sbom.digest), ("signature", site.sig.digest)]
    [head] = [i for i in report["images"] if i["digest"] == site.releases[-1].digest]
    assert [(c["kind"], c["digest"], c["tag"]) for c in head["companions"]] == [
        ("signature", site.release_sig.digest, site.release_sig.tag)]
    assert_site_on_mirror(site, client(site.mirror), report)

    crs = site.out / "cluster-resources"
    assert {p.name for p in crs.iterdir()} == CLUSTER_FILES | {"Kustomization"}
    assert yaml.safe_load((crs / "Kustomization").read_text())["resources"] == sorted(CLUSTER_FILES)
    mirror_ns, src = f"{site.mirror.host}/{NAMESPACE}", site.source.host
    idms = list(yaml.safe_load_all((crs / "imagedigestmirrorset.yaml").read_text()))
    itms = list(yaml.safe_load_all((crs / "imagetagmirrorset.yaml").read_text()))
    for obj in idms + itms:
        crds.validate(obj)
    by_digest = {e["source"]: e["mirrors"] for o in idms for e in o["spec"]["imageDigestMirrors"]}
    by_tag = {e["source"]: e["mirrors"] for o in itms for e in o["spec"]["imageTagMirrors"]}
    release_sources = {f"{src}/ocp/ocp-release": [f"{mirror_ns}/openshift/release-images"],
                       f"{src}/ocp/ocp-v4.0-art-dev": [f"{mirror_ns}/openshift/release"],
                       f"{src}/ocp/ocp-v4.0-art-dev-os": [f"{mirror_ns}/openshift/release"]}
    operator_sources = {ref.split("@")[0]: [f"{mirror_ns}/{ref.split('@')[0].split('/', 1)[1]}"]
                        for ref in catalog["images"]}
    # not team/app: a pull by the source's digest cannot be served from the rewritten index
    assert by_digest == release_sources | operator_sources | {f"{src}/team/signed": [f"{mirror_ns}/team/signed"]}
    assert by_tag == {f"{src}/team/app": [f"{mirror_ns}/team/app"], f"{src}/team/signed": [f"{mirror_ns}/team/signed"]}
    configmaps = list(yaml.safe_load_all((crs / "release-signatures.yaml").read_text()))
    assert {cm["metadata"]["name"]: {k: base64.b64decode(v) for k, v in cm["binaryData"].items()}
            for cm in configmaps} == {f"sha256-{d[7:]}": {f"sha256-{d[7:]}-1": data}
                                      for d, data in site.signatures.items()}
    [cs] = yaml.safe_load_all((crs / "catalogsource.yaml").read_text())
    [cc] = yaml.safe_load_all((crs / "clustercatalog.yaml").read_text())
    assert cs["spec"]["image"] == cc["spec"]["source"]["image"]["ref"] == (
        f"{mirror_ns}/{TARGET}@{catalog['mirrors'][0]['digest']}")
    block = yaml.safe_load((site.out / "install-config-imagedigestsources.yaml").read_text())
    assert {e["source"]: e["mirrors"] for e in block["imageDigestSources"]} == release_sources  # the installer's


def test_a_second_run_copies_nothing_and_writes_the_same_cluster_resources(site):
    before = files(site.out)
    proc = mirrorsync("run", str(site.manifest), "--output-dir", str(site.out))
    assert proc.returncode == 0, proc.stderr
    report = site.report
    assert report["totals"]["copied"] == 0 and report["totals"]["bytesSent"] == 0
    assert {i["status"] for i in report["images"]} == {"up-to-date"}
    assert [r["status"] for r in report["releases"]] == ["up-to-date"] * 2
    assert report["catalogs"][0]["mirrors"][0]["status"] == "up-to-date"
    assert site.image("team/signed")["companions"][0]["digest"] == site.sig.digest
    assert files(site.out) == before


def test_generate_writes_the_same_files_from_the_report_alone(site, tmp_path):
    gen = tmp_path / "gen"
    proc = mirrorsync("generate", str(site.out / "report.json"), "-o", str(gen))
    assert proc.returncode == 0, proc.stderr
    assert files(gen) == files(site.out)
    assert "install-config-imagedigestsources.yaml" in files(gen)


def test_shards_merged_by_generate_write_what_one_run_writes(site, tmp_path):
    count = 3
    for i in range(count):
        proc = mirrorsync("run", str(site.manifest), "--shard", f"{i}/{count}", "--output-dir",
                          str(tmp_path / f"shard-{i}"))
        assert proc.returncode == 0, (i, proc.stderr)
    reports = [json.loads((tmp_path / f"shard-{i}" / "report.json").read_text()) for i in range(count)]
    assert sorted((i["source"], i["tag"], i["digest"]) for r in reports for i in r["images"]) == sorted(
        (i["source"], i["tag"], i["digest"]) for i in site.report["images"])
    merged = tmp_path / "merged"
    proc = mirrorsync("generate", *[str(tmp_path / f"shard-{i}" / "report.json") for i in range(count)],
                      "-o", str(merged))
    assert proc.returncode == 0, proc.stderr
    assert files(merged) == files(site.out)


def test_plan_lists_the_releases_and_the_catalogs_kept_bundles(site):
    proc = mirrorsync("plan", str(site.manifest))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    mirror_ns = f"{site.mirror.host}/{NAMESPACE}"
    for rel in site.releases:
        assert f"{rel.pull_spec} -> {mirror_ns}/openshift/release-images:{rel.version}-x86_64" in lines
    assert f"catalog {site.source.host}/{CATALOG}@{site.catalog_digest}: {len(KEPT_BUNDLES)} bundles kept" in lines
    for bundle in KEPT_BUNDLES:
        assert any(line.startswith(f"  keep {bundle.split('.')[0]} {bundle} ") for line in lines), bundle


def test_verify_finds_everything_with_the_report_and_with_the_manifest(site):
    for target in (site.out / "report.json", site.manifest):
        proc = mirrorsync("verify", str(target))
        assert proc.returncode == 0, (target, proc.stdout + proc.stderr)


@pytest.fixture
def deleted_component(site, client):
    """The newest release's own ``cli`` component (no other release's tag keeps it) deleted from the mirror, and
    the lines verify gives for it; put back by a run afterwards, for the tests that follow."""
    head = site.releases[-1]
    cli = head.components["cli"]
    mirror = client(site.mirror)
    mirror.delete_manifest(f"{NAMESPACE}/openshift/release", cli.digest)
    assert digest_at(mirror, "openshift/release", cli.digest) is None
    repository = f"{site.mirror.host}/{NAMESPACE}/openshift/release"
    yield [f"missing: {repository}:{head.version}-x86_64-cli (tag)", f"missing: {repository}@{cli.digest} (manifest)"]
    if digest_at(mirror, "openshift/release", cli.digest) is None:
        mirrorsync("run", str(site.manifest), "--output-dir", str(site.out))


def test_verify_with_the_report_names_a_deleted_release_component(site, deleted_component):
    proc = mirrorsync("verify", str(site.out / "report.json"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == deleted_component


def test_verify_with_the_manifest_names_a_deleted_release_component(site, deleted_component):
    proc = mirrorsync("verify", str(site.manifest))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == deleted_component


def test_a_run_puts_a_deleted_release_component_back(site, deleted_component, client):
    proc = mirrorsync("run", str(site.manifest), "--output-dir", str(site.out))
    assert proc.returncode == 0, proc.stderr
    assert site.report["totals"]["copied"] == 1
    head = site.releases[-1]
    tag = f"{head.version}-x86_64-cli"
    assert digest_at(client(site.mirror), "openshift/release", tag) == head.components["cli"].digest
    assert mirrorsync("verify", str(site.out / "report.json")).returncode == 0


def test_an_export_since_an_earlier_one_imports_releases_and_catalog_on_the_mirror_the_earlier_filled(
        site, _session_registries, tmp_path):
    far = _session_registries.start("site-far-since")
    try:
        first, later = tmp_path / "export-1", tmp_path / "export-2"
        proc = mirrorsync("export", str(site.manifest), "--to", str(first))
        assert proc.returncode == 0, proc.stderr
        proc = mirrorsync("export", str(site.manifest), "--to", str(later), "--since", str(first))
        assert proc.returncode == 0, proc.stderr
        assert json.loads((later / "report.json").read_text())["export"]["since"]  # it did leave blobs out
        far_manifest, out = far_side(site, far, tmp_path / "far.yaml"), tmp_path / "out"
        proc = mirrorsync("import", str(first), "--manifest", str(far_manifest), "--output-dir", str(out))
        assert proc.returncode == 0, proc.stderr
        before = files(out)

        # the release images and the catalog must be read again to be planned and rebuilt
        proc = mirrorsync("import", str(later), "--manifest", str(far_manifest), "--output-dir", str(out))
        assert proc.returncode == 0, proc.stderr
        report = json.loads((out / "report.json").read_text())
        assert report["totals"]["copied"] == 0 and report["totals"]["bytesSent"] == 0
        assert releases(report) == releases(site.report) and catalogs(report) == catalogs(site.report)
        assert report["catalogs"][0]["mirrors"][0]["status"] == "up-to-date"
        assert files(out) == before

        # an export without the release images' layers (as --since made them before it carried them whole): the
        # import cannot read the releases, and keeps what the earlier import mirrored for them, as a run does
        blobs = later / "blobs" / "sha256"
        for rel in site.releases:
            for layer in json.loads((blobs / rel.digest[7:]).read_bytes())["layers"]:
                (blobs / layer["digest"][7:]).unlink(missing_ok=True)
        sums = later / "SHA256SUMS"
        sums.write_text("".join(line for line in sums.read_text().splitlines(keepends=True)
                                if (later / line.split(maxsplit=1)[1].strip()).exists()))
        proc = mirrorsync("import", str(later), "--manifest", str(far_manifest), "--output-dir", str(out))
        assert proc.returncode == 1, proc.stderr
        report = json.loads((out / "report.json").read_text())
        assert [(r["version"], r["status"]) for r in report["releases"]] == [
            ("4.15.2", "up-to-date"), ("4.15.3", "up-to-date"), (None, "failed"), (None, "failed")]
        assert report["removedEntries"] == []
        assert files(out) == before
    finally:
        far.stop()


def test_export_and_import_into_a_fresh_mirror_carry_the_whole_site(site, _session_registries, client, tmp_path):
    far = _session_registries.start("site-far")
    try:
        export = tmp_path / "export"
        proc = mirrorsync("export", str(site.manifest), "--to", str(export))
        assert proc.returncode == 0, proc.stderr
        # the disconnected side: no update service, no source; the manifest names its own mirror
        site.graph.stop()
        site.source.stop()
        far_manifest = far_side(site, far, tmp_path / "far.yaml")
        out = tmp_path / "out"
        proc = mirrorsync("import", str(export), "--manifest", str(far_manifest), "--output-dir", str(out))
        assert proc.returncode == 0, proc.stderr
        imported, ran = json.loads((out / "report.json").read_text()), site.report
        assert releases(imported) == releases(ran)
        assert catalogs(imported) == catalogs(ran)
        assert companions(imported) == companions(ran)
        assert_site_on_mirror(site, client(far), ran)
        # and the same repositories and tags as the first mirror, nothing else
        assert mirror_tags(far) == mirror_tags(site.mirror)
        # the same objects for the cluster, naming the far mirror
        assert files(out) == {name: data.replace(site.mirror.host.encode(), far.host.encode())
                              for name, data in files(site.out).items()}

        verified = mirrorsync("verify", str(out))
        assert verified.returncode == 0, verified.stdout + verified.stderr

        # an import run again finds everything there and writes the same files
        again = mirrorsync("import", str(export), "--manifest", str(far_manifest), "--output-dir", str(out))
        assert again.returncode == 0, again.stderr
        report = json.loads((out / "report.json").read_text())
        assert report["totals"]["copied"] == 0 and report["totals"]["bytesSent"] == 0
        assert report["catalogs"][0]["mirrors"][0]["status"] == "up-to-date"
        assert files(out) == {name: data.replace(site.mirror.host.encode(), far.host.encode())
                              for name, data in files(site.out).items()}
    finally:
        far.stop()


def test_with_source_and_update_service_gone_a_run_takes_nothing_away_and_nodes_pull_from_the_mirror(
        site, skopeo, tmp_path):
    site.graph.stop()
    site.source.stop()
    before, rewritten = files(site.out), site.image("team/app")["rewrittenDigest"]
    # short backoffs: every request to the stopped source would otherwise wait out the retries
    proc = mirrorsync("run", str(site.manifest), "--output-dir", str(site.out), env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    assert proc.returncode == 1, proc.stderr
    report = site.report
    # every image an earlier run mirrored is confirmed there and kept; the catalog that could not be read is a
    # record of its own, failed
    unread = f"{site.source.host}/olm/index"
    assert [i["source"] for i in report["images"] if not i["onMirror"]] == [unread]
    assert sum(i["onMirror"] for i in report["images"]) == len(report["images"]) - 1 == 24
    assert [(r["version"], r["status"]) for r in report["releases"]] == [
        ("4.15.2", "up-to-date"), ("4.15.3", "up-to-date"), (None, "failed")]
    assert report["catalogs"][0]["error"] and report["catalogs"][0]["mirrors"][0]["digest"]
    assert site.image("team/app")["mirroredDigest"] == rewritten
    assert files(site.out) == before

    # a node pulls by the original names through the mirror sets, the source gone
    conf = tmp_path / "registries.conf"
    rendered = mirrorsync("registries-conf", str(site.out), "--insecure", site.mirror.host, "--output", str(conf))
    assert rendered.returncode == 0, rendered.stderr
    head, src = site.releases[-1], site.source.host
    pulls = {head.pull_spec: head.digest, head.components["machine-os"].digest_reference:
             head.components["machine-os"].digest,
             f"{src}/team/signed@{site.signed.digest}": site.signed.digest,
             f"{src}/team/app:1.0": rewritten}
    agent = site.related["tools/alpha-agent:1.2.0"]
    pulls[agent] = agent.split("@")[1]
    for ref, digest in pulls.items():
        raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{ref}").stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest, ref


def test_a_release_named_by_digest_that_cannot_be_read_keeps_its_signatures(tmp_path, make_registry,
                                                                            mirror_registry, pusher_for,
                                                                            unique_repo):
    # a run, as an import that cannot read a release: the release's failure record (same digest, no signatures)
    # replaced the signatures of the release planned again from the previous report, and its ConfigMap was dropped
    source = make_registry("release-source")
    rel = build_multi_release(pusher_for(source), "ocp")
    store = tmp_path / "signatures"
    (store / f"sha256={rel.digest[7:]}").mkdir(parents=True)
    (store / f"sha256={rel.digest[7:]}" / "signature-1").write_bytes(b"signature")
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/{unique_repo('m')}"],
                              registries={r.host: registry_settings(r) for r in (source, mirror_registry)},
                              images=[], platform={"releases": [rel.pull_spec], "signatures": str(store)})
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    before = files(out)
    assert "cluster-resources/release-signatures.yaml" in before
    source.stop()
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    assert proc.returncode == 1, proc.stderr
    assert "planned from the previous report" in proc.stderr
    assert files(out) == before
