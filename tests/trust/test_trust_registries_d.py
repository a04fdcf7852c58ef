"""containers-registries.d(5): lookaside stores and use-sigstore-attachments, looked up as containers/image does."""

from __future__ import annotations

import pytest

from mirrorsync.errors import InputError
from mirrorsync.registry import reference
from mirrorsync.trust import registries_d


def load(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return registries_d.load(str(tmp_path))


def ref(text):
    return reference.parse_normalized_named(text)


def test_most_specific_scope_then_default(tmp_path):
    regs = load(tmp_path, **{
        "a.yaml": "default-docker:\n  lookaside: https://sigs.example.com/default\n",
        "b.yaml": "docker:\n  quay.io/ns:\n    lookaside: file:///srv/sigs\n    use-sigstore-attachments: true\n"
                  "  quay.io/ns/app:\n    sigstore: https://old.example.com/s/\n",
        "ignored.txt": "not: [yaml",
    })
    assert regs.lookaside(ref("quay.io/ns/app:1")) == "https://old.example.com/s/ns/app"
    assert regs.lookaside(ref("quay.io/ns/other:1")) == "file:///srv/sigs/ns/other"
    assert regs.lookaside(ref("busybox:1")) == "https://sigs.example.com/default/library/busybox"
    assert regs.use_sigstore_attachments(ref("quay.io/ns/app:1")) is True  # from the namespace
    assert regs.use_sigstore_attachments(ref("busybox:1")) is False  # containers/image's default
    assert registries_d.signature_url("file:///srv/sigs/ns/other", "sha256:" + "a" * 64, 2) == \
        "file:///srv/sigs/ns/other@sha256=" + "a" * 64 + "/signature-2"


@pytest.mark.parametrize("files,field,words", [
    ({"a.yaml": "default-docker:\n  lookaside: x\n", "b.yaml": "default-docker:\n  lookaside: file:///y\n"},
     "default-docker.lookaside", "a file://"),
    ({"a.yaml": "docker:\n  q.io:\n    lookaside: file:///x\n",
      "b.yaml": "docker:\n  q.io:\n    sigstore: file:///y\n"},
     "docker.q.io", "also defined in"),
    ({"a.yaml": "docker:\n  q.io:\n    lookasid: file:///x\n"}, "docker.q.io.lookasid", "unknown field"),
    ({"a.yaml": "docker:\n  q.io:\n    use-sigstore-attachments: yes please\n"},
     "docker.q.io.use-sigstore-attachments", "true or false"),
])
def test_bad_files(tmp_path, files, field, words):
    with pytest.raises(InputError) as info:
        load(tmp_path, **files)
    assert info.value.field == field and words in info.value.message and info.value.line
