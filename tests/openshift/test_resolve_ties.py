"""Equally long matching prefixes: the one that sorts first applies, as in containers/image.

containers/image (pkg/sysregistriesv2) keeps the loaded ``[[registry]]`` entries sorted by prefix
(``postProcessRegistries`` and ``updateWithConfigurationFrom``) and ``findRegistryWithParsedConfig`` keeps the first
of the longest matches. ``*`` sorts before letters and digits, so a wildcard beats an exact host of the same length,
wherever the entries stand in the file.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mirrorsync.cli.app import app
from mirrorsync.openshift.crs import IDMS, MirrorEntry, MirrorSet
from mirrorsync.errors import InputError
from mirrorsync.openshift.registries_conf import loads
from mirrorsync.openshift.resolve import Resolver, config_from_mirror_sets, find_registry, resolve

DIGEST = "sha256:" + "0123456789abcdef" * 4

# prefix -> the mirror that tells which entry applied
ENTRIES = {
    "a.example.com": "exact-a.local",
    "*.example.com": "wild-example.local",
    "b.a.example.com": "exact-ba.local",
    "*.a.example.com": "wild-a.local",
    "a.example.com:5000": "exact-a-5000.local",
}


def conf_text(prefixes: tuple[str, ...]) -> str:
    tables = []
    for prefix in prefixes:
        where = f'prefix = "{prefix}"' if prefix.startswith("*.") else f'location = "{prefix}"'
        tables.append(f'[[registry]]\n{where}\n[[registry.mirror]]\nlocation = "{ENTRIES[prefix]}"\n')
    return "\n".join(tables)


# reference -> (the entry that applies, the first source a node tries)
CASES = {
    # host: "a.example.com" and "*.example.com" are both 13 long
    "a.example.com/img:tag": ("*.example.com", "wild-example.local/img:tag"),
    # host:port: "a.example.com" matches "a.example.com:5000" too (containers/image's wart), and so does the
    # wildcard; the longer "a.example.com:5000" beats both
    "a.example.com:5000/img:tag": ("a.example.com:5000", "exact-a-5000.local/img:tag"),
    "a.example.com:6000/img:tag": ("*.example.com", "wild-example.local:6000/img:tag"),
    # nested: "b.a.example.com" and "*.a.example.com" are both 15 long; "*.example.com" is shorter
    "b.a.example.com/img:tag": ("*.a.example.com", "wild-a.local/img:tag"),
    "b.a.example.com:5000/img:tag": ("*.a.example.com", "wild-a.local:5000/img:tag"),
    f"c.b.a.example.com/img@{DIGEST}": ("*.a.example.com", f"wild-a.local/img@{DIGEST}"),
    # no tie: only the exact host or only the wildcard matches
    "x.example.com/img:tag": ("*.example.com", "wild-example.local/img:tag"),
}


@pytest.mark.parametrize("order", list(itertools.permutations(ENTRIES)), ids=lambda o: "|".join(o))
def test_the_entry_that_sorts_first_wins_whatever_the_file_order(order: tuple[str, ...]) -> None:
    config = loads(conf_text(order))
    resolver = Resolver(config)
    for ref, (prefix, first_source) in CASES.items():
        got = resolve(ref, config)
        assert (got.matched_prefix, got.sources[0].reference) == (prefix, first_source), ref
        assert resolver.resolve(ref) == got, ref
        name = got.reference.split("@")[0]
        head, _, last = name.rpartition("/")
        name = f"{head}/{last.split(':')[0]}"
        assert find_registry(config, name) is resolver.find_registry(name), ref


def test_loading_sorts_the_entries_by_prefix_as_containers_image_does() -> None:
    config = loads(conf_text(tuple(ENTRIES)))
    assert [r.prefix for r in config.registries] == [
        "*.a.example.com", "*.example.com", "a.example.com", "a.example.com:5000", "b.a.example.com"]


def test_a_blocked_wildcard_hides_the_mirrors_of_an_equally_long_host() -> None:
    # What the MCO writes for an IDMS on a.example.com and a cluster that blocks *.example.com: the mirrored entry
    # comes first in the file, but a node takes the blocked wildcard, which has no mirrors.
    sets = [MirrorSet(IDMS, "d", (MirrorEntry("a.example.com", ("mirror.local/a",)),))]
    config = config_from_mirror_sets(sets, blocked=["*.example.com"])
    got = resolve(f"a.example.com/img@{DIGEST}", config)
    assert got.matched_prefix == "*.example.com"
    assert got.blocked is True
    assert [(s.reference, s.mirror, s.blocked) for s in got.sources] == [
        (f"a.example.com/img@{DIGEST}", False, True)]
    # a longer prefix is not a tie: a repository entry keeps its mirrors
    sets = [MirrorSet(IDMS, "d", (MirrorEntry("a.example.com/team", ("mirror.local/a",)),))]
    got = resolve(f"a.example.com/team/img@{DIGEST}", config_from_mirror_sets(sets, blocked=["*.example.com"]))
    assert got.matched_prefix == "a.example.com/team"
    assert got.sources[0].reference == f"mirror.local/a/img@{DIGEST}"


def test_cli_resolve_shows_the_wildcard_entry(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(conf_text(("b.a.example.com", "*.a.example.com")))
    result = CliRunner().invoke(app, ["resolve", "b.a.example.com/img:tag", "--registries-conf", str(conf)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ('b.a.example.com/img:tag (registries.conf entry "*.a.example.com")\n'
                             "  1. wild-a.local/img:tag  (mirror)\n"
                             "  2. b.a.example.com/img:tag  (primary)\n")
    conf.write_text(conf_text(tuple(ENTRIES)))
    result = CliRunner().invoke(app, ["resolve", "b.a.example.com:5000/img:tag", "--registries-conf", str(conf),
                                      "--output", "json"])
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["matchedPrefix"] == "*.a.example.com"
    assert [s["reference"] for s in got["sources"]] == ["wild-a.local:5000/img:tag", "b.a.example.com:5000/img:tag"]


@pytest.mark.parametrize("prefix", ["*.example.com:5000", "*.example.com/ns", "*.example.com@x"])
def test_a_wildcard_with_port_path_or_digest_is_refused_as_containers_image_does(prefix: str) -> None:
    with pytest.raises(InputError) as info:
        loads(f'[[registry]]\nprefix = "{prefix}"\nlocation = "m.local"\n', path="/etc/containers/registries.conf")
    assert info.value.message == ("Wildcarded prefix should be in the format: *.example.com. Current prefix "
                                  f'"{prefix}" is incorrectly formatted')
    assert info.value.file == "/etc/containers/registries.conf"
