"""Bad input never gets a traceback: property-based tests over every loader a user feeds files or strings to.

Whatever the input, a loader either accepts it or raises ``InputError`` rendering as exactly one line; the CLI
commands answer exit code 2 with one ``error:`` line on stderr. Examples that once broke that are pinned with
``@example``. Example counts stay modest so the whole module runs in seconds.
"""

from __future__ import annotations

import math
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mirrorsync.openshift import crs, documents, mco, migrate_icsp, registries_conf, resolve
from mirrorsync.sync import manifest
from mirrorsync.registry import reference
from mirrorsync.cli.app import app
from mirrorsync.errors import InputError

T = TypeVar("T")

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_MANIFEST = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example:5000/ocp]
registries:
  mirror.example:5000: {tlsVerify: false}
options: {retries: 2, timeout: 30}
defaults: {mirrorSourcePolicy: AllowContactingSource}
images:
  - source: quay.io/openshift/origin-cli
    tags: ["4.15"]
    allTags: false
  - source: registry.example.com/team/app
    include: ['^v1\\.']
    exclude: ['-rc']
    destination: team/app
"""

VALID_IDMS = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: example}
spec:
  imageDigestMirrors:
    - source: quay.io/openshift
      mirrors: [mirror.example:5000/ocp]
      mirrorSourcePolicy: NeverContactSource
"""

VALID_ICSP = """\
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: example}
spec:
  repositoryDigestMirrors:
    - source: quay.io/openshift
      mirrors: [mirror.example:5000/ocp]
"""

VALID_REGISTRIES_CONF = """\
unqualified-search-registries = ["registry.access.redhat.com"]
[[registry]]
prefix = ""
location = "quay.io/openshift"
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror.example:5000/ocp"
"""

# deeper than any real file, deep enough to exhaust Python's recursion limit in a recursive loader
DEEP_YAML = "images: " + "[" * 1000 + "]" * 1000 + "\n"


def one_line(text: str) -> bool:
    return bool(text.strip()) and len(text.strip().splitlines()) == 1 and "Traceback" not in text


def accepts_or_one_line(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``fn(...)``, or None when it raised an ``InputError`` of one line; any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        assert one_line(str(exc)), f"not one line: {str(exc)!r}"
        return None


# --- strategies -------------------------------------------------------------------------------------------------

_WORDS = ["apiVersion", "kind", "mirrors", "registries", "defaults", "images", "options", "source", "tags",
          "digests", "allTags", "include", "exclude", "destination", "mirrorSourcePolicy", "mirrorSets", "scope",
          "tlsVerify", "certDir", "authFile", "engine", "concurrency", "blobConcurrency", "retries", "timeout",
          "metadata", "name", "spec", "imageDigestMirrors", "imageTagMirrors", "repositoryDigestMirrors",
          "items", "List", "prefix", "location", "mirror", "insecure", "blocked", "pull-from-mirror",
          "mirror-by-digest-only", "ImageDigestMirrorSet", "ImageTagMirrorSet", "ImageContentSourcePolicy",
          "config.openshift.io/v1", "operator.openshift.io/v1alpha1", "mirrorsync.dev/v1alpha1", "SyncManifest",
          "quay.io/openshift", "mirror.example:5000/ocp", "*.example.com", "docker.io", "v1", "4.15", "latest",
          "sha256:" + "a" * 64, "NeverContactSource", "AllowContactingSource", "digest", "tag", "native"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(_WORDS),
    st.text(max_size=30), st.text(alphabet=string.printable, max_size=30),
)
keys = st.one_of(st.sampled_from(_WORDS), st.text(max_size=12), st.integers(-5, 5), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=False)


@st.composite
def manifest_like(draw: st.DrawFn) -> str:
    """A document shaped like a manifest, with any values in its fields."""
    doc: dict[Any, Any] = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest",
                           "mirrors": draw(st.one_of(st.just(["mirror.example:5000/ocp"]), values)),
                           "images": draw(st.lists(st.dictionaries(st.sampled_from(_WORDS), values, max_size=6)
                                                   .map(lambda d: {"source": "quay.io/a/b", **d}), max_size=3))}
    for key in draw(st.lists(st.sampled_from(["registries", "options", "defaults"]), unique=True)):
        doc[key] = draw(st.dictionaries(keys, values, max_size=4))
    doc.update(draw(st.dictionaries(keys, values, max_size=2)))
    return dump(doc)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few characters deleted, inserted or replaced."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(chars)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        # codec: a file cannot hold a lone surrogate, so the test could not even write such a text
        c = draw(st.one_of(st.sampled_from(list(":-[]{}'\"#&*!|>%@`,\n\t \\")), st.characters(codec="utf-8")))
        if op == "insert" or not chars:
            chars.insert(i, c)
        elif i < len(chars):
            if op == "delete":
                del chars[i]
            else:
                chars[i] = c
    return "".join(chars)


@st.composite
def cr_like(draw: st.DrawFn) -> str:
    """A document shaped like an IDMS, ITMS, ICSP or a List of them, with any values in its fields."""
    kind = draw(st.sampled_from(["ImageDigestMirrorSet", "ImageTagMirrorSet", "ImageContentSourcePolicy", "List"]))
    field = {"ImageDigestMirrorSet": "imageDigestMirrors", "ImageTagMirrorSet": "imageTagMirrors"}.get(
        kind, "repositoryDigestMirrors")
    entries = draw(st.lists(st.dictionaries(st.sampled_from(["source", "mirrors", "mirrorSourcePolicy"]), values,
                                            max_size=3), max_size=3))
    doc: dict[Any, Any] = {"apiVersion": draw(st.sampled_from(_WORDS)), "kind": kind,
                           "metadata": draw(st.one_of(st.just({"name": "x"}), values)),
                           "spec": draw(st.one_of(st.just({field: entries}), values))}
    if kind == "List":
        doc["items"] = draw(st.lists(values, max_size=3))
    return dump(doc)


references = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"\A([a-zA-Z0-9.-]{1,12}(:[0-9]{1,5})?/)?[a-z0-9._/-]{1,30}(:[\w.-]{1,12})?(@sha256:[0-9a-f]{64})?"
                  r"\s?\Z"),
    st.builds(lambda a, b: a + b, st.sampled_from(["quay.io/a/b", "busybox", "localhost:5000/x", "a:1"]),
              st.text(max_size=6)),
)


def write(directory: str, name: str, text: str) -> str:
    path = Path(directory) / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- the manifest loader ----------------------------------------------------------------------------------------


def test_the_valid_examples_are_valid():
    assert manifest.parse(VALID_MANIFEST, "m.yaml").images[1].destination == "team/app"
    assert crs.parse_mirror_set(documents.parse_yaml_documents(VALID_IDMS, file="x.yaml")[0]).entries
    assert registries_conf.loads(VALID_REGISTRIES_CONF).registries


@FUZZ
@given(st.one_of(st.text(), manifest_like(), mutated(VALID_MANIFEST), values.map(dump)))
@example(VALID_MANIFEST.replace('"4.15"', '"v1\\n"'))  # a tag with a trailing newline
@example(VALID_MANIFEST.replace("quay.io/openshift/origin-cli", '"quay.io/openshift/origin-cli\\n"'))
@example(VALID_MANIFEST.replace("destination: team/app", 'destination: "team/app\\n"'))
@example(VALID_MANIFEST.replace("mirror.example:5000: {", '"mirror.example:5000\\n": {'))
@example(VALID_MANIFEST.replace("[mirror.example:5000/ocp]", '["mirror.example:5000/ocp\\n"]'))
@example(VALID_MANIFEST + '"two\\nlines": 1\n')  # an unknown key that is not one line
@example(VALID_MANIFEST.replace("timeout: 30", "timeout: .nan"))
@example(VALID_MANIFEST.replace("timeout: 30", "timeout: .inf"))
@example(VALID_MANIFEST.replace("retries: 2", "retries: 1e400"))
@example(DEEP_YAML)
@example("a: !!python/object:os.system {}\n")
@example("a: &x [*x]\n")
@example("\ufeff" + VALID_MANIFEST)
def test_manifest_parse_accepts_or_says_why_in_one_line(text):
    m = accepts_or_one_line(manifest.parse, text, "m.yaml")
    if m is None:
        return
    # what is accepted is usable as is: names without whitespace, a finite positive timeout
    for spec in m.images:
        for name in (spec.source.name, spec.destination, *spec.tags, *spec.digests):
            assert name == name.strip() and name.isprintable(), repr(name)
    for mirror in m.mirrors:
        assert mirror.location.isprintable() and mirror.location == mirror.location.strip(), repr(mirror)
    for host in m.registries:
        assert host.isprintable() and host == host.strip(), repr(host)
    assert math.isfinite(m.options.timeout) and m.options.timeout > 0


# --- the reference parser ---------------------------------------------------------------------------------------


@FUZZ
@given(references)
@example("busybox\n")
@example("quay.io/a/b:v1\n")
@example("quay.io/a/b@sha256:" + "a" * 64 + "\n")
@example("quay.io/a/b:tagé")
@example("quay.io/a/b:v١")  # an Arabic-Indic digit: \w in Python, not in the distribution grammar
def test_reference_parse_accepts_or_says_why_in_one_line(text):
    ref = accepts_or_one_line(reference.parse, text)
    if ref is None:
        return
    shown = str(ref)
    assert shown.isascii() and shown.isprintable() and not any(c.isspace() for c in shown), repr(shown)
    assert reference.parse(shown) == ref, "a parsed reference must parse back to itself"


@FUZZ
@given(st.text(max_size=140))
@example("v1\n")
@example("v1 ")
@example("١")
def test_tags_and_digests_are_validated_exactly(text):
    tag = accepts_or_one_line(reference.validate_tag, text)
    if tag is not None:
        assert tag.isascii() and tag.isprintable() and tag == tag.strip() and len(tag) <= 128, repr(tag)
    digest = accepts_or_one_line(reference.validate_digest, "sha256:" + text)
    if digest is not None:
        assert len(digest) == 71 and all(c in "0123456789abcdef" for c in digest[7:]), repr(digest)


# --- the CR loaders ---------------------------------------------------------------------------------------------


def _load_mirror_sets_from_text(text: str) -> list[crs.MirrorSet]:
    docs = documents.parse_yaml_documents(text, file="crs.yaml")
    return [crs.parse_mirror_set(doc) for doc in documents._expand_lists(docs)]


@FUZZ
@given(st.one_of(st.text(), cr_like(), mutated(VALID_IDMS), mutated(VALID_ICSP), values.map(dump)))
@example(DEEP_YAML)
@example(VALID_IDMS.replace("quay.io/openshift", '"quay.io/openshift\\n"'))
@example(VALID_IDMS.replace("metadata: {name: example}", 'metadata: {name: "a\\nb"}'))
@example(VALID_IDMS + '"two\\nlines": 1\n')
def test_cr_loaders_accept_or_say_why_in_one_line(text):
    sets = accepts_or_one_line(_load_mirror_sets_from_text, text)
    if not sets:
        return
    for ms in sets:
        for problem in mco.crd_problems(ms):
            assert one_line(str(problem)), str(problem)
        accepts_or_one_line(mco.validate_for_mco, [ms])
        accepts_or_one_line(registries_conf.render_registries_conf, [ms])
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "icsp.yaml", text)
        accepts_or_one_line(migrate_icsp.migrate_icsp_file, path)


@FUZZ
@given(st.one_of(st.text(), mutated(VALID_REGISTRIES_CONF)))
@example('[[registry]]\nprefix = "a\\nb"\nlocation = "x"\n')
@example('[[registry]]\nlocation = "quay.io"\n[[registry.mirror]]\nlocation = "m\\n.example"\n')
@example("a = " + "[" * 1000 + "]" * 1000 + "\n")
def test_registries_conf_loader_accepts_or_says_why_in_one_line(text):
    config = accepts_or_one_line(registries_conf.loads, text)
    if config is None:
        return
    accepts_or_one_line(resolve.resolve, "quay.io/openshift/cli:latest", config)
    accepts_or_one_line(registries_conf.dumps, config)


@FUZZ
@given(references)
@example("quay.io/openshift/cli\n")
@example("quay.io/openshift/cli@sha256:" + "A" * 64)
def test_resolve_accepts_any_reference_or_says_why_in_one_line(text):
    config = registries_conf.loads(VALID_REGISTRIES_CONF)
    result = accepts_or_one_line(resolve.resolve, text, config)
    if result is not None:
        assert all(s.reference.isprintable() and " " not in s.reference for s in result.sources)


# --- the commands ---------------------------------------------------------------------------------------------


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        f"{args[0]} raised {result.exception!r}"
    return result


def assert_exit_2_one_line(result: Any) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert one_line(result.stderr) and result.stderr.startswith("error: "), result.stderr
    assert result.stdout == ""


@CLI_FUZZ
@given(st.one_of(st.text(), manifest_like(), mutated(VALID_MANIFEST)))
@example(DEEP_YAML)
@example(VALID_MANIFEST + '"two\\nlines": 1\n')
@example(VALID_MANIFEST.replace("timeout: 30", "timeout: .nan"))
def test_run_and_plan_with_a_bad_manifest_exit_2_with_one_line(text):
    assume(accepts_or_one_line(manifest.parse, text, "m.yaml") is None)  # a good one would go to the network
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "manifest.yaml", text)
        for command in (["run", path, "--output-dir", str(Path(d) / "out")], ["plan", path]):
            assert_exit_2_one_line(cli(*command))
        assert not (Path(d) / "out").exists(), "a bad manifest must not write anything"


@CLI_FUZZ
@given(st.one_of(st.text(), cr_like(), mutated(VALID_ICSP)))
@example(DEEP_YAML)
def test_migrate_icsp_exits_0_or_2_with_one_line(text):
    with tempfile.TemporaryDirectory() as d:
        result = cli("migrate-icsp", write(d, "icsp.yaml", text), "--dest-dir", str(Path(d) / "out"))
        if result.exit_code != 0:
            assert_exit_2_one_line(result)


@CLI_FUZZ
@given(st.one_of(st.text(), cr_like(), mutated(VALID_IDMS)))
@example(DEEP_YAML)
def test_registries_conf_and_resolve_over_cr_files_exit_0_or_2_with_one_line(text):
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "crs.yaml", text)
        for args in (["registries-conf", path], ["resolve", "quay.io/openshift/cli:latest", path]):
            result = cli(*args)
            if result.exit_code != 0:
                assert_exit_2_one_line(result)
            else:
                assert result.stderr == "" or all(line.startswith("warning: ") for line in result.stderr.splitlines())


@CLI_FUZZ
@given(references, st.one_of(st.text(), mutated(VALID_REGISTRIES_CONF)))
@example("quay.io/openshift/cli\n", VALID_REGISTRIES_CONF)
@example("-0", "")  # an argument that looks like an option: a usage error, one line too
def test_resolve_with_a_registries_conf_exits_0_or_2_with_one_line(ref, text):
    with tempfile.TemporaryDirectory() as d:
        result = cli("resolve", ref, "--registries-conf", write(d, "registries.conf", text))
        if result.exit_code != 0:
            assert_exit_2_one_line(result)


@pytest.mark.parametrize("args", [
    ["generate", "{path}"], ["verify", "{path}"],
])
@FUZZ
@given(text=st.one_of(st.text(), values.map(lambda v: yaml.safe_dump(v)),
                      st.builds(lambda v: '{"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport", '
                                          f'"images": {v}}}', st.sampled_from(["[1]", "[{}]", '[{"x": 1}]', "{}",
                                                                              '"a"', "[[]]", "null"]))))
@example(text='{"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport", "images": [{"source": 1}]}')
def test_commands_reading_a_report_exit_2_with_one_line_on_a_bad_one(args, text):
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "report.json", text)
        result = cli(*[a.format(path=path) for a in args], *(["-o", str(Path(d) / "out")]
                                                             if args[0] == "generate" else []))
        if result.exit_code != 0:
            assert_exit_2_one_line(result)


DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("command, name", [
    (["registries-conf", "{path}"], "crs.json"),
    (["migrate-icsp", "{path}", "--dest-dir", "{dir}/out"], "icsp.json"),
    (["generate", "{path}", "-o", "{dir}/out"], "report.json"),
    (["verify", "{path}"], "report.json"),
    (["run", "{path}", "-o", "{dir}/out"], "manifest.json"),
])
def test_deeply_nested_json_is_an_input_error(command, name, tmp_path):
    path = write(str(tmp_path), name, DEEP_JSON)
    assert_exit_2_one_line(cli(*[a.format(path=path, dir=tmp_path) for a in command]))


def laughs(depth: int = 9) -> str:
    """"Billion laughs": each level repeats the one below ten times, so a few lines stand for 10**depth values."""
    lines = ['a0: &a0 "lol"']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("command, name", [
    (["registries-conf", "{path}"], "crs.yaml"),
    (["migrate-icsp", "{path}", "--dest-dir", "{dir}/out"], "icsp.yaml"),
    (["run", "{path}", "-o", "{dir}/out"], "manifest.yaml"),
    (["plan", "{path}"], "manifest.yaml"),
    (["convert", "{path}", "--mirror", "mirror.example.com"], "skopeo-sync.yaml"),
])
def test_aliases_that_expand_past_the_text_are_refused_before_anything_walks_them(command, name, tmp_path):
    path = write(str(tmp_path), name, laughs())
    result = cli(*[a.format(path=path, dir=tmp_path) for a in command])
    assert_exit_2_one_line(result)
    assert "aliases expand to more than" in result.output
    assert not (tmp_path / "out").exists()


def test_a_recursive_alias_is_refused_and_modest_aliases_still_load(tmp_path):
    from mirrorsync.sync import manifest

    recursive = write(str(tmp_path), "r.yaml", "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\n"
                                               "mirrors: &m [m.example.com, *m]\nimages: []\n")
    result = cli("plan", recursive)
    assert_exit_2_one_line(result)
    assert "r.yaml:3: invalid YAML: an alias refers to a node that contains it" in result.output
    loaded = manifest.parse("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m.example.com]\n"
                            "images:\n- {source: quay.io/a/b, tags: &t [v1, v2]}\n- {source: quay.io/a/c, tags: *t}\n")
    assert [i.tags for i in loaded.images] == [("v1", "v2"), ("v1", "v2")]
