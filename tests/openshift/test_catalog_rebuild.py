"""The rebuilt catalog image (in memory: the end-to-end test unpacks a real one with umoci) and the catalog CRs."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from devtools.samples import make_files_layer
from mirrorsync.oci.content import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, parse_manifest, \
    sha256_digest
from mirrorsync.oci.image_files import image_config, platform_manifest, read_files
from mirrorsync.openshift.catalogs import fbc, rebuild, resources
from mirrorsync.openshift.catalogs.filter import CatalogFilter, PackageFilter, apply, select
from support.catalogs import catalog_files
from support.memstore import MemoryStore

REPO = "olm/index"


def put_catalog(store: MemoryStore, cmd: list[str], arches=("amd64", "arm64"), docker: bool = False) -> str:
    """A catalog image in ``store`` (Docker schema 2 types with ``docker``, as Red Hat's catalogs are)."""
    manifest_type, index_type = (DOCKER_MANIFEST, DOCKER_LIST) if docker else (OCI_MANIFEST, OCI_INDEX)
    config_type = "application/vnd.docker.container.image.v1+json" if docker else \
        "application/vnd.oci.image.config.v1+json"
    children = []
    for arch in arches:
        layers = [make_files_layer(files, docker=docker) for files in
                  ({"bin/opm": arch.encode()}, catalog_files(), {"var/cache/opm/x": b"stale"})]
        config = {"architecture": arch, "os": "linux",
                  "config": {"Entrypoint": ["/bin/opm"], "Cmd": cmd,
                             "Labels": {fbc.CONFIGS_LABEL: "/configs"}},
                  "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}}
        cfg = store.add_blob(REPO, json.dumps(config).encode())
        for blob, _ in layers:
            store.add_blob(REPO, blob.data)
        body = json.dumps({"schemaVersion": 2, "mediaType": manifest_type,
                           "config": {"mediaType": config_type, "digest": cfg.digest, "size": cfg.size},
                           "layers": [b.descriptor() for b, _ in layers]}).encode()
        m = parse_manifest(body, manifest_type, sha256_digest(body))
        store.add_manifest(REPO, m)
        children.append({"mediaType": manifest_type, "digest": m.digest, "size": len(body),
                         "platform": {"os": "linux", "architecture": arch}})
    body = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": children}).encode()
    index = parse_manifest(body, index_type, sha256_digest(body))
    store.add_manifest(REPO, index, "v1")
    return index.digest


@pytest.mark.parametrize("cmd, cache, new", [
    (["serve", "/configs", "--cache-dir=/tmp/cache"], "/tmp/cache",
     ["serve", "/configs", "--cache-dir=/tmp/cache", "--cache-enforce-integrity=false"]),
    (["serve", "/configs", "--cache-dir", "/var/cache/opm", "--cache-enforce-integrity", "true"], "/var/cache/opm",
     ["serve", "/configs", "--cache-dir", "/var/cache/opm", "--cache-enforce-integrity=false"]),
    (["serve", "/configs", "--cache-only", "--cache-dir=/c"], "/c",
     ["serve", "/configs", "--cache-dir=/c", "--cache-enforce-integrity=false"]),
    (["serve", "/configs"], "/tmp/cache", ["serve", "/configs"]),
    ([], "/tmp/cache", ["serve", "/configs", "--cache-dir=/tmp/cache", "--cache-enforce-integrity=false"]),
])
def test_cache_dir_and_the_new_command(cmd, cache, new):
    config = {"config": {"Entrypoint": ["/bin/opm"] if cmd else [], "Cmd": cmd}}
    assert rebuild.cache_dir(config) == cache
    assert rebuild.new_cmd(config, "configs") == new


def test_configs_root_from_the_label():
    assert rebuild.configs_root({}) == "configs"
    assert rebuild.configs_root({"config": {"Labels": {fbc.CONFIGS_LABEL: "/opt/../srv/catalog/"}}}) == "srv/catalog"
    with pytest.raises(fbc.CatalogError, match="names the root directory"):
        rebuild.configs_root({"config": {"Labels": {fbc.CONFIGS_LABEL: "/.."}}})


def test_the_layer_whites_out_before_it_adds():
    layer, diff_id = rebuild.filtered_layer({"configs/a/catalog.json": b"{}"}, "configs", "/tmp/cache")
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer)))]
    # no entry for /configs or /tmp themselves: it would replace their mode (/tmp is 1777) and owner
    assert names == ["configs/.wh..wh..opq", "tmp/.wh.cache", "configs/a", "configs/a/catalog.json"]
    assert (layer, diff_id) == rebuild.filtered_layer({"configs/a/catalog.json": b"{}"}, "configs", "/tmp/cache")


@pytest.mark.parametrize("docker", [False, True])
def test_every_platform_is_rebuilt_deterministically_and_pushed_once(docker):
    store = MemoryStore()
    digest = put_catalog(store, ["serve", "/configs", "--cache-dir=/var/cache/opm"], docker=docker)
    cat = fbc.load(catalog_files(), "configs")
    filtered = apply(cat, select(cat, CatalogFilter(packages=(PackageFilter("gamma"),))))
    rebuilt = rebuild.build(store, REPO, digest, lambda root: fbc.render(filtered, root))
    again = rebuild.build(store, REPO, digest, lambda root: fbc.render(filtered, root))
    assert rebuilt.digest == again.digest != digest
    assert len(rebuilt.children) == 2
    # the types stay what they were: a Docker list of Docker manifests with Docker layers, or all OCI
    assert rebuilt.top.media_type == (DOCKER_LIST if docker else OCI_INDEX)
    for child in rebuilt.children:
        assert child.media_type == (DOCKER_MANIFEST if docker else OCI_MANIFEST)
        assert json.loads(child.data)["layers"][-1]["mediaType"] == \
            ("application/vnd.docker.image.rootfs.diff.tar.gzip" if docker else
             "application/vnd.oci.image.layer.v1.tar+gzip")
    assert rebuild.push(store, REPO, rebuilt, "v1-filtered") == "pushed"
    assert rebuild.push(store, REPO, rebuilt, "v1-filtered") == "up-to-date"
    for arch in ("amd64", "arm64"):
        _, image = platform_manifest(store, "olm/index", "v1-filtered", f"linux/{arch}")
        files = read_files(store, REPO, image, lambda p: True)
        assert sorted(files) == ["bin/opm", "configs/gamma/catalog.json"]  # the old FBC and cache are gone
        assert files["bin/opm"] == arch.encode()
        config = image_config(store, REPO, image)
        assert config["config"]["Cmd"][-1] == "--cache-enforce-integrity=false"
        assert len(config["rootfs"]["diff_ids"]) == 4 and config["architecture"] == arch


def test_catalog_source_and_cluster_catalog_bytes():
    entry = {"catalog": "registry.example.com/redhat/redhat-operator-index:v4.15", "mirrors": [
        {"mirror": "m1.example.com/ocp", "reference": "m1.example.com/ocp/redhat/redhat-operator-index:v4.15",
         "digest": None, "status": "failed"},
        {"mirror": "m2.example.com", "reference": "m2.example.com/redhat/redhat-operator-index:v4.15",
         "digest": "sha256:" + "a" * 64, "status": "pushed"}]}
    files = {f.filename: f.text for f in resources.render([entry])}
    image = "m2.example.com/redhat/redhat-operator-index@sha256:" + "a" * 64
    # indented as oc (Go's yaml.v3) writes objects, like the mirror sets beside them
    assert files["catalogsource.yaml"] == (
        "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n"
        "    name: cs-redhat-operator-index-v4-15\n    namespace: openshift-marketplace\nspec:\n"
        "    displayName: registry.example.com/redhat/redhat-operator-index:v4.15\n"
        f"    image: {image}\n    publisher: mirrorsync\n    sourceType: grpc\n")
    assert files["clustercatalog.yaml"] == (
        "apiVersion: olm.operatorframework.io/v1\nkind: ClusterCatalog\nmetadata:\n"
        "    name: cc-redhat-operator-index-v4-15\nspec:\n    source:\n        image:\n"
        f"            ref: {image}\n        type: Image\n")
    entry["mirrors"][1]["status"] = "failed"
    assert resources.render([entry]) == []


def test_a_filter_naming_packages_reads_only_their_folders():
    from mirrorsync.openshift.catalogs.planning import read_catalog

    store = MemoryStore()
    digest = put_catalog(store, ["serve", "/configs"], arches=("amd64",))
    assert read_catalog(store, REPO, "v1") == (digest, fbc.load(catalog_files(), "configs"))
    _, only = read_catalog(store, REPO, "v1", packages={"gamma", "beta"})
    assert sorted(only.packages) == ["beta", "gamma"]
    # delta's documents live in configs/delta/index.json, alpha's in configs/alpha/: a package not found in a
    # folder of its name makes the whole catalog read
    _, whole = read_catalog(store, REPO, "v1", packages={"no-such-folder"})
    assert sorted(whole.packages) == ["alpha", "beta", "delta", "gamma"]


def test_a_failed_run_keeps_the_previous_catalog_and_its_images():
    from mirrorsync.openshift.catalogs.planning import keep_previous
    from mirrorsync.pipeline import sections as manifest_mod
    from mirrorsync.sync.report import Report

    m = manifest_mod.parse_manifest("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m1.example.com]\n"
                           "operators: [{catalog: 'r.example.com/olm/index:v1'}]\n", "m.yaml")
    good = {"mirror": "m1.example.com", "reference": "m1.example.com/olm/index:v1", "digest": "sha256:" + "a" * 64,
            "status": "pushed", "error": None}
    image = "r.example.com/ops/x@sha256:" + "b" * 64
    previous = Report(None, "native", ["m1.example.com"], "", sections={"catalogs": [
        {"catalog": "r.example.com/olm/index:v1", "mirrors": [good], "bundles": [], "images": [image],
         "error": None}]})
    # the rebuilt catalog did not reach the mirror: the one there before stays, saying why
    failed_push = {**good, "digest": None, "status": "failed", "error": "rebuilding the filtered catalog: 503"}
    now = Report(None, "native", ["m1.example.com"], "", sections={"catalogs": [
        {"catalog": "r.example.com/olm/index:v1", "mirrors": [failed_push], "error": None}]})
    keep_previous(now, previous, m)
    [kept] = now.sections["catalogs"][0]["mirrors"]
    assert kept["digest"] == good["digest"] and kept["status"] == "pushed"
    assert kept["error"] == "rebuilding the filtered catalog: 503; the catalog of the previous report is kept"
    assert now.images == []
    # the catalog could not be read: its entry stays, and its images become failed records for the carry-over
    unread = Report(None, "native", ["m1.example.com"], "", sections={"catalogs": [
        {"catalog": "r.example.com/olm/index:v1", "mirrors": [], "error": "catalog ...: connection refused"}]})
    keep_previous(unread, previous, m)
    assert unread.sections["catalogs"][0]["mirrors"][0]["digest"] == good["digest"]
    assert unread.sections["catalogs"][0]["error"] == "catalog ...: connection refused"
    [record] = unread.images
    assert (record.source, record.digest, record.status) == ("r.example.com/ops/x", "sha256:" + "b" * 64, "failed")
    assert record.destinations[0].repository == "m1.example.com/ops/x"
    # nothing to keep without a previous report
    fresh = Report(None, "native", ["m1.example.com"], "", sections={"catalogs": [
        {"catalog": "r.example.com/olm/index:v1", "mirrors": [failed_push], "error": None}]})
    keep_previous(fresh, None, m)
    assert fresh.sections["catalogs"][0]["mirrors"] == [failed_push] and fresh.images == []


def test_planned_jobs_and_an_image_the_manifest_also_lists():
    from mirrorsync.openshift.catalogs.planning import add_to_plan
    from mirrorsync.pipeline import sections as manifest_mod
    from mirrorsync.sync.plan import Plan

    store = MemoryStore()
    digest = put_catalog(store, ["serve", "/configs"], arches=("amd64",))
    m = manifest_mod.parse_manifest(
        "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m1.example.com/ocp]\n"
        "images: [{source: registry.example.com/ops/bundles/gamma-bundle, tags: [x], destination: custom/gamma}]\n"
        "operators: [{catalog: 'r.example.com/olm/index:v1', packages: [{name: gamma}], targetCatalog: my/index}]\n",
        "m.yaml")
    plan = Plan()
    add_to_plan(plan, m, m.sections["operators"], lambda ref: (store, REPO))
    [catalog_job, bundle_job] = plan.jobs
    assert (catalog_job.source.name, catalog_job.ref) == ("r.example.com/olm/index", digest)
    assert [d.name for d in catalog_job.destinations] == ["m1.example.com/ocp/my/index"]
    assert catalog_job.spec.mirror_sets == ()  # the CatalogSource names the mirror; no mirror-set entry
    # gamma's bundle image is also an images entry: it lands where that entry says
    assert bundle_job.source.name == "registry.example.com/ops/bundles/gamma-bundle"
    assert bundle_job.digest and [d.name for d in bundle_job.destinations] == ["m1.example.com/ocp/custom/gamma"]
    assert plan.sections["operators"][0].to_dict()["bundles"][0]["reason"] == "head of channel stable"


def test_an_interrupted_run_rebuilds_nothing_and_keeps_the_previous_catalog():
    from mirrorsync.openshift.catalogs.planning import INTERRUPTED, add_to_plan, finish, keep_previous
    from mirrorsync.pipeline import sections as manifest_mod
    from mirrorsync.sync.plan import Plan
    from mirrorsync.sync.report import ImageRecord, Report

    store = MemoryStore()
    put_catalog(store, ["serve", "/configs"], arches=("amd64",))
    m = manifest_mod.parse_manifest("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m1.example.com]\n"
                           "operators: [{catalog: 'r.example.com/olm/index:v1', packages: [{name: gamma}]}]\n",
                           "m.yaml")
    plan = Plan()
    add_to_plan(plan, m, m.sections["operators"], lambda ref: (store, REPO))
    bundle_job = plan.jobs[1]
    # the bundle was skipped by the interrupt: its record is there, the catalog job never started
    report = Report(None, "native", ["m1.example.com"], "", images=[
        ImageRecord(bundle_job.source.name, None, bundle_job.digest, "skipped", mirrorSets=["digest"])])
    report.sections["catalogs"] = finish(plan.sections["operators"], report, lambda ref: (store, REPO), lambda host: store, interrupted=True)
    assert report.sections["catalogs"][0]["error"] == INTERRUPTED and report.sections["catalogs"][0]["mirrors"] == []
    assert store.tags.get((REPO, "v1")) and not [t for t in store.tags if t[1] != "v1"]  # nothing pushed
    held = {"mirror": "m1.example.com", "reference": "m1.example.com/olm/index:v1",
            "digest": "sha256:" + "c" * 64, "status": "pushed"}
    previous = Report(None, "native", ["m1.example.com"], "", sections={"catalogs": [
        {"catalog": "r.example.com/olm/index:v1", "mirrors": [held], "images": [str(bundle_job)]}]})
    keep_previous(report, previous, m)
    assert report.sections["catalogs"][0]["mirrors"][0]["digest"] == held["digest"]
    assert len(report.images) == 1  # the skipped record stands; no second record for the same image


def test_a_sharded_sync_plans_each_catalog_in_shard_0_only():
    from mirrorsync.pipeline import sections as manifest_mod
    from mirrorsync.sync.plan import Plan, Shard
    from mirrorsync.openshift.catalogs.section import CatalogsSection
    from mirrorsync.sync.section import PlanContext

    store = MemoryStore()
    put_catalog(store, ["serve", "/configs"], arches=("amd64",))
    m = manifest_mod.parse_manifest("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m1.example.com]\n"
                           "operators: [{catalog: 'r.example.com/olm/index:v1', packages: [{name: gamma}]}]\n",
                           "m.yaml")

    planned = {}
    for i in (0, 1):
        planned[i] = Plan()
        ctx = PlanContext(m, lambda ref: (store, REPO), lambda ref: [], shard=Shard(i, 2))
        CatalogsSection().plan(m.sections["operators"], ctx, planned[i])
    assert [len(planned[0].sections.get("operators", [])), len(planned[0].jobs)] == [1, 2]
    assert [len(planned[1].sections.get("operators", [])), len(planned[1].jobs)] == [0, 0]
