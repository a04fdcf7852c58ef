"""Which versions of a chart an entry takes: semver ranges and latest see a ``+build`` version as Helm does (its
build metadata counts for nothing), though the selection runs on tags, where ``_`` stands for ``+``."""

import pytest

from mirrorsync.charts import artifact, planning
from mirrorsync.charts.spec import ChartSpec, Versions
from mirrorsync.sync.semver import Range, Version

AVAILABLE = ["0.9.0", "1.2.0+build.5", "1.3.0+20240102.sha.abc", "1.4.0-rc.1+b1", "2.0.0+x", "not-a-version"]


def taken(**versions) -> list[str]:
    spec = ChartSpec("repository", ("charts", "repositories", 0, "charts", 0), name="web",
                     versions=Versions(**versions))
    return planning._versions(spec, None, AVAILABLE, "chart web")


@pytest.mark.parametrize("versions, expected", [
    ({"semver": Range.parse(">=1.2.0 <2")}, ["1.2.0+build.5", "1.3.0+20240102.sha.abc"]),
    ({"semver": Range.parse("1.2.0")}, ["1.2.0+build.5"]),  # =1.2.0: build metadata is not compared
    ({"semver": Range.parse("~1.3")}, ["1.3.0+20240102.sha.abc"]),
    ({"semver": Range.parse(">=1.4.0-rc.0 <2")}, ["1.4.0-rc.1+b1"]),  # a pre-release only when the range names one
    ({"semver": Range.parse(">=1.0.0"), "latest": 2}, ["1.3.0+20240102.sha.abc", "2.0.0+x"]),
    ({"latest": 1}, ["2.0.0+x"]),
    ({"exact": "1.2.0+build.5"}, ["1.2.0+build.5"]),
])
def test_build_metadata_versions_are_selected_by_ranges_and_latest(versions, expected):
    assert sorted(taken(**versions)) == expected


def test_a_tag_reads_back_as_its_version():
    assert artifact.tag_for("1.2.0+build.5") == "1.2.0_build.5"
    assert artifact.version_of_tag("1.2.0_build.5") == Version.parse("1.2.0") == Version.parse("1.2.0+build.5")
    assert artifact.version_of_tag("latest") is None
