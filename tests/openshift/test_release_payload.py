"""Reading a release image's release-manifests/ from the real registry, and what is refused as ``oc`` refuses it."""

from __future__ import annotations

import json

import pytest

from mirrorsync.openshift.releases import graph, payload
from mirrorsync.openshift.releases.payload import PayloadError
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from devtools.openshift import GraphServer, image_references, push_release, release_metadata
from support.releases import push_component


@pytest.fixture
def client(registry):
    c = RegistryClient(registry.host, settings=RegistrySettings(tls_verify=False), policy=RetryPolicy(attempts=1))
    yield c
    c.close()


def push(pusher, repo, files):
    return push_release(pusher, repo, "x", "4.15.0", {}, [], files=files)


def test_components_version_and_previous_are_read(client, pusher_for, registry, unique_repo):
    pusher = pusher_for(registry)
    repo = unique_repo("rel")
    comps = {n: push_component(pusher, f"{repo}-art", n, 0) for n in ("b-cli", "a-etcd")}
    digest = push_release(pusher, repo, "4.15.1-x86_64", "4.15.1", comps, ["4.15.0"])
    got = payload.read(client, repo, "4.15.1-x86_64")
    assert (got.digest, got.version, got.previous, got.multi, got.architecture) == (
        digest, "4.15.1", ("4.15.0",), False, "amd64")
    assert [(c.name, str(c.image)) for c in got.components] == [
        ("a-etcd", comps["a-etcd"].digest_reference), ("b-cli", comps["b-cli"].digest_reference)]


def stream(tags):
    return json.dumps({"kind": "ImageStream", "apiVersion": "image.openshift.io/v1", "spec": {"tags": tags}}).encode()


D = "sha256:" + "1" * 64
META = release_metadata("4.15.0", [])


@pytest.mark.parametrize("files, message", [
    ({"release-manifests/release-metadata": META}, "not a release image: it has no release-manifests/image-references"),
    ({"release-manifests/image-references": image_references({})}, "it has no release-manifests/release-metadata"),
    ({"release-manifests/image-references": b"{", "release-manifests/release-metadata": META}, "is not JSON"),
    ({"release-manifests/image-references": json.dumps({"kind": "List", "apiVersion": "v1"}).encode(),
      "release-manifests/release-metadata": META}, "is not an image.openshift.io/v1 ImageStream"),
    ({"release-manifests/image-references": stream([{"name": "cli", "from": {"kind": "DockerImage",
                                                                             "name": "q.example.com/a:latest"}}]),
      "release-manifests/release-metadata": META}, r"spec.tags\[0\] \(cli\): q.example.com/a:latest is not by digest"),
    ({"release-manifests/image-references": stream([{"name": "cli", "from": {"kind": "DockerImage",
                                                                             "name": f"q.example.com/a@{D}"}}] * 2),
      "release-manifests/release-metadata": META}, "component 'cli' is listed twice"),
    ({"release-manifests/image-references": image_references({}),
      "release-manifests/release-metadata": b'{"kind": "other", "version": "4.15.0"}'}, "not cincinnati-metadata-v0"),
    ({"release-manifests/image-references": stream([{"name": "../x", "from": {"kind": "DockerImage",
                                                                              "name": f"q.example.com/a@{D}"}}]),
      "release-manifests/release-metadata": META}, "'../x' is not a component name"),
])
def test_what_oc_refuses_is_refused_with_one_clear_line(client, pusher_for, registry, unique_repo, files, message):
    repo = unique_repo("rel")
    push(pusher_for(registry), repo, files)
    with pytest.raises(PayloadError, match=message):
        payload.read(client, repo, "x")


def test_a_graph_answer_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(graph, "MAX_GRAPH_BYTES", 512)
    big = {"nodes": [{"version": f"4.15.{i}", "payload": f"q.example.com/r@{D}"} for i in range(50)]}
    with GraphServer({("c", "amd64"): big}) as server:
        with pytest.raises(Exception, match="more than"):
            graph.fetch(server.url, "c", "amd64", policy=RetryPolicy(attempts=1))


def test_an_index_without_amd64_is_read_through_its_first_image(client, pusher_for, registry, unique_repo):
    from devtools.samples import Platform, make_config, make_files_layer, make_index, make_manifest

    pusher = pusher_for(registry)
    repo = unique_repo("rel")
    files = {"release-manifests/image-references": image_references({}),
             "release-manifests/release-metadata": release_metadata("4.15.0", [])}
    children = []
    for plat in ("linux/arm64", "linux/s390x"):
        layer, diff = make_files_layer(files)
        config = make_config(Platform.parse(plat), [diff])
        manifest = make_manifest(config, [layer])
        for blob in (layer, config):
            pusher.push_blob(repo, blob)
        pusher.push_manifest(repo, manifest.digest, manifest)
        children.append((manifest, Platform.parse(plat)))
    pusher.push_manifest(repo, "x", make_index(children))
    got = payload.read(client, repo, "x")
    assert (got.version, got.architecture) == ("4.15.0", "arm64")


class CountingReads:
    """A store that records which blobs are read."""

    def __init__(self, store) -> None:
        self.store = store
        self.read: list[str] = []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def read_blob(self, repo, desc):
        self.read.append(desc.digest)
        return self.store.read_blob(repo, desc)


def test_the_top_layer_alone_is_read_when_it_holds_both_files(client, pusher_for, registry, unique_repo):
    from devtools.samples import Platform, make_config, make_files_layer, make_layer, make_manifest

    pusher = pusher_for(registry)

    def push_layers(repo, layers):
        config = make_config(Platform.parse("amd64"), [diff for _, diff in layers])
        manifest = make_manifest(config, [blob for blob, _ in layers])
        for blob in (config, *(b for b, _ in layers)):
            pusher.push_blob(repo, blob)
        pusher.push_manifest(repo, "x", manifest)
        return [blob.digest for blob, _ in layers]

    both = {"release-manifests/image-references": image_references({}),
            "release-manifests/release-metadata": release_metadata("4.15.0", [])}
    repo = unique_repo("rel")
    base, top = push_layers(repo, [make_layer("os", 4096), make_files_layer(both)])
    counting = CountingReads(client)
    assert payload.read(counting, repo, "x").version == "4.15.0"
    assert base not in counting.read and top in counting.read

    # a top layer with one of them: every layer is read, and a later layer still wins
    repo = unique_repo("rel")
    layers = push_layers(repo, [make_files_layer({**both, "release-manifests/release-metadata":
                                                  release_metadata("4.14.0", [])}),
                                make_layer("os", 4096),
                                make_files_layer({"release-manifests/release-metadata":
                                                  release_metadata("4.15.1", [])})])
    counting = CountingReads(client)
    assert payload.read(counting, repo, "x").version == "4.15.1"
    assert set(layers) <= set(counting.read)
