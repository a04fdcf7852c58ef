"""Unit tests of the report contract's serialisation."""

import dataclasses
import json

from mirrorsync.sync import report
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report


def _sample() -> Report:
    r = Report(manifest="m.yaml", engine="native", mirrors=["mirror.example.com/ns"], startedAt="2026-01-01T00:00:00Z")
    r.images = [
        ImageRecord(source="registry.example.com/b", tag="v1", digest="sha256:" + "b" * 64, status="copied",
                    mediaType="application/vnd.oci.image.index.v1+json", children=["sha256:" + "c" * 64],
                    destinations=[DestinationRecord("mirror.example.com/ns", "mirror.example.com/ns/b", "copied",
                                                    bytesSent=10, blobsSent=2, manifestsPushed=2)]),
        ImageRecord(source="registry.example.com/c/d/e", tag="v1", digest="sha256:" + "d" * 64, status="copied",
                    destinations=[DestinationRecord("mirror.example.com/ns", "mirror.example.com/ns-c-d-e",
                                                    "copied", flattenedFrom="mirror.example.com/ns/c/d/e")]),
        ImageRecord(source="registry.example.com/a", tag=None, digest=None, status="failed", error="boom",
                    destinations=[DestinationRecord("mirror.example.com/ns", "mirror.example.com/ns/a", "failed",
                                                    error="boom")]),
    ]
    return r


def test_images_serialise_as_their_fields_in_order_sorted_by_source():
    r = _sample()
    images = r.to_dict()["images"]
    assert [i["source"] for i in images] == ["registry.example.com/a", "registry.example.com/b",
                                             "registry.example.com/c/d/e"]
    for got, record in zip(images, sorted(r.images, key=lambda i: i.source)):
        # fields of features the image (or destination) does not use are left out (report._OPTIONAL_*_FIELDS)
        expected = {k: v for k, v in dataclasses.asdict(record).items()
                    if not (k in report._OPTIONAL_IMAGE_FIELDS and v is None)}
        expected["destinations"] = [{k: v for k, v in d.items()
                                     if not (k in report._OPTIONAL_DESTINATION_FIELDS and v is None)}
                                    for d in expected["destinations"]]
        assert got == expected and list(got) == list(expected)
    fields = [f.name for f in dataclasses.fields(DestinationRecord)]
    assert list(images[0]["destinations"][0]) == [f for f in fields if f != "flattenedFrom"]
    assert list(images[2]["destinations"][0]) == fields
    assert images[2]["destinations"][0]["flattenedFrom"] == "mirror.example.com/ns/c/d/e"


def test_round_trip_keeps_every_field():
    r = _sample()
    again = report.loads(r.to_json())
    assert again.to_json() == r.to_json()
    assert json.loads(r.to_json())["totals"]["bytesSent"] == 10


def test_node_impact_is_written_only_when_known_and_loads_back():
    from mirrorsync.sync.report import Report, loads

    rep = Report(manifest="m.yaml", engine="native", mirrors=[], startedAt="2026-01-01T00:00:00Z")
    assert "nodeImpact" not in json.loads(rep.to_json())  # reports without it keep their bytes
    assert loads(rep.to_json()).nodeImpact is None
    rep.nodeImpact = {"verdict": "drain", "reasons": ["quay.io/a: registry removed"]}
    data = json.loads(rep.to_json())
    assert data["nodeImpact"] == {"verdict": "drain", "reasons": ["quay.io/a: registry removed"]}
    assert list(data).index("nodeImpact") == list(data).index("removedEntries") + 1
    assert loads(rep.to_json()).nodeImpact == rep.nodeImpact
    assert loads(rep.to_json()).to_json() == rep.to_json()
