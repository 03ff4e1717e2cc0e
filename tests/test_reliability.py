
import pytest

from conftest import hybrid_config
from routemate.chat import ChatRequest
from routemate.config import load_settings
from routemate.errors import BackendError
from routemate.reliability import CircuitBreaker, GuardedRoutemate, is_health_failure
from routemate.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_circuit_opens_after_consecutive_failures_only():
    b = CircuitBreaker(3, 10, clock=Clock())
    b.failure(); b.failure(); b.success(); b.failure(); b.failure()
    assert b.state == "closed" and b.allow()
    b.failure()
    assert b.state == "open" and b.blocked() and not b.allow() and b.opens == 1


def test_after_cooldown_exactly_one_probe_goes_through():
    clock = Clock()
    b = CircuitBreaker(1, 10, clock=clock)
    b.failure("boom")
    assert "boom" in b.why() and b.retry_in() == 10
    clock.now += 10
    assert not b.blocked()
    assert b.allow() and b.state == "half_open"
    assert not b.allow() and b.blocked()          # a second caller waits for the probe
    b.success()
    assert b.state == "closed" and b.allow()


def test_a_failed_probe_reopens_for_another_cooldown():
    clock = Clock()
    b = CircuitBreaker(1, 10, clock=clock)
    b.failure()
    clock.now += 11
    assert b.allow()
    b.failure()
    assert b.state == "open" and b.opens == 2 and b.retry_in() == 10


def test_an_abandoned_probe_lets_the_next_request_probe():
    clock = Clock()
    b = CircuitBreaker(1, 10, clock=clock)
    b.failure()
    clock.now += 11
    assert b.allow()
    b.abandon()
    assert b.allow()


@pytest.mark.parametrize("status,unwell", [(None, True), (500, True), (503, True), (429, True), (401, True),
                                           (400, False), (404, False), (422, False)])
def test_which_errors_count_against_a_model(status, unwell):
    assert is_health_failure(BackendError("x", status=status)) is unwell


def _rm(env, failures=2):
    settings = load_settings(env)
    return GuardedRoutemate(settings, store=Store(":memory:"), failures=failures, cooldown=60)


async def _ask(rm, model="gpt4o"):
    return await rm.ask(ChatRequest([{"role": "user", "content": "hi"}], {"max_tokens": 4}, model))


async def test_guarded_backend_counts_upstream_failures_and_then_refuses_without_calling(write_config, upstream,
                                                                                         monkeypatch, env):
    monkeypatch.setenv("FAKE_OPENAI_KEY", "k")
    env["FAKE_OPENAI_KEY"] = "k"
    write_config(hybrid_config(upstream).replace("max_retries = 2", "max_retries = 0") + "\n[routing]\nfallback = false\n")
    rm = _rm(env)
    try:
        upstream.script.extend(["400", "500", "500"])
        for _ in range(3):
            with pytest.raises(BackendError):
                await _ask(rm)
        assert rm.breakers["gpt4o"].state == "open" and len(upstream.requests) == 3
        with pytest.raises(BackendError, match="circuit open"):
            await rm.backend("gpt4o").chat(ChatRequest([{"role": "user", "content": "hi"}]))
        assert len(upstream.requests) == 3
        ok, why = await rm.backend("gpt4o").health()
        assert not ok and "circuit open" in why
    finally:
        await rm.aclose()


async def test_an_open_circuit_makes_the_router_pick_another_model(write_config, upstream, monkeypatch, env):
    monkeypatch.setenv("FAKE_OPENAI_KEY", "k")
    env["FAKE_OPENAI_KEY"] = "k"
    write_config(hybrid_config(upstream))
    rm = _rm(env, failures=1)
    try:
        rm.breakers["gpt4o"].failure("upstream answered 503")
        decision, _ = rm.route(ChatRequest([{"role": "user", "content": "hi"}], {}, "frontier"))
        assert decision.model == "local" and "circuit open" in decision.reason
        assert rm.retries() == {}
    finally:
        await rm.aclose()


def test_a_guarded_backend_says_whether_its_model_continues_an_assistant_message(write_config, upstream, env):
    # the gateway's cascade asks the guarded backend whether later samples may continue a copied stub
    write_config(hybrid_config(upstream))
    rm = _rm(env)
    assert rm.backend("local").continues_assistant is True       # the embedded engine (not loaded by this)
    assert rm.backend("gpt4o").continues_assistant is False
