"""The shared pipeline: route → backend (with fallback) → request log, on real parts."""

import asyncio
from contextlib import aclosing

import pytest

from routemate.chat import ChatRequest
from routemate.config import load_settings
from routemate.errors import NoModelAvailable
from routemate.service import Routemate

HARD = "Design a distributed, lock-free job scheduler with consensus across regions; explain the trade-offs."
EASY = "Say hello."


def req(text, model="auto", **params):
    return ChatRequest([{"role": "user", "content": text}], {"max_tokens": 8, "temperature": 0, **params}, model)


@pytest.fixture
async def rm(hybrid, env):
    r = Routemate(load_settings())
    yield r
    await r.aclose()


async def test_easy_request_is_answered_locally_and_logged_with_savings(rm):
    answer = await rm.ask(req(EASY), entry="python")
    assert answer.decision.model == "local" and answer.text
    row = rm.store.recent(1)[0]
    assert (row["model"], row["tier"], row["status"], row["entry"]) == ("local", "local", "ok", "python")
    assert row["completion_tokens"] == answer.usage.completion_tokens > 0
    assert row["cost_usd"] == 0 and row["saved_usd"] == pytest.approx(answer.saved_usd) and answer.saved_usd > 0
    assert "user: Say hello." in row["prompt"]


async def test_k_samples_in_one_request_one_log_row(rm):
    answer = await rm.ask(req("Count from one to fifty, in words.", model="local", n=3, temperature=0.8, seed=5,
                              max_tokens=5))
    choices = answer.completion.choices
    assert [c.index for c in choices] == [0, 1, 2] and answer.text == choices[0].message["content"]
    assert answer.usage.completion_tokens == 15
    row = rm.store.recent(1)[0]
    assert row["completion_tokens"] == 15 and row["status"] == "ok"
    assert len(rm.store.recent(5)) == 1


async def test_hard_request_goes_to_the_frontier_and_costs_its_price(rm, hybrid):
    answer = await rm.ask(req(HARD))
    assert answer.decision.model == "gpt4o" and answer.text == hybrid.reply
    u = answer.usage
    assert answer.cost_usd == pytest.approx((u.prompt_tokens * 2.5 + u.completion_tokens * 10) / 1e6)
    assert answer.saved_usd == pytest.approx(0)
    assert rm.store.recent(1)[0]["reason"].startswith("learned: P(local falls short)")


async def test_frontier_down_falls_back_to_local_and_says_why(rm, hybrid):
    hybrid.default = "500"
    answer = await rm.ask(req(HARD))
    assert answer.decision.model == "local" and answer.text
    assert "gpt4o failed" in answer.decision.reason and "answered by local" in answer.decision.reason
    row = rm.store.recent(1)[0]
    assert row["status"] == "ok" and row["meta"]["attempts"][0]["model"] == "gpt4o"
    assert len(hybrid.requests) == 3, "retried twice before falling back"


async def test_pin_beats_the_router(rm, hybrid):
    answer = await rm.ask(req(EASY, model="gpt4o"))
    assert answer.decision.model == "gpt4o" and answer.decision.pinned


async def test_missing_key_falls_back_with_the_reason(env, write_config, upstream):
    from conftest import hybrid_config

    write_config(hybrid_config(upstream))      # FAKE_OPENAI_KEY is not set here
    rm = Routemate(load_settings())
    answer = await rm.ask(req(HARD))
    assert answer.decision.model == "local"
    assert "gpt4o unavailable (FAKE_OPENAI_KEY is not set)" in answer.decision.reason
    assert upstream.requests == []
    await rm.aclose()


async def test_nothing_reachable_is_a_clear_error_and_logged(env, write_config):
    write_config('[models.gpt4o]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                 'tier = "frontier"\nmax_retries = 0\n')
    rm = Routemate(load_settings())
    with pytest.raises(NoModelAvailable, match="no model can answer.*cannot reach"):
        await rm.ask(req(EASY))
    assert rm.store.recent(1)[0]["status"] == "error"
    await rm.aclose()


async def test_cancelled_stream_is_logged_as_cancelled(rm):
    started = asyncio.Event()

    async def consume():
        run = rm.start(req("Write a long poem about the sea.", max_tokens=300), entry="cli")
        async with aclosing(run.stream()) as chunks:
            async for chunk in chunks:
                if chunk.content:
                    started.set()
                    await asyncio.sleep(30)      # the caller goes away mid-answer

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = rm.store.recent(1)[0]
    assert row["status"] == "cancelled" and row["error"] == "cancelled by the client"
    assert row["completion_tokens"] >= 1


async def test_an_answer_ended_early_by_its_reader_is_whole_and_logged_as_answered(rm):
    # ``until`` ends an answer where its reader has what it needs (a checked answer: where the code
    # block closes); the model stops there and the answer ends as any other does
    run = rm.start(req("Write a long poem about the sea.", model="local", max_tokens=200), entry="python")
    run.until = lambda text: 12 if len(text) >= 12 else None
    chunks = [c async for c in run]
    assert run.cut and run.answer.text == "".join(c.content for c in chunks) and len(run.answer.text) == 12
    assert chunks[-1].finish_reason == "stop" and run.answer.completion.choices[0].finish_reason == "stop"
    row = rm.store.recent(1)[0]
    assert row["status"] == "ok" and row["error"] is None and 1 <= row["completion_tokens"] < 200
    assert row["completion_tokens"] == run.answer.usage.completion_tokens


async def test_persona_and_model_system_prompts_reach_the_model(rm, hybrid):
    request = rm.prepare(req(EASY, model="gpt4o"), "tutor")
    await rm.ask(request)
    sent = hybrid.requests[-1]["body"]["messages"]
    assert sent[0]["role"] == "system" and "step by step" in sent[0]["content"]


async def test_request_too_long_for_the_local_context_falls_back_to_the_frontier(env, write_config, upstream,
                                                                                   monkeypatch):
    from conftest import hybrid_config

    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test")
    write_config(hybrid_config(upstream).replace('tier = "local"\n', 'tier = "local"\nn_ctx = 256\n', 1))
    rm = Routemate(load_settings())
    answer = await rm.ask(req("Say hello. " + "word " * 600, model="local"))
    await rm.aclose()
    assert answer.decision.model == "gpt4o" and answer.text == upstream.reply
    assert "exceeds the available context size" in answer.decision.reason


async def test_routing_a_request_twice_reuses_the_first_pass(rm, monkeypatch):
    from dataclasses import replace

    from routemate.routing import features

    calls = []
    real = features.extract
    monkeypatch.setattr(features, "extract", lambda *a, **k: calls.append(1) or real(*a, **k))
    request = req(HARD)
    first = rm.route(request)
    assert rm.route(request) == first and len(calls) == 1
    changed = replace(request, messages=[{"role": "user", "content": EASY}])
    assert rm.route(changed)[0].tier == "local" and len(calls) == 2, "a copy does not inherit the memo"
