"""`POST /v1/responses` with the real `openai` SDK against a running gateway (embedded model + fake frontier)."""

from __future__ import annotations

import openai
import pytest

from conftest import hybrid_config
from gateway_fixtures import RunningGateway, close_clients, gateway, opened  # noqa: F401  (fixtures)

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather of a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


pytestmark = pytest.mark.usefixtures("close_clients")


def client(gw, key="unused"):
    return opened(openai.OpenAI(base_url=gw.url, api_key=key, max_retries=0, timeout=60))


def test_responses_create_with_instructions_answers_with_output_text_and_usage(gateway, hybrid):
    raw = client(gateway).responses.with_raw_response.create(model="gpt4o", instructions="Be brief.",
                                                             input="Say hello", max_output_tokens=40)
    response = raw.parse()
    assert raw.headers["x-routemate-model"] == "gpt4o"
    assert response.object == "response" and response.status == "completed" and response.id.startswith("resp")
    assert response.output_text == hybrid.reply and response.output[0].type == "message"
    assert response.usage.output_tokens == len(hybrid.reply.split()) and response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    sent = hybrid.requests[-1]["body"]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    assert sent["max_tokens"] == 40


def test_responses_stream_events_from_the_embedded_model(gateway, hybrid):
    events = list(client(gateway).responses.create(model="local", input="Say hello", max_output_tokens=8,
                                                   stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          kinds[-1]] and kinds[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert text and final.output_text == text and 0 < final.usage.output_tokens <= 8
    assert final.model == "local" and hybrid.requests == []


def test_the_stream_helper_gives_the_final_response(gateway, hybrid):
    with client(gateway).responses.stream(model="gpt4o", input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == hybrid.reply == final.output_text and final.status == "completed"


@pytest.mark.parametrize("stream", [False, True])
def test_a_required_function_call_is_routed_to_tools_and_returned_as_a_function_call(gateway, hybrid, stream):
    hybrid.script.append("tools")
    c = client(gateway)
    kwargs = dict(model="auto", input="Weather in Paris?", tools=TOOLS, tool_choice="required")
    if stream:
        events = list(c.responses.create(stream=True, **kwargs))
        args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        assert args == '{"city": "Paris"}'
        response = events[-1].response
    else:
        response = c.responses.create(**kwargs)
    assert response.model == "gpt4o"
    call = response.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.arguments == '{"city": "Paris"}'
    assert call.call_id == "call_1"
    sent = hybrid.requests[-1]["body"]
    assert sent["tool_choice"] == "required" and sent["tools"][0]["function"]["name"] == "get_weather"


def test_previous_response_id_continues_with_the_function_call_output(gateway, hybrid):
    c = client(gateway)
    hybrid.script.append("tools")
    first = c.responses.create(model="gpt4o", instructions="Use tools.", input="Weather in Paris?", tools=TOOLS)
    call = first.output[-1]
    second = c.responses.create(model="gpt4o", previous_response_id=first.id, tools=TOOLS, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert second.output_text == hybrid.reply and second.previous_response_id == first.id
    assert hybrid.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}]
    # the whole input in items works the same without a stored response
    third = c.responses.create(model="gpt4o", tools=TOOLS, input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"}])
    assert third.output_text == hybrid.reply
    assert hybrid.requests[-1]["body"]["messages"] == hybrid.requests[-2]["body"]["messages"]


def test_an_unstored_or_unknown_previous_response_is_a_clear_400(gateway):
    c = client(gateway)
    unstored = c.responses.create(model="gpt4o", input="hi", store=False)
    for previous in (unstored.id, "resp_nope"):
        with pytest.raises(openai.BadRequestError) as err:
            c.responses.create(model="gpt4o", input="more", previous_response_id=previous)
        assert err.value.code == "previous_response_not_found" and err.value.param == "previous_response_id"


def test_a_stored_response_is_readable_only_with_the_key_that_made_it(write_config, hybrid, env):
    write_config(hybrid_config(hybrid) + '[keys.a]\nkey = "sk-a-0123456789"\n\n[keys.b]\nkey = "sk-b-0123456789"\n')
    gw = RunningGateway(env).start()
    try:
        first = client(gw, "sk-a-0123456789").responses.create(model="gpt4o", input="my plan")
        with pytest.raises(openai.BadRequestError, match="not found"):
            client(gw, "sk-b-0123456789").responses.create(model="gpt4o", input="x", previous_response_id=first.id)
        again = client(gw, "sk-a-0123456789").responses.create(model="gpt4o", input="x", previous_response_id=first.id)
        assert again.status == "completed"
    finally:
        gw.stop()


@pytest.mark.parametrize("body, param", [
    ({"model": "auto"}, "input"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"input": "hi", "tools": [{"type": "function"}]}, "tools[0]"),
    ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
])
def test_bad_requests_get_openai_shaped_errors(gateway, body, param):
    r = gateway.post("/v1/responses", body)
    assert r.status == 400 and r.json()["error"]["param"] == param and r.json()["error"]["type"] == "invalid_request_error"


def test_hosted_tools_are_not_offered_to_routed_models(gateway, hybrid):
    response = client(gateway).responses.create(model="gpt4o", input="hi", tools=[{"type": "web_search"}, *TOOLS])
    assert response.status == "completed"
    assert [t["function"]["name"] for t in hybrid.requests[-1]["body"]["tools"]] == ["get_weather"]


def test_a_stream_cut_after_content_ends_with_response_failed(gateway, hybrid):
    hybrid.script.append("cut")
    events = list(client(gateway).responses.create(model="gpt4o", input="Say hello", stream=True))
    assert events[-1].type == "response.failed" and "stream cut" in events[-1].response.error.message
    assert any(e.type == "response.output_text.delta" for e in events)


def test_a_codex_shaped_request_is_accepted(gateway, hybrid):
    """The fields a Codex-style agent sends beside the basics: reasoning, include, store false, cache key."""
    hybrid.script.append("tools")
    body = {"model": "gpt4o", "instructions": "You are a coding agent.", "stream": True, "store": False,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls please"}]}],
            "tools": [{"type": "function", "name": "shell", "description": "Runs a command", "strict": False,
                       "parameters": {"type": "object", "properties": {"command": {"type": "array",
                                                                                   "items": {"type": "string"}}}}}],
            "tool_choice": "auto", "parallel_tool_calls": False, "reasoning": {"effort": "medium", "summary": "auto"},
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "session-1"}
    r = gateway.post("/v1/responses", body)
    assert r.status == 200
    events = r.events()
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["type"] == "function_call"
    assert events[-1]["response"]["usage"]["total_tokens"] > 0
    sent = hybrid.requests[-1]["body"]
    assert sent["messages"] == [{"role": "system", "content": "You are a coding agent."},
                                {"role": "user", "content": "ls please"}]
    assert sent["parallel_tool_calls"] is False and sent["tools"][0]["function"]["strict"] is False
