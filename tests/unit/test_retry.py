"""The outbox's retry decision (bot/retry.py), without clock or database."""

from __future__ import annotations

from datetime import timedelta

from bot.core import DeliveryError
from bot.retry import MAX_ATTEMPTS, MAX_BACKOFF, MAX_OUTAGE_PAUSE, UNREACHABLE, backoff, decide


def test_a_refusal_counts_and_backs_off_this_message_only() -> None:
    retry = decide(DeliveryError("x", "M_UNKNOWN"), attempts=2, outage=0.0)
    assert retry.counted and retry.attempts == 3 and not retry.final
    assert not retry.pause_all and retry.wait == backoff(3) == timedelta(seconds=40)


def test_backoff_is_capped_and_the_last_attempt_is_final() -> None:
    assert backoff(30) == MAX_BACKOFF
    retry = decide(DeliveryError("x", "M_UNKNOWN"), attempts=MAX_ATTEMPTS - 1, outage=0.0)
    assert retry.final


def test_a_permanent_error_is_final_at_once() -> None:
    retry = decide(DeliveryError("x", "M_FORBIDDEN", permanent=True), attempts=0, outage=0.0)
    assert retry.final and retry.attempts == 1


def test_being_throttled_pauses_everything_and_does_not_count() -> None:
    retry = decide(DeliveryError("x", "ratelimited", retry_after=7.5), attempts=4, outage=2.0)
    assert retry.throttled and retry.pause_all and not retry.counted and not retry.final
    assert retry.wait == timedelta(seconds=7.5) and retry.attempts == 4
    assert retry.outage == 2.0  # a rate limit is not an outage


def test_an_outage_pauses_everything_doubling_up_to_its_cap() -> None:
    error = DeliveryError("x", UNREACHABLE)
    first = decide(error, attempts=19, outage=0.0)
    assert first.pause_all and not first.counted and not first.final  # never lost to an outage
    assert first.outage == 1.0 and first.wait == timedelta(seconds=1)
    assert decide(error, attempts=0, outage=first.outage).outage == 2.0
    assert decide(error, attempts=0, outage=MAX_OUTAGE_PAUSE).outage == MAX_OUTAGE_PAUSE
