"""More than two models: the cheapest rung whose ceiling is above the score answers."""

import pytest

from routemate.config import build_settings
from routemate.errors import ConfigError
from routemate.routing.decision import Candidate, Policy, Score, decide, fall_back

SMALL = Candidate("small", "local", 0.0, private=True)
BIG = Candidate("big", "local", 0.4, private=True)
GPT = Candidate("gpt", "frontier", 12.5)
LADDER = (("small", 0.3), ("big", 0.6))


def pol(*cands, **kw):
    return Policy(candidates=cands or (SMALL, BIG, GPT), ladder=LADDER, **kw)


@pytest.mark.parametrize("score, model, reason_part", [
    (0.1, "small", "0.10 < 0.30 (ladder ceiling of small)"),
    (0.3, "big", "0.30 < 0.60 (ladder ceiling of big)"),
    (0.59, "big", "< 0.60 (ladder ceiling of big)"),
    (0.6, "gpt", "0.60 ≥ every ladder ceiling"),
    (0.95, "gpt", "≥ every ladder ceiling"),
])
def test_ladder_picks_the_cheapest_model_that_clears_its_ceiling(score, model, reason_part):
    d = decide(Score(score, "", "learned"), pol())
    assert d.model == model and reason_part in d.reason


def test_unavailable_rung_climbs_up_not_down():
    down = Candidate("big", "local", 0.4, available=False, unavailable_why="server down", private=True)
    d = decide(Score(0.4, "", "learned"), pol(SMALL, down, GPT))
    assert d.model == "gpt" and "big unavailable (server down); answered by gpt" in d.reason


def test_runtime_failure_of_a_rung_moves_to_the_next_one_up():
    d = decide(Score(0.1, "", "learned"), pol())
    nxt, policy = fall_back(d, "timed out", pol())
    assert (d.model, nxt.model) == ("small", "big")
    assert "small failed (timed out); answered by big" in nxt.reason


def test_pin_and_privacy_still_come_first():
    assert decide(Score(0.1, "", "learned"), pol(pin="gpt")).model == "gpt"
    d = decide(Score(0.9, "", "learned"), pol(private_reason="an API key in the prompt"))
    assert d.model == "big" and "kept local" in d.reason     # strongest private rung, never the frontier


def test_ladder_in_config_must_name_configured_models():
    models = {"small": {"backend": "embedded"}}
    s = build_settings({"models": models, "routing": {"ladder": {"small": 0.4}}}, {})
    assert s.routing.ladder == {"small": 0.4}
    with pytest.raises(ConfigError, match="ladder names 'nope'"):
        build_settings({"models": models, "routing": {"ladder": {"nope": 0.4}}}, {})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        build_settings({"models": models, "routing": {"ladder": {"small": 1.5}}}, {})
