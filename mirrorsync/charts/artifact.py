"""A chart as the OCI artifact ``helm push`` makes of it (Helm's pkg/registry, ``Client.Push``), so that
``helm pull oci://...``, Flux's and Argo CD's OCI sources read it from the mirror:

- config ``application/vnd.cncf.helm.config.v1+json``: the chart's metadata (Chart.yaml) as Go's ``json.Marshal``
  writes Helm's ``chart.Metadata`` (its field order, empty fields left out, ``<>&`` escaped);
- layers, sorted by digest as Helm sorts them: the ``.tgz`` unchanged
  (``application/vnd.cncf.helm.chart.content.v1.tar+gzip``) and, when there is one, the provenance file
  (``application/vnd.cncf.helm.chart.provenance.v1.prov``);
- an OCI image manifest without ``mediaType`` field, with Helm's annotations: ``org.opencontainers.image.``
  ``title``/``version``/``description``/``url``/``source``/``authors``/``created`` from the metadata, then the
  chart's own annotations (except title and version).

``created`` is Helm's push time; here it is fixed by the chart (its ``created`` in the repository's index, else
the time stamp of Chart.yaml in the archive), so the same chart gives the same manifest digest and a second run
pushes nothing. The tag is the chart's version with ``+`` written ``_`` (OCI tags have no ``+``), as Helm does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..oci.content import OCI_MANIFEST, parse_manifest
from ..oci.image_build import BuiltImage, sha256
from ..sync.semver import Version

CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
PROV_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
LEGACY_CHART_LAYER_MEDIA_TYPE = "application/tar+gzip"
CHART_LAYER_TYPES = (CHART_LAYER_MEDIA_TYPE, LEGACY_CHART_LAYER_MEDIA_TYPE)

# helm.sh/helm pkg/chart Metadata, Maintainer and Dependency: (json name, Go kind); every field is omitempty but a
# dependency's name and repository
_METADATA = (("name", "s"), ("home", "s"), ("sources", "ls"), ("version", "s"), ("description", "s"),
             ("keywords", "ls"), ("maintainers", "maintainers"), ("icon", "s"), ("apiVersion", "s"),
             ("condition", "s"), ("tags", "s"), ("appVersion", "s"), ("deprecated", "b"), ("annotations", "map"),
             ("kubeVersion", "s"), ("dependencies", "dependencies"), ("type", "s"))
_MAINTAINER = (("name", "s"), ("email", "s"), ("url", "s"))
_DEPENDENCY = (("name", "s!"), ("version", "s"), ("repository", "s!"), ("condition", "s"), ("tags", "ls"),
               ("enabled", "b"), ("import-values", "any"), ("alias", "s"))


def tag_for(version: str) -> str:
    return version.replace("+", "_")


def version_of_tag(tag: str) -> Version | None:
    """The chart version a tag names, ``_`` read as ``+`` (Helm's OCI tags); build metadata counts for nothing in
    ranges and order, as in Helm's (Masterminds) semver."""
    return Version.parse(tag.replace("_", "+"))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_struct(doc: Any, fields: tuple) -> dict:
    doc = doc if isinstance(doc, dict) else {}
    out: dict = {}
    for name, kind in fields:
        value = doc.get(name)
        if kind in ("s", "s!"):
            text = _text(value)
            if text or kind == "s!":
                out[name] = text
        elif kind == "ls":
            if isinstance(value, list) and value:
                out[name] = [_text(v) for v in value]
        elif kind == "b":
            if value is True:
                out[name] = True
        elif kind == "map":
            if isinstance(value, dict) and value:
                out[name] = {str(k): _text(v) for k, v in value.items()}
        elif kind == "any":
            if value:
                out[name] = value
        elif kind in ("maintainers", "dependencies") and isinstance(value, list) and value:
            out[name] = [_go_struct(v, _MAINTAINER if kind == "maintainers" else _DEPENDENCY) for v in value]
    return out


def go_json(doc: Any) -> bytes:
    """``doc`` as Go's ``encoding/json`` writes it: compact, map keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029
    escaped; keys in the order ``doc`` gives them (a struct's field order, a map's sorted keys)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for c, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        text = text.replace(c, escaped)
    return text.encode()


def config_of(metadata: dict) -> bytes:
    """The config blob: Chart.yaml as Helm's ``json.Marshal(meta)``."""
    meta = _go_struct(metadata, _METADATA)
    if "annotations" in meta:
        meta["annotations"] = dict(sorted(meta["annotations"].items()))
    return go_json(meta)


def annotations_of(metadata: dict, created: str) -> dict[str, str]:
    """Helm's ``generateOCIAnnotations``, with ``created`` given."""
    meta = _go_struct(metadata, _METADATA)
    out: dict[str, str] = {}
    for key, value in (("description", meta.get("description")), ("title", meta.get("name")),
                       ("version", meta.get("version")), ("url", meta.get("home")), ("created", created),
                       ("source", (meta.get("sources") or [""])[0])):
        if value and value.strip():
            out[f"org.opencontainers.image.{key}"] = value
    authors = []
    for m in meta.get("maintainers") or []:
        text = m.get("name", "") + (f" ({m['email']})" if m.get("email") else "")
        authors.append(text)
    if authors and ", ".join(authors).strip():
        out["org.opencontainers.image.authors"] = ", ".join(authors)
    for key, value in (meta.get("annotations") or {}).items():
        if key not in ("org.opencontainers.image.version", "org.opencontainers.image.title"):
            out[key] = value
    return dict(sorted(out.items()))


def created_time(index_created: str | None, chart_yaml_mtime: float) -> str:
    """RFC 3339 in UTC, to the second, as Go's ``time.RFC3339`` formats Helm's push time."""
    if index_created:
        try:
            when = datetime.fromisoformat(index_created.replace("Z", "+00:00"))
            return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    return datetime.fromtimestamp(int(chart_yaml_mtime), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(tgz: bytes, metadata: dict, created: str, prov: bytes | None = None) -> BuiltImage:
    """The chart's artifact: manifest and blobs, ready for :func:`mirrorsync.oci.image_build.push`."""
    config = config_of(metadata)
    blobs = {sha256(config): (CONFIG_MEDIA_TYPE, config), sha256(tgz): (CHART_LAYER_MEDIA_TYPE, tgz)}
    layers = [(sha256(tgz), CHART_LAYER_MEDIA_TYPE, len(tgz))]
    if prov is not None:
        blobs[sha256(prov)] = (PROV_LAYER_MEDIA_TYPE, prov)
        layers.append((sha256(prov), PROV_LAYER_MEDIA_TYPE, len(prov)))
    layers.sort()
    doc = {"schemaVersion": 2,
           "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": sha256(config), "size": len(config)},
           "layers": [{"mediaType": t, "digest": d, "size": n} for d, t, n in layers],
           "annotations": annotations_of(metadata, created)}
    data = go_json(doc)
    return BuiltImage(parse_manifest(data, OCI_MANIFEST, sha256(data)), [], blobs)
