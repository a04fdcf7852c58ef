"""credHelpers and credsStore in an auth file: the helper is asked as containers/image asks it (issue 27, item 9),
instead of the registry being reached anonymously without a word."""

from __future__ import annotations

import json
import os
import stat

import pytest

from mirrorsync.errors import AuthError, InputError
from mirrorsync.registry import auth


def helper(bin_dir, name: str, body: str) -> None:
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
    return d


def test_a_cred_helper_answers_for_its_registry_before_the_auths_entry(tmp_path, bin_dir):
    helper(bin_dir, "corp", 'read host; [ "$1" = get ] && [ "$host" = "mirror.example.com:5000" ] && '
                            'echo \'{"ServerURL": "x", "Username": "robot", "Secret": "s3cret"}\'\n')
    f = tmp_path / "auth.json"
    f.write_text(json.dumps({"auths": {"mirror.example.com:5000": {"auth": "dTpw"}},
                             "credHelpers": {"mirror.example.com:5000": "corp"}}))
    creds = auth.lookup("mirror.example.com:5000", "ns/app", auth_file=str(f))
    assert (creds.username, creds.password) == ("robot", "s3cret")
    assert "s3cret" not in repr(creds)


def test_creds_store_serves_registries_without_an_entry_and_token_means_identity_token(tmp_path, bin_dir):
    helper(bin_dir, "store", 'read host; echo "{\\"Username\\": \\"<token>\\", \\"Secret\\": \\"refresh-$host\\"}"\n')
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"auths": {"other.example.com": {"auth": "dTpw"}}, "credsStore": "store"}))
    creds = auth.lookup("quay.example.com", auth_file=str(f))
    assert creds.identity_token == "refresh-quay.example.com" and creds.username == ""
    assert auth.lookup("other.example.com", auth_file=str(f)).username == "u"  # its own entry wins


def test_not_found_is_anonymous_and_other_failures_name_the_helper_not_its_output(tmp_path, bin_dir):
    helper(bin_dir, "empty", "echo 'credentials not found in native keychain'; exit 1\n")
    helper(bin_dir, "broken", "echo 'password=hunter2'; exit 3\n")
    f = tmp_path / "auth.json"
    f.write_text(json.dumps({"credHelpers": {"a.example.com": "empty", "b.example.com": "broken",
                                             "c.example.com": "missing"}}))
    assert auth.lookup("a.example.com", auth_file=str(f)) is None
    with pytest.raises(AuthError) as err:
        auth.lookup("b.example.com", auth_file=str(f))
    assert "docker-credential-broken" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(InputError) as err:
        auth.lookup("c.example.com", auth_file=str(f))
    assert "docker-credential-missing" in str(err.value) and "is not on PATH" in str(err.value)
