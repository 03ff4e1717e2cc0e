"""The OpenAI-compatible backend against a real loopback fake upstream."""

import pytest

from routemate.backends.openai import OpenAIBackend
from routemate.chat import ChatRequest, CompletionRequest
from routemate.config import build_settings
from routemate.errors import BackendError

KEY = "sk-test-upstream-secret"


def make(upstream, env, **over):
    cfg = {"backend": "openai", "base_url": upstream.url, "model": "gpt-4o", "api_key_env": "K",
           "tier": "frontier", "max_retries": 2, "timeout": 5, **over}
    s = build_settings({"models": {"gpt4o": cfg}}, {**env, "K": KEY})
    return OpenAIBackend(s.models["gpt4o"], s)


def req(**params):
    return ChatRequest([{"role": "user", "content": "hi"}], params)


@pytest.fixture
async def backend(upstream, env):
    b = make(upstream, env)
    yield b
    await b.aclose()


async def test_non_stream_answer_usage_and_auth(backend, upstream):
    done = await backend.chat(req(temperature=0))
    assert done.text == upstream.reply and done.usage.completion_tokens == len(upstream.reply.split())
    sent = upstream.requests[-1]
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    assert sent["body"]["model"] == "gpt-4o" and sent["body"]["temperature"] == 0


async def test_stream_asks_for_usage_and_reassembles_text(backend, upstream):
    chunks = [c async for c in backend.stream(req())]
    assert "".join(c.content for c in chunks) == upstream.reply
    assert chunks[-1].usage is not None
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("fault", ["500", "503", "429", "reset"])
async def test_transient_faults_are_retried(backend, upstream, fault):
    upstream.script.extend([fault, fault])
    done = await backend.chat(req())
    assert done.text == upstream.reply and len(upstream.requests) == 3


async def test_persistent_5xx_gives_up_after_max_retries(backend, upstream):
    upstream.default = "500"
    with pytest.raises(BackendError, match="upstream answered 500") as info:
        await backend.chat(req())
    assert info.value.retryable and len(upstream.requests) == 3


async def test_bad_key_is_not_retried_and_never_echoed(backend, upstream):
    upstream.script.append("401")
    with pytest.raises(BackendError) as info:
        await backend.chat(req())
    assert len(upstream.requests) == 1 and not info.value.retryable
    assert KEY not in str(info.value) and "check the key in K" in str(info.value)


async def test_timeout_is_a_backend_error(upstream, env):
    b = make(upstream, env, timeout=0.5, max_retries=0)
    upstream.script.append("timeout")
    upstream.hang = 3
    with pytest.raises(BackendError, match="cannot reach|timed out"):
        await b.chat(req())
    await b.aclose()


async def test_stream_cut_midway_raises_after_the_partial_text(backend, upstream):
    upstream.script.append("cut")
    got = []
    with pytest.raises(BackendError, match="stream cut|connection"):
        async for c in backend.stream(req()):
            got.append(c.content)
    assert "".join(got) and "".join(got) != upstream.reply


async def test_in_band_stream_error_raises(backend, upstream):
    upstream.script.append("stream-error")
    with pytest.raises(BackendError, match="overloaded"):
        async for _ in backend.stream(req()):
            pass


async def test_unsupported_params_are_dropped_for_that_backend(upstream, env):
    b = make(upstream, env, capabilities=["chat"])
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    await b.chat(req(tools=tools, tool_choice="auto", response_format={"type": "json_object"}, max_tokens=5))
    body = upstream.requests[-1]["body"]
    assert "tools" not in body and "tool_choice" not in body and "response_format" not in body
    assert body["max_tokens"] == 5
    await b.aclose()


async def test_streamed_tool_calls_keep_their_index(backend, upstream):
    upstream.script.append("tools")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    chunks = [c async for c in backend.stream(req(tools=tools))]
    deltas = [tc for c in chunks for tc in (c.tool_calls or [])]
    assert all(d["index"] == 0 for d in deltas)
    assert "".join(d["function"].get("arguments", "") for d in deltas) == '{"city": "Paris"}'


async def test_completions_pass_suffix_through(backend, upstream):
    done = await backend.complete(CompletionRequest("def f(", suffix="\n    return x", params={"max_tokens": 8}))
    assert done.text == upstream.reply
    assert upstream.requests[-1]["body"]["suffix"] == "\n    return x"


async def test_health(backend, upstream, env):
    assert (await backend.health())[0] is True
    down = make(upstream, env, base_url="http://127.0.0.1:9/v1")
    ok, why = await down.health()
    assert not ok and "cannot reach" in why
    await down.aclose()


async def test_configured_params_are_defaults_the_request_overrides(upstream, env):
    b = make(upstream, env, params={"temperature": 0.1, "max_tokens": 99})
    await b.chat(req(max_tokens=5))
    body = upstream.requests[-1]["body"]
    assert body["temperature"] == 0.1 and body["max_tokens"] == 5
    await b.aclose()


async def test_an_upstream_that_ignores_stream_true_is_read_as_the_answer(backend, upstream):
    upstream.script.append("no-stream")
    chunks = [c async for c in backend.stream(req())]
    assert "".join(c.content for c in chunks) == upstream.reply
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(upstream.reply.split())
    assert upstream.requests[-1]["body"]["stream"] is True


async def test_a_whole_tool_call_answer_becomes_tool_call_chunks(backend, upstream):
    upstream.script.append("no-stream")
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    chunks = [c async for c in backend.stream(req(tools=tools, tool_choice="required"))]
    calls = [tc for c in chunks for tc in c.tool_calls or ()]
    assert calls == [{"index": 0, "id": "call_1", "type": "function",
                      "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]
    assert any(c.finish_reason == "tool_calls" for c in chunks)


@pytest.mark.parametrize("behaviour, message", [
    ("html", "neither events nor an OpenAI answer ('<html>"),
    ("empty", "empty stream"),
])
async def test_an_unexpected_200_is_an_error_never_an_empty_answer(upstream, env, behaviour, message):
    b = make(upstream, env, max_retries=0)
    upstream.script.append(behaviour)
    with pytest.raises(BackendError, match=message.replace("(", "\\(")):
        [c async for c in b.stream(req())]
    await b.aclose()


async def test_n_on_an_upstream_that_ignores_it_is_topped_up_with_more_calls(backend, upstream):
    # the fake answers one choice whatever n says, as Ollama does
    done = await backend.chat(req(n=3, seed=7, temperature=0.8))
    assert [c.index for c in done.choices] == [0, 1, 2] and all(c.message["content"] for c in done.choices)
    sent = [r["body"] for r in upstream.requests]
    assert sent[0]["n"] == 3 and sent[0]["seed"] == 7
    assert sorted(b["seed"] for b in sent[1:]) == [8, 9] and all("n" not in b for b in sent[1:])
    one = len(upstream.reply.split())
    assert done.usage.completion_tokens == 3 * one          # every call was billed


async def test_streamed_n_tops_up_the_missing_samples_then_one_usage(backend, upstream):
    chunks = [c async for c in backend.stream(req(n=3))]
    assert {c.index for c in chunks if c.content} == {0, 1, 2}
    assert [c.index for c in chunks if c.finish_reason] == [0, 1, 2]
    usage = [c for c in chunks if c.usage]
    assert len(usage) == 1 and chunks[-1] is usage[0] and len(upstream.requests) == 3
    assert usage[0].usage.completion_tokens == 3 * len(upstream.reply.split())


# -- a real llama.cpp server (the embedded engine's own, on loopback) that continues a prefill ----------

LLAMA_KEY = "sk-llama-server-test"


@pytest.fixture
def llama_server(env):
    """llama.cpp's OpenAI-compatible server with SmolLM2, as `llama-server` would serve it."""
    import xllamacpp

    from routemate.config import load_settings
    from routemate.weights import ensure

    s = load_settings(env)
    p = xllamacpp.CommonParams()
    p.model.path = str(ensure(s.catalog_model(s.models["local"]), s.models_dir, progress=False))
    p.n_parallel = 2
    p.n_ctx = 4096
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
    p.verbosity = -1
    p.warmup = False
    p.api_keys = [LLAMA_KEY]
    server = xllamacpp.Server(p)
    yield server.listening_address
    del server


def llama(address, env, **over):
    cfg = {"backend": "openai", "base_url": f"{address}/v1", "model": "smol", "api_key_env": "K", "tier": "local",
           "max_retries": 0, "timeout": 60, **over}
    s = build_settings({"models": {"srv": cfg}}, {**env, "K": LLAMA_KEY})
    return OpenAIBackend(s.models["srv"], s)


async def test_a_server_that_continues_a_prefill_answers_with_the_continuation_only(llama_server, env):
    head = "```python\ndef add(a, b):\n"
    prefilled = ChatRequest([{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."},
                             {"role": "assistant", "content": head}], {"temperature": 0, "max_tokens": 12, "seed": 1})
    plain, continuing = llama(llama_server, env), llama(llama_server, env, continues_assistant=True)
    assert not plain.continues_assistant and continuing.continues_assistant
    try:
        as_sent = (await plain.chat(prefilled)).text
        whole = (await continuing.chat(prefilled)).text
        streamed = "".join([c.content async for c in continuing.stream(prefilled)])
    finally:
        await plain.aclose()
        await continuing.aclose()
    assert as_sent.startswith(head), "llama.cpp's server repeats the prefill in a non-streamed answer"
    assert whole == streamed == as_sent[len(head):] and whole.strip()
