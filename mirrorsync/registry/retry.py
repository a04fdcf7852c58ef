"""What is worth retrying, and how: bounded attempts with jittered backoff that honours ``Retry-After``."""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

import httpx
import tenacity

from ..errors import DigestMismatch, RegistryError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _env_seconds(name: str, default: float) -> float:
    """A finite, non-negative number of seconds from the environment, else ``default``."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # the first try plus retries
    # MIRRORSYNC_RETRY_WAIT shortens (or lengthens) the first backoff for a whole run: fault tests need
    # milliseconds, and a site whose registry recovers slowly may want more; Retry-After still wins.
    initial_wait: float = field(default_factory=lambda: _env_seconds("MIRRORSYNC_RETRY_WAIT", 0.5))
    max_wait: float = 30.0
    # what the retries of this policy's run come to; shared by every copy of the policy (dataclasses.replace)
    ledger: RetryLedger = field(default_factory=lambda: RetryLedger(), compare=False, repr=False)

    @classmethod
    def from_retries(cls, retries: int, **kw: float) -> RetryPolicy:
        return cls(attempts=retries + 1, **kw)


class TransientError(RegistryError):
    """A registry answer worth retrying (5xx, 429, 408), carrying any ``Retry-After`` it gave."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


# A Retry-After is honoured up to RETRY_AFTER_CAP seconds a wait (containers/image caps its backoff at 60 s too),
# and a request waits at most THROTTLE_BUDGET seconds in all on what registries asked: a Retry-After of 10^9 must
# not hold a request for the whole retry budget (21 tries of 300 s were 105 minutes).
RETRY_AFTER_CAP = 60.0
THROTTLE_BUDGET = 300.0


def parse_retry_after(value: str | None, cap: float = RETRY_AFTER_CAP) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(seconds, 0.0), cap) if not math.isnan(seconds) else None  # time.sleep(nan) raises
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), cap)


# A request the host answers with a transient error (a 5xx, a 429, a body cut short or wrong) while the host answers
# other requests is sent again without spending the retries, up to this many times the retries: a lossy path or a
# flaky load balancer, not a dead host. A dead or silent host (refused, reset, timed out) spends them at once.
ANSWERED_FACTOR = 4


class HostHealth:
    """Whether a host has been answering: when a request to it last succeeded, any request of the run."""

    def __init__(self, window: float) -> None:
        self.window = window  # how recent that success must be (the request timeout: "nothing for the timeout")
        self._last: float | None = None

    def ok(self) -> None:
        self._last = time.monotonic()

    def alive(self) -> bool:
        last = self._last
        return last is not None and time.monotonic() - last <= self.window


def answered(exc: BaseException) -> bool:
    """Whether the server answered before the request failed: a status worth retrying, or a body that began to
    arrive (``exc.answered``, set by the transport) and was cut short or was not what its digest says."""
    return isinstance(exc, (TransientError, DigestMismatch)) or getattr(exc, "answered", False)


class _Allowance:
    """What one request may still spend on retries: the policy's retries for failures that got no answer (or
    whose host answers nothing else), ``ANSWERED_FACTOR`` times as many for answered ones of a live host."""

    def __init__(self, policy: RetryPolicy, health: HostHealth | None) -> None:
        self.retries = max(policy.attempts - 1, 0)
        self.health = health
        self.spent = 0  # retries spent
        self.waited = 0.0  # seconds of Retry-After honoured
        self.answered = 0  # all failures so far, answered or not

    def take(self, exc: BaseException) -> bool:
        """Count one failure; whether another attempt is allowed: at most ``ANSWERED_FACTOR`` times the retries in
        all, of which at most the retries for failures with no answer or of a host that answers nothing else."""
        self.answered += 1
        if self.answered > ANSWERED_FACTOR * self.retries:
            return False
        after = getattr(exc, "retry_after", None)
        if after:
            self.waited += after
            if self.waited > THROTTLE_BUDGET:
                return False
        if not (self.health is not None and answered(exc) and self.health.alive()):
            self.spent += 1
        return self.spent <= self.retries

    def reset(self) -> None:
        self.spent = self.answered = 0
        self.waited = 0.0

    def describe(self, exc: BaseException | None) -> str:
        kept = " (the host answers: not counted)" if exc is not None and self.health is not None and answered(
            exc) and self.health.alive() else ""
        return f"{self.spent} of {self.retries} retries spent{kept}"


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (TransientError, DigestMismatch)):
        return True
    if isinstance(exc, httpx.TransportError):  # connection refused/reset, timeouts, truncated bodies
        # but not what no retry can change: NXDOMAIN, an untrusted certificate, plain HTTP answering TLS
        return not getattr(exc, "permanent", None)
    return isinstance(exc, httpx.StreamConsumed)  # an auth retry wanted a body we had already streamed


class RetryLedger:
    """A run's retries and whether a registry throttled it: one per run's ``RetryPolicy``, so that two runs in one
    process (the Python API, tests) never mix counts.

    Each retry is also counted against the image the current thread copies (``bind_owner``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        # Set when a registry answers 429 Too Many Requests: a run that added image workers for a far registry
        # stops them (``sync/pacing.py``), back to the concurrency it was given.
        self.throttled = threading.Event()

    def record(self) -> None:
        owner = current_owner()
        with self._lock:
            self.total += 1
            if owner is not None and hasattr(owner, "retries"):
                owner.retries += 1

    def note(self, exc: BaseException) -> None:
        """Remember a 429 among the answers."""
        if isinstance(exc, TransientError) and exc.status == 429:
            self.throttled.set()


# Which image the current thread's requests are for: a thread copies one image at a time, for one run.
_owner = threading.local()


def bind_owner(owner: object | None) -> None:
    """Count this thread's retries from now on against ``owner`` (a result with a ``retries`` field), or none."""
    _owner.value = owner


def current_owner() -> object | None:
    return getattr(_owner, "value", None)


def note_unreachable(host: str) -> None:
    """Tell the image this thread copies (a result with ``unreachable_hosts``) that ``host`` could not be reached."""
    hosts = getattr(current_owner(), "unreachable_hosts", None)
    if hosts is not None:
        hosts.add(host)


# No retry of this thread's requests starts after this moment (``time.monotonic()``), whatever the policy allows: a
# preflight gives each host one budget in time, so a host that never answers costs at most twice the timeout.
_deadline = threading.local()


@contextlib.contextmanager
def retries_until(deadline: float) -> Iterator[None]:
    """Start no retry of this thread's requests after ``deadline`` (a ``time.monotonic()`` value)."""
    before = getattr(_deadline, "value", None)
    _deadline.value = deadline
    try:
        yield
    finally:
        _deadline.value = before


def _past_deadline() -> bool:
    deadline = getattr(_deadline, "value", None)
    return deadline is not None and time.monotonic() >= deadline


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return after
        return backoff(state)

    return wait


def call(policy: RetryPolicy, fn: Callable[[], T], what: str, *,
         worth_retrying: Callable[[BaseException], bool] = is_transient, health: HostHealth | None = None) -> T:
    """Call ``fn`` until it succeeds, its error is not ``worth_retrying``, or the retries run out (then re-raise).

    With ``health`` (the host's), the budget follows progress: an answered failure while the host answers other
    requests spends nothing (``_Allowance``), and a success tells ``health`` the host answers."""
    try:
        # The first attempt outside tenacity: its loop costs ~40 µs a call, as much as a third of a no-op
        # re-sync's small HEAD, and most calls succeed at once.
        result = fn()
    except Exception as exc:  # noqa: BLE001 - sorted below, as tenacity would
        policy.ledger.note(exc)
        if policy.attempts <= 1 or not worth_retrying(exc) or _past_deadline():
            raise
        failed_first: list[BaseException] = [exc]
    else:
        if health is not None:
            health.ok()
        return result
    allowance = _Allowance(policy, health)

    def attempt() -> T:
        if failed_first:
            raise failed_first.pop()  # tenacity's attempt 1: counted, logged and waited for as its own
        return fn()

    def stop(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return exc is None or not allowance.take(exc) or _past_deadline()

    def before_sleep(state: tenacity.RetryCallState) -> None:
        policy.ledger.record()
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            policy.ledger.note(exc)
        log.info("retrying %s after %s (attempt %d, %s)", what, _describe(exc), state.attempt_number,
                 allowance.describe(exc))

    retrying = tenacity.Retrying(
        stop=stop,
        wait=_wait(policy),
        retry=tenacity.retry_if_exception(worth_retrying),
        before_sleep=before_sleep,
        reraise=True,
    )
    result = retrying(attempt)
    if health is not None:
        health.ok()
    return result


def backoff(policy: RetryPolicy, failures: int, exc: BaseException | None = None) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: ``Retry-After`` when given, else jittered
    exponential backoff as ``call`` waits."""
    after = getattr(exc, "retry_after", None)
    if after is not None:
        return after
    return random.uniform(0, min(policy.max_wait, policy.initial_wait * 2 ** max(failures - 1, 0)))


class ResumeBudget:
    """The retries of one transfer that resumes where it broke instead of starting over (a blob read, an upload).

    Each request of it is retried on its own: the failures since the transfer last moved forward count against the
    request's allowance (``_Allowance``: answered failures of a live host spend nothing, up to a bound), and a
    request that moved the transfer forward starts the count again, so a long transfer through a lossy network
    is not failed by faults spread over its whole length.
    """

    def __init__(self, policy: RetryPolicy, what: str, health: HostHealth | None = None,
                 host: str | None = None) -> None:
        self.policy = policy
        self.what = what
        self.health = health
        self.host = host  # told to the image copied (``note_unreachable``) when a transport failure ends it
        self._allowance = _Allowance(policy, health)
        self.failures = 0  # failures since the last progress

    def progressed(self) -> None:
        self.failures = 0
        self._allowance.reset()
        if self.health is not None:
            self.health.ok()

    def failed(self, exc: BaseException) -> None:
        """Count ``exc`` and wait before the next try; re-raise it when it is not worth retrying or the
        allowance is spent."""
        self.policy.ledger.note(exc)
        if not is_transient(exc) or not self._allowance.take(exc) or _past_deadline():
            if self.host is not None and isinstance(exc, httpx.TransportError):
                note_unreachable(self.host)
            raise exc
        self.failures += 1
        self.policy.ledger.record()
        log.info("retrying %s after %s (attempt %d, %s)", self.what, _describe(exc), self.failures + 1,
                 self._allowance.describe(exc))
        time.sleep(backoff(self.policy, self.failures, exc))


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "an error"
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name
