"""The skopeo engine: the native engine's contract, with each image's content moved by ``skopeo copy``.

Sites that already trust skopeo get the same product on top of it. The runner plans, schedules, reports and
writes the mirror sets exactly as for the native engine; only the transfer differs:

- mirrorsync's own client (through ``Clients``) resolves the tag to a digest, checks each mirror for it (so an
  up-to-date mirror is skipped without starting skopeo) and reads the manifests for the report's ``children``
  and for blob sizes — so digest, mediaType, children and statuses mean what they mean for the native engine;
- one ``skopeo copy --all --preserve-digests docker://SRC@DIGEST docker://MIRROR/REPO:TAG`` (``@DIGEST`` for
  digest jobs) per mirror that lacks the image, several at once, bounded. skopeo pushes children before the
  index and the tag last, so a tag never points at incomplete content;
- credentials reach skopeo only through an auth file that is no file: a memfd (just the two hosts it needs)
  inherited by skopeo and named ``/dev/fd/N``, so no credential is ever on a disk or outlives the processes
  that use it, however they end; never through argv. TLS settings become ``--src/dest-tls-verify`` and
  ``--src/dest-cert-dir``;
- skopeo retries nothing itself (``--retry-times=0``): a failed ``skopeo copy`` is classified from its error
  text (``classify``) and run again with mirrorsync's backoff while it is transient and runs make progress
  (``_Budget``).

skopeo runs with ``--debug`` so that blobs sent/skipped/mounted can be told apart from its log, which is parsed
in memory and never written anywhere (it holds upload URLs with session state). A skopeo that makes no progress
(no output and no I/O) for the run's timeout is killed with its whole process group (a transient failure).

Machine configuration that skopeo users set on purpose is honoured: the signature policy
(``~/.config/containers/policy.json`` or ``/etc/containers/policy.json``; only when neither exists does
mirrorsync pass an accept-anything policy of its own, as skopeo would otherwise refuse to run) and
``registries.conf`` (mirrors there can only serve the same bytes, since the source is always read by digest).
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import EngineError, describe
from ..registry import auth, retry
from ..registry.client import RegistryClient
from .copy import CopyResult, TargetResult, guarded, prepare
from .engines import Clients
from .manifest import RegistrySettings
from .plan import CopyJob, Destination

log = logging.getLogger(__name__)

# --preserve-digests (fail rather than rewrite a manifest) appeared in skopeo 1.6.0; without it a copy could
# silently change digests, which the mirror sets rely on.
MIN_VERSION = (1, 6, 0)
INSTALL_HINT = ("install skopeo 1.6 or newer (Debian/Ubuntu: apt-get install skopeo; RHEL/Fedora: "
                "dnf install skopeo), or choose the native engine (--engine native)")
POLICY_FILES = ("~/.config/containers/policy.json", "/etc/containers/policy.json")
VERSION_TIMEOUT = 30.0
_KEEP_LINES = 20  # non-debug stderr lines kept to explain a failure without a fatal message
# Runs in a row that add nothing to the mirror, per allowed retry, before an image is abandoned whatever step each
# failed at: faults spread over the ~50 requests of a run can fail most runs before their first blob lands, and
# each failing elsewhere is no sign of being stuck; this only bounds a registry that never lets a run through.
STUCK_RUNS = 4
STOPPED = "skopeo was stopped because mirrorsync is shutting down"


class SkopeoUnavailable(EngineError):
    """skopeo is missing or too old; nothing was copied or written, so it is a usage error (exit code 2)."""

    exit_code = 2


# --- the binary -------------------------------------------------------------------------------------------------

def parse_version(text: str) -> tuple[int, int, int] | None:
    """``skopeo version 1.9.3`` (or ``... 1.13.3 commit: ...``) -> (1, 9, 3); None if there is no version."""
    m = re.search(r"version\s+v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def find_skopeo(binary: str | None = None) -> tuple[str, tuple[int, int, int]]:
    """The skopeo executable to run and its version; raises ``SkopeoUnavailable`` saying what to install."""
    path = shutil.which(binary or "skopeo")
    if path is None:
        raise SkopeoUnavailable(f"the skopeo engine needs skopeo, which is not on PATH: {INSTALL_HINT}")
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SkopeoUnavailable(f"cannot run {path} --version ({describe(exc)}): {INSTALL_HINT}") from None
    version = parse_version(proc.stdout + proc.stderr) if proc.returncode == 0 else None
    if version is None:
        raise SkopeoUnavailable(f"{path} --version did not say which version it is: {INSTALL_HINT}")
    if version < MIN_VERSION:
        have = ".".join(map(str, version))
        raise SkopeoUnavailable(f"{path} is skopeo {have}, too old for --preserve-digests: {INSTALL_HINT}")
    if not hasattr(os, "memfd_create"):
        raise SkopeoUnavailable("the skopeo engine hands skopeo its credentials in memory (memfd), which needs "
                                "Linux; choose the native engine (--engine native)")
    return path, version


def system_policy() -> str | None:
    """The signature policy skopeo would read by itself, or None when the machine has none."""
    for candidate in POLICY_FILES:
        path = Path(os.path.expanduser(candidate))
        if path.is_file():
            return str(path)
    return None


# --- the command line -------------------------------------------------------------------------------------------

def docker_ref(registry: str, repository: str, ref: str) -> str:
    """``docker://host/repo:tag`` or ``docker://host/repo@sha256:...``."""
    sep = "@" if ":" in ref else ":"
    return f"docker://{registry}/{repository}{sep}{ref}"


def _tls_flags(side: str, settings: RegistrySettings) -> list[str]:
    # Always explicit: skopeo's own default would come from registries.conf, the manifest is what counts.
    flags = [f"--{side}-tls-verify={'true' if settings.tls_verify else 'false'}"]
    if settings.cert_dir:
        flags.append(f"--{side}-cert-dir={settings.cert_dir}")
    return flags


def copy_argv(binary: str, source: str, destination: str, *, source_settings: RegistrySettings,
              dest_settings: RegistrySettings, auth_file: str, policy: str | None = None,
              tmpdir: str | None = None, setpriv: str | None = None) -> list[str]:
    """The ``skopeo copy`` command for one image to one mirror. Carries no secret: credentials are in ``auth_file``.

    ``--retry-times=0``: skopeo would retry only some network errors, a whole copy at a time, waiting 1s, 2s, 4s ...
    without a cap; mirrorsync decides instead (``SkopeoEngine._to_mirror``).
    """
    argv = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    argv += [binary, "--debug"]
    if policy:
        argv += ["--policy", policy]
    if tmpdir:
        argv += ["--tmpdir", tmpdir]
    argv += ["copy", "--all", "--preserve-digests", "--authfile", auth_file, "--retry-times=0",
             *_tls_flags("src", source_settings), *_tls_flags("dest", dest_settings), source, destination]
    return argv


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


# --- running skopeo ---------------------------------------------------------------------------------------------

_LOG_LINE = re.compile(r'level=(?P<level>\w+)\s+msg="(?P<msg>(?:[^"\\]|\\.)*)"')
_UPLOADED = re.compile(r"^Upload of layer (\S+:[0-9a-f]+) complete")
_SKIPPED = re.compile(r"^Skipping blob (\S+:[0-9a-f]+) \(already present\)")
_MOUNTING = re.compile(r"^Trying to mount \S*[?&]mount=(\w+)(?:%3A|:)([0-9a-f]+)")
_DOWNLOADING = re.compile(r"^Downloading /v2/\S+/blobs/(\S+:[0-9a-f]+)")
_MANIFEST_PUT = re.compile(r"^PUT \S+/v2/\S+/manifests/(\S+)")
_MANIFEST_FAILED = re.compile(r"^Upload of manifest (?:list )?type \S+ failed: (.+)")
_CANNOT_CONVERT = "Instructed to preserve digests"
_URL_QUERY = re.compile(r"(https?://[^\s\"'?]+)\?[^\s\"']*")


def _go_string(quoted: str) -> str:
    """Undo logrus' quoting of a message (Go ``%q``, which is JSON for everything skopeo prints)."""
    try:
        return json.loads(f'"{quoted}"')
    except ValueError:
        return quoted.replace('\\"', '"').replace("\\\\", "\\")


def clean_message(text: str) -> str:
    """One line of skopeo's text fit for a report: no upload session state from URLs, no line breaks."""
    text = _URL_QUERY.sub(r"\1?…", text)
    return " ".join(text.split())


@dataclass
class Transcript:
    """What one skopeo process said it did, parsed from its ``--debug`` stderr as it arrives."""

    uploaded: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    mount_tried: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)
    manifests_put: set[str] = field(default_factory=set)  # the tags and digests it sent a manifest PUT for
    fatal: str | None = None
    manifest_failed: str | None = None  # why the last manifest PUT failed (skopeo logs it only at debug level)
    tail: list[str] = field(default_factory=list)  # the last non-debug lines, for failures without a fatal line

    def feed(self, line: str) -> None:
        """Take one stderr line."""
        m = _LOG_LINE.search(line)
        if not m:
            if line.strip():
                self._keep(line.strip())
            return
        level, msg = m.group("level"), _go_string(m.group("msg"))
        if level == "debug":
            if mm := _UPLOADED.match(msg):
                self.uploaded.add(mm.group(1))
            elif mm := _SKIPPED.match(msg):
                self.skipped.add(mm.group(1))
            elif mm := _MOUNTING.match(msg):
                self.mount_tried.add(f"{mm.group(1)}:{mm.group(2)}")
            elif mm := _DOWNLOADING.match(msg):
                self.downloaded.add(mm.group(1))
            elif mm := _MANIFEST_PUT.match(msg):
                self.manifests_put.add(mm.group(1))
            elif mm := _MANIFEST_FAILED.match(msg):
                self.manifest_failed = mm.group(1)
            return
        if level in ("fatal", "error", "panic"):
            self.fatal = msg
        self._keep(msg)

    def _keep(self, text: str) -> None:
        self.tail.append(text)
        del self.tail[:-_KEEP_LINES]


# --- what a failure means ---------------------------------------------------------------------------------------

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


# --- the engine -------------------------------------------------------------------------------------------------

# (earlier versions named theirs "mirrorsync-skopeo-*" and held no lock: one may be running, so those are never touched)
PRIVATE_PREFIX = "mirrorsync-skopeo."


def private_dir() -> tuple[Path, int]:
    """A new 0700 directory for the engine's policy file and skopeo's temporary files, and the descriptor that
    holds its lock (``flock``) while the engine lives.

    A run killed before it could clean up leaves its directory behind (skopeo's partial downloads can be large);
    its lock died with it, so each new engine first removes those unlocked ones of the user. A directory is
    locked before it takes a name that cleanup looks at, so a starting run's is never taken for a leftover.
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{PRIVATE_PREFIX}*"):
        _remove_if_abandoned(old)
    hidden = Path(tempfile.mkdtemp(prefix=f".{PRIVATE_PREFIX}new.", dir=base))
    fd = os.open(hidden, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    path = base / f"{PRIVATE_PREFIX}{hidden.name.rsplit('.', 1)[-1]}"
    os.rename(hidden, path)
    return path, fd


def _remove_if_abandoned(path: Path) -> None:
    try:
        if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a live engine's
    else:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)

class SkopeoEngine:
    """Copies each image with ``skopeo copy --all --preserve-digests``, one process per mirror, several at once."""

    name = "skopeo"

    def __init__(self, clients: Clients, *, retries: int = 5, timeout: float = 60.0, processes: int = 4,
                 binary: str | None = None) -> None:
        self.clients = clients
        self.retries = retries
        self.timeout = timeout
        self.binary, self.version = find_skopeo(binary)
        self._policy_file: str | None = None
        self._setpriv = shutil.which("setpriv")  # util-linux: skopeo dies with mirrorsync, however that ends
        self._dir, lock = private_dir()
        self._dir_lock: int | None = lock
        self._tmp = self._dir / "tmp"
        self._tmp.mkdir(mode=0o700)
        self._pool = ThreadPoolExecutor(max_workers=max(1, processes), thread_name_prefix="skopeo")
        self._cancel = threading.Event()
        if system_policy() is None:
            # skopeo refuses to run without a policy; mirrorsync verifies digests, not signatures
            self._policy_file = str(self._dir / "policy.json")
            Path(self._policy_file).write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        log.info("skopeo engine: %s (version %s)", self.binary, ".".join(map(str, self.version)))

    def copy(self, job: CopyJob) -> CopyResult:
        """Copy one image to every destination of the job; never raises for a failed copy (it is in the result)."""
        result = CopyResult(targets=[TargetResult() for _ in job.destinations])
        return guarded(result, lambda: self._copy(job, result))

    def _copy(self, job: CopyJob, result: CopyResult) -> None:
        source = self.clients.get(job.source.registry)
        repo = job.source.repository
        targets = [(self.clients.get(d.mirror.registry), d.repository) for d in job.destinations]
        prepared = prepare(source, repo, job.ref, targets, job.push_tag, result)
        if prepared is None:
            return
        top, manifests, pending = prepared
        # foreign layers stay where their URLs point, as in the native engine
        blobs = {b.digest: b.size for m in manifests for b in m.blobs if not b.foreign}

        # skopeo reads the source by digest: whatever the tag does meanwhile, the mirror gets what we reported
        src_ref = docker_ref(job.source.registry, repo, top.digest)
        futures = {i: self._pool.submit(self._to_mirror, job, job.destinations[i], src_ref, top.digest,
                                        result, blobs, set(result.children)) for i in pending}
        for i, fut in futures.items():
            result.targets[i] = fut.result()

    def _to_mirror(self, job: CopyJob, dest: Destination, src_ref: str, digest: str, result: CopyResult,
                   blobs: dict[str, int], children: set[str]) -> TargetResult:
        """Run ``skopeo copy`` until it succeeds, fails for good, or stops moving the image forward (``_Budget``)."""
        tr = TargetResult()
        retry.RETRIES.bind(result)
        fd: int | None = None
        try:
            # keyed host/repository, which skopeo takes as the most specific key for exactly that repository
            creds = {f"{host}/{repo}": self._credentials(host, repo) for host, repo in
                     ((job.source.registry, job.source.repository), (dest.mirror.registry, dest.repository))}
            secrets = tuple(s for c in creds.values() if c for s in (c.password, c.identity_token) if s)
            fd = auth_memfd(creds)
            ref = job.push_tag or digest
            dst_ref = docker_ref(dest.mirror.registry, dest.repository, ref)
            argv = copy_argv(self.binary, src_ref, dst_ref,
                             source_settings=self.clients.manifest.settings_for(job.source.registry),
                             dest_settings=self.clients.manifest.settings_for(dest.mirror.registry),
                             auth_file=auth_path(fd), policy=self._policy_file, tmpdir=str(self._tmp),
                             setpriv=self._setpriv)
            log.debug("running %s", shlex.join(argv))
            mirror = self.clients.get(dest.mirror.registry)
            progress = _Progress(mirror, dest.repository, ref, digest, blobs, children)
            budget = _Budget(self.retries, progress)
            transcripts: list[Transcript] = []
            while True:
                outcome = run_skopeo(argv, stall_timeout=self.timeout, cancel=self._cancel, secrets=secrets,
                                     pass_fds=(fd,))
                transcripts.append(outcome.transcript)
                error = outcome.error
                if outcome.ok or self._cancel.is_set():
                    break
                if progress.landed():
                    error = None  # the answer to the last PUT was lost, the PUT was not: the mirror has the image
                    break
                why = budget.spend(outcome)
                if why:
                    error = f"{error} ({why})"
                    break
                wait = retry.backoff(self.clients.policy, budget.failures_here)
                retry.RETRIES.record()
                log.info("skopeo copy %s -> %s failed (run %d); running it again in %.2fs: %s", src_ref, dst_ref,
                         budget.runs, wait, error)
                if self._cancel.wait(wait):
                    error = STOPPED
                    break
            _account(tr, transcripts, blobs, result, ok=error is None)
            if error is not None:
                tr.status, tr.error = "failed", error
                return tr
            # Trust, but check: the mirror sets will claim this digest is on this mirror.
            have = mirror.manifest_descriptor(dest.repository, ref)
            if have is None or have.digest != digest:
                tr.status = "failed"
                tr.error = (f"skopeo reported success but {dest.name} has "
                            f"{have.digest if have else 'nothing'} for {ref}, expected {digest}")
                return tr
            tr.status = "copied"
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            tr.status, tr.error = "failed", describe(exc)
        finally:
            if fd is not None:
                os.close(fd)
            retry.RETRIES.bind(None)
        return tr

    def _credentials(self, host: str, repository: str) -> auth.Credentials | None:
        """The credentials the native engine would use for ``host/repository`` (its ``authFile``, else the run's)."""
        return self.clients.get(host).auth.credentials(repository)  # the same lookup and cache as the native client

    def close(self) -> None:
        """Kill any skopeo still running, wait for the workers, and remove the private directory."""
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)
        if self._dir_lock is not None:  # (close may be called twice)
            os.close(self._dir_lock)
            self._dir_lock = None


class _Budget:
    """Whether a failed skopeo run is worth another; the retries of one image to one mirror.

    A permanent failure (``classify``) is not retried, nor a digest mismatch of a blob that mismatched before (a
    source that keeps serving wrong bytes). A transient one is, as long as runs make progress: skopeo skips what
    earlier runs put on the mirror, so retries are counted per step of the copy (``failure_step``, as the native
    engine counts them per request) and start afresh whenever the mirror gained part of the image (``_Progress``).
    """

    def __init__(self, retries: int, progress: _Progress) -> None:
        self.retries = retries
        self.progress = progress
        self.runs = 0
        self.failures_here = 0  # failed runs at the step the last run failed at, since the last progress
        self._failed_at: Counter[str] = Counter()
        self._streak = 0  # failed runs in a row that added nothing to the mirror
        self._mismatched: set[str | None] = set()

    def spend(self, outcome: Outcome) -> str | None:
        """Account for one failed run: None when another is worth it, else why not (for the report)."""
        self.runs += 1
        error = outcome.error or ""
        kind, blob = classify(error)
        if kind == PERMANENT:
            return "permanent: not retried"
        if kind == MISMATCH:
            if blob in self._mismatched:
                return "permanent: the source served content that does not match its digest again"
            self._mismatched.add(blob)
        if self.progress.grew(outcome.transcript.skipped):
            self._streak = 0
            self._failed_at.clear()
        else:
            self._streak += 1
        step = failure_step(error)
        self._failed_at[step] += 1
        self.failures_here = self._failed_at[step]
        if self.retries <= 0:
            return "transient: not retried, retries is 0"
        if self.failures_here > self.retries:
            return (f"transient: {self.failures_here} runs failed at this step since the mirror last gained part "
                    f"of the image, {self.runs} runs in all")
        if self._streak > STUCK_RUNS * (self.retries + 1):
            return f"transient: {self._streak} runs in a row added nothing to the mirror, {self.runs} in all"
        return None


class _Progress:
    """Which of one image's blobs and manifests a mirror repository holds, asked only after a failed run (a copy
    that works costs no request more). A question that fails counts as "not there"."""

    def __init__(self, mirror: RegistryClient, repo: str, ref: str, digest: str, blobs: dict[str, int],
                 children: set[str]) -> None:
        self.mirror, self.repo, self.ref, self.digest = mirror, repo, ref, digest
        self.blobs, self.children = set(blobs), children
        self.known: set[str] | None = None  # None until the first failed run

    def landed(self) -> bool:
        """Whether the mirror's tag (or digest) already names the image; skopeo puts it last, so it is whole."""
        try:
            have = self.mirror.manifest_descriptor(self.repo, self.ref)
        except Exception:  # noqa: BLE001 - unknown is not there
            return False
        return have is not None and have.digest == self.digest

    def grew(self, found_there: set[str]) -> bool:
        """Whether the repository holds anything of the image it did not hold after the previous failed run.
        Before the first, it held what that run found there (``found_there``: the blobs skopeo skipped)."""
        if self.known is None:
            self.known = found_there & self.blobs
        new = {d for d in (self.blobs | self.children) - self.known if self._there(d)}
        self.known |= new
        return bool(new)

    def _there(self, digest: str) -> bool:
        try:
            if digest in self.blobs:
                return self.mirror.has_blob(self.repo, digest)
            return self.mirror.manifest_descriptor(self.repo, digest) is not None
        except Exception:  # noqa: BLE001 - unknown is not there
            return False


def _account(tr: TargetResult, transcripts: list[Transcript], blobs: dict[str, int], result: CopyResult, *,
             ok: bool) -> None:
    """Fill the byte and blob counters from what skopeo logged over all runs; each distinct blob counts once.

    A blob it uploaded was sent; one it tried to mount from another repository and did not upload was mounted.
    After a successful copy every other blob of the image was already in the repository (skopeo checks a config
    blob without logging a skip, so success, not its log, says so). Sizes come from the manifests.
    """
    uploaded = set().union(*(t.uploaded for t in transcripts))
    mount_tried = set().union(*(t.mount_tried for t in transcripts))
    skipped_seen = set().union(*(t.skipped for t in transcripts))
    sent = uploaded & blobs.keys()
    mounted = (mount_tried & blobs.keys()) - sent
    skipped = (blobs.keys() if ok else skipped_seen & blobs.keys()) - sent - mounted
    tr.blobs_sent, tr.bytes_sent = len(sent), sum(blobs[d] for d in sent)
    tr.blobs_mounted, tr.blobs_skipped = len(mounted), len(skipped)
    tr.bytes_skipped = sum(blobs[d] for d in mounted | skipped)
    tr.manifests_pushed = len(set().union(*(t.manifests_put for t in transcripts)))
    # each skopeo process reads the source on its own: what it downloaded is what this run read
    with _READ_LOCK:
        result.bytes_read += sum(blobs[d] for t in transcripts for d in t.downloaded & blobs.keys())


_READ_LOCK = threading.Lock()
