"""``.helmignore`` as ``helm package`` reads it (Helm's pkg/ignore): Go globs, a name-only match for a pattern
without ``/``, directories skipped whole, rules tried in order with Helm's odd ``!``, and its default for dotfiles
in templates/. The expectations follow Helm's own rules_test.go cases."""

import gzip
import io
import tarfile

import pytest

from mirrorsync.charts import archive
from mirrorsync.charts.archive import ChartError
from mirrorsync.charts.helmignore import Rules


@pytest.mark.parametrize("pattern, path, is_dir, ignored", [
    ("helmrule", "helmrule", False, True),
    ("helmrule", "sub/helmrule", False, True),          # no slash: the last name only
    ("helmrule", "helmrulez", False, False),
    ("/helmrule", "helmrule", False, True),
    ("/helmrule", "sub/helmrule", False, False),         # a leading slash: from the chart's top
    ("sub/*.txt", "sub/a.txt", False, True),
    ("sub/*.txt", "sub/deeper/a.txt", False, False),     # * never crosses a /
    ("*.txt", "sub/deeper/a.txt", False, True),
    ("docs/", "docs", True, True),
    ("docs/", "docs", False, False),                     # a trailing slash: directories only
    ("temp?", "temp1", False, True),
    ("temp?", "temp12", False, False),
    ("[a-c]*.md", "b.md", False, True),
    ("[^a-c]*.md", "b.md", False, False),
    ("[^a-c]*.md", "d.md", False, True),
    ("\\*.md", "*.md", False, True),
    ("\\*.md", "x.md", False, False),
    (".*", ".git", True, True),
    ("", "templates/.swp", False, True),                 # Helm's default: dotfiles in templates/
    ("", "templates/a.yaml", False, False),
    ("!*.yaml", "values.yaml", False, False),            # Helm's !: what does not match is ignored
    ("!*.yaml", "README.md", False, True),
])
def test_rules_decide_as_helm_does(pattern, path, is_dir, ignored):
    assert Rules.parse(pattern + "\n").ignore(path, is_dir) is ignored


def test_rules_go_in_order_and_the_first_that_decides_wins():
    rules = Rules.parse("# comment\n\n  *.bak  \n!keep*\n")
    assert rules.ignore("a.bak", False)                  # matched before the ! rule is reached
    assert rules.ignore("other.txt", False)              # does not match !keep*: ignored
    assert not rules.ignore("keep.txt", False)
    assert not rules.ignore(".", True) and not rules.ignore("", True)


@pytest.mark.parametrize("text, why", [("a/**/b\n", "line 1: 'a/\\*\\*/b': double-star"),
                                       ("ok\n[abc\n", "line 2: '\\[abc': syntax error"),
                                       ("x\\\n", "line 1")])
def test_a_pattern_helm_refuses_is_an_error_naming_its_line(text, why):
    with pytest.raises(ValueError, match=why):
        Rules.parse(text, ".helmignore")


def names(tgz: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(tgz))) as tar:
        return set(tar.getnames())


def test_package_leaves_out_what_helmignore_ignores(tmp_path):
    d = tmp_path / "mychart"
    for path, text in {"Chart.yaml": "apiVersion: v2\nname: mychart\nversion: 0.3.0\n", "values.yaml": "a: 1\n",
                       ".helmignore": "# helm create's\n.git/\n*.tmp\n/ci/\nsecrets.yaml\n",
                       "templates/a.yaml": "x: 1\n", "templates/.a.yaml.swp": "junk", "notes.tmp": "x",
                       "ci/values-test.yaml": "b: 2\n", "docs/ci/keep.md": "kept: /ci/ is the top's only",
                       "sub/secrets.yaml": "password: x", ".git/config": "[core]"}.items():
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_text(text)
    (d / ".git" / "link").symlink_to("/etc/passwd")  # inside an ignored directory: never looked at
    (d / "x.tmp.lnk").symlink_to("/etc/passwd")
    with pytest.raises(ChartError, match="x.tmp.lnk is a link"):
        archive.package(str(d))
    (d / ".helmignore").write_text("# helm create's\n.git/\n*.tmp\n/ci/\nsecrets.yaml\n*.lnk\n")
    assert names(archive.package(str(d))) == {
        "mychart/Chart.yaml", "mychart/values.yaml", "mychart/.helmignore", "mychart/templates/a.yaml",
        "mychart/docs/ci/keep.md"}
    (d / ".helmignore").write_text("templates/**\n")
    with pytest.raises(ChartError, match=r"\.helmignore, line 1: 'templates/\*\*': double-star"):
        archive.package(str(d))
