"""``-o`` is the output directory everywhere; ``convert`` and ``registries-conf`` take their output file as
``--output FILE``, and their old ``-o FILE`` still works with a deprecation warning (issue 35)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mirrorsync.cli.app import app

SYNC = "registry.example.com:\n  images:\n    busybox: ['1.0']\n"
IDMS = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: m}
spec:
  imageDigestMirrors:
    - source: registry.example.com/busybox
      mirrors: [mirror.example.com/busybox]
"""
DEPRECATED = ("warning: -o FILE is deprecated here and will be removed (everywhere else -o is the output directory): "
              "use --output FILE")


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "sync.yml").write_text(SYNC)
    (tmp_path / "idms.yaml").write_text(IDMS)
    return {"convert": [str(tmp_path / "sync.yml"), "--mirror", "m.example.com"],
            "registries-conf": [str(tmp_path / "idms.yaml")]}


def _invoke(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("command", ["convert", "registries-conf"])
def test_output_file_is_the_long_option_and_the_old_short_one_warns(tmp_path, inputs, command):
    new, old = tmp_path / "new.out", tmp_path / "old.out"
    result = _invoke(command, *inputs[command], "--output", str(new))
    assert result.exit_code == 0, result.output
    assert "deprecated" not in result.stderr and result.stdout == ""
    result = _invoke(command, *inputs[command], "-o", str(old))
    assert result.exit_code == 0, result.output
    assert DEPRECATED in result.stderr.splitlines()
    assert old.read_bytes() == new.read_bytes() != b""
    assert "-o" not in _invoke(command, "--help").stdout.replace("--output", "")  # not offered any more


@pytest.mark.parametrize("command", ["convert", "registries-conf"])
def test_two_different_output_files_are_a_usage_error(tmp_path, inputs, command):
    result = _invoke(command, *inputs[command], "--output", str(tmp_path / "a"), "-o", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "error: give the output file once: --output FILE (-o is deprecated)"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("command", ["run", "import", "prune", "generate"])
def test_o_is_the_output_directory_of_the_other_commands(command):
    help_text = _invoke(command, "--help").stdout
    line = next(line for line in help_text.splitlines() if "--output-dir" in line)
    assert line.split()[1:4] == ["--output-dir", "-o", "DIR"]
