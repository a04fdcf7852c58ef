"""Which images a chart's values name, and the warnings for those that cannot be told."""

from mirrorsync.charts import archive, images
from support.charts import chart


def found(c: bytes, values=None, paths=()):
    got, warnings = images.in_values(archive.load(c), values or {}, tuple(paths))
    return {(f.image, f.found_by, f.where) for f in got}, warnings


def test_conventional_paths():
    c = chart("app", "1.0.0", app_version="2.3.4", values={
        "image": {"registry": "quay.io", "repository": "org/app", "tag": "v1"},
        "sidecar": {"image": "busybox"},
        "workers": [{"image": {"repository": "org/worker"}}, {"image": {"repository": "org/pinned",
                                                                       "digest": "sha256:" + "a" * 64}}],
        "image_pull_policy": "IfNotPresent"})
    got, warnings = found(c)
    assert got == {
        ("quay.io/org/app:v1", "values", "app: image"),
        ("docker.io/library/busybox:latest", "values", "app: sidecar.image"),
        ("docker.io/org/worker:2.3.4", "values", "app: workers.0.image"),  # the tag defaults to appVersion
        ("docker.io/org/pinned@sha256:" + "a" * 64, "values", "app: workers.1.image")}
    assert warnings == []


def test_subchart_values_merged_from_the_parent():
    sub = chart("db", "0.1.0", values={"image": {"repository": "org/db", "tag": "old"}})
    c = chart("app", "1.0.0", values={"db": {"image": {"tag": "new"}}}, subcharts=(sub,))
    got, _ = found(c, values={"db": {"image": {"registry": "r.example.com"}}})
    assert got == {("r.example.com/org/db:new", "values", "app/charts/db: image")}


def sub_chart(name: str, **kw) -> bytes:
    return chart(name, "0.1.0", values={"image": {"repository": f"org/{name}", "tag": "1"}}, **kw)


def test_subcharts_the_values_disable_by_condition_or_tags_are_not_looked_at():
    """Helm's ProcessDependencies: tags first (off only when none is true and one false), then the first
    condition set to a boolean; a subchart no dependency names is always on; an alias is its name."""
    deep = sub_chart("deep")
    c = chart("app", "1.0.0", values={"db": {"enabled": False}, "tags": {"cache": False, "extra": True},
                                      "queue": {"on": "yes", "really": True}},
              subcharts=(sub_chart("db"), sub_chart("cache"), sub_chart("search"), sub_chart("queue"),
                         sub_chart("metrics", subcharts=(deep,), dependencies=[
                             {"name": "deep", "version": "0.1.0", "repository": "", "condition": "deep.on"}]),
                         sub_chart("loose")),
              dependencies=[
                  {"name": "db", "version": "0.1.0", "repository": "", "condition": "db.enabled"},
                  {"name": "cache", "version": "0.1.0", "repository": "", "tags": ["cache"]},
                  {"name": "search", "version": "0.1.0", "repository": "", "tags": ["cache", "extra"]},
                  {"name": "queue", "version": "0.1.0", "repository": "", "condition": "queue.on,queue.really",
                   "tags": ["cache"]},
                  {"name": "metrics", "version": "0.1.0", "repository": "", "alias": "stats",
                   "condition": "stats.enabled"}])
    got, warnings = found(c)
    assert {image for image, _, _ in got} == {
        "docker.io/org/search:1",  # one tag true wins over one false
        "docker.io/org/queue:1",  # the tags say off, the condition (its first boolean) says on
        "docker.io/org/metrics:1", "docker.io/org/deep:1",  # condition not set: on; under its alias
        "docker.io/org/loose:1"}  # not a dependency of Chart.yaml: always on
    assert ("docker.io/org/metrics:1", "values", "app/charts/stats: image") in got
    assert warnings == ["chart app: condition 'queue.on' for subchart queue is no boolean: not counted"]
    # the manifest's values turn them around; a condition is read from the chart whose Chart.yaml names it
    got, _ = found(c, values={"db": {"enabled": True}, "tags": {"cache": True},
                              "stats": {"enabled": True, "deep": {"on": False}}})
    assert {image for image, _, _ in got} == {"docker.io/org/db:1", "docker.io/org/cache:1",
                                              "docker.io/org/search:1", "docker.io/org/queue:1",
                                              "docker.io/org/metrics:1", "docker.io/org/loose:1"}
    got, _ = found(c, values={"stats": {"enabled": False}})
    assert not {"docker.io/org/metrics:1", "docker.io/org/deep:1"} & {image for image, _, _ in got}


def test_image_paths_and_manifest_values():
    c = chart("custom", "1.0.0", values={"engine": {"img": {"repository": "org/engine", "tag": "3"}},
                                         "tools": {"ref": "org/tools:9"}})
    got, warnings = found(c, values={"tools": {"ref": "org/tools:10"}}, paths=["engine.img", "tools.ref"])
    assert got == {("docker.io/org/engine:3", "imagePaths", "custom: engine.img"),
                   ("docker.io/org/tools:10", "imagePaths", "custom: tools.ref")}
    assert warnings == []
    _, warnings = found(c, paths=["engine.missing"])
    assert warnings == ["chart custom: imagePaths engine.missing is not set in the values"]


def test_unresolved_template_references_are_warned_about():
    c = chart("gappy", "1.0.0", app_version=None, values={"main": {"image": {"repository": "org/main"}}},
              templates={"d.yaml": "image: {{ .Values.main.image.repository }}\n"
                                   "other: {{ .Values.extra.image.repository }}:{{ .Values.extra.image.tag }}\n"})
    got, warnings = found(c)
    assert got == set()
    assert warnings == [
        "chart gappy: value main.image names no image (no tag or digest, and the chart has no appVersion)",
        "chart gappy: a template references .Values.extra.image, which the values leave unset: its image is "
        "not known"]


def test_rendered_manifests():
    docs = [{"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "i", "image": "busybox:1"}],
        "containers": [{"name": "a", "image": "quay.io/x/a@sha256:" + "b" * 64}]}}}}, None]
    assert {(f.image, f.found_by) for f in images.in_rendered(docs, "c")} == {
        ("docker.io/library/busybox:1", "rendered"), ("quay.io/x/a@sha256:" + "b" * 64, "rendered")}
