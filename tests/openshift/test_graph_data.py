"""The graph-data layer from an untrusted tarball: the tarball's files under /var/lib/cincinnati-graph-data/,
sorted, root-owned, mtime 0, modes kept (no setuid); the same tarball gives the same bytes; hostile members and
oversized tarballs are refused."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from mirrorsync.openshift.releases import graph_data
from mirrorsync.openshift.releases.graph_data import GraphDataError
from support.graph_data import GRAPH_FILES, LINKS, member, tarball


def entries(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        return tar.getmembers()


def test_the_layer_holds_the_tarballs_files_under_the_root_sorted_root_owned_modes_kept():
    layer, diff_id = graph_data.layer(tarball())
    got = entries(layer)
    names = [i.name for i in got]
    root = graph_data.ROOT
    assert names[0] == root and set(names) == {root} | {f"{root}/{p}" for p in (*GRAPH_FILES, *LINKS)}
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert all((i.uid, i.gid, i.mtime, i.uname) == (0, 0, 0, "root") for i in got)
    modes = {i.name[len(root) + 1:]: i.mode for i in got}
    assert all(modes[p] == mode for p, (mode, _) in GRAPH_FILES.items())
    link = next(i for i in got if i.issym())
    assert link.linkname == "stable-4.15.yaml"
    assert diff_id.startswith("sha256:")


def test_the_same_tarball_gives_the_same_layer_whatever_its_own_order_time_stamps_and_prefix():
    first = graph_data.layer(tarball())
    assert graph_data.layer(tarball()) == first
    assert graph_data.layer(tarball(prefix="./")) == first  # tar -C dir . writes ./ names


def test_setuid_bits_are_dropped_and_hard_links_stay_inside():
    suid = member("hack/run")
    suid[0].mode = 0o4755
    hard = member("channels/copy.yaml", tarfile.LNKTYPE, "channels/stable-4.15.yaml")
    got = {i.name.rsplit("/", 2)[-2] + "/" + i.name.rsplit("/", 1)[-1]: i
           for i in entries(graph_data.layer(tarball(extra=[suid, hard]))[0])}
    assert got["hack/run"].mode == 0o755
    assert got["channels/copy.yaml"].islnk()
    assert got["channels/copy.yaml"].linkname == f"{graph_data.ROOT}/channels/stable-4.15.yaml"


@pytest.mark.parametrize("extra, message", [
    (member("/etc/passwd"), "absolute path"),
    (member("a/../../x"), "leads out of the data"),
    (member("l", tarfile.SYMTYPE, "/etc/shadow"), "symbolic link leading out"),
    (member("channels/l", tarfile.SYMTYPE, "../../x"), "symbolic link leading out"),
    (member("h", tarfile.LNKTYPE, "nothing/before"), "hard link"),
    (member("h", tarfile.LNKTYPE, "../etc/passwd"), "leads out of the data"),
    (member("zero", tarfile.CHRTYPE), "device"),
    (member("channels/stable.yaml/x"), "lies below the symbolic link 'channels/stable.yaml'"),
    (member("pipe", tarfile.FIFOTYPE), "device, FIFO"),
])
def test_hostile_members_are_refused(extra, message):
    with pytest.raises(GraphDataError, match=message):
        graph_data.layer(tarball(extra=[extra]))


def test_a_link_cannot_lead_out_through_another_link():
    chain = [member("l1", tarfile.SYMTYPE, "."), member("l1/l2", tarfile.SYMTYPE, "../outside")]
    with pytest.raises(GraphDataError, match="below the symbolic link 'l1'"):
        graph_data.layer(tarball(extra=chain))


def test_what_is_no_gzip_tar_or_holds_no_file_is_refused(monkeypatch):
    with pytest.raises(GraphDataError, match="not gzip-compressed"):
        graph_data.members(b"plain text")
    with pytest.raises(GraphDataError, match="not a readable tar.gz"):
        graph_data.members(gzip.compress(b"x" * 1000))
    with pytest.raises(GraphDataError, match="not a readable tar.gz"):
        graph_data.members(tarball()[:200])
    with pytest.raises(GraphDataError, match="holds no files"):
        graph_data.members(tarball(files={"d": (0o755, None)}, links={}))


def test_the_caps_hold(monkeypatch):
    monkeypatch.setattr(graph_data, "MAX_DATA_BYTES", 30)
    with pytest.raises(GraphDataError, match="more than"):
        graph_data.members(tarball())
    monkeypatch.setattr(graph_data, "MAX_DATA_BYTES", 1 << 20)
    monkeypatch.setattr(graph_data, "MAX_MEMBERS", 3)
    with pytest.raises(GraphDataError, match="more than 3 members"):
        graph_data.members(tarball())
