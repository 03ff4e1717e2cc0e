"""Header values the gateway writes (server/wire.py)."""

from __future__ import annotations

from routemate.server.wire import header_safe


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
