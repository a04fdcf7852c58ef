"""Whether a policy accepts an image: every requirement of the scope that applies must (containers/image's
``IsRunningImageAllowed``: a list passes only if each of its requirements does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..registry.reference import Reference
from . import gpg, sigstore
from .policy import INSECURE_ACCEPT_ANYTHING, REJECT, SIGNED_BY, SIGSTORE_SIGNED, Policy
from .sigstore import CosignSignature, Refused


@dataclass(frozen=True)
class Decision:
    accepted: bool
    scope: str  # the policy scope that applied ("default" when none did)
    reason: str | None = None  # sigstore's words: no signature, wrong key, digest mismatch, ...
    message: str | None = None

    def describe(self) -> str:
        return f"signature policy scope {self.scope!r}: {self.reason}: {self.message}"


def decide(policy: Policy, image: Reference, digest: str,
           cosign_signatures: Callable[[], list[CosignSignature]],
           gpg_signatures: Callable[[], list[bytes]] = list) -> Decision:
    """The policy's decision on ``image`` (its reference with the tag or digest the copy reads) at ``digest`` (the
    manifest digest being copied). ``cosign_signatures()`` and ``gpg_signatures()`` read its signatures, once
    each, when a requirement needs them."""
    scope, requirements = policy.requirements_for(image)
    read: list[CosignSignature] | None = None
    read_gpg: list[bytes] | None = None
    for req in requirements:
        if req.type == INSECURE_ACCEPT_ANYTHING:
            continue
        if req.type == REJECT:
            return Decision(False, scope, sigstore.POLICY_REJECT, f"the policy rejects every image here ({req.where})")
        identity_ok = lambda claimed, req=req: req.identity.accepts(image, claimed)  # noqa: E731
        try:
            if req.type == SIGNED_BY:
                if read_gpg is None:
                    read_gpg = gpg_signatures()
                gpg.accepted(read_gpg, req.gpg_keys, digest, identity_ok)
            elif req.type == SIGSTORE_SIGNED:
                if read is None:
                    read = cosign_signatures()
                sigstore.accepted(read, req.public_keys, digest, identity_ok)
        except Refused as exc:
            return Decision(False, scope, exc.reason, f"{exc.message} ({req.where})")
    return Decision(True, scope)
