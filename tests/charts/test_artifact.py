"""The chart's OCI artifact is what helm push makes: media types, config JSON, annotations, layer order."""

import hashlib
import json

from mirrorsync.charts import artifact


META = {"apiVersion": "v2", "name": "demo", "version": "1.2.3+build.1", "description": "a <demo> & more",
        "type": "application", "appVersion": 1.0, "home": "https://example.com",
        "maintainers": [{"name": "Ann", "email": "ann@example.com"}, {"name": "Bob"}],
        "annotations": {"z": "1", "a": "2", "org.opencontainers.image.title": "not this"},
        "dependencies": [{"name": "db", "version": "0.1.0", "repository": ""}]}


def test_config_is_helms_json_marshal_of_the_metadata():
    # Go's encoding/json over helm's chart.Metadata: its field order, omitempty, HTML characters escaped
    assert artifact.config_of(META) == (
        b'{"name":"demo","home":"https://example.com","version":"1.2.3+build.1",'
        b'"description":"a \\u003cdemo\\u003e \\u0026 more",'
        b'"maintainers":[{"name":"Ann","email":"ann@example.com"},{"name":"Bob"}],"apiVersion":"v2",'
        b'"appVersion":"1.0","annotations":{"a":"2","org.opencontainers.image.title":"not this","z":"1"},'
        b'"dependencies":[{"name":"db","version":"0.1.0","repository":""}],"type":"application"}')


def test_manifest_media_types_annotations_and_layer_order():
    tgz, prov = b"chart bytes", b"-----BEGIN PGP SIGNED MESSAGE-----\n"
    built = artifact.build(tgz, META, "2024-01-02T03:04:05Z", prov)
    doc = json.loads(built.top.data)
    assert "mediaType" not in doc and doc["schemaVersion"] == 2
    assert doc["config"]["mediaType"] == "application/vnd.cncf.helm.config.v1+json"
    layers = {l["mediaType"]: l for l in doc["layers"]}
    assert layers["application/vnd.cncf.helm.chart.content.v1.tar+gzip"]["digest"] == \
        "sha256:" + hashlib.sha256(tgz).hexdigest()
    assert layers["application/vnd.cncf.helm.chart.provenance.v1.prov"]["size"] == len(prov)
    assert [l["digest"] for l in doc["layers"]] == sorted(l["digest"] for l in doc["layers"])
    assert doc["annotations"] == {
        "a": "2", "z": "1", "org.opencontainers.image.authors": "Ann (ann@example.com), Bob",
        "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
        "org.opencontainers.image.description": "a <demo> & more", "org.opencontainers.image.title": "demo",
        "org.opencontainers.image.url": "https://example.com", "org.opencontainers.image.version": "1.2.3+build.1"}
    assert built.blobs[built.top.blobs[1].digest][1] in (tgz, prov)
    # the same chart gives the same digest: a second run pushes nothing
    assert artifact.build(tgz, META, "2024-01-02T03:04:05Z", prov).digest == built.digest
    assert artifact.build(tgz, META, "2024-01-02T03:04:05Z").digest != built.digest


def test_tag_and_created():
    assert artifact.tag_for("1.2.3+build.1") == "1.2.3_build.1"
    assert artifact.created_time("2024-01-02T04:04:05+01:00", 0) == "2024-01-02T03:04:05Z"
    assert artifact.created_time(None, 1_700_000_000.5) == "2023-11-14T22:13:20Z"
