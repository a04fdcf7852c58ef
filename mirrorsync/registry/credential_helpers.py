"""Docker credential helpers (``credHelpers`` and ``credsStore`` of an auth file): the registry's credentials from
``docker-credential-<name> get``, as containers/image and the docker CLI ask them.

The protocol: the helper reads the server's host on stdin and prints ``{"ServerURL", "Username", "Secret"}``; a
``Username`` of ``<token>`` makes ``Secret`` an identity (refresh) token. A helper that answers "credentials not
found" means anonymous; any other failure is an error naming the helper, never its output (it may hold a secret).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ..errors import AuthError, InputError

HELPER_KEY = "\0credHelper"  # an auths entry that names a helper instead of holding credentials
STORE_KEY = "\0credsStore"  # the file's default helper, for registries it has no entry for
TIMEOUT = 30.0  # seconds: a helper that waits for a keyring prompt nobody answers must not hang a scheduled run
_MAX_ANSWER = 1 << 20
_NOT_FOUND = ("credentials not found", "no credentials", "not found in native keychain")


def entries(data: dict, file: Path) -> dict[str, dict]:
    """The helper entries of an auth file's JSON: ``{host: {HELPER_KEY: name}}``, and the store under STORE_KEY."""
    out: dict[str, dict] = {}
    helpers = data.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise InputError("'credHelpers' must be an object of host to helper name", file=str(file), field="credHelpers")
    for host, name in helpers.items():
        out[host] = {HELPER_KEY: _name(name, file, f"credHelpers.{host}")}
    if data.get("credsStore"):
        out[STORE_KEY] = {HELPER_KEY: _name(data["credsStore"], file, "credsStore")}
    return out


def _name(name, file: Path, field: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise InputError("must name a helper (docker-credential-NAME on PATH)", file=str(file), field=field)
    return name


def get(name: str, host: str, file: Path):
    """The credentials helper ``name`` holds for ``host``: ``(username, password, identity_token)``, or None."""
    binary = shutil.which(f"docker-credential-{name}")
    where = f"credential helper docker-credential-{name} (named in {file})"
    if binary is None:
        raise InputError(f"{where} is not on PATH: install it or remove it from the auth file", file=str(file))
    try:
        proc = subprocess.run([binary, "get"], input=host.encode(), capture_output=True, timeout=TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        raise AuthError(f"{where} did not answer for {host} within {TIMEOUT:g} s") from None
    except OSError as exc:
        raise AuthError(f"{where} could not be run: {exc.strerror}") from None
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr)[:4096].decode("utf-8", "replace").lower()
        if any(words in said for words in _NOT_FOUND):
            return None
        raise AuthError(f"{where} failed for {host} (exit {proc.returncode})")
    try:
        answer = json.loads(proc.stdout[:_MAX_ANSWER])
        user, secret = answer["Username"], answer["Secret"]
        if not isinstance(user, str) or not isinstance(secret, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise AuthError(f"{where} answered for {host} with something that is not its JSON") from None
    if user == "<token>":
        return "", "", secret
    return user, secret, None
