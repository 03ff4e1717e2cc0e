import pytest

from routemate.errors import InvalidRequest, ModelNotFound, NoModelAvailable, PrivacyRefusal
from routemate.routing.decision import Candidate, Policy, Score, decide, fall_back

LOCAL = Candidate("local", "local", 0.0, private=True, languages=("en",))
BIG_LOCAL = Candidate("llama70b", "local", 0.5, private=True, caps=frozenset({"chat", "tools"}))
GPT = Candidate("gpt4o", "frontier", 12.5, caps=frozenset({"chat", "tools", "json"}))
NO_KEY = Candidate("gpt4o", "frontier", 12.5, available=False, unavailable_why="OPENAI_API_KEY is not set")


def pol(*cands, **kw):
    return Policy(candidates=cands, **kw)


@pytest.mark.parametrize("score, cands, pin, model, reason_part", [
    (0.2, (LOCAL, GPT), None, "local", "0.20 < 0.50"),
    (0.5, (LOCAL, GPT), None, "gpt4o", "0.50 ≥ 0.50"),
    (0.9, (LOCAL, GPT), "local", "local", "tier local requested"),
    (0.1, (LOCAL, GPT), "frontier", "gpt4o", "tier frontier requested"),
    (0.1, (LOCAL, GPT), "gpt4o", "gpt4o", "pinned to gpt4o"),
    (0.9, (LOCAL, NO_KEY), None, "local", "gpt4o unavailable (OPENAI_API_KEY is not set); answered by local"),
    (0.9, (LOCAL,), None, "local", "no frontier model configured; answered by local"),
    (0.2, (LOCAL, BIG_LOCAL, GPT), None, "local", "< 0.50"),
    (0.9, (GPT,), "local", "gpt4o", "no local model configured"),
])
def test_decision_table(score, cands, pin, model, reason_part):
    d = decide(Score(score, "x", "rules"), pol(*cands, pin=pin))
    assert d.model == model
    assert reason_part in d.reason


def test_pin_of_unavailable_model_falls_back_and_says_so():
    d = decide(Score(0.1), pol(LOCAL, NO_KEY, pin="gpt4o"))
    assert d.model == "local" and d.pinned and d.fallback_from == "gpt4o"
    assert "OPENAI_API_KEY is not set" in d.reason


def test_fallback_off_refuses_instead():
    with pytest.raises(NoModelAvailable, match="fallback is off"):
        decide(Score(0.9), pol(LOCAL, NO_KEY, fallback=False))


def test_unknown_model_lists_the_choices():
    with pytest.raises(ModelNotFound, match="unknown model 'gpt5'.*auto, local, frontier.*gpt4o"):
        decide(Score(0.1), pol(LOCAL, GPT, pin="gpt5"))


def test_privacy_beats_an_explicit_frontier_pin():
    d = decide(Score(0.95), pol(LOCAL, GPT, pin="gpt4o", private_reason="an AWS key is in the prompt"))
    assert d.model == "local" and d.tier == "local"
    assert "kept local: an AWS key is in the prompt" in d.reason


def test_privacy_refuses_when_no_private_model_can_serve():
    with pytest.raises(PrivacyRefusal, match="no private"):
        decide(Score(0.1), pol(GPT, private_reason="a private key is in the prompt"))


def test_language_moves_request_to_a_model_that_serves_it():
    d = decide(Score(0.1), pol(LOCAL, GPT, language="de"))
    assert d.model == "gpt4o" and "does not serve language 'de'" in d.reason


def test_capabilities_pick_within_a_tier_but_never_escalate_tiers():
    needs = frozenset({"tools"})
    assert decide(Score(0.1), pol(LOCAL, BIG_LOCAL, GPT, needs=needs)).model == "llama70b"
    d = decide(Score(0.1), pol(LOCAL, GPT, needs=needs))
    assert d.model == "local" and "lacks tools; those parameters are dropped" in d.reason


def test_no_model_at_all_is_a_clear_error():
    with pytest.raises(NoModelAvailable, match="OPENAI_API_KEY is not set"):
        decide(Score(0.1), pol(NO_KEY))


def test_runtime_failures_walk_down_the_ladder_then_stop():
    policy = pol(LOCAL, BIG_LOCAL, GPT)
    d = decide(Score(0.9), policy)
    assert d.model == "gpt4o"
    d, policy = fall_back(d, "HTTP 500", policy)
    assert d.model == "llama70b" and d.fallback_from == "gpt4o" and "gpt4o failed (HTTP 500)" in d.reason
    d, policy = fall_back(d, "timed out", policy)
    assert d.model == "local"
    with pytest.raises(NoModelAvailable):
        fall_back(d, "crashed", policy)


def test_fallback_respects_privacy():
    policy = pol(LOCAL, GPT, private_reason="secret")
    d = decide(Score(0.9), policy)
    with pytest.raises(PrivacyRefusal):
        fall_back(d, "engine crashed", policy)


TOOLS = frozenset({"tools"})


@pytest.mark.parametrize("score, cands, pin, model", [
    (0.1, (LOCAL, GPT), None, "gpt4o"),                 # cheap tier has no tools: the request moves up
    (0.1, (LOCAL, BIG_LOCAL, GPT), None, "llama70b"),   # a local model with tools keeps it local
    (0.1, (LOCAL, GPT), "local", "gpt4o"),              # a tier pin gives way to the requirement
    (0.9, (LOCAL, GPT), None, "gpt4o"),
])
def test_a_required_tool_call_only_goes_to_models_with_tools(score, cands, pin, model):
    d = decide(Score(score), pol(*cands, pin=pin, requires=TOOLS, requires_why="tool_choice requires a tool call"))
    assert d.model == model
    assert "tool_choice requires a tool call: only models with tools" in d.reason


def test_a_required_tool_call_with_no_tool_model_is_a_400_not_a_text_answer():
    with pytest.raises(InvalidRequest, match="the last message is a tool result, but no configured model serves "
                                             "tools") as err:
        decide(Score(0.1), pol(LOCAL, requires=TOOLS, requires_why="the last message is a tool result"))
    assert err.value.status == 400


def test_a_pin_to_a_model_without_tools_is_refused_when_a_tool_call_is_required():
    mini = Candidate("mini", "local", 0.0)
    with pytest.raises(InvalidRequest, match="model 'mini' does not serve tools.*use auto or one of: gpt4o"):
        decide(Score(0.1), pol(mini, GPT, pin="mini", requires=TOOLS))


def test_a_secret_and_a_required_tool_call_with_no_private_tool_model_is_refused():
    with pytest.raises(PrivacyRefusal, match="no private \\(local\\) model serves tools"):
        decide(Score(0.1), pol(LOCAL, GPT, requires=TOOLS, private_reason="an AWS key is in the prompt"))


def test_fallback_stays_among_models_with_tools():
    d = decide(Score(0.1), pol(LOCAL, BIG_LOCAL, GPT, requires=TOOLS))
    nxt, _ = fall_back(d, "down", pol(LOCAL, BIG_LOCAL, GPT, requires=TOOLS))
    assert (d.model, nxt.model) == ("llama70b", "gpt4o")
