import pytest

from routemate.chat import Usage
from routemate.config import build_settings
from routemate.costs import baseline_prices, cost_usd, model_cost, saved_usd

GPT = {"backend": "openai", "base_url": "http://x/v1", "tier": "frontier", "price_in": 2.5, "price_out": 10.0}


@pytest.mark.parametrize("pin, pout, usage, expected", [
    (2.5, 10.0, Usage(1_000_000, 0), 2.5),
    (2.5, 10.0, Usage(0, 1_000_000), 10.0),
    (2.5, 10.0, Usage(1000, 500), 0.0025 + 0.005),
    (0.0, 0.0, Usage(1000, 500), 0.0),
    (2.5, 10.0, None, 0.0),
])
def test_cost_table(pin, pout, usage, expected):
    assert cost_usd(pin, pout, usage) == pytest.approx(expected)


def test_saved_is_frontier_price_of_the_same_tokens_minus_spent(env):
    s = build_settings({"models": {"local": {"backend": "embedded"}, "gpt4o": GPT}}, env)
    usage = Usage(1000, 500)
    assert saved_usd(s, usage, model_cost(s.models["local"], usage)) == pytest.approx(0.0075)
    assert saved_usd(s, usage, model_cost(s.models["gpt4o"], usage)) == pytest.approx(0.0)


def test_without_a_frontier_model_the_reference_gpt4o_prices_are_the_baseline(env):
    s = build_settings({}, env)
    assert baseline_prices(s) == (2.5, 10.0)


def test_explicit_default_frontier_sets_the_baseline(env):
    cheap = {**GPT, "price_in": 0.15, "price_out": 0.6}
    s = build_settings({"models": {"mini": cheap, "gpt4o": GPT}, "routing": {"frontier": "mini"}}, env)
    assert baseline_prices(s) == (0.15, 0.6)
