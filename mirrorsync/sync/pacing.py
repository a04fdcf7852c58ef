"""How many images a run has in flight: more when the sources are far away, the configured number after a 429.

An image that is up to date costs one round trip to its source; on loopback that is a millisecond of the
registry's CPU, a WAN away it is tens of milliseconds of waiting. With ``concurrency`` workers a run then waits
out ``images / concurrency`` round trips in a row, so where the source's round trip is long, the run adds workers
(up to ``MAX_FACTOR`` times ``concurrency``, at most ``MAX_WORKERS``): one per ``LAN_ROUND_TRIP`` of round trip.
Where requests take a millisecond the bottleneck is CPU, and more threads would only compete for it. A run of
no more images than it could have workers is not measured (the pings cost more round trips than they save).

A registry that answers 429 (Too Many Requests) has said how much it takes: the added workers stop after their
current image (the run's ``RetryLedger.throttled``), and each throttled request waits as the registry's ``Retry-After`` says.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

log = logging.getLogger(__name__)

LAN_ROUND_TRIP = 0.010  # seconds: a round trip up to this is a local network
MAX_FACTOR = 4
MAX_WORKERS = 64
PROBED_SOURCES = 4  # the round trip of at most this many source registries is measured
TIMED_PINGS = 3  # the round trip is the quickest of this many pings: a busy machine delays some of them


def workers_for(concurrency: int, round_trip: float) -> int:
    """Image workers for a run given ``concurrency`` and the longest round trip to its sources (seconds)."""
    factor = min(MAX_FACTOR, max(1, int(round_trip / LAN_ROUND_TRIP)))
    return max(concurrency, min(concurrency * factor, MAX_WORKERS))


def most_workers(concurrency: int) -> int:
    """The most image workers a run with ``concurrency`` may have (its connection pools are sized for them)."""
    return max(concurrency, min(concurrency * MAX_FACTOR, MAX_WORKERS))


def round_trip(hosts: Iterable[str], ping: Callable[[str], None]) -> float:
    """The longest round trip to ``hosts``: each is pinged once to open (and authenticate) a kept connection, then
    ``TIMED_PINGS`` times over it, the quickest counting. A registry that cannot be pinged counts as near: its images will fail or
    succeed on their own, and the run keeps its configured concurrency for them."""
    longest = 0.0
    for host in list(dict.fromkeys(hosts))[:PROBED_SOURCES]:
        try:
            ping(host)
            quickest = float("inf")
            for _ in range(TIMED_PINGS):
                start = time.monotonic()
                ping(host)
                quickest = min(quickest, time.monotonic() - start)
            longest = max(longest, quickest)
        except Exception as exc:  # noqa: BLE001 - the copies report the registry's failure, per image
            log.debug("round trip to %s not measured: %s", host, exc)
    return longest


def may_continue(worker: int, concurrency: int, throttled: threading.Event) -> bool:
    """Whether worker number ``worker`` takes another image: the added ones stop once a registry throttled us."""
    return worker < concurrency or not throttled.is_set()
