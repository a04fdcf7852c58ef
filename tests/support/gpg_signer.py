"""GPG "atomic container signature" signatures made with the real gpg, from a key of the test's own in a temporary
GNUPGHOME, and laid out in a lookaside store as containers/image reads it (``<dir>/<repo>@sha256=<hex>/signature-1``).
The gpg-agent gpg starts for signing is stopped by ``close``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


class GPGSigner:
    def __init__(self, home: Path, *, expired: bool = False) -> None:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home = home
        # an expired key: made (and signing) in 2020, valid for a year
        self.faked = ["--faked-system-time", "20200101T000000"] if expired else []
        self._gpg("--passphrase", "", "--quick-gen-key", "mirrorsync test <test@example.com>", "ed25519", "sign",
                  "1y" if expired else "never")
        self.public_key = home / "pubkey.asc"
        self.public_key.write_bytes(self._gpg("--armor", "--export").stdout)

    def _gpg(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--yes", "--pinentry-mode", "loopback",
                               *self.faked, *args], input=data, check=True, capture_output=True)

    def sign(self, digest: str, identity: str) -> bytes:
        payload = json.dumps({"critical": {"identity": {"docker-reference": identity},
                                           "image": {"docker-manifest-digest": digest},
                                           "type": "atomic container signature"},
                              "optional": {"creator": "mirrorsync tests"}}).encode()
        return self._gpg("--passphrase", "", "--sign", data=payload).stdout

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True,
                       env={**os.environ, "GNUPGHOME": str(self.home)})


def put_lookaside(store: Path, repository: str, digest: str, signatures: list[bytes]) -> None:
    """``signature-1``, ``signature-2``, ... of ``digest`` under ``store`` for ``repository`` (its path)."""
    algorithm, _, encoded = digest.partition(":")
    directory = store / f"{repository}@{algorithm}={encoded}"
    directory.mkdir(parents=True, exist_ok=True)
    for i, sig in enumerate(signatures, 1):
        (directory / f"signature-{i}").write_bytes(sig)
