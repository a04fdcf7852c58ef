"""How many images a run keeps in flight for a given source round trip, and the 429 brake."""

import pytest

from mirrorsync.registry import retry
from mirrorsync.sync import pacing


@pytest.mark.parametrize("round_trip, workers", [
    (0.0, 8), (0.002, 8), (0.0099, 8),  # loopback and LAN: the configured concurrency
    (0.015, 8), (0.020, 16), (0.035, 24), (0.040, 32), (0.250, 32),  # one more multiple per 10 ms, 4x at most
])
def test_workers_grow_with_the_round_trip(round_trip, workers):
    assert pacing.workers_for(8, round_trip) == workers


def test_workers_are_bounded_and_never_below_concurrency():
    assert pacing.workers_for(32, 1.0) == pacing.MAX_WORKERS == pacing.most_workers(32)
    assert pacing.workers_for(100, 1.0) == 100  # a larger configured concurrency is kept as given
    assert pacing.most_workers(8) == 32


def test_round_trip_is_timed_on_a_kept_connection_and_a_failing_host_counts_as_near():
    pings: list[str] = []

    def ping(host: str) -> None:
        pings.append(host)
        if host == "down.example":
            raise OSError("refused")

    assert pacing.round_trip(["a.example", "down.example", "a.example"], ping) < 1
    assert pings == ["a.example"] * (1 + pacing.TIMED_PINGS) + ["down.example"]


def test_added_workers_stop_after_a_429():
    ledger = retry.RetryLedger()
    assert pacing.may_continue(7, 2, ledger.throttled)
    ledger.note(retry.TransientError("slow down", status=429))
    assert pacing.may_continue(1, 2, ledger.throttled) and not pacing.may_continue(2, 2, ledger.throttled)
