"""What a failed skopeo run means: the error to report (``exit_error``), whether another run is worth it
(``classify``), and the step of the copy it failed at (``failure_step``)."""

from __future__ import annotations

import re
import signal

from .transcript import Transcript, clean_message

TRANSIENT, PERMANENT, MISMATCH = "transient", "permanent", "digest mismatch"

# Texts as skopeo 1.9.3 (containers/image 5.23, Go's net/http) words them; tests/data/skopeo/ holds real ones,
# captured through the fault proxy. A digest mismatch comes first: it is reported "during read" like a reset.
_MISMATCH_TEXT = re.compile(r"Digest did not match, expected (\S+:[0-9a-f]+)|digest mismatch", re.IGNORECASE)
_TRANSIENT_TEXT = re.compile("|".join([
    # any HTTP 5xx or 429, in each of the ways containers/image reports a status (with Go's status text)
    r"\b(?:5\d\d|429) \(?(?:[A-Z][a-z]+|HTTP)(?: [A-Za-z]+)*\)?",
    r"\bstatus:? (?:5\d\d|429)\b",
    r"\b(?:toomanyrequests|unavailable):",  # the registry's error codes TOOMANYREQUESTS and UNAVAILABLE
    # the connection broke, or never came: resets, refusals, bodies cut short, timeouts
    r"\bconnection reset\b", r"\bconnection refused\b", r"\bbroken pipe\b", r"\bunexpected EOF\b", r"\bEOF\s*$",
    r": EOF\b", r"happened during read", r"\b[Tt]imeout\b", r"\bdeadline exceeded\b",
    r"\bnetwork is unreachable\b", r"\bno route to host\b", r"\bserver closed idle connection\b",
    # what mirrorsync itself says when it killed a skopeo that hung
    r"^skopeo made no progress for ",
]))


def classify(error: str) -> tuple[str, str | None]:
    """(class, digest) of a failed skopeo run from its error text: ``TRANSIENT`` (worth another run),
    ``MISMATCH`` (of the blob ``digest``: once may be a corrupt transfer, twice is a source serving wrong bytes)
    or ``PERMANENT`` (anything else: a missing manifest or blob, refused credentials, content skopeo cannot copy;
    another run would fail the same way)."""
    if m := _MISMATCH_TEXT.search(error):
        return MISMATCH, m.group(1)
    if _TRANSIENT_TEXT.search(error):
        return TRANSIENT, None
    return PERMANENT, None


_TCP_ADDRESSES = re.compile(r"\btcp [^\s:]+:\d+(?:->[^\s:]+:\d+)?")
_UPLOAD_SESSION = re.compile(r"/blobs/uploads/[^\s\"?/]+")


def failure_step(error: str) -> str:
    """The step of the copy a transient failure happened at, the same whatever the fault was: skopeo's error
    text up to its cause, without what changes from run to run (client ports, upload sessions, queries).

    A run fails at the first broken request; with faults spread over many requests, each run may fail at another
    one. Retries are counted per step, as the native engine counts them per request."""
    if m := _TRANSIENT_TEXT.search(error):
        error = error[:m.start()]
    return _UPLOAD_SESSION.sub("/blobs/uploads/…", _TCP_ADDRESSES.sub("tcp", clean_message(error)))


# skopeo's last word when a manifest PUT failed and --preserve-digests forbade trying another manifest type
_CANNOT_CONVERT = "Instructed to preserve digests"


def exit_error(rc: int, transcript: Transcript) -> str | None:
    """What a skopeo that exited with ``rc`` after saying ``transcript`` failed of; None when it succeeded."""
    if rc == 0:
        return None
    if rc < 0:
        error = f"skopeo was killed by {signal.Signals(-rc).name}"
        return f"{error} after: {transcript.fatal}" if transcript.fatal else error
    if transcript.fatal and transcript.manifest_failed and _CANNOT_CONVERT in transcript.fatal:
        # When a manifest PUT fails, skopeo tries the other manifest types, which --preserve-digests forbids: its
        # last word is then that refusal, and the PUT's own failure (a 503, a reset ...) is the cause to report
        return f"skopeo: writing manifest: {transcript.manifest_failed}"
    if transcript.fatal:
        return f"skopeo: {transcript.fatal}"
    if transcript.tail:
        return f"skopeo exited with code {rc}: {transcript.tail[-1]}"
    return f"skopeo exited with code {rc}"
