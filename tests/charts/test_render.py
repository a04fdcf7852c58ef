"""helm template, where a helm binary is on PATH (it is not on the machines this suite usually runs on)."""

import shutil

import pytest

from mirrorsync.charts import images, render
from mirrorsync.charts.archive import ChartError
from support.charts import chart

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.repo }}:{{ .Values.version }}"
"""


@pytest.mark.skipif(shutil.which("helm") is None, reason="no helm binary on PATH")
def test_helm_template_renders_the_images_with_the_manifest_values():
    tgz = chart("r", "1.0.0", values={"repo": "quay.io/org/app", "version": "1"},
                templates={"deploy.yaml": DEPLOYMENT})
    docs = render.render(tgz, {"version": "2"})
    assert [(f.image, f.found_by) for f in images.in_rendered(docs, "r")] == [("quay.io/org/app:2", "rendered")]


def test_without_helm_nothing_is_rendered(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ChartError, match="no helm binary on PATH"):
        render.render(b"", {})
