"""``POST /v1/messages``: the Anthropic Messages API (Claude Code-style agents) over any routed model.

The request becomes an OpenAI-shaped chat (system, turns, ``tool_use``/``tool_result`` blocks as
tool calls and tool messages, ``tools``/``tool_choice``, ``max_tokens``, ``stop_sequences``), is
routed like any chat, and the answer is rendered back: a ``message`` object, or the event stream
``message_start``, ``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``.
Errors have Anthropic's shape (``{"type": "error", "error": {"type", "message"}}``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..chat import ChatRequest, Chunk, estimate_prompt_tokens
from ..errors import InvalidRequest, RoutemateError
from ..service import Answer as Result
from .answer import Exchange, Receive, Send, send_error
from .relay import Relay, accept, sse
from .wire import _number, dumps, new_id

if TYPE_CHECKING:
    from ..keys import Allowance
    from .app import Gateway

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 415: "invalid_request_error", 429: "rate_limit_error",
               503: "overloaded_error"}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}


def error_body(exc: RoutemateError) -> bytes:
    return dumps({"type": "error", "error": {"type": ERROR_TYPES.get(exc.status, "api_error"), "message": str(exc)}})


def ratelimit_headers(allowance: "Allowance", now: float) -> list[tuple[bytes, bytes]]:
    """Anthropic's request rate-limit headers; the reset is a time (RFC 3339, UTC), whenever it is sent."""
    reset = datetime.fromtimestamp(allowance.resets_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [(b"anthropic-ratelimit-requests-limit", str(allowance.limit).encode()),
            (b"anthropic-ratelimit-requests-remaining", str(allowance.remaining).encode()),
            (b"anthropic-ratelimit-requests-reset", reset.encode())]


# -- request ---------------------------------------------------------------------------------------------
def _bad(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {expected}", param=param)


def _text(blocks: Any, param: str) -> str:
    """The text of a string or a list of text blocks (system prompts, tool results)."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise _bad(param, "must be a string or an array of content blocks")
    parts = []
    for i, b in enumerate(blocks):
        if not isinstance(b, dict) or "type" not in b:
            raise _bad(f"{param}.{i}", "must be a content block object with a type")
        if b["type"] == "text":
            parts.append(str(b.get("text", "")))
        elif b["type"] != "image":       # an image inside a tool result has no chat equivalent: left out
            raise _bad(f"{param}.{i}.type", f"{b['type']!r} is not supported here (text or image)")
    return "\n".join(parts)


def _image(block: dict[str, Any], param: str) -> dict[str, Any]:
    src = block.get("source") or {}
    if src.get("type") == "base64":
        return {"type": "image_url", "image_url": {"url": f"data:{src.get('media_type')};base64,{src.get('data')}"}}
    if src.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": src.get("url")}}
    raise _bad(f"{param}.source", "must be a base64 or url image source")


def _turn(i: int, m: Any) -> list[dict[str, Any]]:
    """One Messages turn as one or more chat messages (tool results become ``tool`` messages)."""
    param = f"messages.{i}"
    if not isinstance(m, dict):
        raise _bad(param, "must be an object with role and content")
    role, content = m.get("role"), m.get("content")
    if role not in ("user", "assistant"):
        raise _bad(f"{param}.role", f"must be 'user' or 'assistant', got {role!r}")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _bad(f"{param}.content", "must be a string or an array of content blocks")
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, b in enumerate(content):
        where = f"{param}.content.{j}"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(b.get("text", ""))})
        elif kind == "image" and role == "user":
            parts.append(_image(b, where))
        elif kind == "tool_use" and role == "assistant":
            if not isinstance(b.get("id"), str) or not isinstance(b.get("name"), str):
                raise _bad(where, "a tool_use block needs a string id and name")
            calls.append({"id": b["id"], "type": "function",
                          "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})}})
        elif kind == "tool_result" and role == "user":
            if not isinstance(b.get("tool_use_id"), str):
                raise _bad(where, "a tool_result block needs the tool_use_id it answers")
            text = _text(b.get("content") or "", f"{where}.content")
            out.append({"role": "tool", "tool_call_id": b["tool_use_id"],
                        "content": f"Error: {text}" if b.get("is_error") else text})
        elif kind in ("thinking", "redacted_thinking"):
            continue                   # a model's own reasoning: nothing the next model can use
        else:
            raise _bad(f"{where}.type", f"{kind!r} is not supported in a {role} turn")
    if calls:
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        out.append({"role": "assistant", "content": text or None, "tool_calls": calls})
    elif parts:
        simple = all(p["type"] == "text" for p in parts)
        out.append({"role": role, "content": "\n".join(p["text"] for p in parts) if simple else parts})
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise _bad("tools", "must be an array")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise _bad(f"tools.{i}", "must be an object with a name and an input_schema")
        if t.get("type") not in (None, "custom"):
            continue       # a server tool (web search, ...) runs at Anthropic: not offered to routed models
        fn = {"name": t["name"], "parameters": t.get("input_schema") or {"type": "object"}}
        if t.get("description"):
            fn["description"] = t["description"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> tuple[Any, bool | None]:
    if not isinstance(choice, dict):
        raise _bad("tool_choice", "must be an object like {\"type\": \"auto\"}")
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    raise _bad("tool_choice.type", "must be auto, any, tool (with a name) or none")


def parse_messages(body: dict[str, Any]) -> tuple[ChatRequest, bool]:
    """A Messages request as a routed chat request, and whether to stream."""
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model.strip():
        raise _bad("model", "must be a model name (auto, local, frontier or a configured model)")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _bad("max_tokens", "is required: a positive integer")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("messages", "must be a non-empty array of turns")
    messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        system = _text(body["system"], "system")
        if system:
            messages.append({"role": "system", "content": system})
    for i, m in enumerate(raw):
        messages += _turn(i, m)
    params: dict[str, Any] = {"max_tokens": max_tokens}
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _bad("stop_sequences", "must be an array of strings")
        if stop:
            params["stop"] = stop
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    params.update({k: body[k] for k in ("temperature", "top_p") if body.get(k) is not None})
    tools = _tools(body["tools"]) if body.get("tools") else []
    if tools:
        params["tools"] = tools
        if body.get("tool_choice") is not None:
            params["tool_choice"], parallel = _tool_choice(body["tool_choice"])
            if parallel is not None:
                params["parallel_tool_calls"] = parallel
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    if isinstance(user, str):
        params["user"] = user
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "must be a boolean")
    return ChatRequest(messages, params, model.strip()), stream


def count_tokens(body: dict[str, Any]) -> int:
    """An estimate of the input tokens of a Messages request (``/v1/messages/count_tokens``)."""
    request, _ = parse_messages({**body, "max_tokens": 1})
    extra = len(json.dumps(request.params.get("tools") or [])) // 4
    return estimate_prompt_tokens(request.messages) + extra


# -- response --------------------------------------------------------------------------------------------
def _input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


class MessagesEncoder:
    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self.id = new_id("msg", "_")
        self.block = -1                  # index of the open content block (-1: none yet)
        self.open: str | None = None     # "text" or "tool:<index>"
        self.finish: str | None = None

    def error(self, exc: RoutemateError) -> bytes:
        return error_body(exc)

    def _usage(self, result: Result) -> dict[str, int]:
        return {"input_tokens": result.usage.prompt_tokens, "output_tokens": result.usage.completion_tokens}

    def whole(self, result: Result) -> bytes:
        choice = result.completion.choices[0]
        message = choice.message
        content: list[dict[str, Any]] = []
        if message.get("content"):
            content.append({"type": "text", "text": message["content"]})
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu", "_"),
                            "name": fn.get("name", ""), "input": _input(fn.get("arguments") or "")})
        return dumps({"id": self.id, "type": "message", "role": "assistant", "model": result.model,
                      "content": content, "stop_reason": self._stop(choice.finish_reason, content),
                      "stop_sequence": None, "usage": self._usage(result)})

    @staticmethod
    def _stop(finish: str | None, content: list[Any] | None = None) -> str:
        if content and any(c.get("type") == "tool_use" for c in content):
            return "tool_use"
        return STOP_REASONS.get(finish or "stop", "end_turn")

    def opening(self, model: str) -> bytes:
        message = {"id": self.id, "type": "message", "role": "assistant", "model": model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": estimate_prompt_tokens(self.request.messages), "output_tokens": 0}}
        return sse("message_start", {"type": "message_start", "message": message}) + \
            sse("ping", {"type": "ping"})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": self.block})

    def _start(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.block += 1
        self.open = kind
        return out + sse("content_block_start", {"type": "content_block_start", "index": self.block,
                                                 "content_block": block})

    def chunk(self, chunk: Chunk) -> bytes:
        out = b""
        if chunk.content:
            if self.open != "text":
                out += self._start("text", {"type": "text", "text": ""})
            out += sse("content_block_delta", {"type": "content_block_delta", "index": self.block,
                                               "delta": {"type": "text_delta", "text": chunk.content}})
        for call in chunk.tool_calls or ():
            key = f"tool:{call.get('index', 0)}"
            fn = call.get("function") or {}
            if self.open != key:
                out += self._start(key, {"type": "tool_use", "id": call.get("id") or new_id("toolu", "_"),
                                         "name": fn.get("name") or "", "input": {}})
            if fn.get("arguments"):
                out += sse("content_block_delta", {"type": "content_block_delta", "index": self.block,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": fn["arguments"]}})
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        return out

    def closing(self, result: Result) -> bytes:
        tools = any(c.message.get("tool_calls") for c in result.completion.choices)
        stop = "tool_use" if tools else STOP_REASONS.get(self.finish or "stop", "end_turn")
        return self._close() + sse("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": self._usage(result)}) + sse("message_stop", {"type": "message_stop"})

    def failed(self, exc: RoutemateError) -> bytes:
        return sse("error", {"type": "error", "error": {"type": ERROR_TYPES.get(exc.status, "api_error"),
                                                        "message": str(exc)}})


# -- routes ----------------------------------------------------------------------------------------------
async def messages(gw: "Gateway", scope: dict[str, Any], receive: Receive, send: Send) -> None:
    request: ChatRequest | None = None
    stream = False

    async def parse(body: dict[str, Any]) -> ChatRequest:
        nonlocal request, stream
        request, stream = parse_messages(body)
        return request

    accepted = await accept(gw, "messages", scope, receive, send, parse, error_body, ratelimit_headers)
    if accepted is not None:
        assert request is not None
        _, run, send = accepted
        await Relay(Exchange(gw, "messages"), run, MessagesEncoder(request), stream=stream)(scope, receive, send)


async def messages_count_tokens(gw: "Gateway", scope: dict[str, Any], receive: Receive, send: Send) -> None:
    from .app import _body, _headers

    headers = _headers(scope)
    try:
        gw.check_key(headers)
        payload = dumps({"input_tokens": count_tokens(await gw.body(headers, _body(receive)))})
    except RoutemateError as exc:
        gw.metrics.responses.inc(("count_tokens", str(exc.status)))
        return await send_error(send, exc, error_body(exc))
    gw.metrics.responses.inc(("count_tokens", "200"))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
