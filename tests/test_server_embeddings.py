"""`POST /v1/embeddings`: one fixed embedding model, privacy kept, logged; the real openai SDK as client."""

from __future__ import annotations

import json

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from conftest import hybrid_config
from fake_upstream import FakeUpstream
from gateway_fixtures import RunningGateway, gateway  # noqa: F401  (fixture)

AWS = "AKIAZ7Q3LMXV2RT8KWNB"


@pytest.fixture
def embed_gateway(write_config: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch,
                  env: dict[str, str]) -> Iterator[RunningGateway]:
    """The hybrid setup plus a private (local) embedding model and a priced frontier one."""
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-upstream-secret")
    env["FAKE_OPENAI_KEY"] = "sk-test-upstream-secret"
    write_config(hybrid_config(upstream) + f"""
[models.embed]
backend = "openai"
base_url = "{upstream.url}"
model = "nomic-embed-text"
tier = "local"
capabilities = ["embeddings"]

[models.oai-embed]
backend = "openai"
base_url = "{upstream.url}"
model = "text-embedding-3-small"
api_key_env = "FAKE_OPENAI_KEY"
tier = "frontier"
price_in = 0.02
capabilities = ["embeddings"]
""")
    gw = RunningGateway(env).start()
    try:
        yield gw
    finally:
        gw.stop()


def client(gw: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url, api_key="any", max_retries=0, timeout=60)


def test_the_sdk_gets_vectors_from_the_private_embedding_model(embed_gateway: RunningGateway,
                                                               upstream: FakeUpstream) -> None:
    r = client(embed_gateway).embeddings.create(model="auto", input=["def add(a, b):", "return a + b"])
    assert r.model == "embed" and [d.index for d in r.data] == [0, 1]
    for d, text in zip(r.data, ["def add(a, b):", "return a + b"]):     # the SDK asked for base64 and decoded it
        assert d.embedding == pytest.approx(FakeUpstream.vector(text), abs=1e-6)
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/embeddings" and sent["body"]["model"] == "nomic-embed-text"
    assert sent["body"]["encoding_format"] == "base64"
    row = embed_gateway.log_rows()[-1]
    assert (row["model"], row["status"], row["entry"], row["requested"]) == ("embed", "ok", "http", "auto")
    assert row["meta"] == {"endpoint": "embeddings", "inputs": 2} and row["prompt_tokens"] > 0
    assert row["reason"] == "embeddings: embed, the private embedding model"


def test_a_pinned_frontier_embedding_model_is_costed_and_floats_pass_through(embed_gateway: RunningGateway,
                                                                             upstream: FakeUpstream) -> None:
    r = embed_gateway.post("/v1/embeddings", {"model": "oai-embed", "input": "hello world",
                                              "encoding_format": "float", "dimensions": 4})
    assert r.status == 200, r.body
    body = r.json()
    assert body["model"] == "oai-embed" and r.headers["x-routemate-model"] == "oai-embed"
    assert body["data"][0]["embedding"] == FakeUpstream.vector("hello world", 4)
    assert upstream.requests[-1]["body"] == {"input": "hello world", "dimensions": 4, "encoding_format": "float",
                                             "model": "text-embedding-3-small"}
    assert embed_gateway.log_rows()[-1]["cost_usd"] == pytest.approx(2 * 0.02 / 1e6)


def test_an_upstream_echoing_its_key_in_a_200_body_leaks_no_part_of_it(embed_gateway: RunningGateway,
                                                                         upstream: FakeUpstream) -> None:
    """A proxy that answers 200 with a body that is not OpenAI's, with the upstream key in it, where
    the 120-character snippet in the error would cut the key in two."""
    key = "sk-test-upstream-secret"
    upstream.script.append("echo-key-200")
    r = embed_gateway.post("/v1/embeddings", {"model": "oai-embed", "input": "hello"})
    assert r.status == 502 and "not OpenAI-shaped" in r.json()["error"]["message"], r.body
    row = embed_gateway.log_rows()[-1]
    for text in (r.body.decode(), str(row["error"]), json.dumps(row["meta"])):
        # the old cut left "Bearer sk-test-ups": no start of the key, and not the key itself
        assert "sk-test" not in text and key not in text and "[REDACTED]" in text + "[REDACTED]", text


def test_a_secret_never_reaches_a_frontier_embedding_model_and_auto_stays_put(embed_gateway: RunningGateway,
                                                                              upstream: FakeUpstream) -> None:
    before = len(upstream.requests)
    r = embed_gateway.post("/v1/embeddings", {"model": "oai-embed", "input": [f"aws_access_key_id = {AWS}"]})
    assert r.status == 403 and r.json()["error"]["code"] == "privacy_refused"
    assert "not private" in r.json()["error"]["message"] and AWS not in r.body.decode()
    assert len(upstream.requests) == before, "nothing was sent"
    row = embed_gateway.log_rows()[-1]
    assert row["status"] == "error" and row["prompt"] is None and AWS not in str(row)
    # auto is the private model anyway: it embeds the same input
    ok = embed_gateway.post("/v1/embeddings", {"input": [f"aws_access_key_id = {AWS}"]})
    assert ok.status == 200 and ok.json()["model"] == "embed"


def test_embedding_models_are_never_chat_candidates(embed_gateway: RunningGateway) -> None:
    rm = embed_gateway.rm
    assert {c.name for c in rm.candidates()} == {"local", "gpt4o"}
    r = embed_gateway.post("/v1/chat/completions", {"model": "embed", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status == 400 and r.json()["error"]["message"].startswith(
        "model 'embed' only serves embeddings (POST /v1/embeddings)")
    listed = {m["id"]: m for m in embed_gateway.request("GET", "/v1/models").json()["data"]}
    assert listed["embed"]["capabilities"] == ["embeddings"]


@pytest.mark.parametrize("body, status, words", [
    ({"model": "auto"}, 400, "'input' is required"),
    ({"input": ""}, 400, "must not contain empty strings"),
    ({"input": [1, "a"]}, 400, "'input' must be"),
    ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format"),
    ({"input": "x", "model": "gpt4o"}, 400, "does not serve embeddings (use embed, oai-embed)"),
    ({"input": "x", "model": "nope"}, 404, "unknown model 'nope'"),
])
def test_bad_embedding_requests_get_openai_shaped_errors(embed_gateway: RunningGateway, body: dict[str, Any],
                                                         status: int, words: str) -> None:
    r = embed_gateway.post("/v1/embeddings", body)
    assert r.status == status and words in r.json()["error"]["message"], r.body


def test_without_an_embedding_model_the_error_says_how_to_add_one(gateway: RunningGateway) -> None:
    r = gateway.post("/v1/embeddings", {"input": "x"})
    assert r.status == 404 and r.json()["error"]["code"] == "model_not_found"
    assert 'capabilities = ["embeddings"]' in r.json()["error"]["message"]


def test_the_python_api_embeds_and_logs_too(embed_gateway: RunningGateway) -> None:
    import asyncio

    from routemate import Routemate

    rm = Routemate()                 # the same config, its own process state

    async def go() -> dict[str, Any]:
        try:
            return await rm.embed({"input": ["def f():", "pass"], "encoding_format": "float"})
        finally:
            await rm.aclose()

    out = asyncio.run(go())
    assert out["model"] == "embed" and [d["embedding"] for d in out["data"]] == [
        FakeUpstream.vector("def f():"), FakeUpstream.vector("pass")]
    row = rm.store.recent(1)[0]
    assert (row["entry"], row["model"], row["meta"]["endpoint"]) == ("python", "embed", "embeddings")
