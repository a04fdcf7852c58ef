"""What ``prune`` decides about the charts a run pushed (the report's ``charts[].mirrors``): a version the plan no
longer pushes goes, one it pushes — or may, its repository down — never does, also when an earlier prune left it
to delete; a chart named nowhere any more is a guard. The real registry is in tests/integration/test_charts.py."""

from __future__ import annotations

from mirrorsync.charts.planning import ChartPlan
from mirrorsync.pipeline.prune import Removal, decide, guards
from mirrorsync.pipeline.sections import parse_manifest
from mirrorsync.sync.plan import Plan
from mirrorsync.sync.report import Report

MIRROR = "mirror.example.com"
URL = "http://127.0.0.1:1/stable/"


def manifest(charts: str = "[{name: web, semver: '>=1.0.0'}]"):
    return parse_manifest(f"""
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [{MIRROR}/m]
images: []
charts:
  repositories: [{{name: stable, url: "{URL}", charts: {charts}}}]
""")


def entry(version: str, digest: str, chart: str = "web") -> dict:
    return {"chart": chart, "version": version, "kind": "repository", "source": f"{URL}{chart}-{version}.tgz",
            "repository": chart, "tag": version, "digest": digest, "images": [], "mirrors": [
                {"mirror": f"{MIRROR}/m", "reference": f"{MIRROR}/m/{chart}:{version}", "digest": digest,
                 "status": "pushed", "error": None}]}


def report() -> Report:
    return Report(manifest="m.yaml", engine="native", mirrors=[f"{MIRROR}/m"], startedAt="", images=[],
                  sections={"charts": [entry("0.9.0", "sha256:" + "9" * 64), entry("1.0.0", "sha256:" + "1" * 64)]})


def plan(m, version: str = "1.0.0", error: str | None = None) -> Plan:
    spec = m.sections["charts"].charts[0]
    cp = ChartPlan(spec, "web", version, "web", f"{URL}web-{version}.tgz", error=error)
    return Plan(sections={"charts": [cp]})


def test_a_version_no_longer_pushed_goes_and_the_report_loses_it():
    m = manifest()
    removals, _, pruned = decide(report(), m, plan(m))
    assert [(r.repository, r.tag, r.digest, r.section) for r in removals] == [
        (f"{MIRROR}/m/web", "0.9.0", "sha256:" + "9" * 64, "charts")]
    assert "web 0.9.0 is no longer among the versions" in removals[0].reason
    assert [e["version"] for e in pruned.sections["charts"]] == ["1.0.0"]
    assert [e["version"] for e in report().sections["charts"]] == ["0.9.0", "1.0.0"]
    assert guards(report(), m, plan(m), removals) == []


def test_a_chart_still_pushed_is_never_touched_also_when_an_earlier_prune_left_it_to_delete():
    m = manifest()
    left = [Removal("x", f"{MIRROR}/m", f"{MIRROR}/m/web", "1.0.0", "sha256:" + "1" * 64, "old", section="charts"),
            Removal("x", f"{MIRROR}/m", f"{MIRROR}/m/web", "0.8.0", "sha256:" + "8" * 64, "old", section="charts",
                    action="failed", detail="mirror down")]
    removals, _, _ = decide(report(), m, plan(m), left)
    assert sorted((r.tag, r.action) for r in removals) == [("0.8.0", "delete"), ("0.9.0", "delete")]
    # its repository down: every version the report has of it stays, left-overs too
    removals, _, pruned = decide(report(), m, plan(m, error="chart web: HTTP 503"), left)
    assert removals == [] and pruned is None


def test_a_chart_named_nowhere_any_more_is_a_guard():
    m = manifest("[{name: other}]")
    the_plan = Plan()
    removals, _, _ = decide(report(), m, the_plan)
    assert {r.tag for r in removals} == {"0.9.0", "1.0.0"}
    assert "the manifest no longer names chart web" in removals[0].reason
    assert guards(report(), m, the_plan, removals) == [
        f"{URL}web-0.9.0.tgz is no longer in the manifest: 1 artifact(s) of it would be deleted",
        f"{URL}web-1.0.0.tgz is no longer in the manifest: 1 artifact(s) of it would be deleted",
        "2 of the 2 images on the mirrors would be deleted, more than 50% (--max-share)"]
