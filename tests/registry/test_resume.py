"""Unit tests of the pieces of resumable transfers: the per-request retry budget and cutting a stream into bodies."""

import httpx
import pytest

from mirrorsync.registry import retry
from mirrorsync.errors import DigestMismatch, NotFound
from mirrorsync.registry.uploads import _Pieces
from mirrorsync.registry.retry import ResumeBudget, RetryPolicy, TransientError

POLICY = RetryPolicy(attempts=3, initial_wait=0.0, max_wait=0.0)


def test_the_budget_counts_failures_in_a_row_and_progress_starts_it_again():
    budget = ResumeBudget(POLICY, "x")
    before = POLICY.ledger.total
    for _ in range(5):  # far more failures than attempts, but never more than 2 in a row
        budget.failed(httpx.ReadError("cut"))
        budget.failed(TransientError("503", status=503))
        budget.progressed()
    assert POLICY.ledger.total - before == 10
    budget.failed(httpx.ReadError("cut"))
    budget.failed(httpx.ReadError("cut"))
    with pytest.raises(httpx.ReadError):  # the third in a row: the attempts are spent
        budget.failed(httpx.ReadError("cut"))


def test_the_budget_raises_what_is_not_worth_retrying_at_once():
    with pytest.raises(NotFound):
        ResumeBudget(POLICY, "x").failed(NotFound("gone"))


def test_the_budget_waits_as_long_as_retry_after_says():
    assert retry.backoff(POLICY, 1, TransientError("429", status=429, retry_after=7.0)) == 7.0
    assert 0 <= retry.backoff(RetryPolicy(initial_wait=1.0, max_wait=3.0), 5) <= 3.0


def test_pieces_cut_a_stream_into_bodies_of_exact_sizes():
    pieces = _Pieces(iter([b"abcde", b"fgh", b"ijklmnop"]), 16, "blob")
    assert [b"".join(pieces.take(n)) for n in (4, 4, 0, 8)] == [b"abcd", b"efgh", b"", b"ijklmnop"]
    assert pieces.sent == 16 and pieces.source_error is None


def test_pieces_tell_a_short_or_failing_source_apart():
    short = _Pieces(iter([b"abc"]), 10, "blob x")
    with pytest.raises(DigestMismatch, match="ended 7 bytes short"):
        b"".join(short.take(10))
    assert isinstance(short.source_error, DigestMismatch)

    def broken():
        yield b"ab"
        raise httpx.ReadError("source dropped")

    failing = _Pieces(broken(), 10, "blob x")
    with pytest.raises(httpx.ReadError):
        b"".join(failing.take(10))
    assert isinstance(failing.source_error, httpx.ReadError)
