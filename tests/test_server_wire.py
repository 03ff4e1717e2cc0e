"""Header values the gateway writes (server/wire.py)."""

from __future__ import annotations

import pytest

from routemate.keys import Allowance
from routemate.server.wire import duration, header_safe, ratelimit_headers


def test_header_values_are_ascii_on_one_line():
    assert header_safe("local → frontier:\n score 0.7 ≥ 0.5 …") == "local -> frontier: score 0.7 >= 0.5 ..."
    assert header_safe("naïve") == "na?ve"


def test_a_long_value_is_cut_at_its_end():
    value = header_safe("x" * 500)
    assert len(value) == 400 and value.endswith("...")


def test_a_long_verdict_keeps_its_last_attempt_and_what_to_do():
    # earlier attempts come first; the answer that stands and the hint to act on come last
    history = " · ".join(f"✗ attempt {i} failed an example on input {i}" for i in range(20))
    verdict = f"{history} · ✓ verified: 2 examples pass · runs in the weaker sandbox (set allow_weak_sandbox = true)"
    value = header_safe(verdict, keep_end=True)
    assert len(value) == 400
    assert value.startswith("? attempt 0 failed")          # the cross is not latin-1
    assert value.endswith("runs in the weaker sandbox (set allow_weak_sandbox = true)")
    assert "..." in value


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (1, "1s"), (42, "42s"), (59, "59s"), (60, "1m0s"),
                                           (61, "1m1s"), (3599, "59m59s"), (3600, "1h0m0s"), (3725, "1h2m5s")])
def test_durations_are_written_as_openai_writes_them(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("now, reset", [(60.0, "1m0s"), (60.2, "1m0s"), (107.5, "13s"), (119.01, "1s"),
                                        (120.0, "0s"), (150.0, "0s")])
def test_the_reset_counts_whole_seconds_from_when_the_headers_go_out(now, reset):
    # a window ending at 120 (the clock minute 60..120): a reset never rounds down, and one past is 0s
    headers = dict(ratelimit_headers(Allowance(limit=5, remaining=2, resets_at=120.0), now))
    assert headers == {b"x-ratelimit-limit-requests": b"5", b"x-ratelimit-remaining-requests": b"2",
                       b"x-ratelimit-reset-requests": reset.encode()}
