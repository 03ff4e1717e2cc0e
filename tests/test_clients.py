"""Real clients against a real running gateway: the openai SDK, the ``llm`` CLI, and replays of
requests captured from Aider, Continue, llm and the openai SDK (``../shared/data/clients``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from gateway_fixtures import RunningGateway, gateway  # noqa: F401  (fixture)

HELLO = [{"role": "user", "content": "Say hello in five words."}]
WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                             "parameters": {"type": "object", "properties": {
                                                 "city": {"type": "string"}}, "required": ["city"]}}}]


def client(gw, key="unused"):
    return openai.OpenAI(base_url=gw.url, api_key=key, max_retries=0, timeout=60)


# -- openai SDK -------------------------------------------------------------------------------------------
def test_openai_sdk_non_stream_reports_the_model_that_answered(gateway):
    raw = client(gateway).chat.completions.with_raw_response.create(model="auto", messages=HELLO, max_tokens=8)
    resp = raw.parse()
    assert resp.model == "local" and raw.headers["x-routemate-model"] == "local"
    assert resp.choices[0].message.content and resp.usage.total_tokens > 0


def test_openai_sdk_stream_with_usage(gateway, hybrid):
    chunks = list(client(gateway).chat.completions.create(
        model="frontier", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == hybrid.reply
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert {c.model for c in chunks} == {"gpt4o"}


def test_openai_sdk_tool_calls_streamed_and_not(gateway, hybrid):
    hybrid.script.extend(["tools", "tools"])
    c = client(gateway)
    resp = c.chat.completions.create(model="frontier", messages=[{"role": "user", "content": "Weather in Paris?"}],
                                     tools=WEATHER, tool_choice={"type": "function",
                                                                 "function": {"name": "get_weather"}})
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}

    args, names = "", []
    for chunk in c.chat.completions.create(model="frontier", messages=[{"role": "user", "content": "Oslo?"}],
                                           tools=WEATHER, tool_choice="required", stream=True):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            assert tc.index == 0
            names.append(tc.function.name) if tc.function and tc.function.name else None
            args += (tc.function.arguments or "") if tc.function else ""
    assert names == ["get_weather"] and json.loads(args) == {"city": "Paris"}

    # the follow-up turn with the tool result (content null on the assistant turn) goes through
    follow = c.chat.completions.create(model="frontier", tools=WEATHER, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'}])
    assert follow.choices[0].message.content == hybrid.reply


def test_openai_sdk_legacy_completions(gateway):
    c = client(gateway)
    resp = c.completions.create(model="auto", prompt="def add(a, b):", max_tokens=8, temperature=0)
    assert resp.object == "text_completion" and resp.model == "local" and resp.choices[0].text
    chunks = list(c.completions.create(model="auto", prompt="def add(a, b):", max_tokens=4, stream=True))
    assert chunks and all(ch.object == "text_completion" for ch in chunks)


def test_openai_sdk_error_classes(gateway, hybrid):
    c = client(gateway)
    with pytest.raises(openai.NotFoundError) as nf:
        c.chat.completions.create(model="no-such-model-xyz", messages=HELLO)
    assert nf.value.code == "model_not_found" and "unknown model" in nf.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        c.chat.completions.create(model="auto", messages=[])
    assert bad.value.param == "messages"
    hybrid.script.append("cut")
    with pytest.raises(openai.APIError, match="stream cut"):
        for _ in c.chat.completions.create(model="gpt4o", messages=HELLO, stream=True):
            pass
    assert c.models.list().data[0].id == "auto"
    assert c.models.retrieve("frontier").id == "frontier"


def test_openai_sdk_authentication_error(hybrid, env, monkeypatch):
    monkeypatch.setenv("ROUTEMATE_API_KEYS", "right")
    env["ROUTEMATE_API_KEYS"] = "right"
    gw = RunningGateway(env).start()
    try:
        with pytest.raises(openai.AuthenticationError):
            client(gw, "wrong").chat.completions.create(model="gpt4o", messages=HELLO)
        assert client(gw, "right").chat.completions.create(model="gpt4o", messages=HELLO).model == "gpt4o"
    finally:
        gw.stop()


# -- the llm CLI --------------------------------------------------------------------------------------------
def _llm(gw, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    models = [{"model_id": "rm-auto", "model_name": "auto", "api_base": gw.url, "supports_tools": True},
              {"model_id": "rm-frontier", "model_name": "frontier", "api_base": gw.url, "supports_tools": True},
              {"model_id": "rm-complete", "model_name": "auto", "api_base": gw.url, "completion": True}]
    user = tmp_path / "llm"
    user.mkdir(exist_ok=True)
    (user / "extra-openai-models.yaml").write_text(json.dumps(models))     # JSON is valid YAML
    exe = Path(sys.executable).with_name("llm")
    env = {**os.environ, "LLM_USER_PATH": str(user)}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=120)


def test_llm_cli_streams_chat_and_completions(gateway, hybrid, tmp_path):
    out = _llm(gateway, tmp_path, "-m", "rm-auto", "-o", "max_tokens", "8", "Say hello in five words.")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    out = _llm(gateway, tmp_path, "-m", "rm-frontier", "--no-stream", "-s", "You are terse.", "Say hello")
    assert out.returncode == 0 and out.stdout.strip() == hybrid.reply
    out = _llm(gateway, tmp_path, "-m", "rm-complete", "-o", "max_tokens", "8", "def add(a, b):")
    assert out.returncode == 0, out.stderr
    rows = gateway.log_rows()
    assert [r["model"] for r in rows] == ["local", "gpt4o", "local"]
    assert rows[2]["meta"]["endpoint"] == "completions"


def test_llm_cli_runs_a_tool_through_the_gateway(gateway, hybrid, tmp_path):
    hybrid.script.append("tools")        # the first answer calls the offered tool, the second is text
    out = _llm(gateway, tmp_path, "-m", "rm-frontier", "-T", "llm_time", "What time is it? Use the tool.")
    assert out.returncode == 0, out.stderr
    assert hybrid.reply in out.stdout
    follow_up = hybrid.requests[-1]["body"]["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "tool"]
    assert follow_up[1]["tool_calls"][0]["function"]["name"] == "llm_time"


# -- replays of captured client requests ----------------------------------------------------------------
REPLAY_MODELS = """
[models.ollama]
backend = "openai"
base_url = "{url}"
model = "llama3.1:8b"
tier = "local"
capabilities = ["chat", "tools", "completions"]

[models."qwen2.5-coder-1.5b"]
backend = "openai"
base_url = "{url}"
tier = "local"
capabilities = ["completions"]

[models.gpt4o]
backend = "openai"
base_url = "{url}"
model = "gpt-4o"
tier = "frontier"
price_in = 2.5
price_out = 10.0
"""


@pytest.fixture
def replay_gateway(write_config, upstream, env):
    """Both tiers on the fake upstream, so replays measure the gateway, not generation speed."""
    write_config(REPLAY_MODELS.format(url=upstream.url))
    gw = RunningGateway(env).start()
    yield gw
    gw.stop()


def _captures(shared_data: Path) -> list[tuple[str, dict]]:
    out = []
    for f in sorted((shared_data / "clients").glob("*.jsonl")):
        for i, line in enumerate(f.read_text().splitlines()):
            if line.strip():
                out.append((f"{f.stem}-{i}", json.loads(line)))
    return out


def _check_shape(capture: dict, r) -> None:
    body = capture.get("body") or {}
    assert r.status == capture["status"], (capture["path"], r.status, r.body[:300])
    if r.status != 200:
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        return
    if capture["method"] == "GET":
        assert r.json()["object"] == "list"
        return
    legacy = capture["path"].endswith("/completions") and "chat" not in capture["path"]
    if body.get("stream"):
        assert r.headers["content-type"].startswith("text/event-stream")
        events = r.events()
        assert events[-1] == "[DONE]"
        chunks = events[:-1]
        assert all(e["object"] == ("text_completion" if legacy else "chat.completion.chunk") for e in chunks)
        if (body.get("stream_options") or {}).get("include_usage"):
            assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        else:
            assert not any(e.get("usage") for e in chunks)
        assert r.text() or any(c.get("delta", {}).get("tool_calls") for e in chunks for c in e["choices"])
    else:
        data = r.json()
        assert data["object"] == ("text_completion" if legacy else "chat.completion")
        assert data["choices"] and data["usage"]["total_tokens"] > 0


def test_every_captured_client_request_is_accepted_as_sent(replay_gateway, upstream, shared_data):
    captures = _captures(shared_data)
    assert {name.split("-")[0] for name, _ in captures} >= {"aider", "cn", "llm", "openai"}
    for name, capture in captures:
        headers = {k: v for k, v in capture.get("headers", {}).items()
                   if k.lower() not in ("host", "content-length", "accept-encoding", "authorization")}
        sent = len(upstream.requests)
        raw = json.dumps(capture["body"]).encode() if capture.get("body") is not None else None
        r = replay_gateway.request(capture["method"], capture["path"], raw, headers=headers)
        _check_shape(capture, r)
        if capture.get("body") and r.status == 200:
            forwarded = upstream.requests[sent]["body"]
            for key in ("messages", "tools", "tool_choice", "temperature", "max_tokens", "prompt"):
                if key in capture["body"]:
                    assert forwarded[key] == capture["body"][key], (name, key)


def test_continue_style_fim_prompt_without_suffix_passes_untouched(replay_gateway, upstream):
    # Continue renders the FIM template itself (chosen by the model name) and sends no suffix
    prompt = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>"
    body = {"model": "qwen2.5-coder-1.5b", "prompt": prompt, "max_tokens": 256, "temperature": 0.01,
            "stop": ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "\n\n"],
            "stream": True}
    for model in ("qwen2.5-coder-1.5b", "auto"):
        r = replay_gateway.post("/v1/completions", {**body, "model": model},
                                headers={"user-agent": "ls/JS 5.23.2", "x-stainless-lang": "js"})
        assert r.status == 200 and r.events()[-1] == "[DONE]" and r.text()
        sent = upstream.requests[-1]["body"]
        assert sent["prompt"] == prompt and "suffix" not in sent and sent["stop"] == body["stop"]
        assert r.headers["x-routemate-model"] in ("qwen2.5-coder-1.5b", "ollama")


def test_continue_and_llm_tool_turns_are_accepted_by_the_embedded_engine(gateway, shared_data):
    """The turn shapes that trip chat templates (content "" or null beside tool_calls, tool results)."""
    for client_name, index in (("cn", 1), ("llm", 3)):
        capture = json.loads((shared_data / "clients" / f"{client_name}.jsonl").read_text().splitlines()[index])
        body = {**capture["body"], "model": "local", "max_tokens": 8}
        r = gateway.post("/v1/chat/completions", body)
        assert r.status == 200, r.body
        assert r.events()[-1] == "[DONE]" and r.events()[-2]["choices"] == []
        assert r.headers["x-routemate-model"] == "local"
