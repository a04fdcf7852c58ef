"""plan_checks without a registry: manifest paths relative to the manifest, entries selecting nothing and why,
the offline plan, and which hosts have credentials."""

from __future__ import annotations

import json
import textwrap

import pytest

from mirrorsync.errors import InputError
from mirrorsync.pipeline import plan_checks
from mirrorsync.pipeline.runner import RunOptions, Runner
from mirrorsync.pipeline.sections import load_manifest
from mirrorsync.sync import plan as plan_mod

HEAD = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example:5000/ns]
"""


def write(tmp_path, body: str, name: str = "sync.yaml"):
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(body))
    return path


def test_registry_paths_are_read_from_the_manifests_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", """\
        registries:
          mirror.example:5000: {authFile: auth.json, certDir: certs}
          quay.io: {authFile: /abs/auth.json, certDir: ~/certs}
        images: [{source: quay.io/a/b, tags: ['1']}]
        """)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/someone")
    m = load_manifest("conf/sync.yaml")
    assert m.registries["mirror.example:5000"].auth_file == str(tmp_path / "conf" / "auth.json")
    assert m.registries["mirror.example:5000"].cert_dir == str(tmp_path / "conf" / "certs")
    assert m.registries["quay.io"].auth_file == "/abs/auth.json"
    assert m.registries["quay.io"].cert_dir == "/home/someone/certs"
    assert path.exists()


def test_an_unusable_auth_file_is_its_manifest_line(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.json").chmod(0o600)
    path = write(tmp_path, """\
        registries:
          quay.io:
            authFile: bad.json
          mirror.example:5000:
            authFile: gone.json
        images: [{source: quay.io/a/b, tags: ['1']}]
        """)
    m = load_manifest(str(path))
    with pytest.raises(InputError) as caught:
        Runner(m, RunOptions()).check_credentials()
    assert str(caught.value) == (f"{path}:8: registries.mirror.example:5000.authFile: {tmp_path}/gone.json: auth "
                                 "file not found (a relative path is read from the manifest's directory)")
    (tmp_path / "gone.json").write_text("{}")
    with pytest.raises(InputError) as caught:
        Runner(m, RunOptions()).check_credentials()
    assert str(caught.value).startswith(f"{path}:6: registries.quay.io.authFile: {tmp_path}/bad.json:1: invalid JSON")


def test_unselected_says_why_each_tag_was_left(tmp_path):
    path = write(tmp_path, """\
        images:
          - source: quay.io/a/none
            semver: '>=2'
          - source: quay.io/a/empty
            allTags: true
          - source: quay.io/a/named
            tags: ['1.0']
            include: ['^x']
          - source: quay.io/a/some
            semver: '>=1'
        """)
    m = load_manifest(str(path))
    lists = {"quay.io/a/none": ["1.0.0", "1.1.0", "latest", "0.1.0"], "quay.io/a/empty": [],
             "quay.io/a/named": ["1.0", "2.0"], "quay.io/a/some": ["1.0.0"]}
    the_plan = plan_mod.build(m, lambda ref: lists[ref.name])
    assert plan_checks.unselected(m, the_plan) == [
        f"{path}:5: images[0]: quay.io/a/none selects no tag (of the 4 tags its source lists: 3 outside semver "
        "'>=2'; 1 not a version, so outside semver '>=2')",
        f"{path}:7: images[1]: quay.io/a/empty selects no tag (its source lists no tags)",
    ]


def test_offline_plan_plans_only_what_the_manifest_names(tmp_path):
    path = write(tmp_path, """\
        images:
          - source: quay.io/a/named
            tags: ['1.0']
            digests: ['sha256:%s']
          - source: quay.io/a/listed
            allTags: true
        """ % ("a" * 64))
    m = load_manifest(str(path))
    the_plan, left = plan_checks.offline_plan(m)
    assert [str(j) for j in the_plan.jobs] == ["quay.io/a/named:1.0", "quay.io/a/named@sha256:" + "a" * 64]
    assert the_plan.failures == []
    assert left == ["images[1] (quay.io/a/listed): not planned (--offline: it selects from the source's tag list)"]


def test_credentials_per_host(tmp_path, monkeypatch):
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {"quay.io/team": {"auth": "dTpw"}}}))
    auth.chmod(0o600)
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"auths": {}}))
    own.chmod(0o600)
    path = write(tmp_path, """\
        registries:
          mirror.example:5000: {authFile: own.json}
        images: [{source: quay.io/team/app, tags: ['1']}, {source: docker.io/library/busybox, tags: ['1']}]
        """)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    found = plan_checks.credentials(load_manifest(str(path)), str(auth))
    assert [c.line() for c in found] == [
        "credentials for quay.io: found",  # by its namespace's key
        "credentials for docker.io: none (anonymous)",
        f"credentials for mirror.example:5000: none in its authFile {own} (anonymous)",
    ]
