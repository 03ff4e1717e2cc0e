"""The gateway over real HTTP: the embedded local model and a fake OpenAI-compatible frontier."""

from __future__ import annotations

import json

import pytest

from conftest import hybrid_config
from gateway_fixtures import RunningGateway, gateway  # noqa: F401  (fixture)

HELLO = [{"role": "user", "content": "Say hello"}]
SECRET = "sk-test-upstream-secret"


def chat(gw, body, **kw):
    return gw.post("/v1/chat/completions", body, **kw)


# -- chat ---------------------------------------------------------------------------------------------
def test_auto_sends_a_simple_prompt_to_the_local_model_and_logs_it(gateway):
    r = chat(gateway, {"model": "auto", "messages": HELLO, "max_tokens": 8})
    assert r.status == 200, r.body
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "local"
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] > 0
    assert r.headers["x-routemate-model"] == "local"
    assert r.headers["x-routemate-reason"].endswith("< 0.50")
    assert float(r.headers["x-routemate-cost-usd"]) == 0.0
    row = gateway.log_rows()[-1]
    assert (row["entry"], row["model"], row["status"], row["requested"]) == ("http", "local", "ok", "auto")
    assert row["saved_usd"] > 0


def test_frontier_alias_streams_with_one_usage_chunk_before_done(gateway, hybrid):
    r = chat(gateway, {"model": "frontier", "messages": HELLO, "stream": True,
                       "stream_options": {"include_usage": True}})
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-routemate-model"] == "gpt4o"
    events = r.events()
    assert events[-1] == "[DONE]"
    usage = [e for e in events[:-1] if e.get("usage")]
    assert len(usage) == 1 and events[-2] is usage[0] and usage[0]["choices"] == []
    assert usage[0]["usage"]["total_tokens"] == usage[0]["usage"]["prompt_tokens"] + usage[0]["usage"][
        "completion_tokens"] > 0
    assert {e["model"] for e in events[:-1]} == {"gpt4o"}
    assert r.text() == hybrid.reply
    assert float(gateway.log_rows()[-1]["cost_usd"]) > 0


def test_usage_is_reported_even_when_the_upstream_sends_none(gateway, hybrid):
    hybrid.send_usage = False
    r = chat(gateway, {"model": "gpt4o", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}})
    usage = r.events()[-2]["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    r = chat(gateway, {"model": "gpt4o", "messages": HELLO})
    assert r.json()["usage"]["completion_tokens"] > 0


def test_no_usage_chunk_unless_asked(gateway):
    r = chat(gateway, {"model": "gpt4o", "messages": HELLO, "stream": True})
    assert not any(isinstance(e, dict) and e.get("usage") for e in r.events())


def test_tools_pass_through_and_tool_call_deltas_stream_with_index(gateway, hybrid):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    hybrid.script.extend(["tools", "tools"])
    body = {"model": "frontier", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": tools,
            "tool_choice": "required", "parallel_tool_calls": False, "stream": True}
    r = chat(gateway, body)
    sent = hybrid.requests[-1]["body"]
    assert sent["tools"] == tools and sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    deltas = [c["delta"] for e in r.events()[:-1] for c in e["choices"]]
    calls = [tc for d in deltas for tc in d.get("tool_calls") or ()]
    assert calls and all(tc["index"] == 0 for tc in calls)
    assert calls[0]["id"] == "call_1" and calls[0]["function"]["name"] == "get_weather"
    assert "".join(tc["function"].get("arguments", "") for tc in calls) == '{"city": "Paris"}'
    assert r.events()[-2]["choices"][0]["finish_reason"] == "tool_calls"

    r = chat(gateway, {**body, "stream": False})
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


@pytest.mark.parametrize("extra", [
    {"tool_choice": "required"},
    {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    {"messages": [{"role": "user", "content": "Weather?"},
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]},
])
def test_auto_sends_a_request_that_needs_tools_only_to_a_model_with_tools(gateway, hybrid, extra):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    hybrid.script.append("tools")
    # a one-line question the router would keep on the local model, which has no tools
    r = chat(gateway, {"model": "auto", "messages": [{"role": "user", "content": "Hi"}], "tools": tools, **extra})
    assert r.status == 200 and r.headers["x-routemate-model"] == "gpt4o"
    assert "only models with tools" in r.headers["x-routemate-reason"]
    assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert hybrid.requests[-1]["body"]["tools"] == tools


def test_a_required_tool_call_with_no_tool_model_is_a_clear_400(write_config, env):
    write_config('[models.local]\nbackend = "embedded"\ntier = "local"\n')
    gw = RunningGateway(env).start()
    try:
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        r = gw.post("/v1/chat/completions", {"messages": HELLO, "tools": tools, "tool_choice": "required"})
        assert r.status == 400
        err = r.json()["error"]
        assert "tool_choice requires a tool call, but no configured model serves tools" in err["message"]
        assert err["param"] == "tool_choice" and err["type"] == "invalid_request_error"
    finally:
        gw.stop()


@pytest.mark.parametrize("stream", [True, False])
def test_an_upstream_that_does_not_stream_still_answers(gateway, hybrid, stream):
    hybrid.script.append("no-stream")
    r = chat(gateway, {"model": "gpt4o", "messages": HELLO, "stream": stream,
                       "stream_options": {"include_usage": True} if stream else None})
    assert r.status == 200
    if stream:
        assert r.text() == hybrid.reply and r.events()[-1] == "[DONE]"
        assert r.events()[-2]["usage"]["completion_tokens"] == len(hybrid.reply.split())
    else:
        assert r.json()["choices"][0]["message"]["content"] == hybrid.reply


@pytest.mark.parametrize("fault", ["html", "empty"])
def test_an_upstream_200_without_an_answer_is_an_error_not_an_empty_answer(write_config, upstream, env,
                                                                          monkeypatch, fault):
    monkeypatch.setenv("FAKE_OPENAI_KEY", "k")
    env["FAKE_OPENAI_KEY"] = "k"
    write_config(hybrid_config(upstream).replace("max_retries = 2", "max_retries = 0").replace(
        "[models.local]", "[routing]\nfallback = false\n\n[models.local]"))
    upstream.default = fault
    gw = RunningGateway(env).start()
    try:
        r = gw.post("/v1/chat/completions", {"model": "gpt4o", "messages": HELLO})
        assert r.status == 502 and r.json()["error"]["type"] == "upstream_error"
        r = gw.post("/v1/chat/completions", {"model": "gpt4o", "messages": HELLO, "stream": True})
        assert r.status == 502 and r.json()["error"]["code"] == "upstream_error"
    finally:
        gw.stop()


def test_assistant_tool_calls_and_tool_results_reach_the_upstream_untouched(gateway, hybrid):
    messages = [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": None}]
    r = chat(gateway, {"model": "gpt4o", "messages": messages})
    assert r.status == 200
    assert hybrid.requests[-1]["body"]["messages"] == messages


def test_generation_parameters_are_forwarded(gateway, hybrid):
    body = {"model": "gpt4o", "messages": HELLO, "n": 2, "stop": ["\n\n"], "temperature": 0.3,
            "max_completion_tokens": 40, "response_format": {"type": "json_object"}, "seed": 7}
    r = chat(gateway, body)
    assert r.status == 200 and len(r.json()["choices"]) == 2
    # the fake upstream answers one choice whatever n says (as Ollama does): the second is asked for apart
    sent, extra = (q["body"] for q in hybrid.requests[-2:])
    for key in ("n", "stop", "temperature", "max_completion_tokens", "response_format", "seed"):
        assert sent[key] == body[key], key
    assert "n" not in extra and extra["seed"] == 8


def test_parameters_the_local_model_does_not_support_are_dropped_not_rejected(gateway):
    tools = [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}]
    r = chat(gateway, {"model": "local", "messages": HELLO, "tools": tools, "tool_choice": "auto",
                       "parallel_tool_calls": True, "user": "u1", "logit_bias": {}, "max_tokens": 6})
    assert r.status == 200, r.body
    assert r.json()["choices"][0]["message"]["content"]


def test_n_samples_from_the_embedded_engine(gateway):
    count = [{"role": "user", "content": "Count from one to fifty, in words."}]
    r = chat(gateway, {"model": "local", "messages": count, "n": 2, "max_tokens": 6, "seed": 3})
    assert r.status == 200, r.body
    choices = r.json()["choices"]
    assert [c["index"] for c in choices] == [0, 1] and all(c["message"]["content"] for c in choices)
    assert [c["finish_reason"] for c in choices] == ["length", "length"]
    assert r.json()["usage"]["completion_tokens"] == 12, "both samples' tokens count, not only the first's"
    r = chat(gateway, {"model": "local", "messages": HELLO, "n": 2, "max_tokens": 4, "stream": True,
                       "stream_options": {"include_usage": True}})
    indexes = {c["index"] for e in r.events()[:-1] for c in e["choices"]}
    assert indexes == {0, 1}
    assert r.events()[-2]["usage"]["completion_tokens"] >= 2


def test_the_router_sees_the_whole_conversation(gateway, hybrid):
    code = "\n".join(f"x{i} = compute({i})" for i in range(250))
    history = [{"role": "user", "content": f"Here is my module:\n```python\n{code}\n```"},
               {"role": "assistant", "content": "Got it."}, {"role": "user", "content": "fix the bug"}]
    whole = gateway.post("/v1/route", {"model": "auto", "messages": history}).json()
    last_only = gateway.post("/v1/route", {"model": "auto", "messages": history[-1:]}).json()
    assert whole["features"]["code_lines"] >= 250 and whole["features"]["turns"] == 2
    assert last_only["features"]["code_lines"] == 0
    assert whole["score"] != last_only["score"], "the earlier turns change the decision's score"
    assert hybrid.requests == []          # routing only: no model was called


def test_models_lists_auto_tiers_and_every_configured_model(gateway):
    r = gateway.request("GET", "/v1/models")
    body = r.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[:3] == ["auto", "local", "frontier"] and "gpt4o" in ids and len(ids) == len(set(ids))
    assert all(m["object"] == "model" and "owned_by" in m for m in body["data"])


def test_a_single_model_can_be_retrieved(gateway):
    assert gateway.request("GET", "/v1/models/gpt4o").json()["tier"] == "frontier"
    assert gateway.request("GET", "/v1/models/auto").json()["id"] == "auto"
    r = gateway.request("GET", "/v1/models/nope")
    assert r.status == 404 and r.json()["error"]["code"] == "model_not_found"


def test_health_and_readiness(gateway):
    assert gateway.request("GET", "/healthz").json() == {"status": "ok"}
    r = gateway.request("GET", "/readyz")
    assert r.status == 200 and r.json()["models"]["gpt4o"]["ok"] is True


def test_metrics_count_requests_tokens_cost_and_latency(gateway):
    chat(gateway, {"model": "gpt4o", "messages": HELLO})
    chat(gateway, {"model": "nope", "messages": HELLO})
    text = gateway.request("GET", "/metrics").body.decode()
    assert 'routemate_requests_total{endpoint="chat",model="gpt4o",reason="pinned",status="ok"} 1' in text
    assert 'routemate_http_responses_total{endpoint="chat",code="404"} 1' in text
    assert 'routemate_tokens_total{model="gpt4o",kind="completion"}' in text
    assert 'routemate_request_duration_seconds_count{endpoint="chat",model="gpt4o"} 1' in text
    assert 'routemate_cost_usd_total{model="gpt4o"}' in text
    assert "# TYPE routemate_request_duration_seconds histogram" in text


# -- completions ----------------------------------------------------------------------------------------
def test_completions_go_local_by_default(gateway, hybrid):
    r = gateway.post("/v1/completions", {"model": "auto", "prompt": "def add(a, b):", "max_tokens": 8})
    assert r.status == 200, r.body
    body = r.json()
    assert body["object"] == "text_completion" and body["model"] == "local" and body["choices"][0]["text"]
    assert "autocomplete defaults to local" in r.headers["x-routemate-reason"]
    assert hybrid.requests == []


def test_streamed_completions_end_with_a_usage_chunk_with_empty_choices(gateway):
    r = gateway.post("/v1/completions", {"model": "auto", "prompt": "def add(a, b):", "max_tokens": 4,
                                         "stream": True, "stream_options": {"include_usage": True}})
    events = r.events()
    assert events[-1] == "[DONE]" and events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] > 0
    assert all(e["object"] == "text_completion" for e in events[:-1])


FIM_MODELS = """
[models.coder]
backend = "openai"
base_url = "{url}"
tier = "local"
capabilities = ["completions", "fim"]

[models.qwen-coder]
backend = "openai"
base_url = "{url}"
tier = "local"
fim_template = "qwen"
"""


@pytest.fixture
def fim_gateway(write_config, upstream, monkeypatch, env):
    monkeypatch.setenv("FAKE_OPENAI_KEY", SECRET)
    env["FAKE_OPENAI_KEY"] = SECRET
    write_config(hybrid_config(upstream) + FIM_MODELS.format(url=upstream.url))
    gw = RunningGateway(env).start()
    yield gw
    gw.stop()


def test_fim_suffix_passes_through_to_a_backend_that_takes_it(fim_gateway, upstream):
    r = fim_gateway.post("/v1/completions", {"model": "coder", "prompt": "def add(a, b):\n    ",
                                             "suffix": "\n\nprint(add(1, 2))", "max_tokens": 16})
    assert r.status == 200
    sent = upstream.requests[-1]["body"]
    assert sent["prompt"] == "def add(a, b):\n    " and sent["suffix"] == "\n\nprint(add(1, 2))"


def test_fim_is_rendered_with_the_model_family_template_otherwise(fim_gateway, upstream):
    r = fim_gateway.post("/v1/completions", {"model": "qwen-coder", "prompt": "def f():\n    ", "suffix": "\nf()",
                                             "stop": ["\n\n"], "stream": True})
    assert r.status == 200 and r.events()[-1] == "[DONE]"
    sent = upstream.requests[-1]["body"]
    assert sent["prompt"] == "<|fim_prefix|>def f():\n    <|fim_suffix|>\nf()<|fim_middle|>"
    assert "suffix" not in sent and sent["stop"][0] == "\n\n" and "<|endoftext|>" in sent["stop"]


def test_suffix_without_template_is_dropped_and_the_reason_says_so(gateway):
    r = gateway.post("/v1/completions", {"prompt": "x = ", "suffix": "\n", "max_tokens": 4})
    assert r.status == 200
    assert "suffix dropped" in r.headers["x-routemate-reason"]


# -- keys -----------------------------------------------------------------------------------------------
@pytest.fixture
def keyed_gateway(hybrid, env, monkeypatch):
    monkeypatch.setenv("ROUTEMATE_API_KEYS", "gw-key-1, gw-key-2")
    env["ROUTEMATE_API_KEYS"] = "gw-key-1, gw-key-2"
    gw = RunningGateway(env).start()
    yield gw
    gw.stop()


def test_gateway_keys_are_required_when_configured(keyed_gateway, hybrid):
    gw = keyed_gateway
    body = {"model": "gpt4o", "messages": HELLO}
    missing = chat(gw, body)
    wrong = chat(gw, body, headers={"authorization": "Bearer nope"})
    assert missing.status == wrong.status == 401
    assert missing.json()["error"]["code"] == "invalid_api_key" and "missing" in missing.json()["error"]["message"]
    assert gw.request("GET", "/v1/models").status == 401
    assert gw.request("GET", "/metrics").status == 401
    assert gw.request("GET", "/healthz").status == 200          # probes need no key
    assert hybrid.requests == []
    ok = chat(gw, body, headers={"authorization": "Bearer gw-key-2"})
    assert ok.status == 200
    # the upstream gets its own key, never the client's gateway key
    assert hybrid.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"


def test_an_upstream_key_is_never_echoed_to_the_client_or_the_log(gateway, hybrid):
    hybrid.script.extend(["echo-key"] * 3)
    r = chat(gateway, {"model": "gpt4o", "messages": HELLO, "max_tokens": 4})
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"     # fell back
    rows = gateway.log_rows()
    assert "401" in json.dumps(rows)
    for blob in (r.body.decode(), json.dumps(dict(r.headers)), json.dumps(rows),
                 gateway.request("GET", "/metrics").body.decode()):
        assert SECRET not in blob


# -- bad input --------------------------------------------------------------------------------------------
BAD = [
    (b"{not json", 400, None, "not valid JSON"),
    (b"", 400, None, "empty"),
    (b"[1, 2]", 400, None, "JSON object"),
    ({"model": "auto"}, 400, "messages", "required"),
    ({"model": "auto", "messages": "hi"}, 400, "messages", "array"),
    ({"model": "auto", "messages": []}, 400, "messages", "empty"),
    ({"model": "auto", "messages": [{"content": "hi"}]}, 400, "messages[0].role", "string"),
    ({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages[0].role", "one of"),
    ({"model": "auto", "messages": HELLO, "temperature": "hot"}, 400, "temperature", "number"),
    ({"model": "auto", "messages": HELLO, "temperature": 9}, 400, "temperature", "between"),
    ({"model": "auto", "messages": HELLO, "max_tokens": 0}, 400, "max_tokens", "at least 1"),
    ({"model": "auto", "messages": HELLO, "max_tokens": True}, 400, "max_tokens", "integer"),
    ({"model": "auto", "messages": HELLO, "stream": "yes"}, 400, "stream", "boolean"),
    ({"model": "auto", "messages": HELLO, "n": 500}, 400, "n", "between"),
    ({"model": "auto", "messages": HELLO, "tools": [{"type": "function"}]}, 400, "tools[0]", "function"),
    ({"model": "auto", "messages": HELLO, "tool_choice": "always"}, 400, "tool_choice", "required"),
    ({"model": "auto", "messages": HELLO, "tool_choice": ["auto"]}, 400, "tool_choice", "required"),
    ({"model": "auto", "messages": HELLO, "stop": [1]}, 400, "stop", "strings"),
    ({"model": 5, "messages": HELLO}, 400, "model", "model name"),
    ({"model": "no-such-model-xyz", "messages": HELLO}, 404, "model", "unknown model"),
]


@pytest.mark.parametrize("body,status,param,words", BAD, ids=[b[3] + "-" + str(b[2]) for b in BAD])
def test_bad_chat_requests_get_openai_shaped_errors(gateway, hybrid, body, status, param, words):
    r = chat(gateway, body)
    assert r.status == status, r.body
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["param"] == param and words in err["message"] and err["type"] == "invalid_request_error"
    assert hybrid.requests == []


def test_bad_completion_requests_get_openai_shaped_errors(gateway):
    for body, param in (({"model": "auto"}, "prompt"), ({"prompt": ["a", "b"]}, "prompt"),
                        ({"prompt": "x", "suffix": 3}, "suffix")):
        r = gateway.post("/v1/completions", body)
        assert r.status == 400 and r.json()["error"]["param"] == param


def test_bodies_over_the_limit_get_413_and_the_server_keeps_serving(write_config, hybrid, env):
    write_config(hybrid_config(hybrid) + "\n[server]\nmax_body_mb = 0.01\n")
    gw = RunningGateway(env).start()
    try:
        big = {"model": "gpt4o", "messages": [{"role": "user", "content": "x" * 20_000}]}
        r = chat(gw, big)
        assert r.status == 413 and r.json()["error"]["code"] == "request_too_large"
        assert chat(gw, {"model": "gpt4o", "messages": HELLO}).status == 200
    finally:
        gw.stop()


def test_unknown_routes_and_methods_answer_in_openai_shape(gateway):
    r = gateway.request("GET", "/v1/nothing")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    r = gateway.request("GET", "/v1/chat/completions")
    assert r.status == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_routes_also_answer_without_the_v1_prefix(gateway):
    assert gateway.post("/chat/completions", {"model": "gpt4o", "messages": HELLO}).status == 200


def test_legacy_completions_default_to_openais_16_tokens(gateway, hybrid):
    gateway.post("/v1/completions", {"model": "gpt4o", "prompt": "def add(a, b):"})
    assert hybrid.requests[-1]["body"]["max_tokens"] == 16
    gateway.post("/v1/completions", {"model": "gpt4o", "prompt": "def add(a, b):", "max_tokens": 64})
    assert hybrid.requests[-1]["body"]["max_tokens"] == 64


async def test_readiness_waits_for_the_embedded_model_to_load(hybrid, env):
    from routemate.config import load_settings
    from routemate.server.app import Gateway

    gw = Gateway(load_settings(env), warmup=True)
    gw.warming = True
    assert (await gw.readyz(None)).status_code == 503      # type: ignore[arg-type]
    await gw._warm()
    assert not gw.warming and gw.rm.backend("local").inner._engine is not None
    assert (await gw.readyz(None)).status_code == 200      # type: ignore[arg-type]
    await gw.rm.aclose()
    gw.rm.store.close()


# -- privacy through the gateway ----------------------------------------------------------------------
AWS = "AKIAZ3MSJV6HQ7PLRX2D"


def test_a_secret_keeps_chat_and_autocomplete_local_and_out_of_the_log(gateway, hybrid):
    r = chat(gateway, {"model": "frontier", "max_tokens": 4,
                       "messages": [{"role": "user", "content": f"why does aws_access_key_id = {AWS} fail?"}]})
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"
    assert "kept local" in r.headers["x-routemate-reason"] and AWS not in r.headers["x-routemate-reason"]
    r = gateway.post("/v1/completions", {"model": "gpt4o", "prompt": f"aws_access_key_id = '{AWS}'\nclient = ",
                                         "max_tokens": 4})
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"
    assert hybrid.requests == []                            # the secret never left
    rows = gateway.log_rows()
    assert len(rows) == 2 and AWS not in json.dumps(rows) and "[REDACTED" in rows[1]["prompt"]
    assert 'reason="privacy"' in gateway.request("GET", "/metrics").body.decode()


def test_a_secret_with_no_local_model_is_refused_with_403_and_logged_without_the_prompt(write_config, upstream,
                                                                                        env):
    write_config(f'[models.gpt4o]\nbackend = "openai"\nbase_url = "{upstream.url}"\ntier = "frontier"\n')
    gw = RunningGateway(env).start()
    try:
        r = chat(gw, {"model": "auto", "messages": [{"role": "user", "content": f"key {AWS}"}]})
        assert r.status == 403 and r.json()["error"]["code"] == "privacy_refused"
        assert upstream.requests == []
        row = gw.log_rows()[-1]
        assert row["status"] == "error" and row["prompt"] is None and row["meta"]["refused"] == "privacy_refused"
        assert AWS not in json.dumps(row)
    finally:
        gw.stop()
