"""``POST /v1/responses``: the OpenAI Responses API (Codex-style agents) over any routed model.

``input`` (a string or items: messages, ``function_call``, ``function_call_output``), ``instructions``,
function ``tools`` and ``tool_choice`` become a chat request, routed like any other; the answer comes
back as a ``response`` object, or streamed as ``response.created``, ``response.output_item.added``,
``response.output_text.delta``, ``response.function_call_arguments.delta``, ... ``response.completed``.

``previous_response_id`` is served from the request log's store: a stored response keeps its
conversation (not its instructions, as OpenAI does), readable only with the key that made it. Not
stored: ``store: false``, a log that keeps prompt hashes only, and a conversation holding a secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ..chat import ChatRequest, Chunk
from ..errors import InvalidRequest, RoutemateError, StoreUnavailable
from ..keys import caller_name
from ..service import Answer as Result
from .answer import Exchange, Receive, Send
from .relay import Relay, accept, sse
from .wire import _integer, _number, dumps, new_id

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("routemate.server")

ECHOED = ("instructions", "max_output_tokens", "parallel_tool_calls", "previous_response_id", "temperature",
          "tool_choice", "tools", "top_p", "metadata", "store", "user")


class PreviousResponseNotFound(InvalidRequest):
    code = "previous_response_not_found"
    param = "previous_response_id"


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' {message}", param=param)


def _content(value: Any, param: str) -> str | list[dict[str, Any]]:
    """Message content: a string, or input_text/output_text/input_image parts."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _bad(param, "must be a string or an array of content parts")
    parts: list[dict[str, Any]] = []
    for i, p in enumerate(value):
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("input_text", "output_text", "text", "summary_text", "refusal"):
            parts.append({"type": "text", "text": str(p.get("text") or p.get("refusal") or "")})
        elif kind == "input_image" and isinstance(p.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": p["image_url"]}})
        else:
            raise _bad(f"{param}[{i}]", f"has unsupported content type {kind!r} (input_text, output_text, "
                                        "input_image with image_url)")
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _output_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return json.dumps(value)


def input_messages(value: Any) -> list[dict[str, Any]]:
    """``input`` as chat messages: tool calls join the assistant turn before them."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise _bad("input", "must be a string or an array of input items")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(param, "must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _bad(f"{param}.role", f"must be user, assistant, system or developer, got {role!r}")
            out.append({"role": role, "content": _content(item.get("content"), f"{param}.content")})
        elif kind == "function_call":
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
                raise _bad(param, "needs a call_id and a name")
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": str(item.get("arguments") or "")}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and isinstance(last.get("content"), (str, type(None))):
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise _bad(param, "needs the call_id it answers")
            out.append({"role": "tool", "tool_call_id": item["call_id"], "content": _output_text(item.get("output"))})
        elif kind == "reasoning":
            continue                   # another model's reasoning: nothing this one can use
        else:
            raise _bad(f"{param}.type", f"{kind!r} is not supported (message, function_call, function_call_output)")
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise _bad("tools", "must be an array")
    out = []
    for i, t in enumerate(tools):
        if isinstance(t, dict) and t.get("type") not in ("function", None):
            continue       # a hosted tool (web_search, file_search, ...) runs at OpenAI: not offered to routed models
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise _bad(f"tools[{i}]", "must be a function tool: {\"type\": \"function\", \"name\": ...}")
        fn = {k: t[k] for k in ("name", "description", "parameters", "strict") if t.get(k) is not None}
        fn.setdefault("parameters", {"type": "object", "properties": {}})
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("tool_choice", "must be auto, none, required or {\"type\": \"function\", \"name\": ...}")


def parse_responses(body: dict[str, Any]) -> tuple[ChatRequest, bool]:
    """The chat request a Responses body amounts to (without a previous response), and whether to stream."""
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model.strip():
        raise _bad("model", "must be a model name (auto, local, frontier or a configured model)")
    if body.get("input") is None:
        raise _bad("input", "is required: a string or an array of input items")
    messages = input_messages(body["input"])
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _bad("instructions", "must be a string")
        messages.insert(0, {"role": "system", "content": instructions})
    _integer(body, "max_output_tokens", 1)
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    params: dict[str, Any] = {k: body[k] for k in ("temperature", "top_p") if body.get(k) is not None}
    if body.get("max_output_tokens") is not None:
        params["max_tokens"] = body["max_output_tokens"]
    tools = _tools(body["tools"]) if body.get("tools") else []
    if tools:
        params["tools"] = tools
        if body.get("tool_choice") is not None:
            params["tool_choice"] = _tool_choice(body["tool_choice"])
    if isinstance(body.get("parallel_tool_calls"), bool) and params.get("tools"):
        params["parallel_tool_calls"] = body["parallel_tool_calls"]
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        params["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        params["response_format"] = {"type": "json_schema", "json_schema": {
            k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}}
    if isinstance(body.get("user"), str):
        params["user"] = body["user"]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "must be a boolean")
    return ChatRequest(messages, params, model.strip()), stream


def error_body(exc: RoutemateError) -> bytes:
    return dumps(exc.to_openai())


class ResponsesEncoder:
    """Renders one answer as a Responses ``response`` (whole, or as its event stream)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.id = new_id("resp", "_")
        self.created = int(time.time())
        self.seq = 0
        self.items: list[dict[str, Any]] = []       # output items, in output_index order
        self.open: int | None = None                # output_index of the item being streamed
        self.calls: dict[int, int] = {}             # tool-call index -> output_index
        self.finish: str | None = None
        self.model = ""

    # -- the response object ---------------------------------------------------------------------------
    def response(self, status: str, result: Result | None = None, error: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "object": "response", "created_at": self.created, "status": status,
                               "error": error, "incomplete_details": None, "model": self.model,
                               "output": self.items if status != "in_progress" else [],
                               "text": {"format": {"type": "text"}}, "truncation": "disabled",
                               "reasoning": {"effort": None, "summary": None}, "usage": None}
        for k in ECHOED:
            out[k] = self.body.get(k)
        out["tools"] = self.body.get("tools") or []
        out["tool_choice"] = self.body.get("tool_choice") or "auto"
        out["metadata"] = self.body.get("metadata") or {}
        out["store"] = self.body.get("store", True)
        out["parallel_tool_calls"] = self.body.get("parallel_tool_calls", True)
        if status == "incomplete":
            out["incomplete_details"] = {"reason": "max_output_tokens"}
        if result is not None:
            u = result.usage
            out["usage"] = {"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens": u.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                            "total_tokens": u.total_tokens}
        return out

    def _status(self, finish: str | None) -> str:
        return "incomplete" if finish == "length" else "completed"

    def error(self, exc: RoutemateError) -> bytes:
        return error_body(exc)

    def whole(self, result: Result) -> bytes:
        self.model = result.model
        choice = result.completion.choices[0]
        message = choice.message
        if message.get("content") or not message.get("tool_calls"):
            self.items.append(self._message(message.get("content") or "", "completed"))
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            self.items.append(self._call(call.get("id"), fn.get("name") or "", fn.get("arguments") or "", "completed"))
        return dumps(self.response(self._status(choice.finish_reason), result))

    @staticmethod
    def _message(text: str, status: str) -> dict[str, Any]:
        return {"id": new_id("msg", "_"), "type": "message", "status": status, "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}

    @staticmethod
    def _call(call_id: str | None, name: str, arguments: str, status: str) -> dict[str, Any]:
        return {"id": new_id("fc", "_"), "type": "function_call", "status": status,
                "call_id": call_id or new_id("call", "_"), "name": name, "arguments": arguments}

    # -- the stream ------------------------------------------------------------------------------------
    def _event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return sse(kind, payload)

    def opening(self, model: str) -> bytes:
        self.model = model
        start = self.response("in_progress")
        return self._event("response.created", response=start) + self._event("response.in_progress", response=start)

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        index, self.open = self.open, None
        item = self.items[index]
        item["status"] = "completed"
        if item["type"] == "message":
            part = item["content"][0]
            out = self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                              text=part["text"], logprobs=[])
            out += self._event("response.content_part.done", item_id=item["id"], output_index=index,
                               content_index=0, part=part)
        else:
            out = self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                              name=item["name"], arguments=item["arguments"])
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _add(self, item: dict[str, Any]) -> bytes:
        out = self._close()
        self.items.append(item)
        self.open = len(self.items) - 1
        shown = {**item, "content": []} if item["type"] == "message" else {**item, "arguments": ""}
        return out + self._event("response.output_item.added", output_index=self.open, item=shown)

    def chunk(self, chunk: Chunk) -> bytes:
        out = b""
        if chunk.content:
            if self.open is None or self.items[self.open]["type"] != "message":
                item = self._message("", "in_progress")
                out += self._add(item)
                out += self._event("response.content_part.added", item_id=item["id"], output_index=self.open,
                                   content_index=0, part={"type": "output_text", "text": "", "annotations": []})
            item = self.items[self.open]   # type: ignore[index]
            item["content"][0]["text"] += chunk.content
            out += self._event("response.output_text.delta", item_id=item["id"], output_index=self.open,
                               content_index=0, delta=chunk.content, logprobs=[])
        for call in chunk.tool_calls or ():
            index = call.get("index", 0)
            fn = call.get("function") or {}
            if index not in self.calls:
                out += self._add(self._call(call.get("id"), fn.get("name") or "", "", "in_progress"))
                self.calls[index] = self.open     # type: ignore[assignment]
            item = self.items[self.calls[index]]
            if fn.get("arguments"):
                item["arguments"] += fn["arguments"]
                out += self._event("response.function_call_arguments.delta", item_id=item["id"],
                                   output_index=self.calls[index], delta=fn["arguments"])
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        return out

    def closing(self, result: Result) -> bytes:
        status = self._status(self.finish or result.completion.choices[0].finish_reason)
        out = self._close()
        return out + self._event(f"response.{status}", response=self.response(status, result))

    def failed(self, exc: RoutemateError) -> bytes:
        out = self._close()
        error = {"code": exc.code or "server_error", "message": str(exc)}
        return out + self._event("response.failed", response=self.response("failed", error=error))

    def conversation(self, request: ChatRequest) -> list[dict[str, Any]]:
        """What a later ``previous_response_id`` continues: the input turns (not the instructions) and
        this answer, as chat messages."""
        turns = [m for i, m in enumerate(request.messages)
                 if not (i == 0 and m.get("role") == "system" and self.body.get("instructions") is not None)]
        answer: dict[str, Any] | None = None
        for item in self.items:
            if item["type"] == "message":
                answer = {"role": "assistant", "content": item["content"][0]["text"]}
                turns.append(answer)
                continue
            if answer is None:
                answer = {"role": "assistant", "content": None}
                turns.append(answer)
            answer.setdefault("tool_calls", []).append(
                {"id": item["call_id"], "type": "function",
                 "function": {"name": item["name"], "arguments": item["arguments"]}})
        return turns


# -- route -----------------------------------------------------------------------------------------------
async def responses(gw: "Gateway", scope: dict[str, Any], receive: Receive, send: Send) -> None:
    stream = False

    async def parse(body: dict[str, Any]) -> ChatRequest:
        nonlocal stream
        request, stream = parse_responses(body)
        previous = body.get("previous_response_id")
        if previous is not None:
            request = await _continued(gw, request, previous, body.get("instructions") is not None)
        return request

    accepted = await accept(gw, "responses", scope, receive, send, parse, error_body)
    if accepted is None:
        return
    body, run, send = accepted
    encoder = ResponsesEncoder(body)

    async def store(run: Any) -> None:
        """Keep the conversation for a later previous_response_id, unless it must not be kept."""
        settings = gw.settings
        if body.get("store") is False or settings.log.prompts != "text" or run.policy.private_reason:
            return
        conversation = encoder.conversation(run.request)
        try:
            await asyncio.to_thread(gw._raw_store().save_response, encoder.id, caller_name(), conversation)
        except Exception:     # the answer matters more than a later continuation of it
            log.warning("could not store response %s for previous_response_id", encoder.id, exc_info=True)

    await Relay(Exchange(gw, "responses"), run, encoder, stream=stream, done=store)(scope, receive, send)


async def _continued(gw: "Gateway", request: ChatRequest, previous: Any, instructed: bool) -> ChatRequest:
    if not isinstance(previous, str) or not previous:
        raise _bad("previous_response_id", "must be a response id")
    try:
        before = await asyncio.to_thread(gw._raw_store().load_response, previous, caller_name())
    except Exception as exc:
        raise StoreUnavailable(f"cannot read previous response {previous!r}: the request log is unreachable "
                               f"({type(exc).__name__})", hint="retry, or send the whole input") from None
    if before is None:
        raise PreviousResponseNotFound(
            f"previous response {previous!r} not found",
            hint="responses are kept only when stored (store not false), with [log] prompts = \"text\", without a "
                 "secret in the conversation, and for the key that made them; otherwise send the whole input")
    head = request.messages[:1] if instructed else []
    messages = head + before + request.messages[len(head):]
    return ChatRequest(messages, request.params, request.model)
