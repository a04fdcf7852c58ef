"""``kubeVirtContainer: true``: a release's KubeVirt disk images from its boot-images manifest (the ConfigMap whose
``data.stream`` is the CoreOS stream JSON), read from a release image on the real registry, and added to the
release's components (one per architecture of a multi-arch release); what cannot be used is refused."""

from __future__ import annotations

import json
import logging

import pytest

from mirrorsync.openshift.releases import bootimages, payload, select
from mirrorsync.openshift.releases.bootimages import BOOT_IMAGES, BootImagesError
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from devtools.openshift import coreos_bootimages, push_release
from support.releases import push_component

D = "sha256:" + "1" * 64
E = "sha256:" + "2" * 64


@pytest.fixture
def client(registry):
    c = RegistryClient(registry.host, settings=RegistrySettings(tls_verify=False), policy=RetryPolicy(attempts=1))
    yield c
    c.close()


def test_the_stream_names_one_disk_per_architecture_by_digest():
    data = coreos_bootimages({"x86_64": f"quay.io/r/art@{D}", "aarch64": f"quay.io/r/art@{E}"})
    got = bootimages.kubevirt_images(data, "rel")
    assert {a: str(r) for a, r in got.items()} == {"aarch64": f"quay.io/r/art@{E}", "x86_64": f"quay.io/r/art@{D}"}
    # an architecture without a kubevirt image is left out
    doc = json.loads(data)
    stream = json.loads(doc["data"]["stream"])
    del stream["architectures"]["aarch64"]["images"]["kubevirt"]
    doc["data"]["stream"] = json.dumps(stream)
    assert list(bootimages.kubevirt_images(json.dumps(doc).encode(), "rel")) == ["x86_64"]


@pytest.mark.parametrize("data, message", [
    (b"{: not yaml", "is not YAML"),
    (b"kind: Secret\ndata: {stream: '{}'}\n", "is not a ConfigMap with data.stream"),
    (b"kind: ConfigMap\ndata: {stream: 'nope'}\n", "data.stream is not JSON"),
    (b"kind: ConfigMap\ndata: {stream: '{}'}\n", "data.stream has no architectures"),
    (coreos_bootimages({"x86_64": "quay.io/r/art:latest"}), "x86_64: kubevirt digest-ref quay.io/r/art:latest is "
                                                             "not by digest"),
])
def test_what_cannot_be_used_is_refused(data, message):
    with pytest.raises(BootImagesError) as err:
        bootimages.kubevirt_images(data, "rel")
    assert str(err.value).startswith(f"rel: {BOOT_IMAGES}") and message in str(err.value)


def test_read_from_the_release_image_only_when_asked(client, pusher_for, registry, unique_repo):
    pusher = pusher_for(registry)
    repo = unique_repo("rel")
    disk = push_component(pusher, f"{repo}-art", "kubevirt-disk", 0)
    cli = push_component(pusher, f"{repo}-art", "cli", 0)
    push_release(pusher, repo, "4.15.0-x86_64", "4.15.0", {"cli": cli}, [],
                 kubevirt={"x86_64": disk.digest_reference})
    assert payload.read(client, repo, "4.15.0-x86_64").kubevirt == ()
    got = payload.read(client, repo, "4.15.0-x86_64", kubevirt=True)
    assert [(a, str(r)) for a, r in got.kubevirt] == [("x86_64", disk.digest_reference)]
    with_disk = select.with_kubevirt(got, "amd64")
    assert [(c.name, str(c.image)) for c in with_disk.components] == [
        ("cli", cli.digest_reference), ("kubevirt-container", disk.digest_reference)]
    # a release without a boot-images manifest: no disk, and asking for one is no error
    push_release(pusher, repo, "4.14.0-x86_64", "4.14.0", {"cli": cli}, [])
    assert payload.read(client, repo, "4.14.0-x86_64", kubevirt=True).kubevirt == ()


def test_a_multi_arch_release_takes_every_architectures_disk_and_a_missing_one_is_a_warning(caplog):
    def release(multi, disks):
        return payload.Release("sha256:" + "9" * 64, "4.16.0", (), (), multi, "amd64",
                               tuple(sorted((a, payload.parse_reference(r)) for a, r in disks.items())))

    multi = select.with_kubevirt(release(True, {"x86_64": f"q.io/a@{D}", "aarch64": f"q.io/a@{E}"}), "multi")
    assert [(c.name, str(c.image)) for c in multi.components] == [
        ("kubevirt-container-aarch64", f"q.io/a@{E}"), ("kubevirt-container-x86_64", f"q.io/a@{D}")]
    with caplog.at_level(logging.WARNING):
        arm = select.with_kubevirt(release(False, {"x86_64": f"q.io/a@{D}"}), "arm64")
    assert arm.components == ()
    assert "release 4.16.0 (sha256:9999" in caplog.text and "names no KubeVirt disk image for arm64" in caplog.text
