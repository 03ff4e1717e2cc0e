"""The OpenAI wire format at the gateway's edge: request validation, bodies, errors.

Validation is hand-written on purpose: a pydantic model per request costs more than the whole
rest of the gateway hop. It checks what would otherwise fail later with a confusing message (or a
500), names the offending ``param`` like OpenAI does, and lets unknown fields through untouched.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING, Any

import orjson

from ..chat import CHAT_PARAMS, ChatRequest, Completion, CompletionRequest, Usage
from ..errors import InvalidRequest, RoutemateError

if TYPE_CHECKING:
    from ..keys import Allowance

COMPLETION_PARAMS = ("temperature", "top_p", "max_tokens", "stop", "n", "seed", "presence_penalty",
                     "frequency_penalty", "logit_bias", "logprobs", "echo", "best_of", "user")
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
TOOL_CHOICES = {"none", "auto", "required"}
MAX_N = 16
COMPLETION_DEFAULT_MAX_TOKENS = 16

_ids = itertools.count(1)
_id_prefix = os.urandom(4).hex()


def new_id(kind: str, sep: str = "-") -> str:
    """A unique id: ``chatcmpl-...`` as OpenAI's chat ids; Responses and Anthropic ids use ``_``."""
    return f"{kind}{sep}{_id_prefix}{next(_ids):08x}"


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


class PayloadTooLarge(RoutemateError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class Unauthorized(RoutemateError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class NotFound(RoutemateError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(RoutemateError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


def error_body(exc: RoutemateError) -> bytes:
    return dumps(exc.to_openai())


def header_safe(text: str, limit: int = 400, *, keep_end: bool = False) -> str:
    """HTTP header values are latin-1 without line breaks; reasons contain arrows and ≥.

    A value over ``limit`` is cut at its end, or with ``keep_end`` in its middle: a verdict lists the
    earlier attempts first and ends with the one that answered and what to do about it."""
    text = text.replace("≥", ">=").replace("≤", "<=").replace("→", "->").replace("…", "...")
    text = " ".join(text.split())
    text = text.encode("ascii", "replace").decode("ascii")
    if len(text) <= limit:
        return text
    if not keep_end:
        return text[: limit - 3] + "..."
    head = limit // 4
    return text[:head] + "..." + text[len(text) - (limit - head - 3):]


def ratelimit_headers(allowance: "Allowance", now: float) -> list[tuple[bytes, bytes]]:
    """OpenAI's request rate-limit headers; the reset is a duration counted from ``now``."""
    return [(b"x-ratelimit-limit-requests", str(allowance.limit).encode()),
            (b"x-ratelimit-remaining-requests", str(allowance.remaining).encode()),
            (b"x-ratelimit-reset-requests", duration(allowance.reset_in(now)).encode())]


def duration(seconds: int) -> str:
    """Whole seconds as OpenAI (Go's ``time.Duration``) writes them: ``0s``, ``42s``, ``1m0s``, ``1h0m5s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


# -- request parsing --------------------------------------------------------------------------------
def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object",
                             hint="set content-type: application/json and a body like {\"model\": \"auto\", ...}")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {_kind(body)}")
    return body


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(f"'{param}' must be {expected}, got {_kind(value)}", param=param)


def _number(body: dict[str, Any], name: str, lo: float | None = None, hi: float | None = None) -> None:
    v = body.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(name, "a number", v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InvalidRequest(f"'{name}' must be between {lo} and {hi}, got {v}", param=name)


def _integer(body: dict[str, Any], name: str, lo: int, hi: int | None = None) -> None:
    v = body.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(name, "an integer", v)
    if v < lo or (hi is not None and v > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise InvalidRequest(f"'{name}' must be {bound}, got {v}", param=name)


def _common(body: dict[str, Any]) -> tuple[str, bool, bool]:
    model = body.get("model", "auto")
    if model is None:
        model = "auto"
    if not isinstance(model, str) or not model.strip():
        raise _bad("model", "a model name (auto, local, frontier or a configured model)", model)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("stream_options", "an object", options)
    include_usage = bool(options and options.get("include_usage"))
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _integer(body, "max_tokens", 1)
    _integer(body, "n", 1, MAX_N)
    _integer(body, "seed", -(2 ** 63))
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _bad("stop", "a string or an array of strings", stop)
    if body.get("logit_bias") is not None and not isinstance(body["logit_bias"], dict):
        raise _bad("logit_bias", "an object", body["logit_bias"])
    return model.strip(), bool(stream), include_usage


def parse_chat(body: dict[str, Any]) -> tuple[ChatRequest, bool, bool]:
    """A validated chat request, whether to stream, and whether to end with a usage chunk."""
    model, stream, include_usage = _common(body)
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("'messages' is required", param="messages",
                             hint='send at least one message, e.g. [{"role": "user", "content": "hi"}]')
    if not isinstance(messages, list):
        raise _bad("messages", "an array of messages", messages)
    if not messages:
        raise InvalidRequest("'messages' must not be empty", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad(f"messages[{i}]", "an object", m)
        role = m.get("role")
        if not isinstance(role, str):
            raise _bad(f"messages[{i}].role", "a string", role)
        if role not in ROLES:
            raise InvalidRequest(f"'messages[{i}].role' must be one of {', '.join(sorted(ROLES))}, got {role!r}",
                                 param=f"messages[{i}].role")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise _bad(f"messages[{i}].content", "a string, an array of parts or null", content)
        calls = m.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise _bad(f"messages[{i}].tool_calls", "an array", calls)
    _integer(body, "max_completion_tokens", 1)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad("tools", "an array of tools", tools)
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise InvalidRequest(f"'tools[{i}]' must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}",
                                     param=f"tools[{i}]")
    choice = body.get("tool_choice")
    if choice is not None and not (isinstance(choice, dict) or (isinstance(choice, str) and choice in TOOL_CHOICES)):
        raise InvalidRequest(f"'tool_choice' must be none, auto, required or an object, got {choice!r}",
                             param="tool_choice")
    if body.get("parallel_tool_calls") is not None and not isinstance(body["parallel_tool_calls"], bool):
        raise _bad("parallel_tool_calls", "a boolean", body["parallel_tool_calls"])
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and isinstance(fmt.get("type"), str)):
        raise InvalidRequest("'response_format' must be an object with a 'type' (text, json_object, json_schema)",
                             param="response_format")
    params = {k: body[k] for k in CHAT_PARAMS if body.get(k) is not None}
    return ChatRequest(messages, params, model), stream, include_usage


def parse_feedback(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """Check a ``POST /v1/feedback`` body: ``{"id", "rating": "good"|"bad", "note"?}``."""
    ref = body.get("id")
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise _bad("id", "the chat completion's id (or x-routemate-request-id, or a log id)", ref)
    rating = body.get("rating")
    if rating not in ("good", "bad"):
        raise _bad("rating", '"good" or "bad"', rating)
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise _bad("note", "a string", note)
    unknown = sorted(set(body) - {"id", "rating", "note"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", param=unknown[0], hint="send id, rating and note")
    return ref.strip(), rating, note


def parse_embeddings(body: dict[str, Any]) -> list[str]:
    """Check an embeddings body; returns its text inputs (token-id inputs give none to scan)."""
    model = body.get("model", "auto")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise _bad("model", "a model name (auto, or a model with the embeddings capability)", model)
    if "input" not in body:
        raise InvalidRequest("'input' is required: a string, an array of strings, or arrays of token ids",
                             param="input")
    value = body["input"]
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        texts = value
    elif isinstance(value, list) and value and (all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                                                or all(isinstance(v, list) and v and all(
                                                    isinstance(t, int) and not isinstance(t, bool) for t in v)
                                                    for v in value)):
        texts = []
    else:
        raise _bad("input", "a non-empty string, array of strings, or array of token-id arrays", value)
    if any(not t for t in texts):
        raise InvalidRequest("'input' must not contain empty strings", param="input")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise InvalidRequest(f"'encoding_format' must be float or base64, got {fmt!r}", param="encoding_format")
    _integer(body, "dimensions", 1)
    return texts


def parse_completion(body: dict[str, Any]) -> tuple[CompletionRequest, bool, bool]:
    model, stream, include_usage = _common(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if prompt is None:
        raise InvalidRequest("'prompt' is required", param="prompt")
    if isinstance(prompt, list):
        raise InvalidRequest("'prompt' must be one string; batched or token-id prompts are not supported",
                             param="prompt", hint="send one request per prompt")
    if not isinstance(prompt, str):
        raise _bad("prompt", "a string", prompt)
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise _bad("suffix", "a string", suffix)
    params = {k: body[k] for k in COMPLETION_PARAMS if body.get(k) is not None}
    # OpenAI's documented default for legacy completions; without it a local engine would run to
    # its context limit on every keystroke of an autocomplete client that leaves it out
    params.setdefault("max_tokens", COMPLETION_DEFAULT_MAX_TOKENS)
    return CompletionRequest(prompt, suffix, params, model), stream, include_usage


# -- response bodies --------------------------------------------------------------------------------
def chat_body(completion: Completion, usage: Usage, *, id: str, model: str) -> bytes:
    choices = [{"index": c.index, "message": c.message, "logprobs": None, "finish_reason": c.finish_reason or "stop"}
               for c in completion.choices]
    return dumps({"id": id, "object": "chat.completion", "created": int(time.time()), "model": model,
                  "choices": choices, "usage": usage.to_dict(), "system_fingerprint": None})


def completion_body(completion: Completion, usage: Usage, *, id: str, model: str) -> bytes:
    choices = [{"index": c.index, "text": c.message.get("content") or "", "logprobs": None,
                "finish_reason": c.finish_reason or "stop"} for c in completion.choices]
    return dumps({"id": id, "object": "text_completion", "created": int(time.time()), "model": model,
                  "choices": choices, "usage": usage.to_dict()})
