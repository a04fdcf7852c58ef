"""One reference grammar: the manifest's parser (registry/reference.py) and resolve (what a node does) agree.

They disagreed on sha384 — resolve took it, as go-digest does, the manifest refused it.
"""

from __future__ import annotations

import hashlib

import pytest

from mirrorsync.errors import InputError
from mirrorsync.oci.content import digest_of
from mirrorsync.openshift.crs import IDMS, MirrorEntry, MirrorSet
from mirrorsync.openshift.resolve import config_from_mirror_sets, normalize_reference, resolve
from mirrorsync.registry import reference
from mirrorsync.sync.manifest import parse as parse_manifest

SHA384 = "sha384:" + hashlib.sha384(b"mirrorsync").hexdigest()


def _accepts(parse, text: str) -> bool:
    try:
        parse(text)
    except InputError:
        return False
    return True


@pytest.mark.parametrize("digest", [
    "sha256:" + "a" * 64, SHA384, "sha512:" + "a" * 128,
    "sha384:" + "a" * 64, "sha256:" + "a" * 96, "sha384:" + "A" * 96, "md5:" + "a" * 32, "sha384:" + "g" * 96,
])
@pytest.mark.parametrize("name", ["quay.io/ns/app", "busybox", "localhost:5000/app", "Quay.io/app"])
def test_the_manifest_and_resolve_take_the_same_references(name, digest):
    text = f"{name}@{digest}"
    assert _accepts(reference.parse, text) == _accepts(normalize_reference, text)


def test_a_sha384_digest_is_pinned_resolved_and_hashed():
    manifest = parse_manifest(f"""
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example:5000/m]
images:
  - source: quay.io/ns/app
    digests: [{SHA384}]
""")
    assert list(manifest.images[0].digests) == [SHA384]
    idms = MirrorSet(IDMS, "m", [MirrorEntry("quay.io/ns/app", ["mirror.example:5000/m/app"])])
    config = config_from_mirror_sets([idms])
    pulls = [s.reference for s in resolve(f"quay.io/ns/app@{SHA384}", config).sources]
    assert pulls == [f"mirror.example:5000/m/app@{SHA384}", f"quay.io/ns/app@{SHA384}"]
    assert digest_of(b"mirrorsync", like="sha384:") == SHA384  # what the copy checks pulled bytes against


def test_short_names_normalise_alike():
    for text in ["busybox", "library/busybox:1", "index.docker.io/busybox", "localhost/app", "Example/app",
                 "quay.io/a/b:v1"]:
        ref = reference.parse(text)
        assert normalize_reference(text).startswith(ref.name)
