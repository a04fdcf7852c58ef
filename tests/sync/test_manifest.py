import textwrap

import pytest

from mirrorsync.sync import manifest
from mirrorsync.errors import InputError
from mirrorsync.sync.tag_selection import selects_tag

HEAD = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example.com:5000/ocp, backup.example.com]
"""


def load(body: str):
    return manifest.parse(HEAD + textwrap.dedent(body), "m.yaml")


def error(body: str, text: str | None = None) -> str:
    with pytest.raises(InputError) as info:
        manifest.parse(text if text is not None else HEAD + textwrap.dedent(body), "m.yaml")
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "\n" not in message
    return message


def test_full_manifest():
    m = load("""
        registries:
          quay.io: {tlsVerify: false, certDir: /certs}
        options: {concurrency: 8, retries: 0}
        defaults: {mirrorSourcePolicy: NeverContactSource, mirrorSets: [digest]}
        images:
          - source: quay.io/ocp/release:4.15
            tags: ["4.16"]
            digests: ["sha256:%s"]
          - source: busybox
            allTags: true
            exclude: ['-rc']
            destination: lib/busybox
            mirrorSourcePolicy: AllowContactingSource
            mirrorSets: [tag, digest]
        """ % ("b" * 64))
    assert [x.location for x in m.mirrors] == ["mirror.example.com:5000/ocp", "backup.example.com"]
    assert m.mirrors[0].repository("a/b") == "ocp/a/b"
    assert m.mirrors[1].repository("a/b") == "a/b"
    assert m.settings_for("quay.io").tls_verify is False
    assert m.settings_for("other.io").tls_verify is True
    assert m.options.concurrency == 8 and m.options.retries == 0
    first, second = m.images
    assert first.source.name == "quay.io/ocp/release"
    assert first.tags == ("4.15", "4.16")
    assert first.digests == ("sha256:" + "b" * 64,)
    assert first.destination == "ocp/release"
    assert first.mirror_source_policy == "NeverContactSource"
    assert first.mirror_sets == ("digest",)
    assert second.source.name == "docker.io/library/busybox"
    assert second.destination == "lib/busybox"
    assert second.mirror_sets == ("digest", "tag")
    assert selects_tag(second, "1.36") and not selects_tag(second, "1.37-rc1")


def test_include_patterns():
    m = load("""
        images:
          - source: quay.io/a
            include: ['^v1\\.', '^latest$']
        """)
    spec = m.images[0]
    assert spec.lists_tags
    assert [t for t in ["v1.0", "v2.0", "latest", "xlatest"] if selects_tag(spec, t)] == ["v1.0", "latest"]


@pytest.mark.parametrize("body,expected", [
    ("images:\n  - source: quay.io/a\n    tagz: [a]\n", "m.yaml:6: images[0].tagz: unknown field"),
    ("images:\n  - source: quay.io/A\n    tags: [a]\n", "m.yaml:5: images[0].source: invalid reference"),
    ("images:\n  - source: quay.io/a\n    tags: a\n", "m.yaml:6: images[0].tags: must be a list"),
    ("images:\n  - source: quay.io/a\n    include: ['(']\n", "m.yaml:6: images[0].include[0]: invalid regular expression"),
    ("images:\n  - source: quay.io/a\n", "m.yaml:5: images[0]: nothing selected"),
    ("images:\n  - source: quay.io/a\n    tags: [v1]\n    exclude: [x]\n", "m.yaml:7: images[0].exclude: exclude filters"),
    ("images:\n  - source: quay.io/a\n    digests: [sha256:abc]\n", "m.yaml:6: images[0].digests[0]: invalid digest"),
    ("images:\n  - {source: quay.io/a, tags: [v1]}\n  - {source: quay.io/b/a, tags: [v1], destination: a}\n",
     "m.yaml:6: images[1].destination: docker.io"),
    ("images:\n  - {source: quay.io/a, tags: [v1], mirrorSourcePolicy: Never}\n",
     "m.yaml:5: images[0].mirrorSourcePolicy: must be one of"),
    ("images:\n  - {source: quay.io/a, tags: [v1]}\n  - {source: quay.io/a, tags: [v2], destination: b}\n",
     "m.yaml:6: images[1].destination: quay.io/a is also images[0]"),
    ("options: {concurrency: 0}\nimages:\n  - {source: quay.io/a, tags: [v1]}\n",
     "m.yaml:4: options.concurrency: must be a number from 1 to 256"),
    ("registries:\n  'bad host': {}\nimages:\n  - {source: quay.io/a, tags: [v1]}\n",
     "m.yaml:5: registries.bad host: invalid registry host"),
    ("images: []\n", "m.yaml:4: images: must be a non-empty list"),
])
def test_errors_name_file_line_field(body, expected):
    message = error(body)
    if "docker.io" in expected:  # two sources on one destination
        assert message.startswith("m.yaml:6: images[1].destination:") and "both land on destination 'a'" in message
    else:
        assert message.startswith(expected), message


def test_top_level_errors():
    assert error("", "apiVersion: v9\nkind: SyncManifest\n").startswith("m.yaml:1: apiVersion: unsupported version")
    assert error("", "- a\n").startswith("m.yaml:1: must be a mapping")
    assert error("", "a: [\n").startswith("m.yaml:2: invalid YAML")
    assert "duplicate key 'mirrors'" in error("", HEAD + "mirrors: []\n")
    assert error("", "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: ['Bad Mirror']\n"
                 ).startswith("m.yaml:3: mirrors[0]: invalid mirror")


def test_unquoted_number_tag_says_to_quote():
    assert "quote it" in error("images:\n  - {source: quay.io/a, tags: [4.10]}\n")


def test_missing_file():
    with pytest.raises(InputError, match="nope.yaml: no such file"):
        manifest.load("nope.yaml")


def test_icsp_check_names_where_never_contact_source_was_set():
    def icsp_error(body: str) -> str:
        with pytest.raises(InputError) as info:
            load(body).check_icsp()
        return str(info.value)

    own = icsp_error("""\
        images:
          - source: quay.io/a
            tags: [v1]
          - source: quay.io/b
            tags: [v1]
            mirrorSourcePolicy: NeverContactSource
        """)
    assert own.startswith("m.yaml:9: images[1].mirrorSourcePolicy: NeverContactSource cannot be written as an ")
    inherited = icsp_error("""\
        defaults:
          mirrorSourcePolicy: NeverContactSource
        images:
          - source: quay.io/a
            tags: [v1]
        """)
    assert inherited.startswith("m.yaml:5: defaults.mirrorSourcePolicy: ")
    # a tag-only image never reaches an ICSP; AllowContactingSource is what an ICSP means anyway
    load("""\
        images:
          - source: quay.io/a
            tags: [v1]
            mirrorSets: [tag]
            mirrorSourcePolicy: NeverContactSource
          - source: quay.io/b
            tags: [v1]
            mirrorSourcePolicy: AllowContactingSource
        """).check_icsp()


def test_with_insecure_keeps_the_hosts_other_settings_and_the_rest():
    m = load("""\
        registries:
          quay.io: {certDir: /etc/certs, authFile: /etc/auth.json}
        images:
          - source: quay.io/a/b
            tags: ['1']
        """)
    loose = m.with_insecure("quay.io:443")  # the same host, spelled with its default port
    assert loose.settings_for("quay.io").tls_verify is False
    assert (loose.settings_for("quay.io").cert_dir, loose.settings_for("quay.io").auth_file) == ("/etc/certs",
                                                                                              "/etc/auth.json")
    assert loose.settings_for("other.example").tls_verify is True
    assert loose.images == m.images and m.settings_for("quay.io").tls_verify is True


def test_source_mirrors_is_a_path_relative_to_the_manifest_or_system():
    def parsed(value, file="site/m.yaml"):
        return manifest.parse(HEAD + f"options: {{sourceMirrors: {value}}}\nimages: [{{source: quay.io/a/b, tags: [v1]}}]\n",
                              file).options.source_mirrors

    assert parsed("out/cluster-resources") == "site/out/cluster-resources"
    assert parsed("/etc/x.conf") == "/etc/x.conf"
    assert parsed("system") == "system"
    assert manifest.parse(HEAD + "images: [{source: quay.io/a/b, tags: [v1]}]\n", "m.yaml").options.source_mirrors is None


def test_source_mirrors_must_be_a_path():
    assert error("""
        options: {sourceMirrors: 7}
        images: [{source: quay.io/a/b, tags: [v1]}]
        """) == "m.yaml:5: options.sourceMirrors: must be a string, got the number 7 (quote it: '7')"
