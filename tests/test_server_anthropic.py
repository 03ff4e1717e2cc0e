"""`POST /v1/messages` with the real `anthropic` SDK against a running gateway (embedded model + fake frontier)."""

from __future__ import annotations

import anthropic
import pytest

from gateway_fixtures import close_clients, gateway, opened  # noqa: F401  (fixtures)

TOOLS = [{"name": "get_weather", "description": "Weather of a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


pytestmark = pytest.mark.usefixtures("close_clients")


def client(gw, key="unused"):
    return opened(anthropic.Anthropic(base_url=gw.url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=60))


def test_messages_create_answers_with_text_usage_and_the_routing_headers(gateway, hybrid):
    raw = client(gateway).messages.with_raw_response.create(
        model="gpt4o", max_tokens=50, system="Be brief.", stop_sequences=["\n\n"], extra_body={"temperature": 0.2},
        messages=[{"role": "user", "content": "Say hello"}])
    message = raw.parse()
    assert raw.headers["x-routemate-model"] == "gpt4o" and float(raw.headers["x-routemate-cost-usd"]) > 0
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg")
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == hybrid.reply
    assert message.stop_reason == "end_turn" and message.model == "gpt4o"
    assert message.usage.output_tokens == len(hybrid.reply.split()) and message.usage.input_tokens > 0
    sent = hybrid.requests[-1]["body"]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    assert sent["stop"] == ["\n\n"] and sent["max_tokens"] == 50 and sent["temperature"] == 0.2


def test_messages_stream_from_the_embedded_model(gateway, hybrid):
    with client(gateway).messages.stream(model="local", max_tokens=8,
                                         messages=[{"role": "user", "content": "Say hello"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.stop_reason in ("end_turn", "max_tokens") and 0 < final.usage.output_tokens <= 8
    assert final.usage.input_tokens > 0 and final.model == "local"
    assert hybrid.requests == []


def test_the_event_stream_has_anthropics_event_names_in_order(gateway):
    r = gateway.post("/v1/messages", {"model": "gpt4o", "max_tokens": 20, "stream": True,
                                      "messages": [{"role": "user", "content": "Say hello"}]})
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in r.body.decode().splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    delta = [e for e in r.events() if e["type"] == "message_delta"][0]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_required_tool_goes_to_a_model_with_tools_and_comes_back_as_tool_use(gateway, hybrid, stream):
    hybrid.script.append("tools")
    kwargs = dict(model="auto", max_tokens=100, tools=TOOLS, tool_choice={"type": "any"},
                  messages=[{"role": "user", "content": "Weather in Paris?"}])
    c = client(gateway)
    if stream:
        with c.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = c.messages.create(**kwargs)
    assert message.model == "gpt4o" and message.stop_reason == "tool_use"
    block = message.content[-1]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Paris"}
    sent = hybrid.requests[-1]["body"]
    assert sent["tool_choice"] == "required"
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                                "parameters": TOOLS[0]["input_schema"]}}]


def test_tool_use_and_tool_result_turns_reach_the_model_as_tool_calls(gateway, hybrid):
    message = client(gateway).messages.create(model="gpt4o", max_tokens=50, tools=TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21 C"},
                                     {"type": "text", "text": "Summarise."}]}])
    assert message.content[0].text == hybrid.reply
    assert hybrid.requests[-1]["body"]["messages"][1:] == [
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny, 21 C"},
        {"role": "user", "content": "Summarise."}]


def test_errors_have_anthropics_shape_and_sdk_classes(gateway, write_config, env):
    c = client(gateway)
    with pytest.raises(anthropic.BadRequestError) as err:
        c.messages.create(model="auto", max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in err.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError, match="unknown model 'claude-sonnet-4-5'"):
        c.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    r = gateway.post("/v1/messages", {"model": "auto", "max_tokens": 5,
                                      "messages": [{"role": "user", "content": [{"type": "document"}]}]})
    assert r.status == 400 and r.json()["error"]["message"].startswith("messages.0.content.0.type")


def test_a_wrong_key_is_an_authentication_error(write_config, hybrid, env, monkeypatch):
    from gateway_fixtures import RunningGateway

    monkeypatch.setenv("ROUTEMATE_API_KEYS", "sk-right-0123456789")
    env["ROUTEMATE_API_KEYS"] = "sk-right-0123456789"
    gw = RunningGateway(env).start()
    try:
        with pytest.raises(anthropic.AuthenticationError) as err:
            client(gw, "sk-wrong").messages.create(model="gpt4o", max_tokens=5,
                                                   messages=[{"role": "user", "content": "hi"}])
        assert err.value.body["error"]["type"] == "authentication_error"
        ok = client(gw, "sk-right-0123456789").messages.create(model="gpt4o", max_tokens=5,
                                                              messages=[{"role": "user", "content": "hi"}])
        assert ok.content[0].text == hybrid.reply
    finally:
        gw.stop()


def test_server_tools_are_not_offered_to_routed_models(gateway, hybrid):
    message = client(gateway).messages.create(
        model="gpt4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}])
    assert message.content[0].text == hybrid.reply and "tools" not in hybrid.requests[-1]["body"]


def test_count_tokens_estimates_the_input(gateway):
    with client(gateway) as c:
        count = c.messages.count_tokens(model="auto", system="Be brief.", tools=TOOLS,
                                        messages=[{"role": "user", "content": "Say hello " * 50}])
    assert 100 < count.input_tokens < 400


def test_a_stream_cut_after_content_ends_with_an_in_band_error_event(gateway, hybrid):
    hybrid.script.append("cut")
    with pytest.raises(anthropic.APIStatusError, match="stream cut"):
        with client(gateway).messages.stream(model="gpt4o", max_tokens=50,
                                             messages=[{"role": "user", "content": "Say hello"}]) as s:
            for _ in s:
                pass


def test_a_claude_code_shaped_request_is_accepted(gateway, hybrid):
    """The fields a Claude Code-style agent sends beside the basics: cache_control, betas, thinking, metadata."""
    body = {"model": "gpt4o", "max_tokens": 32000, "stream": True, "temperature": 1,
            "system": [{"type": "text", "text": "You are an agent.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "List the files.", "cache_control": {"type": "ephemeral"}}]}],
            "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {
                "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
            "metadata": {"user_id": "user_abc_session_1"}, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    r = gateway.post("/v1/messages", body, headers={"anthropic-version": "2023-06-01",
                                                    "anthropic-beta": "claude-code-20250219,interleaved-thinking"})
    assert r.status == 200 and r.events()[-1]["type"] == "message_stop"
    sent = hybrid.requests[-1]["body"]
    assert sent["messages"][0] == {"role": "system", "content": "You are an agent."}
    assert sent["messages"][1] == {"role": "user", "content": "<system-reminder>ctx</system-reminder>\nList the files."}
    assert sent["tools"][0]["function"]["name"] == "Bash" and sent["user"] == "user_abc_session_1"
