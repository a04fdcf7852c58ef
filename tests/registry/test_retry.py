import dataclasses
import time

import httpx
import pytest

from mirrorsync.registry import retry
from mirrorsync.errors import NotFound
from mirrorsync.registry.retry import RetryPolicy, TransientError


def test_parse_retry_after():
    assert retry.parse_retry_after("3") == 3.0
    assert retry.parse_retry_after("100000") == 60.0  # RETRY_AFTER_CAP
    assert retry.parse_retry_after(None) is None
    assert retry.parse_retry_after("garbage") is None
    assert retry.parse_retry_after("nan") is None  # a hostile value that time.sleep would refuse
    assert retry.parse_retry_after("inf") == 60.0 and retry.parse_retry_after("-inf") == 0.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 20))
    assert 15 <= retry.parse_retry_after(future) <= 21


def test_transient_errors_are_retried_then_reraised():
    calls = []

    def flaky():
        calls.append(1)
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        retry.call(RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.001), flaky, "x")
    assert len(calls) == 3


def test_permanent_errors_are_not_retried():
    calls = []

    def missing():
        calls.append(1)
        raise NotFound("nope", status=404)

    with pytest.raises(NotFound):
        retry.call(RetryPolicy(attempts=5, initial_wait=0.001), missing, "x")
    assert len(calls) == 1


def test_retry_after_is_honoured_and_counted():
    calls = []

    class Owner:
        retries = 0

    owner = Owner()
    retry.bind_owner(owner)

    def limited():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise TransientError("429", status=429, retry_after=0.3)
        return "ok"

    policy = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.001)
    try:
        assert retry.call(policy, limited, "x") == "ok"
    finally:
        retry.bind_owner(None)
    assert calls[1] - calls[0] >= 0.29
    assert owner.retries == 1
    assert policy.ledger.total == 1 and policy.ledger.throttled.is_set()


def test_two_runs_in_one_process_keep_their_own_counts():
    """The retry count and the throttle flag belong to a run's policy (its ledger), not to the process."""
    first, second = RetryPolicy(attempts=3, initial_wait=0.0), RetryPolicy(attempts=3, initial_wait=0.0)
    failures = iter([TransientError("429", status=429, retry_after=0.0)])

    def once():
        for exc in failures:
            raise exc
        return "ok"

    assert retry.call(first, once, "x") == "ok"
    assert first.ledger.total == 1 and first.ledger.throttled.is_set()
    assert second.ledger.total == 0 and not second.ledger.throttled.is_set()
    # a copy of a policy (dataclasses.replace, for one request's other attempts) still counts for its run
    assert dataclasses.replace(first, attempts=1).ledger is first.ledger


def test_attempts_are_numbered_from_the_first_and_one_attempt_means_no_retry(caplog):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError(f"503 number {len(calls)}", status=503)
        return "ok"

    with caplog.at_level("INFO", logger="mirrorsync.registry.retry"):
        assert retry.call(RetryPolicy(attempts=4, initial_wait=0.001, max_wait=0.001), flaky, "HEAD x") == "ok"
    assert [r.getMessage() for r in caplog.records] == [
        "retrying HEAD x after TransientError: 503 number 1 (attempt 1, 1 of 3 retries spent)",
        "retrying HEAD x after TransientError: 503 number 2 (attempt 2, 2 of 3 retries spent)"]

    calls.clear()
    with pytest.raises(TransientError):
        retry.call(RetryPolicy(attempts=1), flaky, "x")
    assert len(calls) == 1


def test_answered_failures_of_a_live_host_spend_no_retries_up_to_a_bound():
    """A host that answers (a 503 here, while its other requests succeed) keeps the request's budget; a failure
    with no answer spends it; and even a live host's answers stop being retried after ANSWERED_FACTOR times the
    retries."""
    policy = RetryPolicy(attempts=3, initial_wait=0.0, max_wait=0.0)  # 2 retries
    health = retry.HostHealth(window=60)
    retry.call(policy, lambda: "ok", "ping", health=health)  # the host answers
    assert health.alive()

    def failing(errors):
        calls = []

        def fn():
            calls.append(1)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            return "ok"
        return fn, calls

    fn, calls = failing([TransientError("503", status=503)] * 7)  # 7 answered failures > 2 retries
    assert retry.call(policy, fn, "GET x", health=health) == "ok" and len(calls) == 8

    fn, calls = failing([httpx.ConnectError("refused")] * 3)  # no answer: 2 retries, then it fails
    with pytest.raises(httpx.ConnectError):
        retry.call(policy, fn, "GET x", health=health)
    assert len(calls) == 3

    fn, calls = failing([TransientError("503", status=503)] * 100)  # a request the live host always refuses
    with pytest.raises(TransientError):
        retry.call(policy, fn, "GET x", health=health)
    assert len(calls) == 1 + retry.ANSWERED_FACTOR * 2

    dead = retry.HostHealth(window=60)  # never answered anything: its 503s (a load balancer with no backend) spend
    fn, calls = failing([TransientError("503", status=503)] * 100)
    with pytest.raises(TransientError):
        retry.call(policy, fn, "GET x", health=dead)
    assert len(calls) == 3

    stale = retry.HostHealth(window=0.05)  # answered once, long ago: as good as dead
    stale.ok()
    time.sleep(0.1)
    fn, calls = failing([TransientError("503", status=503)] * 100)
    with pytest.raises(TransientError):
        retry.call(policy, fn, "GET x", health=stale)
    assert len(calls) == 3


def test_a_request_waits_at_most_the_throttle_budget_on_retry_after(monkeypatch):
    """A registry answering 429 with Retry-After 10^9 to every try: each wait is capped at 60 s, and the request
    gives up once its waits would pass THROTTLE_BUDGET (5 minutes), not after the whole retry budget."""
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)  # tenacity sleeps through time.sleep
    policy = RetryPolicy(attempts=6, initial_wait=0.0, max_wait=0.0)
    health = retry.HostHealth(window=60)
    health.ok()

    def throttled():
        raise TransientError("429", status=429, retry_after=retry.parse_retry_after("1000000000"))

    with pytest.raises(TransientError):
        retry.call(policy, throttled, "GET x", health=health)
    assert waits == [60.0] * 5 and sum(waits) <= retry.THROTTLE_BUDGET
