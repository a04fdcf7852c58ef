"""Prometheus metrics: parsed back with the Prometheus client's own parser, textfile carry-over, Pushgateway push."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mirrorsync.sync import metrics
from mirrorsync.errors import MirrorsyncError
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report


def make_report(status="Succeeded", finished="2026-01-02T03:04:10Z") -> Report:
    def img(name, st, sent=0, skipped=0, read=0):
        return ImageRecord(source=f"q.io/{name}", tag="v1", digest="sha256:" + "a" * 64, status=st, bytesRead=read,
                           destinations=[DestinationRecord("m.example/x", f"m.example/x/{name}", st if st != "partial"
                                                           else "failed", bytesSent=sent, bytesSkipped=skipped)])
    rep = Report(manifest="m.yaml", engine="native", mirrors=["m.example/x"], startedAt="2026-01-02T03:04:00Z",
                 finishedAt=finished, status=status,
                 images=[img("a", "copied", 1000, 24, 1000), img("b", "copied", 500, 0, 500),
                         img("c", "up-to-date", 0, 700), img("d", "failed"), img("e", "partial")])
    rep.retries = 3
    rep.nodeImpact = {"verdict": "reload", "reasons": []}
    return rep


def parse(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_rendered_metrics_parse_and_hold_the_report_totals():
    values = parse(metrics.render(make_report()))
    assert values[("mirrorsync_last_run_images", (("result", "copied"),))] == 2
    assert values[("mirrorsync_last_run_images", (("result", "skipped"),))] == 1
    assert values[("mirrorsync_last_run_images", (("result", "failed"),))] == 2
    assert values[("mirrorsync_last_run_bytes", (("result", "copied"),))] == 1500
    assert values[("mirrorsync_last_run_bytes", (("result", "skipped"),))] == 724
    assert values[("mirrorsync_last_run_source_read_bytes", ())] == 1500
    assert values[("mirrorsync_last_run_retries", ())] == 3
    assert values[("mirrorsync_last_run_duration_seconds", ())] == 10
    finished = 1767323050  # 2026-01-02T03:04:10Z
    assert values[("mirrorsync_last_run_timestamp_seconds", ())] == finished
    assert values[("mirrorsync_last_run_success", ())] == 1
    assert values[("mirrorsync_last_success_timestamp_seconds", ())] == finished
    assert values[("mirrorsync_last_run_apply_verdict", (("verdict", "reload"),))] == 1
    assert values[("mirrorsync_last_run_apply_verdict", (("verdict", "none"),))] == 0
    assert values[("mirrorsync_last_run_apply_verdict", (("verdict", "drain"),))] == 0
    assert {name for name, _ in values} == set(metrics.METRICS)


def test_no_apply_verdict_without_one_in_the_report():
    rep = make_report()
    rep.nodeImpact = None  # a report of an earlier version
    assert not any(name == "mirrorsync_last_run_apply_verdict" for name, _ in parse(metrics.render(rep)))


def test_textfile_keeps_the_last_success_across_a_failed_run(tmp_path):
    path = tmp_path / "mirrorsync.prom"
    metrics.write_textfile(make_report(), path)
    metrics.write_textfile(make_report("PartiallyFailed", finished="2026-01-03T00:00:00Z"), path)
    values = parse(path.read_text())
    assert values[("mirrorsync_last_run_success", ())] == 0
    assert values[("mirrorsync_last_success_timestamp_seconds", ())] == 1767323050
    assert values[("mirrorsync_last_run_timestamp_seconds", ())] == 1767398400
    assert [p.name for p in tmp_path.iterdir()] == ["mirrorsync.prom"]  # no temporary file left for the collector


def test_failed_first_run_has_no_last_success(tmp_path):
    path = tmp_path / "m.prom"
    metrics.write_textfile(make_report("Failed"), path)
    values = parse(path.read_text())
    assert values[("mirrorsync_last_run_success", ())] == 0
    assert ("mirrorsync_last_success_timestamp_seconds", ()) not in values


def test_unwritable_textfile_is_one_clear_error(tmp_path):
    with pytest.raises(MirrorsyncError, match=f"writing metrics to {tmp_path}/missing/m.prom"):
        metrics.write_textfile(make_report(), tmp_path / "missing" / "m.prom")


class _Gateway:
    """Records what a Pushgateway would receive (the real one is not packaged here); answers like it does."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[str, str, str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                gateway.requests.append(("POST", self.path, self.headers["Content-Type"], body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"" if status < 300 else b"pushed metrics are invalid")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    g = _Gateway()
    yield g
    g.close()


def test_push_posts_to_the_job_group(gateway):
    metrics.push(make_report(), gateway.url + "/", grouping={"shard": "2"})
    method, path, ctype, body = gateway.requests[0]
    assert (method, path) == ("POST", "/metrics/job/mirrorsync/shard/2")
    assert ctype.startswith("text/plain; version=0.0.4")
    assert parse(body)[("mirrorsync_last_success_timestamp_seconds", ())] == 1767323050


def test_push_of_a_failed_run_leaves_the_last_success_alone(gateway):
    metrics.push(make_report("Failed"), gateway.url, grouping={"manifest": "a/b.yaml"})
    _, path, _, body = gateway.requests[0]
    assert path == "/metrics/job/mirrorsync/manifest@base64/YS9iLnlhbWw="
    values = parse(body)
    assert values[("mirrorsync_last_run_success", ())] == 0
    assert ("mirrorsync_last_success_timestamp_seconds", ()) not in values


def test_push_refused_is_an_error():
    g = _Gateway(status=400)
    try:
        with pytest.raises(MirrorsyncError, match="HTTP 400 pushed metrics are invalid"):
            metrics.push(make_report(), g.url)
    finally:
        g.close()


def test_push_to_nothing_is_an_error(closed_port):
    with pytest.raises(MirrorsyncError, match=f"pushing metrics to http://127.0.0.1:{closed_port}: ConnectError"):
        metrics.push(make_report(), f"http://127.0.0.1:{closed_port}", timeout=2)
