"""Three tiers, original names end to end (issue 32): the source is mirrored into an enterprise registry; with the
source stopped, the enclave is mirrored from the enterprise registry through the first run's cluster resources
(``options.sourceMirrors``) under the source's own names; a real client then pulls those names through the
enclave's rendered registries.conf with both upstream tiers stopped."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from devtools.openshift import GraphServer, push_catalog
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support.catalogs import catalog_files, push_related_images
from support.cli import Run, mirrorsync, registry_settings, write_manifest
from support.cosign import Signer, push_referrer, sign
from support.releases import assert_on_mirror, build_channel
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration


def _run(manifest, out, env=None) -> Run:
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), "--verbose",
                      env={"MIRRORSYNC_RETRY_WAIT": "0.01", **(env or {})})
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


def _reached_nothing_past_the_tier_above(run: Run, source) -> None:
    """The run asked the stopped source (a closed port) nothing: no retry spent, none logged (``--verbose`` logs
    each), no warning of a read that failed there."""
    assert run.report["totals"]["retries"] == 0, run.stderr
    assert "retrying" not in run.stderr and "could not list" not in run.stderr, run.stderr
    assert not source.running


def _inspect(skopeo, conf, ref: str) -> str:
    raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{ref}").stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _render(output_dir, conf, *insecure) -> None:
    """``mirrorsync registries-conf`` of a run's output directory into ``conf`` (plain-HTTP test registries are
    the cluster's insecure registries)."""
    args = [a for host in insecure for a in ("--insecure", host)]
    rendered = mirrorsync("registries-conf", str(output_dir), *args, "-o", str(conf))
    assert rendered.returncode == 0, rendered.stderr


def _sources_of(run: Run, kind: str, filename: str) -> dict[str, list[str]]:
    key = "imageDigestMirrors" if kind == "digest" else "imageTagMirrors"
    return {e["source"]: e["mirrors"] for doc in run.cr(filename) for e in doc["spec"][key]}


@pytest.fixture
def tiers(tmp_path, make_registry, seed, unique_repo):
    """Run 1 (source -> enterprise) done, the source stopped: (source, enterprise, enclave, repo, images, run 1)."""
    source, enterprise, enclave = make_registry("source"), make_registry("enterprise"), make_registry("enclave")
    repo = unique_repo("app")
    images = {tag: seed(source, repo, tag, seed=n) for n, tag in enumerate(("v1", "v2"))}
    seed(source, repo, "v3", seed=3)  # on the source only: tier 1 does not take it
    settings = {r.host: registry_settings(r) for r in (source, enterprise, enclave)}
    m1 = write_manifest(tmp_path / "enterprise.yaml", mirrors=[f"{enterprise.host}/ent"], registries=settings,
                        images=[{"source": f"{source.host}/{repo}", "tags": ["v1", "v2"]}])
    run1 = _run(m1, tmp_path / "out1")
    assert run1.returncode == 0, run1.stderr
    source.stop()
    return source, enterprise, enclave, repo, images, run1, settings


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_enclave_mirrors_from_the_enterprise_registry_under_the_original_names(tmp_path, tiers, skopeo, engine):
    source, enterprise, enclave, repo, images, run1, settings = tiers
    original = f"{source.host}/{repo}"
    m2 = write_manifest(tmp_path / "enclave.yaml", mirrors=[f"{enclave.host}/encl"], registries=settings,
                        images=[{"source": original, "allTags": True}, {"source": original, "tags": ["v3"]}],
                        options={"engine": engine, "retries": 0, "sourceMirrors": str(run1.crs_dir)})
    run2 = _run(m2, tmp_path / "out2")
    assert run2.returncode == 1, run2.stderr  # v3 is on no mirror: that image fails, the others are copied
    # the tag list is the enterprise mirror's subset; the tag named beside it is reported, not skipped
    assert sorted(i["tag"] for i in run2.report["images"]) == ["v1", "v2", "v3"]
    for tag, img in images.items():
        record = run2.image(repo, tag)
        assert record["status"] == "copied", record
        assert record["source"] == original and record["digest"] == img.digest
        assert record["readFrom"] == f"{enterprise.host}/ent/{repo}"  # skopeo's own choice, from its log
    missing = run2.image(repo, "v3")
    assert missing["status"] == "failed"
    assert "not on any mirror (tried: " in missing["error"] and f"{enterprise.host}/ent/{repo}" in missing["error"]
    # the enclave's mirror sets name the original repository, not the enterprise's
    assert _sources_of(run2, "digest", "imagedigestmirrorset.yaml") == {original: [f"{enclave.host}/encl/{repo}"]}
    assert _sources_of(run2, "tag", "imagetagmirrorset.yaml") == {original: [f"{enclave.host}/encl/{repo}"]}

    conf = tmp_path / "enclave-registries.conf"
    _render(run2.output_dir, conf, enclave.host)
    enterprise.stop()
    for tag, img in images.items():
        assert _inspect(skopeo, conf, f"{original}@{img.digest}") == img.digest
        assert _inspect(skopeo, conf, f"{original}:{tag}") == img.digest
    with pytest.raises(SkopeoError):  # nothing reaches past the enclave: the source, which has v3, is down
        _inspect(skopeo, conf, f"{original}:v3")


def test_a_source_mirror_that_is_down_fails_the_image_and_the_crs_keep_what_was_mirrored(tmp_path, tiers):
    source, enterprise, enclave, repo, images, run1, settings = tiers
    original = f"{source.host}/{repo}"
    m2 = write_manifest(tmp_path / "enclave.yaml", mirrors=[f"{enclave.host}/encl"], registries=settings,
                        images=[{"source": original, "tags": ["v1"]}],
                        options={"retries": 0, "sourceMirrors": str(run1.crs_dir)})
    out = tmp_path / "out2"
    first = _run(m2, out)
    assert first.returncode == 0, first.stderr
    enterprise.stop()
    second = _run(m2, out)
    assert second.returncode != 0
    record = second.image(repo, "v1")
    assert record["status"] == "failed"
    # every location a node would try, in order: the enterprise mirror, then the (stopped) source itself
    error = record["error"]
    assert "not on any mirror (tried: " in error
    assert error.index(f"{enterprise.host}/ent/{repo}") < error.index(f"{original} (")
    assert _sources_of(second, "digest", "imagedigestmirrorset.yaml") == {original: [f"{enclave.host}/encl/{repo}"]}


def test_a_broken_source_mirrors_option_is_bad_input_at_its_line(tmp_path, registry):
    conf = tmp_path / "bad.conf"
    conf.write_text("[[registry]]\nprefix = 'a.example'\nlocation = 7\n")
    m = write_manifest(tmp_path / "m.yaml", mirrors=[f"{registry.host}/m"],
                       images=[{"source": "quay.io/ns/app", "tags": ["v1"]}], options={"sourceMirrors": str(conf)})
    proc = mirrorsync("run", str(m), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {m}:11: options.sourceMirrors: {conf}: "), proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_a_release_reaches_the_enclave_by_digest_through_the_enterprise_mirror_sets(tmp_path, make_registry,
                                                                                    pusher_for, unique_repo, skopeo,
                                                                                    engine):
    source, enterprise, enclave = make_registry("source"), make_registry("enterprise"), make_registry("enclave")
    channel = build_channel(pusher_for(source), unique_repo("rel"))
    wanted = [channel.by_version(v) for v in ("4.15.2", "4.15.3")]
    # the head release is cosign-signed: its sha256-<hex>.sig tag travels with it through both tiers
    sig = sign(pusher_for(source), Signer(tmp_path / "key"), channel.release_repo, wanted[-1].digest)
    settings = {r.host: registry_settings(r) for r in (source, enterprise, enclave)}
    platform = {"channels": [{"name": "stable-4.15", "minVersion": "4.15.2", "maxVersion": "4.15.3"}]}
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as public:
        m1 = write_manifest(tmp_path / "enterprise.yaml", mirrors=[f"{enterprise.host}/ent"], registries=settings,
                            images=[], platform={**platform, "updateService": public.url})
        run1 = _run(m1, tmp_path / "out1")
    assert run1.returncode == 0, run1.stderr
    source.stop()  # and the public update service with it: the enclave asks the zone's (UPDATE_URL_OVERRIDE)
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as zone:
        m2 = write_manifest(tmp_path / "enclave.yaml", mirrors=[f"{enclave.host}/encl"], registries=settings,
                            images=[], platform=platform,
                            options={"sourceMirrors": str(run1.crs_dir), "engine": engine})
        run2 = _run(m2, tmp_path / "out2", env={"UPDATE_URL_OVERRIDE": zone.url})
        assert zone.requests, "the graph comes from the zone's update service"
    assert run2.returncode == 0, run2.stderr
    assert [(r["version"], r["digest"], r["status"]) for r in run2.report["releases"]] == [
        (r.version, r.digest, "copied") for r in wanted]
    # the IDMS-only tier above holds the signature's tag: read there (where the release is), not at the source
    _reached_nothing_past_the_tier_above(run2, source)
    [top] = [i for i in run2.report["images"] if i["digest"] == wanted[-1].digest]
    assert top["readFrom"] == f"{enterprise.host}/ent/openshift/release-images"
    # the skopeo engine copies a release without its cosign signatures (documented): none is looked for
    assert [(c["kind"], c["digest"]) for c in top.get("companions") or []] == (
        [("signature", sig.digest)] if engine == "native" else [])
    client = RegistryClient(enclave.host, settings=RegistrySettings(tls_verify=False), policy=RetryPolicy(attempts=1))
    try:
        assert_on_mirror(client, "encl", wanted)
        held = client.manifest_descriptor("encl/openshift/release-images", sig.tag)
        assert (held.digest if held else None) == (sig.digest if engine == "native" else None)
    finally:
        client.close()
    # the enclave's IDMS names the original release and component repositories
    idms = _sources_of(run2, "digest", "imagedigestmirrorset.yaml")
    assert f"{channel.host}/{channel.release_repo}" in idms and f"{channel.host}/{channel.component_repos[0]}" in idms
    assert all(m[0].startswith(f"{enclave.host}/encl/") for m in idms.values())
    conf = tmp_path / "enclave-registries.conf"
    _render(run2.output_dir, conf, enclave.host)
    enterprise.stop()
    head = wanted[-1]
    assert _inspect(skopeo, conf, head.pull_spec) == head.digest
    cli = head.components["cli"]
    assert _inspect(skopeo, conf, f"{channel.host}/{channel.component_repos[0]}@{cli.digest}") == cli.digest


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_a_catalog_reaches_the_enclave_by_its_original_name(tmp_path, make_registry, pusher_for, skopeo, engine):
    source, enterprise, enclave = make_registry("source"), make_registry("enterprise"), make_registry("enclave")
    pusher = pusher_for(source)
    images = push_related_images(pusher, "ops", "other")
    push_catalog(pusher, "olm/index", "v4.15", catalog_files(lambda n: images[n]), arches=("amd64",))
    settings = {r.host: registry_settings(r) for r in (source, enterprise, enclave)}
    catalog = f"{source.host}/olm/index:v4.15"
    m1 = write_manifest(tmp_path / "enterprise.yaml", mirrors=[f"{enterprise.host}/ent"], registries=settings,
                        images=[], operators=[{"catalog": catalog, "packages": [{"name": "alpha"}, {"name": "beta"}]}])
    run1 = _run(m1, tmp_path / "out1")
    assert run1.returncode == 0, run1.stderr
    source.stop()
    # oc-mirror's enclave recipe adds the catalog's entry to the zone's registries.conf by hand (the mirror sets
    # have none: clusters name the rebuilt catalog); tier 1's output directory gives it from its report
    m2 = write_manifest(tmp_path / "enclave.yaml", mirrors=[f"{enclave.host}/encl"], registries=settings,
                        images=[], operators=[{"catalog": catalog, "packages": [{"name": "beta"}]}],
                        options={"sourceMirrors": str(run1.output_dir), "engine": engine})
    run2 = _run(m2, tmp_path / "out2")
    assert run2.returncode == 0, run2.stderr
    [entry] = run2.report["catalogs"]
    assert {b["name"] for b in entry["bundles"]} == {b["name"] for b in run1.report["catalogs"][0]["bundles"]
                                                     if b["name"].startswith("beta.")}
    [m] = entry["mirrors"]
    assert m["status"] == "pushed" and m["reference"].startswith(f"{enclave.host}/encl/olm/index:")
    catalog_record = run2.image("olm/index")
    assert catalog_record["readFrom"] == f"{enterprise.host}/ent/olm/index"
    _reached_nothing_past_the_tier_above(run2, source)
    # the entry is for reading through, never for a cluster: tier 1's own mirror sets still have none
    tier1 = [src for kind, name in (("digest", "imagedigestmirrorset.yaml"), ("tag", "imagetagmirrorset.yaml"))
             if (run1.crs_dir / name).exists() for src in _sources_of(run1, kind, name)]
    assert tier1 and f"{source.host}/olm/index" not in tier1
    idms = _sources_of(run2, "digest", "imagedigestmirrorset.yaml")
    assert idms and all(src.startswith(f"{source.host}/") and m[0].startswith(f"{enclave.host}/encl/")
                        for src, m in idms.items())
    enclave_conf = tmp_path / "enclave-registries.conf"
    _render(run2.output_dir, enclave_conf, enclave.host)
    enterprise.stop()
    bundle = next(images[n] for n in images if n.startswith("beta") and n.endswith("-bundle"))
    assert _inspect(skopeo, enclave_conf, bundle) == bundle.split("@")[1]


def _export_section(directory) -> dict:
    return json.loads((directory / "report.json").read_text())["export"]


def _is_manifest(directory, digest: str) -> bool:
    try:
        doc = json.loads((directory / "blobs" / Path(*digest.split(":", 1))).read_bytes())
    except ValueError:
        return False
    return isinstance(doc, dict) and ("layers" in doc or "manifests" in doc)


def test_an_enclave_export_since_the_enclaves_last_import_carries_only_what_it_lacks(tmp_path, tiers, skopeo):
    source, enterprise, enclave, repo, images, run1, settings = tiers
    original = f"{source.host}/{repo}"

    # the enterprise zone's copy of tier 1's CRs, which the enclave (where the imports run) does not have
    zone_crs, away = tmp_path / "zone-crs", tmp_path / "zone-crs.away"
    shutil.copytree(run1.crs_dir, zone_crs)

    def enclave_manifest(name, tags):
        return write_manifest(tmp_path / name, mirrors=[f"{enclave.host}/encl"], registries=settings,
                              images=[{"source": original, "tags": tags}], options={"sourceMirrors": str(zone_crs)})

    def import_in_the_enclave(export_dir):
        zone_crs.rename(away)
        try:
            proc = mirrorsync("import", str(export_dir), "--output-dir", str(enclave_out))
        finally:
            away.rename(zone_crs)
        assert proc.returncode == 0, proc.stderr

    first, second = tmp_path / "export-1", tmp_path / "export-2"
    enclave_out = tmp_path / "enclave-out"
    proc = mirrorsync("export", str(enclave_manifest("e1.yaml", ["v1"])), "--to", str(first))
    assert proc.returncode == 0, proc.stderr
    import_in_the_enclave(first)

    proc = mirrorsync("export", str(enclave_manifest("e2.yaml", ["v1", "v2"])), "--to", str(second),
                      "--since", str(enclave_out / "report.json"))
    assert proc.returncode == 0, proc.stderr
    one, two = _export_section(first), _export_section(second)
    assert two["serves"] == [{"report": str(enclave_out / "report.json"), "mirrors": [f"{enclave.host}/encl"]}]
    # of what the enclave holds (v1), only manifests cross again: no layer or config of it
    again = set(one["blobs"]) & set(two["blobs"])
    assert again and all(_is_manifest(second, d) for d in again)
    assert set(two["since"]) and set(two["since"]) <= set(one["blobs"])
    # the bytes that cross this boundary: the blob files of this export, counted
    assert two["blobBytes"] == sum((second / "blobs" / Path(*d.split(":", 1))).stat().st_size for d in two["blobs"])
    assert "serves" not in one

    enterprise.stop()  # the import needs only the export and the enclave
    import_in_the_enclave(second)
    conf = tmp_path / "enclave-registries.conf"
    _render(enclave_out, conf, enclave.host)
    for tag, img in images.items():
        assert _inspect(skopeo, conf, f"{original}:{tag}") == img.digest


def test_signatures_and_referrers_reach_the_enclave_from_the_tier_above(tmp_path, make_registry, seed, pusher_for,
                                                                        unique_repo, skopeo):
    """Tier 1 writes IDMS only (an image by digest): a node would read ``sha256-<hex>.sig`` and the referrers'
    fallback tag at the source, by tag. The enclave reads them where the image is, as containers/image reads
    sigstore attachments at the image's physical location: the enterprise mirror, never the stopped source."""
    source, enterprise, enclave = make_registry("source"), make_registry("enterprise"), make_registry("enclave")
    repo = unique_repo("signed")
    img = seed(source, repo, "v1")
    pusher = pusher_for(source)
    sig = sign(pusher, Signer(tmp_path / "key"), repo, img.digest)
    sbom = push_referrer(pusher, repo, {"mediaType": img.media_type, "digest": img.digest, "size": img.size},
                         "application/spdx+json", content=b'{"spdxVersion":"SPDX-2.3"}')
    settings = {r.host: registry_settings(r) for r in (source, enterprise, enclave)}
    original = f"{source.host}/{repo}"
    entry = {"source": original, "digests": [img.digest], "mirrorSets": ["digest"], "signatures": True,
             "referrers": True}
    m1 = write_manifest(tmp_path / "enterprise.yaml", mirrors=[f"{enterprise.host}/ent"], registries=settings,
                        images=[entry])
    run1 = _run(m1, tmp_path / "out1")
    assert run1.returncode == 0, run1.stderr
    assert not (run1.crs_dir / "imagetagmirrorset.yaml").exists()  # no tag read of it is sent to a mirror
    source.stop()

    m2 = write_manifest(tmp_path / "enclave.yaml", mirrors=[f"{enclave.host}/encl"], registries=settings,
                        images=[entry], options={"sourceMirrors": str(run1.crs_dir)})
    run2 = _run(m2, tmp_path / "out2")
    assert run2.returncode == 0, run2.stderr
    _reached_nothing_past_the_tier_above(run2, source)
    record = run2.image(repo)
    assert record["status"] == "copied" and record["readFrom"] == f"{enterprise.host}/ent/{repo}"
    assert sorted((c["kind"], c["digest"]) for c in record["companions"]) == sorted(
        [("signature", sig.digest), ("referrer", sbom.digest)])
    client = RegistryClient(enclave.host, settings=RegistrySettings(tls_verify=False), policy=RetryPolicy(attempts=1))
    try:
        held = client.manifest_descriptor(f"encl/{repo}", sig.tag)
        assert held is not None and held.digest == sig.digest
        assert client.manifest_descriptor(f"encl/{repo}", sbom.digest) is not None
    finally:
        client.close()


def test_a_blob_the_enclave_holds_in_another_repository_is_mounted_there_on_import(tmp_path, make_registry, seed,
                                                                                    unique_repo, skopeo):
    """The enclave holds app's blobs in ``encl/app``; ``copy``, the same image in another repository, crosses with
    none of them (``--since``) and the import mounts each from ``encl/app``, where the enclave has it."""
    zone, enclave = make_registry("zone"), make_registry("enclave")
    app, copy = unique_repo("app"), unique_repo("copy")
    img = seed(zone, app, "v1")
    skopeo.run("copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
               f"docker://{zone.host}/{app}:v1", f"docker://{zone.host}/{copy}:v1")
    settings = {r.host: registry_settings(r) for r in (zone, enclave)}

    def enclave_manifest(name, repos):
        return write_manifest(tmp_path / name, mirrors=[f"{enclave.host}/encl"], registries=settings,
                              images=[{"source": f"{zone.host}/{r}", "tags": ["v1"]} for r in repos])

    enclave_out, first, second = tmp_path / "enclave-out", tmp_path / "export-1", tmp_path / "export-2"
    assert mirrorsync("export", str(enclave_manifest("e1.yaml", [app])), "--to", str(first)).returncode == 0
    assert mirrorsync("import", str(first), "--output-dir", str(enclave_out)).returncode == 0
    proc = mirrorsync("export", str(enclave_manifest("e2.yaml", [app, copy])), "--to", str(second),
                      "--since", str(enclave_out / "report.json"))
    assert proc.returncode == 0, proc.stderr
    two = _export_section(second)
    assert two["blobs"] and all(_is_manifest(second, d) for d in two["blobs"])  # no layer or config crosses again
    # where the enclave holds each blob it left out, for the import to mount it from
    assert two["heldAt"] and all(where == [f"{enclave.host}/encl/{app}"] for where in two["heldAt"].values())

    proc = mirrorsync("import", str(second), "--output-dir", str(enclave_out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((enclave_out / "report.json").read_text())
    [record] = [i for i in report["images"] if i["source"] == f"{zone.host}/{copy}"]
    assert record["status"] == "copied" and record["digest"] == img.digest
    [dest] = record["destinations"]
    assert dest["blobsMounted"] == len(two["heldAt"]) and dest["blobsSent"] == 0
    conf = tmp_path / "enclave-registries.conf"
    _render(enclave_out, conf, enclave.host)
    zone.stop()
    assert _inspect(skopeo, conf, f"{zone.host}/{copy}:v1") == img.digest
