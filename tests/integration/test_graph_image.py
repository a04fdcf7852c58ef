"""The update-graph data image (``platform.graph``) end to end against the real registry: built over a multi-arch
base and pushed to ``<mirror>/openshift/graph-image:latest``; skopeo and umoci (which share no code with mirrorsync)
unpack it, and it holds exactly the tarball's files under /var/lib/cincinnati-graph-data/, owned by root, modes
kept, with the OSUS's Cmd; its lower layers are the base's, byte for byte; a second run pushes nothing; the
UpdateService passes the operator's CRD schema and a real kubectl's client dry run, and is outside the
Kustomization. Bad input (data that is no gzip tar, a base that cannot be read) is exit 2 with nothing written."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest
import yaml

from support.cli import mirrorsync, registry_settings, with_mirrors, write_manifest
from support.graph_data import GRAPH_FILES, LINKS, GraphDataServer, member, push_base, tarball
from support.kubectl import assert_applicable, kubectl_file_objects
from support.releases import build_channel
from support.skopeo import unpack_with_umoci
from support.update_service_crd import validate_update_service

pytestmark = pytest.mark.integration

CMD = ["/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"]


@pytest.fixture
def site(make_registry, pusher_for, tmp_path):
    """A source registry of the test's own with one release and a base image; a mirror; the graph tarball."""
    source = make_registry("graph-source")
    pusher = pusher_for(source)
    channel = build_channel(pusher, "rel")
    base = push_base(pusher, "ubi9/ubi", "latest")
    (tmp_path / "graph-data.tar.gz").write_bytes(tarball())
    return {"source": source, "mirror": make_registry("graph-mirror"), "release": channel.releases[-1],
            "base": base}


def manifest_for(tmp_path: Path, site, **graph) -> Path:
    source, mirror = site["source"], site["mirror"]
    platform = {"releases": [site["release"].pull_spec],
                "graph": {"baseImage": f"{source.host}/ubi9/ubi:latest", "data": "graph-data.tar.gz", **graph}}
    return write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/site"], images=[],
                          registries={r.host: registry_settings(r) for r in (source, mirror)}, platform=platform)


def blobs_of(layout: Path) -> list[dict]:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    return manifest["layers"]


def test_graph_image_built_over_the_base_unpacks_to_the_tarball_and_a_second_run_pushes_nothing(
        tmp_path, site, skopeo):
    assert shutil.which("umoci"), "umoci not installed: run scripts/setup"
    mirror = site["mirror"]
    manifest = manifest_for(tmp_path, site, namespace="osus", replicas=1)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    [entry] = report["graphImage"]
    assert entry["baseDigest"] == site["base"]["digest"]
    [m] = entry["mirrors"]
    ref = f"{mirror.host}/site/openshift/graph-image:latest"
    assert (m["status"], m["reference"], m["releases"]) == ("pushed", ref,
                                                            f"{mirror.host}/site/openshift/release-images")
    assert httpx.head(f"{mirror.url}/v2/site/openshift/graph-image/manifests/latest", headers={
        "Accept": "application/vnd.oci.image.index.v1+json"}).headers["Docker-Content-Digest"] == m["digest"]

    for arch in ("amd64", "arm64"):
        bundle = unpack_with_umoci(skopeo, ref, tmp_path, arch, name="graph")
        config = json.loads((bundle / "config.json").read_text())
        root = bundle / "rootfs" / "var" / "lib" / "cincinnati-graph-data"
        found = {str(p.relative_to(root)) for p in root.rglob("*")}
        assert found == set(GRAPH_FILES) | set(LINKS)
        for path, (mode, data) in GRAPH_FILES.items():
            st = os.lstat(root / path)
            assert st.st_mode & 0o7777 == mode, path
            if data is not None:
                assert (root / path).read_bytes() == data
        assert os.readlink(root / "channels/stable.yaml") == "stable-4.15.yaml"
        # the base's own files are there below it; the Cmd is the OSUS init container's
        assert (bundle / "rootfs" / "bin" / "opm").read_text() == f"bash for linux/{arch}"
        assert config["process"]["args"] == CMD
        # uid/gid 0 in the layer itself (umoci --rootless maps them to the test's user on disk)
        layout = tmp_path / f"layout-graph-{arch}"  # where unpack_with_umoci put it
        layers = blobs_of(layout)
        assert [x["digest"] for x in layers[:-1]] == site["base"]["children"][arch][1]
        top = layout / "blobs" / "sha256" / layers[-1]["digest"][7:]
        listing = subprocess.run(["tar", "--numeric-owner", "-tvzf", str(top)], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        assert listing and all(line.split()[1] == "0/0" for line in listing), listing
        names = [line.split()[5] for line in listing]
        assert names == sorted(names, key=lambda n: n.rstrip("/").split("/"))
        assert all(" 1970-01-01 " in line for line in listing)

    # the UpdateService: by digest, the mirror's release-images, namespace and replicas as given; not listed
    service_file = out / "cluster-resources" / "update-service" / "updateservice.yaml"
    service = yaml.safe_load(service_file.read_text())
    assert service["metadata"] == {"name": "mirrorsync", "namespace": "osus"}
    assert service["spec"] == {"graphDataImage": f"{mirror.host}/site/openshift/graph-image@{m['digest']}",
                               "releases": f"{mirror.host}/site/openshift/release-images", "replicas": 1}
    validate_update_service(service)
    assert "update-service" not in (out / "cluster-resources" / "Kustomization").read_text()
    # the real kubectl reads it (client side, no cluster) as the same object; the rest applies without it
    assert kubectl_file_objects(service_file.parent, tmp_path) == [service]
    kinds = assert_applicable(out / "cluster-resources", tmp_path)
    assert ("UpdateService", "mirrorsync") not in kinds
    # the IDMS: the base image's repository, by digest, to the graph image's repository
    idms = [e for obj in yaml.safe_load_all((out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text())
            for e in obj["spec"]["imageDigestMirrors"]]
    assert {"source": f"{site['source'].host}/ubi9/ubi", "mirrors": [f"{mirror.host}/site/openshift/graph-image"]} \
        in idms

    # verify finds the graph image on the mirror (from the report)
    checked = mirrorsync("verify", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the release image and its 5 components, the base image, and the graph image itself
    assert checked.stderr.startswith("OK: 8 image(s) on mirrors checked"), checked.stderr

    # the same data over the same base: the same digest, nothing pushed
    before = mirror.access_log_path.read_text().count("PUT ")
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((out / "report.json").read_text())
    [again_m] = again["graphImage"][0]["mirrors"]
    assert (again_m["status"], again_m["digest"]) == ("up-to-date", m["digest"])
    assert again["totals"]["bytesSent"] == 0
    assert mirror.access_log_path.read_text().count("PUT ") == before


@pytest.mark.parametrize("case", ["not-gzip", "not-tar", "absolute", "dotdot", "link-out", "device", "base"])
def test_bad_graph_input_is_exit_2_and_nothing_written(tmp_path, site, case):
    bad = {"not-gzip": b"PK\x03\x04 a zip, say", "not-tar": gzip.compress(b"no tar at all" * 100)}
    hostile = {"absolute": member("/etc/passwd"), "dotdot": member("channels/../../escape"),
               "link-out": member("channels/out", tarfile.SYMTYPE, "../../../etc/shadow"),
               "device": member("dev-null", tarfile.CHRTYPE)}
    graph = {}
    if case in bad:
        (tmp_path / "graph-data.tar.gz").write_bytes(bad[case])
    elif case in hostile:
        (tmp_path / "graph-data.tar.gz").write_bytes(tarball(extra=[hostile[case]]))
    else:
        graph["baseImage"] = f"{site['source'].host}/ubi9/nothing-here:latest"
    manifest = manifest_for(tmp_path, site, **graph)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 2, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert f"{manifest}:" in line and ("platform.graph.baseImage" if case == "base" else "platform.graph.data") in line
    assert not out.exists() or {p.name for p in out.iterdir()} <= {".mirrorsync.lock"}
    assert "site/" not in site["mirror"].access_log_path.read_text()


def test_graph_data_from_a_url_builds_the_same_image_as_the_file_and_a_url_that_fails_is_exit_2(tmp_path, site):
    with GraphDataServer(tarball()) as server:
        proc = mirrorsync("run", str(manifest_for(tmp_path, site, data=server.url)), "--output-dir",
                          str(tmp_path / "by-url"))
        assert proc.returncode == 0, proc.stderr
        assert server.hits == 1
        proc = mirrorsync("run", str(manifest_for(tmp_path, site)), "--output-dir", str(tmp_path / "by-file"))
        assert proc.returncode == 0, proc.stderr
        [by_url], [by_file] = (json.loads((tmp_path / d / "report.json").read_text())["graphImage"][0]["mirrors"]
                               for d in ("by-url", "by-file"))
        assert by_url["digest"] == by_file["digest"] and by_file["status"] == "up-to-date"
        assert by_url["digest"] is not None
        server.body = None  # the URL answers 404
        url = server.url
        proc = mirrorsync("run", str(manifest_for(tmp_path, site, data=url)), "--output-dir",
                          str(tmp_path / "gone"), env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    assert proc.returncode == 2, proc.stderr
    assert "platform.graph.data:" in proc.stderr and url in proc.stderr
    assert not (tmp_path / "gone" / "report.json").exists()


@pytest.mark.parametrize("where", ["url", "file"])
def test_graph_data_past_64_mib_is_refused_exit_2_and_nothing_written(tmp_path, site, where):
    # graph_data.MAX_TARBALL_BYTES: a server (or a file) may not make a run hold more than that of graph data
    too_big = (64 << 20) + 1
    if where == "file":
        with open(tmp_path / "graph-data.tar.gz", "wb") as f:
            f.truncate(too_big)  # sparse: the size is what counts
        server = None
        graph = {}
    else:
        server = GraphDataServer(b"\0" * too_big).start()
        graph = {"data": server.url}
    try:
        out = tmp_path / "out"
        proc = mirrorsync("run", str(manifest_for(tmp_path, site, **graph)), "--output-dir", str(out),
                          env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    finally:
        if server is not None:
            server.stop()
    assert proc.returncode == 2, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "platform.graph.data:" in line and "64 MiB" in line, line
    assert not out.exists() or {p.name for p in out.iterdir()} <= {".mirrorsync.lock"}
    assert "site/" not in site["mirror"].access_log_path.read_text()


def test_export_carries_the_graph_data_and_base_and_import_builds_the_same_image_offline(tmp_path, site):
    manifest = manifest_for(tmp_path, site)
    direct = tmp_path / "direct"
    assert mirrorsync("run", str(manifest), "--output-dir", str(direct)).returncode == 0
    [want] = json.loads((direct / "report.json").read_text())["graphImage"][0]["mirrors"]
    export_dir = tmp_path / "export"
    proc = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert proc.returncode == 0, proc.stderr
    # the dark site: no source registry, no graph-data file; a fresh mirror namespace
    site["source"].stop()
    (tmp_path / "graph-data.tar.gz").unlink()
    dark_manifest = with_mirrors(manifest, [f"{site['mirror'].host}/dark"], tmp_path / "dark.yaml")
    out = tmp_path / "out"
    proc = mirrorsync("import", str(export_dir), "--manifest", str(dark_manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    [m] = json.loads((out / "report.json").read_text())["graphImage"][0]["mirrors"]
    assert (m["status"], m["digest"], m["reference"]) == (
        "pushed", want["digest"], f"{site['mirror'].host}/dark/openshift/graph-image:latest")
    service = yaml.safe_load((out / "cluster-resources" / "update-service" / "updateservice.yaml").read_text())
    assert service["spec"]["graphDataImage"] == f"{site['mirror'].host}/dark/openshift/graph-image@{want['digest']}"
    validate_update_service(service)
    # the import's report does not carry the tarball on; the export's does, under its SHA256SUMS
    assert "carriedData" not in (out / "report.json").read_text()
    assert "carriedData" in (export_dir / "report.json").read_text()


def test_plan_shows_the_base_pinned_the_data_digest_and_the_releases_the_update_service_will_serve(tmp_path, site):
    manifest = manifest_for(tmp_path, site)
    proc = mirrorsync("plan", str(manifest), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    [graph] = json.loads(proc.stdout)["graphImage"]
    assert graph["baseDigest"] == site["base"]["digest"]
    assert graph["dataDigest"] == "sha256:" + hashlib.sha256(tarball()).hexdigest()
    assert graph["releases"] == [{"version": site["release"].version, "architecture": "amd64"}]
    # text: the base image's copy to the graph image's repository is one of the jobs
    text = mirrorsync("plan", str(manifest))
    assert f"{site['source'].host}/ubi9/ubi@{site['base']['digest']} -> " \
           f"{site['mirror'].host}/site/openshift/graph-image" in text.stdout.splitlines()
    assert not (tmp_path / "out").exists()
