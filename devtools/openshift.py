"""OpenShift content built for real in a local registry: release images (with the update graph server that names
them) and operator catalog images. The tests' fixtures (tests/support/releases.py, catalogs.py) and the bench's
openshift profile build from these.

A release image is a small image whose top layer holds ``release-manifests/image-references`` (an ImageStream
naming its components by digest) and ``release-manifests/release-metadata`` (cincinnati-metadata-v0), below a base
layer, as ``oc adm release new`` lays it out. A catalog image is a base layer (a stand-in ``bin/opm``), the FBC
below ``/configs`` and a pre-built opm cache, as real catalog images are.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from devtools.loopback_http import AnsweringHTTPServer
from devtools.samples import (OCI_CONFIG, OCI_LAYER_GZIP, Blob, Platform, PushedImage, SamplePusher, make_config,
                              make_files_layer, make_index, make_layer, make_manifest, push_image)

OPM_CMD = ["serve", "/configs", "--cache-dir=/tmp/cache"]


def hash_seed(text: str) -> int:
    """A stable seed for the sample generators from a name (Python's hash() changes per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def image_references(components: dict[str, PushedImage]) -> bytes:
    return json.dumps({"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
                       "metadata": {"name": "release"},
                       "spec": {"tags": [{"name": name, "from": {"kind": "DockerImage", "name": img.digest_reference}}
                                         for name, img in sorted(components.items())]}}, indent=2).encode()


def release_metadata(version: str, previous: list[str], *, multi: bool = False) -> bytes:
    meta = {"release.openshift.io/architecture": "multi"} if multi else {}
    return json.dumps({"kind": "cincinnati-metadata-v0", "version": version, "previous": previous,
                       "metadata": meta}).encode()


def coreos_bootimages(kubevirt: dict[str, str]) -> bytes:
    """``release-manifests/0000_50_installer_coreos-bootimages.yaml`` as the installer ships it: a ConfigMap whose
    ``data.stream`` is the CoreOS stream JSON, here with ``architectures.<arch>.images.kubevirt`` (``image`` by tag,
    ``digest-ref`` by digest) for each ``kubevirt`` entry (stream architecture -> the disk image by digest) and an
    aws entry beside it, as real streams have."""
    stream = {"stream": "rhcos-4.15", "metadata": {"last-modified": "2024-03-01T00:00:00Z", "generator": "test"},
              "architectures": {arch: {"artifacts": {}, "images": {
                  "aws": {"regions": {"us-east-1": {"release": "415.92", "image": "ami-0123"}}},
                  "kubevirt": {"release": "415.92", "image": ref.split("@")[0] + ":4.15-kubevirt",
                               "digest-ref": ref}}} for arch, ref in sorted(kubevirt.items())}}
    doc = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "coreos-bootimages", "namespace": "openshift-machine-config-operator"},
           "data": {"releaseVersion": "0.0.1-snapshot", "stream": json.dumps(stream, indent=2)}}
    return json.dumps(doc, indent=2).encode()  # JSON is YAML: the reader takes it as the YAML it is


def push_release(pusher: SamplePusher, repository: str, tag: str, version: str,
                 components: dict[str, PushedImage], previous: list[str], *, multi: bool = False,
                 files: dict[str, bytes] | None = None, kubevirt: dict[str, str] | None = None) -> str:
    """Push a release image (an index over amd64 and arm64 with ``multi``) and return its digest; with ``kubevirt``
    (stream architecture -> disk image by digest), a boot-images manifest naming those KubeVirt disks."""
    files = files if files is not None else {
        "release-manifests/image-references": image_references(components),
        "release-manifests/release-metadata": release_metadata(version, previous, multi=multi)}
    if kubevirt is not None:
        files = {**files, "release-manifests/0000_50_installer_coreos-bootimages.yaml": coreos_bootimages(kubevirt)}
    children = []
    for platform in ([Platform.parse("amd64"), Platform.parse("arm64")] if multi else [Platform.parse("amd64")]):
        base, base_diff = make_layer(f"release-base/{platform}", 256)
        top, top_diff = make_files_layer(files)
        config = make_config(platform, [base_diff, top_diff], label=f"release {version}")
        for blob in (base, top, config):
            pusher.push_blob(repository, blob)
        manifest = make_manifest(config, [base, top])
        children.append((manifest, platform))
    if not multi:
        return pusher.push_manifest(repository, tag, children[0][0])
    for manifest, _ in children:
        pusher.push_manifest(repository, manifest.digest, manifest)
    index = make_index(children)
    pusher.push_manifest(repository, tag, index)
    return index.digest


class GraphServer(AnsweringHTTPServer):
    """An update service on 127.0.0.1: ``GET /graph?channel=C&arch=A`` answers ``graphs[(C, A)]`` as JSON, 404
    for a channel it does not know; ``requests`` records each query."""

    thread_name = "graph-server"

    def __init__(self, graphs: dict[tuple[str, str], dict]) -> None:
        self.graphs = graphs
        self.requests: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"{self.origin}/graph"

    def answer(self, path: str, headers) -> tuple[int, str, bytes]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append({**query, "accept": headers.get("Accept", "")})
        graph = self.graphs.get((query.get("channel", ""), query.get("arch", "")))
        body = json.dumps(graph).encode() if graph is not None and url.path == "/graph" else b"{}"
        return 200 if graph is not None else 404, "application/json", body


# ---- catalogs --------------------------------------------------------------------------------------------------

def base_layer(opm: bytes) -> tuple[Blob, str]:
    """The catalog image's base: a stand-in ``bin/opm`` and a world-writable, sticky ``tmp`` (where opm, running
    as an arbitrary user, writes its cache), as opm's base image has them."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
            tar.addfile(info)
        info = tarfile.TarInfo("bin/opm")
        info.size, info.mode, info.mtime = len(opm), 0o755, 0
        tar.addfile(info, io.BytesIO(opm))
    tar_bytes = raw.getvalue()
    return Blob(OCI_LAYER_GZIP, gzip.compress(tar_bytes, mtime=0)), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def push_catalog(pusher: SamplePusher, repository: str, tag: str, files: dict[str, bytes], *,
                 arches: tuple[str, ...] = ("amd64",), cmd: list[str] | None = None,
                 cache: bool = True) -> tuple[str, tuple[str, ...]]:
    """Push a catalog image: a base layer (a stand-in ``bin/opm``), the configs layer, and (``cache``) a
    pre-built cache layer under ``tmp/cache``, as ``opm serve --cache-only`` leaves it in real catalog images;
    an index over ``arches`` when there are several. Returns (digest, platforms)."""
    children = []
    for arch in arches:
        platform = Platform.parse(arch)
        layers = [base_layer(f"opm for {platform}".encode())]
        layers.append(make_files_layer(files))
        if cache:
            layers.append(make_files_layer({"tmp/cache/digest": b"stale", "tmp/cache/pogreb.v1/db": b"old cache"}))
        config = {"architecture": platform.architecture, "os": platform.os,
                  "config": {"Entrypoint": ["/bin/opm"], "Cmd": list(cmd or OPM_CMD),
                             "Labels": {"operators.operatorframework.io.index.configs.v1": "/configs"}},
                  "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
                  "history": [{"created_by": f"layer {n}"} for n in range(len(layers))]}
        config_blob = Blob(OCI_CONFIG, json.dumps(config, indent=2).encode())
        for blob, _ in layers:
            pusher.push_blob(repository, blob)
        pusher.push_blob(repository, config_blob)
        children.append((make_manifest(config_blob, [b for b, _ in layers]), platform))
    if len(children) == 1:
        top = children[0][0]
    else:
        for child, _ in children:
            pusher.push_manifest(repository, child.digest, child)
        top = make_index(children)
    pusher.push_manifest(repository, tag, top)
    return top.digest, tuple(str(p) for _, p in children)


# ---- content at a real site's size (scripts/bench --profile openshift) ----------------------------------------

@dataclass
class SizedRelease:
    version: str
    digest: str
    components: dict[str, PushedImage]  # component name -> its image


def push_sized_channel(registry: str, prefix: str, versions: Sequence[str], *, components: int,
                       unchanged: float, workers: int = 8) -> list[SizedRelease]:
    """Releases of ``components`` components each below ``prefix/`` (``ocp-release``, ``ocp-v4.0-art-dev``), as
    a z-stream channel has them: from one release to the next a share ``unchanged`` of the components keeps its
    image, the others get a new one. Components are tiny images (a base layer shared by all of them, a layer and
    a config of their own), pushed by digest from ``workers`` threads."""
    generation: dict[tuple[int, int], int] = {}  # (component, release) -> the component's image generation
    for c in range(components):
        gen = 0
        for r in range(len(versions)):
            if r and hash_seed(f"component-{c}/{r}") % 1000 >= unchanged * 1000:
                gen += 1
            generation[(c, r)] = gen
    wanted = sorted(set((c, g) for (c, _), g in generation.items()))
    local = threading.local()
    pushers: list[SamplePusher] = []

    def push(key: tuple[int, int]) -> tuple[tuple[int, int], PushedImage]:
        if not hasattr(local, "pusher"):
            local.pusher = SamplePusher(registry, insecure=True)
            pushers.append(local.pusher)
        c, g = key
        return key, push_image(local.pusher, f"{prefix}/ocp-v4.0-art-dev", None, kind="oci", arches=("amd64",),
                               layers=2, layer_size=1024, seed=hash_seed(f"component-{c}/generation-{g}"))

    try:
        with ThreadPoolExecutor(workers) as pool:
            images = dict(pool.map(push, wanted))
    finally:
        for p in pushers:
            p.close()
    out = []
    with SamplePusher(registry, insecure=True) as pusher:
        for r, version in enumerate(versions):
            comps = {f"component-{c:03d}": images[(c, generation[(c, r)])] for c in range(components)}
            previous = list(versions[max(0, r - 2):r])  # an edge from each of the two releases before it
            digest = push_release(pusher, f"{prefix}/ocp-release", f"{version}-x86_64", version, comps, previous)
            out.append(SizedRelease(version, digest, comps))
    return out


_WORDS = ("operator cluster install upgrade channel storage network console monitoring logging policy secret "
          "certificate node workload namespace resource controller reconcile custom definition service mesh "
          "pipeline registry deployment replica status condition version managed automated backup restore "
          "the a of to and for with on in is that by this from which are be can as it at").split()


def synthetic_catalog(image_for: Callable[[str, str, str, bool], str], *, packages: int, bundles: int,
                      seed: int = 1) -> dict[str, bytes]:
    """An FBC of ``packages`` packages and about ``bundles`` bundles in all, shaped like Red Hat's catalogs:
    package sizes skewed (a few with hundreds of bundles, many with a handful), versions ``1.MINOR.PATCH`` on a
    ``stable`` channel (a replaces chain over every bundle, the default) and one ``stable-1.MINOR`` channel for
    each of the last three minors; every bundle with its GVKs, an ``olm.csv.metadata`` carrying the package's
    description (a few KB, the same in every bundle of a package, as real CSVs repeat it) and four images
    (bundle, operator, operand, kube-rbac-proxy). ``image_for(package, role, version, is_head)`` names each image.
    Files: ``configs/<package>/catalog.json``, indented JSON documents as ``opm render`` writes them."""
    rng = random.Random(seed)
    weights = [rng.paretovariate(1.2) for _ in range(packages)]
    scale = bundles / sum(weights)
    files = {}
    for p, weight in enumerate(weights):
        name = f"operator-{p:03d}"
        count = max(1, round(weight * scale))
        versions = [f"1.{i // 8}.{i % 8}" for i in range(count)]
        minors = sorted({v.rsplit(".", 1)[0] for v in versions}, key=lambda m: int(m.split(".")[1]))
        heads = {[v for v in versions if v.rsplit(".", 1)[0] == m][-1] for m in minors[-3:]}
        description = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(300, 700)))
        docs: list[dict] = [{"schema": "olm.package", "name": name, "defaultChannel": "stable",
                             "description": description[:400],
                             "icon": {"base64data": hashlib.sha256(name.encode()).hexdigest() * 40,
                                      "mediatype": "image/svg+xml"}}]
        chain = [{"name": f"{name}.v{v}", **({"replaces": f"{name}.v{versions[i - 1]}"} if i else {})}
                 for i, v in enumerate(versions)]
        docs.append({"schema": "olm.channel", "package": name, "name": "stable", "entries": chain})
        for m in minors[-3:]:
            entries = [e for e, v in zip(chain, versions) if v.rsplit(".", 1)[0] == m]
            docs.append({"schema": "olm.channel", "package": name, "name": f"stable-{m}",
                         "entries": [{"name": entries[0]["name"]}] + entries[1:]})
        for v in versions:
            head = v in heads
            images = {role: image_for(name, role, v, head) for role in ("bundle", "operator", "operand",
                                                                          "kube-rbac-proxy")}
            gvks = [{"group": f"{name}.example.com", "kind": kind, "version": "v1"} for kind in ("Widget", "Gadget")]
            docs.append({
                "schema": "olm.bundle", "name": f"{name}.v{v}", "package": name, "image": images["bundle"],
                "properties": [
                    *({"type": "olm.gvk", "value": g} for g in gvks),
                    {"type": "olm.package", "value": {"packageName": name, "version": v}},
                    {"type": "olm.csv.metadata", "value": {
                        "annotations": {"alm-examples": json.dumps([{"apiVersion": f"{g['group']}/v1",
                                                                      "kind": g["kind"], "metadata": {"name": "x"},
                                                                      "spec": {"size": 3}} for g in gvks]),
                                        "capabilities": "Seamless Upgrades", "containerImage": images["operator"],
                                        "createdAt": "2024-03-01T00:00:00Z", "support": "Red Hat"},
                        "crdDescriptions": {"owned": [{"name": f"{g['kind'].lower()}s.{g['group']}", **g,
                                                        "displayName": g["kind"]} for g in gvks]},
                        "description": description, "displayName": name.replace("-", " ").title(),
                        "installModes": [{"type": t, "supported": True} for t in ("OwnNamespace", "AllNamespaces")],
                        "keywords": ["bench", name], "maturity": "stable", "provider": {"name": "Red Hat"}}}],
                "relatedImages": [{"name": "" if role == "bundle" else role, "image": image}
                                  for role, image in images.items()]})
        files[f"configs/{name}/catalog.json"] = "".join(json.dumps(d, indent=4) + "\n" for d in docs).encode()
    return files
