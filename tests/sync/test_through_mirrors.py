"""Reading a source through its mirrors: the first location that has what is asked for answers."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from mirrorsync.errors import NotFound, Unreachable
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.sync.copy import Copier, Target
from mirrorsync.sync.through_mirrors import Location, SourceThroughMirrors
from support.memstore import MemoryStore, make_image

NAME = "quay.io/ns/app"


class DownStore(MemoryStore):
    def manifest_descriptor(self, repo, ref):
        raise Unreachable(f"{self.name}: connection refused")

    get_manifest = list_tags = has_blob = lambda self, *a: DownStore.manifest_descriptor(self, "", "")


def _through(digest_locations, tag_locations=None):
    return SourceThroughMirrors(lambda name, by_digest: digest_locations if by_digest or tag_locations is None
                                else tag_locations)


def test_the_first_mirror_that_has_the_image_serves_it_and_the_report_says_which():
    down, empty, enterprise, dst = DownStore("down"), MemoryStore("empty"), MemoryStore("ent"), MemoryStore("dst")
    index = make_image(enterprise, "ent/ns/app", "v1")
    through = _through([Location(down, "ns/app", "down/ns/app"), Location(empty, "ns/app", "empty/ns/app"),
                        Location(enterprise, "ent/ns/app", "ent/ent/ns/app")])
    with ThreadPoolExecutor(2) as pool:
        result = Copier(pool, policy=RetryPolicy(attempts=1)).copy(through, NAME, "v1", [Target(dst, "m/app", "d")],
                                                                  tag="v1")
    assert result.error is None and dst.tags[("m/app", "v1")] == index.digest
    assert through.read_from(NAME, "v1") == "ent/ent/ns/app"
    assert not empty.reads and len(enterprise.reads) == 5  # every blob from where the manifest was found


def test_a_tag_no_location_has_is_not_on_any_mirror_with_every_location_tried():
    down, empty = DownStore("down"), MemoryStore("empty")
    through = _through([Location(down, "ns/app", "down/ns/app"), Location(empty, "ns/app", "quay.io/ns/app",
                                                                          mirror=False)])
    with pytest.raises(NotFound) as caught:
        through.get_manifest(NAME, "v3")
    assert str(caught.value) == ("quay.io/ns/app:v3: not on any mirror (tried: down/ns/app "
                                 "(down: connection refused), quay.io/ns/app)")
    assert through.manifest_descriptor(NAME, "v3") is None


def test_tag_lists_are_those_of_the_tag_locations_that_answer():
    subset, digest_only = MemoryStore("subset"), MemoryStore("digest-only")
    make_image(subset, "ns/app", "v1")
    make_image(digest_only, "ns/app", "v2")
    through = _through([Location(digest_only, "ns/app", "digest-only/ns/app")],
                       [Location(DownStore("down"), "ns/app", "down/ns/app"), Location(subset, "ns/app", "s/ns/app")])
    assert through.list_tags(NAME) == ["v1"]
    nowhere = _through([], [Location(DownStore("down"), "ns/app", "down/ns/app")])
    with pytest.raises(NotFound, match=r"listing tags of quay.io/ns/app: not on any mirror \(tried: down/ns/app"):
        nowhere.list_tags(NAME)


def test_every_location_blocked_says_so():
    with pytest.raises(NotFound, match=r"not on any mirror \(tried: none, every location is blocked\)"):
        _through([]).get_manifest(NAME, "sha256:" + "0" * 64)


def test_a_location_that_could_not_be_reached_is_tried_last_from_then_on():
    class CountingDown(DownStore):
        asked = 0

        def manifest_descriptor(self, repo, ref):
            CountingDown.asked += 1
            return super().manifest_descriptor(repo, ref)

    down, enterprise = CountingDown("down"), MemoryStore("ent")
    index = make_image(enterprise, "ns/app", "v1")
    through = _through([Location(down, "ns/app", "down/ns/app"), Location(enterprise, "ns/app", "ent/ns/app")])
    assert through.manifest_descriptor(NAME, "v1").digest == index.digest
    assert through.manifest_descriptor(NAME, "v1").digest == index.digest
    assert CountingDown.asked == 1
    with pytest.raises(NotFound, match=r"tried: ent/ns/app, down/ns/app \(down: connection refused\)"):
        through.get_manifest(NAME, "v9")  # still tried, last


def test_what_is_derived_from_a_digest_is_read_where_that_digest_was_found():
    """containers/image reads sigstore attachments at the image's physical location: here the location that
    served the digest, by tag or by digest, asked once when nothing read it yet."""
    enterprise, source = MemoryStore("ent"), DownStore("source")
    index = make_image(enterprise, "ent/ns/app", "v1")
    by_tag = _through([Location(enterprise, "ent/ns/app", "ent/ent/ns/app")],
                      [Location(enterprise, "ent/ns/app", "ent/ent/ns/app"), Location(source, "ns/app", NAME)])
    by_tag.get_manifest(NAME, "v1")
    assert by_tag.where(NAME, index.digest) == (enterprise, "ent/ns/app")
    # never read: the digest locations are asked (the tag-only source is not)
    fresh = _through([Location(enterprise, "ent/ns/app", "ent/ent/ns/app")], [Location(source, "ns/app", NAME)])
    assert fresh.where(NAME, index.digest) == (enterprise, "ent/ns/app")
    with pytest.raises(NotFound, match="not on any mirror"):
        fresh.where(NAME, "sha256:" + "1" * 64)


def test_a_digest_a_tag_only_mirror_served_is_read_there_again():
    """An index pulled by tag from a tag-only mirror: its children, asked by digest, come from that mirror, not
    from the digest locations (here only the source, which is down)."""
    tag_only, source, dst = MemoryStore("tag-only"), DownStore("source"), MemoryStore("dst")
    index = make_image(tag_only, "ent/ns/app", "v1")
    through = _through([Location(source, "ns/app", NAME, mirror=False)],
                       [Location(tag_only, "ent/ns/app", "t/ent/ns/app"), Location(source, "ns/app", NAME, mirror=False)])
    with ThreadPoolExecutor(2) as pool:
        result = Copier(pool, policy=RetryPolicy(attempts=1)).copy(through, NAME, "v1", [Target(dst, "m/app", "d")],
                                                                  tag="v1")
    assert result.error is None and dst.tags[("m/app", "v1")] == index.digest
    assert through.get_manifest(NAME, index.digest).digest == index.digest
