"""Running one skopeo process: in a process group of its own, killed with all it started when it stalls or
mirrorsync stops, its stderr parsed as it arrives."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ...errors import describe
from ...registry import auth
from .failures import exit_error
from .transcript import Transcript, clean_message

STOPPED = "skopeo was stopped because mirrorsync is shutting down"


@dataclass
class Outcome:
    """How one skopeo process ended."""

    returncode: int | None
    transcript: Transcript
    error: str | None = None  # None when skopeo succeeded

    @property
    def ok(self) -> bool:
        return self.error is None


def _io_counter(pid: int) -> int | None:
    """Bytes the process has read and written so far (Linux ``/proc/PID/io``), None where unavailable."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["rchar"]) + int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return None


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it: its pid (and process group id) stays ours to signal."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_skopeo(argv: list[str], *, env: dict[str, str] | None = None, stall_timeout: float = 60.0,
               cancel: threading.Event | None = None, on_start: Callable[[subprocess.Popen], None] | None = None,
               secrets: tuple[str, ...] = (), pass_fds: tuple[int, ...] = ()) -> Outcome:
    """Run skopeo in a process group of its own and wait for it, parsing its stderr as it goes.

    The process is killed (with its group) when it makes no progress — no output line and no I/O — for
    ``stall_timeout`` seconds, or when ``cancel`` is set. Whatever happens, nothing it started is left running
    when this returns. ``pass_fds`` are inherited by skopeo (its auth memfd).
    """
    transcript = Transcript()
    try:
        # A session of its own: a Ctrl-C at the terminal reaches mirrorsync (which lets images in flight
        # finish) but not skopeo directly, and killpg reaches everything skopeo started.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env, start_new_session=True, pass_fds=pass_fds)
    except OSError as exc:
        return Outcome(None, transcript, f"cannot start skopeo: {describe(exc)}")
    killed_because: str | None = None
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer = b""
    try:
        if on_start is not None:
            on_start(proc)
        last_progress = time.monotonic()
        io_seen = _io_counter(proc.pid)
        eof = False
        while not eof:
            for _key, _ev in selector.select(timeout=0.5):
                chunk = os.read(fd, 65536)
                if not chunk:
                    eof = True
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    transcript.feed(raw.decode("utf-8", errors="replace"))
                    last_progress = time.monotonic()
            if eof:
                break
            io_now = _io_counter(proc.pid)
            if io_now is not None and io_now != io_seen:
                io_seen, last_progress = io_now, time.monotonic()
            if killed_because is None:
                if cancel is not None and cancel.is_set():
                    killed_because = STOPPED
                elif time.monotonic() - last_progress > stall_timeout:
                    killed_because = f"skopeo made no progress for {stall_timeout:.0f}s and was killed"
                if killed_because:
                    _kill_group(proc.pid)
            if _exited(proc.pid):
                # skopeo is gone; anything still holding its stderr open is a leftover of its group
                _kill_group(proc.pid)
    finally:
        if buffer:
            transcript.feed(buffer.decode("utf-8", errors="replace"))
        # the leader is not reaped yet, so its pid still names this group and nobody else's
        _kill_group(proc.pid)
        proc.wait()
        selector.close()
        proc.stderr.close()
    rc = proc.returncode
    error = killed_because or exit_error(rc, transcript)
    if error:
        error = clean_message(auth.redact(error, secrets))
    return Outcome(rc, transcript, error)
