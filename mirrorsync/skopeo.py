"""The skopeo engine: the native engine's contract, with each image's content moved by ``skopeo copy``.

Sites that already trust skopeo get the same product on top of it. The runner plans, schedules, reports and
writes the mirror sets exactly as for the native engine; only the transfer differs:

- mirrorsync's own client (through ``Clients``) resolves the tag to a digest, checks each mirror for it (so an
  up-to-date mirror is skipped without starting skopeo) and reads the manifests for the report's ``children``
  and for blob sizes — so digest, mediaType, children and statuses mean what they mean for the native engine;
- one ``skopeo copy --all --preserve-digests docker://SRC@DIGEST docker://MIRROR/REPO:TAG`` (``@DIGEST`` for
  digest jobs) per mirror that lacks the image, several at once, bounded. skopeo pushes children before the
  index and the tag last, so a tag never points at incomplete content;
- credentials reach skopeo only through a private auth file (0600, just the two hosts it needs, deleted after),
  never through argv; TLS settings become ``--src/dest-tls-verify`` and ``--src/dest-cert-dir``.

skopeo runs with ``--debug`` so that blobs sent/skipped/mounted can be told apart from its log, which is parsed
in memory and never written anywhere (it holds upload URLs with session state). A skopeo that makes no progress
(no output and no I/O) for the run's timeout is killed with its whole process group, and that image fails.

Machine configuration that skopeo users set on purpose is honoured: the signature policy
(``~/.config/containers/policy.json`` or ``/etc/containers/policy.json``; only when neither exists does
mirrorsync pass an accept-anything policy of its own, as skopeo would otherwise refuse to run) and
``registries.conf`` (mirrors there can only serve the same bytes, since the source is always read by digest).
"""

from __future__ import annotations

import base64
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import auth, retry
from .copy import CopyResult, TargetResult, guarded, prepare
from .engines import Clients
from .errors import EngineError, describe
from .manifest import RegistrySettings
from .plan import CopyJob, Destination

log = logging.getLogger(__name__)

# --preserve-digests (fail rather than rewrite a manifest) appeared in skopeo 1.6.0; without it a copy could
# silently change digests, which the mirror sets rely on.
MIN_VERSION = (1, 6, 0)
INSTALL_HINT = ("install skopeo 1.6 or newer (Debian/Ubuntu: apt-get install skopeo; RHEL/Fedora: "
                "dnf install skopeo), or choose the native engine (--engine native)")
# skopeo 1.9 retries a whole copy and doubles its wait each time without a cap (1s, 2s, 4s, ...): beyond this
# the waits alone would take longer than any scheduled sync can afford.
MAX_SKOPEO_RETRIES = 8
POLICY_FILES = ("~/.config/containers/policy.json", "/etc/containers/policy.json")
VERSION_TIMEOUT = 30.0
_KEEP_LINES = 20  # non-debug stderr lines kept to explain a failure without a fatal message


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
              dest_settings: RegistrySettings, auth_file: str, retries: int, policy: str | None = None,
              tmpdir: str | None = None, setpriv: str | None = None) -> list[str]:
    """The ``skopeo copy`` command for one image to one mirror. Carries no secret: credentials are in ``auth_file``."""
    argv = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    argv += [binary, "--debug"]
    if policy:
        argv += ["--policy", policy]
    if tmpdir:
        argv += ["--tmpdir", tmpdir]
    argv += ["copy", "--all", "--preserve-digests", "--authfile", auth_file,
             f"--retry-times={min(max(retries, 0), MAX_SKOPEO_RETRIES)}",
             *_tls_flags("src", source_settings), *_tls_flags("dest", dest_settings), source, destination]
    return argv


def write_auth_file(directory: Path, credentials: dict[str, auth.Credentials | None]) -> Path:
    """A containers ``auth.json`` with only ``credentials`` (host -> creds), created 0600 and never readable by others."""
    auths: dict[str, dict[str, str]] = {}
    for host, creds in credentials.items():
        if creds is None:
            continue
        # always an "auth": containers/image skips an entry without "user:password" in it, identity token and all
        entry = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        auths[host] = entry
    fd, name = tempfile.mkstemp(prefix="auth-", suffix=".json", dir=directory)  # 0600, O_EXCL
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"auths": auths}, f)
    return Path(name)


# --- running skopeo ---------------------------------------------------------------------------------------------

_LOG_LINE = re.compile(r'level=(?P<level>\w+)\s+msg="(?P<msg>(?:[^"\\]|\\.)*)"')
_UPLOADED = re.compile(r"^Upload of layer (\S+:[0-9a-f]+) complete")
_SKIPPED = re.compile(r"^Skipping blob (\S+:[0-9a-f]+) \(already present\)")
_MOUNTING = re.compile(r"^Trying to mount \S*[?&]mount=(\w+)(?:%3A|:)([0-9a-f]+)")
_DOWNLOADING = re.compile(r"^Downloading /v2/\S+/blobs/(\S+:[0-9a-f]+)")
_MANIFEST_PUT = re.compile(r"^PUT \S+/v2/\S+/manifests/\S+")
_RETRYING = re.compile(r"^Failed, retrying in (\S+) \.\.\.")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_URL_QUERY = re.compile(r"(https?://[^\s\"'?]+)\?[^\s\"']*")


# how skopeo (Go's net/http status text) names an HTTP answer worth retrying
_SERVER_ERROR = re.compile(r"\b(?:429|50[0-4]) \((?:Too Many Requests|Internal Server Error|Bad Gateway|"
                           r"Service Unavailable|Gateway Timeout)\)|\bstatus (?:429|50[0-4])\b")


class _ServerError(retry.TransientError):
    """A skopeo run that failed on a registry's 5xx/429: worth another run."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error or "skopeo failed")
        self.outcome = outcome


def _go_string(quoted: str) -> str:
    """Undo logrus' quoting of a message (Go ``%q``, which is JSON for everything skopeo prints)."""
    try:
        return json.loads(f'"{quoted}"')
    except ValueError:
        return quoted.replace('\\"', '"').replace("\\\\", "\\")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration such as ``1s``, ``2m8s``, ``500ms``; 0 when it is not one."""
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * scale[unit] for n, unit in _DURATION.findall(text))


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
    manifests_pushed: int = 0
    retries: int = 0
    fatal: str | None = None
    tail: list[str] = field(default_factory=list)  # the last non-debug lines, for failures without a fatal line

    def feed(self, line: str) -> float | None:
        """Take one stderr line; returns the wait skopeo announced before retrying, if it did."""
        m = _LOG_LINE.search(line)
        if not m:
            if line.strip():
                self._keep(line.strip())
            return None
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
            elif _MANIFEST_PUT.match(msg):
                self.manifests_pushed += 1
            return None
        if level in ("fatal", "error", "panic"):
            self.fatal = msg
        self._keep(msg)
        if level == "warning" and (mm := _RETRYING.match(msg)):
            self.retries += 1
            return parse_go_duration(mm.group(1))
        return None

    def _keep(self, text: str) -> None:
        self.tail.append(text)
        del self.tail[:-_KEEP_LINES]


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
               on_retry: Callable[[str], None] | None = None, secrets: tuple[str, ...] = ()) -> Outcome:
    """Run skopeo in a process group of its own and wait for it, parsing its stderr as it goes.

    The process is killed (with its group) when it makes no progress — no output line and no I/O — for
    ``stall_timeout`` seconds (plus any wait it announced before a retry), or when ``cancel`` is set. Whatever
    happens, nothing it started is left running when this returns.
    """
    transcript = Transcript()
    try:
        # A session of its own: a Ctrl-C at the terminal reaches mirrorsync (which lets images in flight
        # finish) but not skopeo directly, and killpg reaches everything skopeo started.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
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
        allowance = stall_timeout
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
                    line = raw.decode("utf-8", errors="replace")
                    wait = transcript.feed(line)
                    last_progress = time.monotonic()
                    allowance = stall_timeout + (wait or 0.0)
                    if wait is not None and on_retry is not None:
                        on_retry(clean_message(auth.redact(transcript.tail[-1], secrets)))
            if eof:
                break
            io_now = _io_counter(proc.pid)
            if io_now is not None and io_now != io_seen:
                io_seen, last_progress = io_now, time.monotonic()
            if killed_because is None:
                if cancel is not None and cancel.is_set():
                    killed_because = "skopeo was stopped because mirrorsync is shutting down"
                elif time.monotonic() - last_progress > allowance:
                    killed_because = f"skopeo made no progress for {allowance:.0f}s and was killed"
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
    if killed_because:
        error = killed_because
    elif rc == 0:
        error = None
    elif rc < 0:
        error = f"skopeo was killed by {signal.Signals(-rc).name}"
        if transcript.fatal:
            error += f" after: {transcript.fatal}"
    elif transcript.fatal:
        error = f"skopeo: {transcript.fatal}"
    elif transcript.tail:
        error = f"skopeo exited with code {rc}: {transcript.tail[-1]}"
    else:
        error = f"skopeo exited with code {rc}"
    if error:
        error = clean_message(auth.redact(error, secrets))
    return Outcome(rc, transcript, error)


# --- the engine -------------------------------------------------------------------------------------------------

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
        self._dir = Path(tempfile.mkdtemp(prefix="mirrorsync-skopeo-"))  # 0700: auth files live here
        self._tmp = self._dir / "tmp"
        self._tmp.mkdir(mode=0o700)
        self._pool = ThreadPoolExecutor(max_workers=max(1, processes), thread_name_prefix="skopeo")
        self._cancel = threading.Event()
        self._creds: dict[tuple[str, str], auth.Credentials | None] = {}
        self._creds_lock = threading.Lock()
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
        prepared = prepare(source, repo, job.ref, targets, job.tag, result)
        if prepared is None:
            return
        top, manifests, pending = prepared
        # foreign layers stay where their URLs point, as in the native engine
        blobs = {b.digest: b.size for m in manifests for b in m.blobs if not b.foreign}

        # skopeo reads the source by digest: whatever the tag does meanwhile, the mirror gets what we reported
        src_ref = docker_ref(job.source.registry, repo, top.digest)
        futures = {i: self._pool.submit(self._to_mirror, job, job.destinations[i], src_ref, top.digest,
                                        result, blobs) for i in pending}
        for i, fut in futures.items():
            result.targets[i] = fut.result()

    def _to_mirror(self, job: CopyJob, dest: Destination, src_ref: str, digest: str, result: CopyResult,
                   blobs: dict[str, int]) -> TargetResult:
        tr = TargetResult()
        retry.RETRIES.bind(result)
        auth_path: Path | None = None
        try:
            # keyed host/repository, which skopeo takes as the most specific key for exactly that repository
            creds = {f"{host}/{repo}": self._credentials(host, repo) for host, repo in
                     ((job.source.registry, job.source.repository), (dest.mirror.registry, dest.repository))}
            secrets = tuple(s for c in creds.values() if c for s in (c.password, c.identity_token) if s)
            auth_path = write_auth_file(self._dir, creds)
            dst_ref = docker_ref(dest.mirror.registry, dest.repository, job.tag or digest)
            argv = copy_argv(self.binary, src_ref, dst_ref,
                             source_settings=self.clients.manifest.settings_for(job.source.registry),
                             dest_settings=self.clients.manifest.settings_for(dest.mirror.registry),
                             auth_file=str(auth_path), retries=self.retries, policy=self._policy_file,
                             tmpdir=str(self._tmp), setpriv=self._setpriv)
            log.debug("running %s", shlex.join(argv))

            def on_retry(message: str) -> None:
                retry.RETRIES.record()
                log.info("skopeo retrying %s -> %s: %s", src_ref, dst_ref, message)

            def attempt() -> Outcome:
                outcome = run_skopeo(argv, stall_timeout=self.timeout, cancel=self._cancel, on_retry=on_retry,
                                     secrets=secrets)
                if not outcome.ok and not self._cancel.is_set() and _SERVER_ERROR.search(outcome.error or ""):
                    raise _ServerError(outcome)
                return outcome

            try:
                # skopeo 1.9.3 does not retry a registry's 5xx/429 (its --retry-times covers network errors):
                # run it again, as the native engine would retry the request (what is on the mirror is skipped)
                outcome = retry.call(self.clients.policy, attempt, f"skopeo copy {src_ref} -> {dst_ref}")
            except _ServerError as exc:
                outcome = exc.outcome
            _account(tr, outcome.transcript, blobs, result, ok=outcome.ok)
            if not outcome.ok:
                tr.status, tr.error = "failed", outcome.error
                return tr
            # Trust, but check: the mirror sets will claim this digest is on this mirror.
            have = self.clients.get(dest.mirror.registry).manifest_descriptor(dest.repository, job.tag or digest)
            if have is None or have.digest != digest:
                tr.status = "failed"
                tr.error = (f"skopeo reported success but {dest.name} has "
                            f"{have.digest if have else 'nothing'} for {job.tag or digest}, expected {digest}")
                return tr
            tr.status = "copied"
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            tr.status, tr.error = "failed", describe(exc)
        finally:
            if auth_path is not None:
                auth_path.unlink(missing_ok=True)
            retry.RETRIES.bind(None)
        return tr

    def _credentials(self, host: str, repository: str) -> auth.Credentials | None:
        """The credentials the native engine would use for ``host/repository`` (its ``authFile``, else the run's)."""
        with self._creds_lock:
            if (host, repository) not in self._creds:
                settings = self.clients.manifest.settings_for(host)
                self._creds[(host, repository)] = auth.lookup(host, repository,
                                                              auth_file=settings.auth_file or self.clients.auth_file)
            return self._creds[(host, repository)]

    def close(self) -> None:
        """Kill any skopeo still running, wait for the workers, and remove the private directory."""
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)


def _account(tr: TargetResult, t: Transcript, blobs: dict[str, int], result: CopyResult, *, ok: bool) -> None:
    """Fill the byte and blob counters from what skopeo logged; each distinct blob counts once, as natively.

    A blob it uploaded was sent; one it tried to mount from another repository and did not upload was mounted.
    After a successful copy every other blob of the image was already in the repository (skopeo checks a config
    blob without logging a skip, so success, not its log, says so). Sizes come from the manifests.
    """
    sent = t.uploaded & blobs.keys()
    mounted = (t.mount_tried & blobs.keys()) - sent
    skipped = (blobs.keys() if ok else t.skipped & blobs.keys()) - sent - mounted
    tr.blobs_sent, tr.bytes_sent = len(sent), sum(blobs[d] for d in sent)
    tr.blobs_mounted, tr.blobs_skipped = len(mounted), len(skipped)
    tr.bytes_skipped = sum(blobs[d] for d in mounted | skipped)
    tr.manifests_pushed = t.manifests_pushed
    # each skopeo process reads the source on its own: what it downloaded is what this run read
    with _READ_LOCK:
        result.bytes_read += sum(blobs[d] for d in t.downloaded & blobs.keys())


_READ_LOCK = threading.Lock()
