"""The embedded engine, for real: SmolLM2-135M-Instruct through xllamacpp."""

import asyncio
import urllib.error
import urllib.request

import pytest

from routemate.backends import embedded
from routemate.backends.embedded import EmbeddedBackend, _engine_for
from routemate.chat import ChatRequest, CompletionRequest
from routemate.config import load_settings
from routemate.errors import BackendError, InvalidRequest


@pytest.fixture
def backend(env):
    s = load_settings(env)
    return EmbeddedBackend(s.models["local"], s)


def ask(text, **params):
    return ChatRequest([{"role": "user", "content": text}], {"temperature": 0, "max_tokens": 16, **params})


async def test_short_answer_with_token_counts(backend):
    done = await backend.chat(ask("Say hello."))
    assert done.text.strip()
    assert done.usage.prompt_tokens > 5 and 0 < done.usage.completion_tokens <= 16


async def test_stream_yields_tokens_then_usage_matching_the_text(backend):
    chunks = [c async for c in backend.stream(ask("Count from one to five.", max_tokens=12))]
    text = "".join(c.content for c in chunks)
    usage = [c.usage for c in chunks if c.usage]
    assert text.strip() and len([c for c in chunks if c.content]) > 3
    assert usage and usage[-1].completion_tokens == 12
    assert any(c.finish_reason == "length" for c in chunks)


async def test_stream_and_non_stream_agree_at_temperature_zero(backend):
    req = ask("Name a fruit.", max_tokens=8, seed=1)
    whole = (await backend.chat(req)).text
    streamed = "".join([c.content async for c in backend.stream(req)])
    assert whole == streamed


async def abandon_after(backend, tokens, **params):
    """Read ``tokens`` chunks of an endless story, leave, and check every worker thread ended.
    Unbounded length: left alone the engine would fill its 4k-token context (tens of seconds at
    best); cancelled, its worker thread ends at the next token."""
    gen = backend.stream(ask("Write a long story about a dragon.", max_tokens=100_000, ignore_eos=True, **params))
    got = 0
    async for chunk in gen:
        got += bool(chunk.content)
        if got == tokens:
            break
    workers = list(embedded._inflight)
    await gen.aclose()
    assert workers, "the generation runs in a worker thread"
    for worker in workers:
        await asyncio.to_thread(worker.join, 15)
        assert not worker.is_alive(), "generation went on after the consumer left"


async def test_abandoning_a_stream_stops_generation(backend):
    await abandon_after(backend, 3)
    done = await backend.chat(ask("Say hi.", max_tokens=4))
    assert done.usage.completion_tokens <= 4


async def test_plain_completion(backend):
    done = await backend.complete(CompletionRequest("def add(a, b):\n", params={"max_tokens": 12, "temperature": 0}))
    assert done.text and done.usage.completion_tokens <= 12


async def test_tool_params_are_dropped_not_sent(backend):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    done = await backend.chat(ask("Say hi.", max_tokens=4, tools=tools, tool_choice="auto"))
    assert done.text is not None and "tool_calls" not in done.choices[0].message


async def test_engine_rejection_is_a_clear_error(backend):
    with pytest.raises(Exception, match="max_tokens"):
        await backend.chat(ask("hi", max_tokens="lots"))


def test_missing_gguf_path_is_actionable(env, tmp_path):
    s = load_settings(env)
    cfg = s.models["local"].model_copy(update={"path": str(tmp_path / "nope.gguf")})
    with pytest.raises(BackendError, match=r"nope\.gguf does not exist.*\[models\.local\]"):
        _engine_for(cfg, s)


async def test_engine_http_listener_requires_its_private_key(backend):
    await backend.chat(ask("hi", max_tokens=1))
    address = backend.engine().server.listening_address
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{address}/v1/models", timeout=5)
    info.value.close()
    assert info.value.code == 401


def test_generation_defaults_yield_to_config_and_request(env):
    s = load_settings(env)
    cfg = s.models["local"].model_copy(update={"params": {"temperature": 0.7, "max_tokens": 100}})
    body = EmbeddedBackend(cfg, s)._body({"top_p": 0.5, "max_completion_tokens": 7, "tools": [{}]})
    assert body["temperature"] == 0.7 and body["top_p"] == 0.5 and body["max_tokens"] == 7
    assert body["repeat_penalty"] == 1.1 and "tools" not in body
    assert EmbeddedBackend(s.models["local"], s)._body({})["max_tokens"] == 512


async def test_n_samples_come_from_one_call_with_every_token_counted(backend):
    done = await backend.chat(ask("Write a haiku about rain.", n=3, temperature=1.0, seed=11, max_tokens=8,
                                  ignore_eos=True))
    texts = [c.message["content"] for c in done.choices]
    assert [c.index for c in done.choices] == [0, 1, 2] and all(texts)
    assert len(set(texts)) > 1, "samples at temperature 1 with distinct seeds differ"
    assert done.usage.completion_tokens == 3 * 8          # every sample's tokens, not only the first's
    single = await backend.chat(ask("Write a haiku about rain.", max_tokens=8, ignore_eos=True))
    assert done.usage.prompt_tokens == single.usage.prompt_tokens   # the prompt counts once


async def test_streamed_samples_interleave_by_index_and_end_with_one_usage(backend):
    chunks = [c async for c in backend.stream(ask("Name three colours.", n=3, temperature=0.9, max_tokens=6,
                                                  ignore_eos=True))]
    content = [c.index for c in chunks if c.content]
    assert set(content) == {0, 1, 2}
    first_done = min(i for i, c in enumerate(chunks) if c.finish_reason)
    assert {c.index for c in chunks[:first_done] if c.content} == {0, 1, 2}, "the samples decode together"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and chunks[-1].usage is usage[0] and usage[0].completion_tokens == 18


async def test_more_samples_than_slots_run_in_batches_seeded_as_one_call(env):
    s = load_settings(env)
    narrow = EmbeddedBackend(s.models["local"].model_copy(update={"parallel": 2}), s)
    req = ask("Invent a name for a cat.", n=3, temperature=1.0, seed=40, max_tokens=8)
    done = await narrow.chat(req)
    assert [c.index for c in done.choices] == [0, 1, 2]
    # the engine seeds sample i with seed + i; the third sample (a second batch) keeps that rule
    third = await narrow.chat(ask("Invent a name for a cat.", temperature=1.0, seed=42, max_tokens=8))
    assert done.choices[2].message["content"] == third.text


async def test_warm_loads_the_engine_once_in_the_background_and_the_first_call_uses_it(env):
    s = load_settings(env)
    # a shape no other test loads, so this load really happens here
    b = EmbeddedBackend(s.models["local"].model_copy(update={"n_ctx": 1280}), s)
    assert b.warm() is True
    loading = b._loading
    assert loading is not None and b.warm() is False       # one load, however often it is asked for
    done = await b.chat(ask("Say hello."))
    assert done.text.strip()
    assert loading.done() and b.engine() is loading.result()
    assert b.warm() is False                                # loaded: nothing to start


async def test_a_failed_background_load_is_the_first_calls_error(env, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 4096)
    s = load_settings(env)
    b = EmbeddedBackend(s.models["local"].model_copy(update={"path": str(bad), "weights": None}), s)
    assert b.warm() is True
    with pytest.raises(BackendError, match=r"could not load broken\.gguf"):
        await b.chat(ask("Say hello."))


def test_warm_never_fetches_weights(env, tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEMATE_MODELS_DIR", str(tmp_path / "empty"))
    s = load_settings({**env, "ROUTEMATE_MODELS_DIR": str(tmp_path / "empty")})
    b = EmbeddedBackend(s.models["local"], s)
    assert s.catalog_model(b.config) is not None
    assert b.warm() is False and b._loading is None         # the fetch shows its progress on the first call
    missing = s.models["local"].model_copy(update={"path": str(tmp_path / "nope.gguf"), "weights": None})
    assert EmbeddedBackend(missing, s).warm() is False


async def test_n_out_of_range_is_a_clear_error(backend):
    for n in (0, embedded.MAX_N + 1, "4", True):
        with pytest.raises(InvalidRequest, match=rf"n must be a whole number from 1 to {embedded.MAX_N}"):
            await backend.chat(ask("hi", n=n))


async def test_n_on_plain_completions(backend):
    done = await backend.complete(CompletionRequest("def add(a, b):\n", params={"max_tokens": 6, "n": 2,
                                                                                "ignore_eos": True}))
    assert [c.index for c in done.choices] == [0, 1] and done.usage.completion_tokens == 12


async def test_abandoning_a_stream_of_samples_stops_every_sample(backend):
    await abandon_after(backend, 6, n=3)


def test_the_kv_cache_table_is_what_llama_cpp_allocates(env: dict[str, str]) -> None:
    """bench/kv_cache.py (docs/models.md) computes the cache from the GGUF headers; llama.cpp, loading
    each model on disk with that many slots and tokens, must report the same size."""
    import json
    import re
    import subprocess
    import sys

    from conftest import REPO

    script = str(REPO / "bench" / "kv_cache.py")
    out = subprocess.run([sys.executable, script, "--json", "--engine", "--n-ctx", "1024", "--parallel", "2"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = {r["model"]: r for r in json.loads(out.stdout.strip().splitlines()[-1])["models"]}
    smol = rows["smollm2-135m"]
    assert (smol["layers"], smol["kv_heads"], smol["key_length"], smol["value_length"]) == (30, 3, 64, 64)
    assert smol["bytes_per_token"] == 30 * 3 * (64 + 64) * 2 and smol["mib_total"] == 45.0
    for name, row in rows.items():
        engine = re.search(r"size =\s*([0-9.]+) MiB \(\s*1024 cells,\s*(\d+) layers,\s*2/2 seqs\)", row["engine"])
        assert engine, (name, row["engine"])
        assert float(engine.group(1)) == row["mib_total"] and int(engine.group(2)) == row["layers"], (name, row)


async def test_a_last_assistant_message_is_continued_and_the_answer_is_the_continuation_only(backend):
    head = "```python\ndef add(a, b):\n"
    req = ChatRequest([{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."},
                       {"role": "assistant", "content": head}], {"temperature": 0, "max_tokens": 12, "seed": 1})
    assert backend.continues_assistant
    whole = (await backend.chat(req)).text
    streamed = "".join([c.content async for c in backend.stream(req)])
    assert whole == streamed and whole.strip()
    assert "def add" not in whole, "the answer goes on from the prefill instead of repeating it"
    sampled = await backend.chat(ChatRequest(req.messages, {**req.params, "n": 2, "temperature": 0.8}))
    assert all("def add" not in c.message["content"] for c in sampled.choices)


@pytest.mark.parametrize("mib", [0, 64])
def test_a_prompt_whose_slot_was_taken_comes_back_from_the_bounded_prompt_cache(env, mib):
    """One slot, prompts A, B, A: with a prompt cache (``prompt_cache_mib``) the second A is restored
    from host memory; with none it is read again. Either way the cache is bounded (llama.cpp's own
    default lets it grow to 8 GiB)."""
    s = load_settings(env)
    cfg = s.models["local"].model_copy(update={"parallel": 1, "n_ctx": 2048, "prompt_cache_mib": mib})
    engine = _engine_for(cfg, s)

    def cached(text):
        out = engine.server.handle_chat_completions({"messages": [{"role": "user", "content": text}],
                                                     "max_tokens": 1})
        return out["usage"]["prompt_tokens_details"]["cached_tokens"], out["usage"]["prompt_tokens"]

    a = "Alpha " + " ".join(f"a{j}" for j in range(200))
    b = "Beta " + " ".join(f"b{j}" for j in range(200))
    cached(a)
    cached(b)
    hit, prompt = cached(a)
    assert prompt > 400
    assert (hit >= prompt - 2) if mib else (hit < 50)
