"""``--since``: an earlier export's report leaves out what it carried; a site's own report leaves out what that
site's mirrors hold, and says which mirrors the export serves."""

import json

import pytest

from mirrorsync.airgap.chain import read_since
from mirrorsync.errors import InputError
from mirrorsync.sync.report import Report


def _write(path, data):
    path.write_text(json.dumps({"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport", **data}))
    return path


def test_an_export_report_gives_what_it_and_its_chain_carried(tmp_path):
    since = read_since([_write(tmp_path / "r.json", {"export": {"blobs": ["sha256:a"], "since": ["sha256:b"]}})],
                       held=lambda site: pytest.fail("an export's report is not a site's"))
    assert since.blobs == {"sha256:a", "sha256:b"} and since.serves == []


def test_a_site_report_gives_what_its_mirrors_hold_and_the_boundary(tmp_path):
    path = _write(tmp_path / "site.json", {"mirrors": ["enclave.example/m"], "images": []})
    seen: list[Report] = []
    since = read_since([path], held=lambda site: seen.append(site) or {"sha256:c": {"enclave.example/m/app"}})
    assert since.blobs == {"sha256:c"} and seen[0].mirrors == ["enclave.example/m"]
    assert since.serves == [{"report": str(path), "mirrors": ["enclave.example/m"]}]
    assert since.held_at == {"sha256:c": {"enclave.example/m/app"}}


def test_where_the_site_held_what_an_earlier_export_left_out_carries_on_down_the_chain(tmp_path):
    path = _write(tmp_path / "r.json", {"export": {"blobs": ["sha256:a"], "since": ["sha256:b"],
                                                   "heldAt": {"sha256:b": ["enclave.example/m/app"]}}})
    since = read_since([path])
    assert since.blobs == {"sha256:a", "sha256:b"} and since.held_at == {"sha256:b": {"enclave.example/m/app"}}
    _write(path, {"export": {"blobs": [], "heldAt": {"sha256:b": "enclave.example/m/app"}}})
    with pytest.raises(InputError, match="export.heldAt must map digests to lists of repositories"):
        read_since([path])


def test_without_a_way_to_read_holdings_a_site_report_is_refused_as_before(tmp_path):
    path = _write(tmp_path / "site.json", {"mirrors": [], "images": []})
    with pytest.raises(InputError, match="no export section"):
        read_since([path])
