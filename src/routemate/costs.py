"""What an answer cost and what it saved against sending everything to the frontier model.

``saved`` = what the same tokens would have cost on the default frontier model − what was spent.
Counting the same tokens keeps the comparison honest: a frontier answer saves exactly 0.
"""

from __future__ import annotations

from .chat import Usage
from .config import REFERENCE_FRONTIER, ModelConfig, Settings


def cost_usd(price_in: float, price_out: float, usage: Usage | None) -> float:
    if usage is None:
        return 0.0
    return (usage.prompt_tokens * price_in + usage.completion_tokens * price_out) / 1_000_000


def model_cost(model: ModelConfig, usage: Usage | None) -> float:
    return cost_usd(model.price_in, model.price_out, usage)


def baseline_prices(settings: Settings) -> tuple[float, float]:
    frontier = settings.default_frontier()
    if frontier is None:
        return REFERENCE_FRONTIER[1], REFERENCE_FRONTIER[2]
    return frontier.price_in, frontier.price_out


def saved_usd(settings: Settings, usage: Usage | None, spent: float) -> float:
    baseline = cost_usd(*baseline_prices(settings), usage)
    return round(baseline - spent, 10)
