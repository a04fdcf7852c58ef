"""The auth file skopeo reads its credentials from, which is no file: a memfd that only skopeo inherits."""

from __future__ import annotations

import base64
import json
import os

from ...registry import auth


def auth_document(credentials: dict[str, auth.Credentials | None]) -> bytes:
    """A containers ``auth.json`` with only ``credentials`` (auth.json key -> creds): the one place it is built."""
    auths: dict[str, dict[str, str]] = {}
    for key, creds in credentials.items():
        if creds is None:
            continue
        # always an "auth": containers/image skips an entry without "user:password" in it, identity token and all
        entry = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        auths[key] = entry
    return json.dumps({"auths": auths}).encode()


def auth_memfd(credentials: dict[str, auth.Credentials | None]) -> int:
    """A memfd holding ``auth_document(credentials)``; the caller closes it. Hand it to skopeo as ``/dev/fd/N``
    (``pass_fds``): containers/image opens that path afresh for each image it resolves (twice a copy, at least),
    and opening ``/proc/self/fd/N`` of a memfd starts at byte 0 each time, which a pipe would not. The memory
    goes when the last process holding it ends: no file to delete, none left behind by a SIGKILL."""
    fd = os.memfd_create("mirrorsync-auth.json", os.MFD_CLOEXEC)
    try:
        data = auth_document(credentials)
        while data:
            data = data[os.write(fd, data):]
    except BaseException:
        os.close(fd)
        raise
    return fd


def auth_path(fd: int) -> str:
    return f"/dev/fd/{fd}"
