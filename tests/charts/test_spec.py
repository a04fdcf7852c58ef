"""The manifest's charts section: what it reads, and bad input as file:line: field."""

import textwrap

import pytest

from mirrorsync.errors import InputError
from mirrorsync.pipeline.sections import parse_manifest

HEAD = "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [mirror.example.com:5000]\n"


def load(body: str, file: str = "/site/m.yaml"):
    return parse_manifest(HEAD + textwrap.dedent(body), file)


def test_every_kind_of_chart():
    m = load("""\
        charts:
          namespace: helm
          repositories:
            - name: example
              url: https://charts.example.com/stable
              charts:
                - {name: web, version: 1.2.3, values: {image: {tag: x}}, imagePaths: [a.b.image]}
                - {name: api, semver: ">=2 <3", latest: 2}
                - {name: db}
          oci:
            - reference: oci://quay.io/org/charts/tool:0.4.0
          local:
            - path: charts/own
        """)
    spec = m.sections["charts"]
    web, api, db, tool, own = spec.charts
    assert (web.url, web.versions.exact, web.values, web.image_paths) == (
        "https://charts.example.com/stable/", "1.2.3", {"image": {"tag": "x"}}, ("a.b.image",))
    assert (api.versions.semver.text, api.versions.latest) == (">=2 <3", 2)
    assert db.versions.latest == 1  # none given: the latest, as oc-mirror takes it
    assert (tool.oci.name, tool.name, tool.versions.exact) == ("quay.io/org/charts/tool", "tool", "0.4.0")
    assert own.local == "/site/charts/own"
    assert spec.repository_for("web") == "helm/web"
    assert m.source_hosts() == {"quay.io"}


@pytest.mark.parametrize("body, where", [
    ("charts: {repositories: [{name: r, url: 'ftp://x', charts: [{name: a}]}]}",
     "m.yaml:4: charts.repositories[0].url: 'ftp://x': expected the http(s):// URL"),
    ("charts:\n  repositories:\n    - {name: r, url: 'https://x', charts: [{name: a, version: 1, semver: '1'}]}",
     "m.yaml:6: charts.repositories[0].charts[0].version: must be a string, got the number 1"),
    ("charts:\n  oci:\n    - reference: quay.io/x/y\n",
     "m.yaml:6: charts.oci[0].reference: 'quay.io/x/y': expected oci://"),
    ("charts:\n  local:\n    - {path: x, values: [1]}\n", "m.yaml:6: charts.local[0].values: must be a mapping"),
    ("charts:\n  local:\n    - {path: x, imagePaths: ['a..b']}\n",
     "m.yaml:6: charts.local[0].imagePaths[0]: 'a..b': expected a dotted path"),
    ("charts: {}\n", "m.yaml:4: charts: names no chart"),
    ("charts: {repositories: [{name: r, url: 'https://u:hunter2@x/', charts: [{name: a}]}]}",
     "charts.repositories[0].url: credentials do not go into the URL"),
    ("charts:\n  repositories:\n    - {name: r, url: 'https://x', charts: [{name: a, latest: 0}]}",
     "charts.repositories[0].charts[0].latest: must be a whole number"),
])
def test_bad_input_names_file_line_and_field(body, where):
    with pytest.raises(InputError) as exc:
        load(body)
    assert where in str(exc.value)
    assert exc.value.exit_code == 2 and "hunter2" not in str(exc.value)
