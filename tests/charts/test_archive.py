"""Chart archives are read in memory: unsafe entries refuse the whole archive; subcharts are found."""

import os

import pytest

from mirrorsync.charts import archive
from mirrorsync.charts.archive import ChartError
from support.charts import chart, tgz

GOOD = {"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n", "c/values.yaml": "a: 1\n"}


@pytest.mark.parametrize("bad, why", [
    ({"c/../../etc/passwd": "x"}, "outside the chart"),
    ({"/etc/passwd": "x"}, "outside the chart"),
    ({"c/templates/../../x": "x"}, "outside the chart"),
])
def test_paths_outside_the_chart_are_refused(bad, why):
    with pytest.raises(ChartError, match=why):
        archive.load(tgz({**GOOD, **bad}))


def test_symlinks_and_hard_links_are_refused():
    with pytest.raises(ChartError, match="a link: 'c/templates/x.yaml' -> '/etc/passwd'"):
        archive.load(tgz(GOOD, links={"c/templates/x.yaml": "/etc/passwd"}))
    with pytest.raises(ChartError, match="a link"):
        archive.load(tgz(GOOD, hardlinks={"c/values2.yaml": "c/values.yaml"}))


def test_nothing_is_written_to_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ChartError):
        archive.load(tgz({**GOOD, "c/../escaped": "x"}))
    archive.load(tgz(GOOD))
    assert os.listdir(tmp_path) == []


def test_a_decompression_bomb_is_refused():
    with pytest.raises(ChartError, match="decompresses to more than"):
        archive.gunzip(__import__("gzip").compress(b"\0" * (2 << 20)), limit=1 << 20)


def test_not_an_archive():
    with pytest.raises(ChartError, match="not a gzip'd chart archive"):
        archive.load(b"<html>hello</html>")


def test_subcharts_as_archives_and_directories():
    sub = chart("sub", "0.1.0", values={"image": {"repository": "x/y", "tag": "1"}})
    files = {**GOOD, "c/charts/sub-0.1.0.tgz": sub, "c/charts/dir/Chart.yaml": "name: dir\nversion: 2.0.0\n",
             "c/templates/d.yaml": "kind: Deployment\n"}
    c = archive.load(tgz(files))
    assert (c.name, c.version, c.values) == ("c", "1.0.0", {"a": 1})
    assert sorted(s.name for s in c.subcharts) == ["dir", "sub"]
    assert c.templates == {"d.yaml": "kind: Deployment\n"}


def test_a_bad_subchart_refuses_the_parent():
    bad_sub = tgz({"sub/Chart.yaml": "name: sub\nversion: 1.0.0\n"}, links={"sub/x": "../../y"})
    with pytest.raises(ChartError, match="charts/sub.tgz: the chart archive has a link"):
        archive.load(tgz({**GOOD, "c/charts/sub.tgz": bad_sub}))


def test_package_a_directory_reproducibly(tmp_path):
    d = tmp_path / "mychart"
    (d / "templates").mkdir(parents=True)
    (d / "Chart.yaml").write_text("apiVersion: v2\nname: mychart\nversion: 0.3.0\n")
    (d / "values.yaml").write_text("image: nginx:1.25\n")
    (d / "templates" / "a.yaml").write_text("x: 1\n")
    first = archive.package(str(d))
    assert first == archive.package(str(d))
    c = archive.load(first)
    assert (c.name, c.version, c.values) == ("mychart", "0.3.0", {"image": "nginx:1.25"})
    (d / "templates" / "link.yaml").symlink_to("/etc/passwd")
    with pytest.raises(ChartError, match="link"):
        archive.package(str(d))


def test_subcharts_share_the_decompressed_size_limit(monkeypatch):
    monkeypatch.setattr(archive, "MAX_DECOMPRESSED_BYTES", 64 << 10)
    filler = bytes(range(256)) * 96  # 24 KiB, little compressed: each subchart alone stays under the limit
    subs = {f"c/charts/s{i}.tgz": tgz({f"s{i}/Chart.yaml": f"name: s{i}\nversion: 1.0.0\n", f"s{i}/blob": filler})
            for i in range(4)}
    with pytest.raises(ChartError, match="decompresses to more than"):
        archive.load(tgz({**GOOD, **subs}))
    archive.load(tgz({**GOOD, "c/charts/s0.tgz": subs["c/charts/s0.tgz"]}))
