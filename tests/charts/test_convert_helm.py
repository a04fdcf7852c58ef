"""convert maps oc-mirror's mirror.helm onto the charts section; its JSONPath imagePaths are notes."""

import textwrap

import pytest

from mirrorsync import convert
from mirrorsync.errors import InputError
from mirrorsync.pipeline.sections import parse_manifest

ISC = """\
apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  helm:
    repositories:
      - name: sbo
        url: https://redhat-developer.github.io/service-binding-operator-helm-chart/
        charts:
          - name: service-binding-operator
            version: 1.0.0
            imagePaths: ["{.spec.template.spec.containers[*].image}"]
    local:
      - name: podinfo
        path: charts/podinfo-5.0.0.tgz
"""


def test_helm_becomes_charts(tmp_path):
    src = tmp_path / "isc.yaml"
    src.write_text(ISC)
    text = convert.convert(str(src), ["mirror.example.com:5000"])
    m = parse_manifest(text, "<converted>")
    repo_chart, local = m.sections["charts"].charts
    assert (repo_chart.name, repo_chart.versions.exact, repo_chart.url) == (
        "service-binding-operator", "1.0.0", "https://redhat-developer.github.io/service-binding-operator-helm-chart/")
    assert local.local == str(tmp_path / "charts" / "podinfo-5.0.0.tgz")
    assert f"{src}:11: mirror.helm.repositories[0].charts[0].imagePaths: oc-mirror's JSONPaths" in text


def test_a_bad_chart_url_is_refused_at_the_input_line(tmp_path):
    src = tmp_path / "isc.yaml"
    src.write_text(ISC.replace("url: https://redhat-developer.github.io/service-binding-operator-helm-chart/",
                               "url: ftp://charts"))
    with pytest.raises(InputError) as info:
        convert.convert(str(src), ["mirror.example.com:5000"])
    assert f"{src}:7: mirror.helm.repositories[0].url: the converted manifest would not load" in str(info.value)
