"""Real skopeo as the judge of equally long prefixes: the entry that sorts first applies, as ``resolve`` says.

Every primary location is ``blocked``, so skopeo never contacts (or looks up) the example.com hosts: it can only
succeed through a mirror on the loopback registry, and the digest it gets says which entry's mirror that was.
"""

from __future__ import annotations

import hashlib

import pytest

from mirrorsync.errors import InputError
from mirrorsync.openshift.registries_conf import loads
from mirrorsync.openshift.resolve import resolve
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration


def entry(prefix: str, mirror: str) -> str:
    where = f'prefix = "{prefix}"' if prefix.startswith("*.") else f'location = "{prefix}"'
    return (f'[[registry]]\n{where}\nblocked = true\n'
            f'[[registry.mirror]]\nlocation = "{mirror}"\ninsecure = true\n')


def pull_digest(skopeo, conf, ref: str) -> str:
    raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{ref}").stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_wildcard_beats_an_equally_long_host_and_nested_host(tmp_path, registry, seed, unique_repo, skopeo):
    namespaces = {prefix: unique_repo(prefix.replace("*", "wild"))
                  for prefix in ("a.example.com", "b.a.example.com", "*.example.com", "*.a.example.com")}
    # a different image behind each entry's mirror: the digest names the entry
    digests = {prefix: seed(registry, f"{ns}/img", "v1", seed=i).digest
               for i, (prefix, ns) in enumerate(namespaces.items())}
    assert len(set(digests.values())) == 4
    conf = tmp_path / "registries.conf"
    # exact hosts first in the file: file order would pick them
    conf.write_text("\n".join(entry(prefix, f"{registry.host}/{ns}") for prefix, ns in namespaces.items()))
    config = loads(conf.read_text())
    for ref, winner in (("a.example.com/img:v1", "*.example.com"), ("b.a.example.com/img:v1", "*.a.example.com")):
        assert pull_digest(skopeo, conf, ref) == digests[winner], ref
        got = resolve(ref, config)
        assert got.matched_prefix == winner
        assert got.sources[0].reference == f"{registry.host}/{namespaces[winner]}/img:v1"


def test_wildcard_beats_an_equally_long_host_for_a_host_port_reference(tmp_path, registry, seed, unique_repo,
                                                                          skopeo):
    repo = unique_repo("hostport")
    img = seed(registry, repo, "v1")
    port = registry.host.rsplit(":", 1)[1]
    ref = f"a.example.com:{port}/{repo}:v1"
    conf = tmp_path / "registries.conf"
    # "a.example.com" matches "a.example.com:PORT" too; had it applied, its mirror would be rewritten to the
    # invalid "127.0.0.1:1/x:PORT/..." and the pull would fail. The wildcard's bare-host mirror keeps the port.
    conf.write_text(entry("a.example.com", "127.0.0.1:1/x") + "\n" + entry("*.example.com", "127.0.0.1"))
    assert pull_digest(skopeo, conf, ref) == img.digest
    got = resolve(ref, loads(conf.read_text()))
    assert got.matched_prefix == "*.example.com"
    assert got.sources[0].reference == f"{registry.host}/{repo}:v1"
    # the exact host alone: skopeo and resolve both refuse the rewritten mirror
    conf.write_text(entry("a.example.com", "127.0.0.1:1/x"))
    with pytest.raises(SkopeoError) as info:
        pull_digest(skopeo, conf, ref)
    assert "rewriting reference" in info.value.stderr
    with pytest.raises(InputError) as refused:
        resolve(ref, loads(conf.read_text()))
    assert refused.value.message == "rewriting reference: invalid reference format"
