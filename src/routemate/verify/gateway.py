"""Verify-then-escalate behind ``POST /v1/chat/completions``.

A verified answer is only sent once it has been checked (or once the stronger model's answer has),
so the client sees one answer, streamed or not, exactly as OpenAI would send it, plus headers:

- ``x-routemate-verify``: ``pass`` / ``fail`` / ``unchecked``, then the summary line;
- ``x-routemate-attempts``: the models tried, in order (``llama,gpt4o``).

Opting out or in, per request: the header ``x-routemate-verify: off`` (or ``on``), or the body
extension ``"routemate": {"verify": false}``. The user's tests travel in the body extension too:
``"routemate": {"tests": "<python source>"}`` (``extra_body`` in the openai SDK). By default a
request is verified when ``[verify] enabled``, it asks for code, it wants one choice and no tools,
and a failing answer could go to a stronger model; otherwise the normal path streams at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..chat import ChatRequest, Chunk, Usage
from ..errors import InvalidRequest, RoutemateError
from ..sse import DONE, chunk_event
from .cascade import Cascade, Verified, is_code_request

MAX_TESTS = 256 * 1024
OFF = {"off", "false", "0", "no"}
ON = {"on", "true", "1", "yes"}


@dataclass(frozen=True)
class Plan:
    tests: str | None


def plan(rm: Any, request: ChatRequest, body: Mapping[str, Any], headers: Mapping[str, str]) -> Plan | None:
    """Whether (and with which user tests) this chat request is verified; InvalidRequest on a bad
    extension field."""
    ext = body.get("routemate")
    if ext is not None and not isinstance(ext, dict):
        raise InvalidRequest("'routemate' must be an object, e.g. {\"verify\": false}", param="routemate")
    ext = ext or {}
    flag: bool | None = None
    if "verify" in ext:
        if not isinstance(ext["verify"], bool):
            raise InvalidRequest("'routemate.verify' must be a boolean", param="routemate.verify")
        flag = ext["verify"]
    header = (headers.get("x-routemate-verify") or "").strip().lower()
    if header in OFF:
        flag = False
    elif header in ON:
        flag = True
    elif header:
        raise InvalidRequest(f"x-routemate-verify must be on or off, got {header!r}", param="x-routemate-verify")
    tests = ext.get("tests")
    if tests is not None:
        if not isinstance(tests, str) or not tests.strip():
            raise InvalidRequest("'routemate.tests' must be Python source (test_* functions or asserts)",
                                 param="routemate.tests")
        if len(tests) > MAX_TESTS:
            raise InvalidRequest(f"'routemate.tests' is over {MAX_TESTS // 1024} KB", param="routemate.tests")
        try:
            compile(tests, "tests", "exec")
        except SyntaxError as exc:
            raise InvalidRequest(f"'routemate.tests' is not valid Python (line {exc.lineno}: {exc.msg})",
                                 param="routemate.tests") from None
        if flag is False:
            raise InvalidRequest("'routemate.tests' needs verification", param="routemate.tests",
                                 hint="drop routemate.verify = false / x-routemate-verify: off")
    if flag is False:
        return None
    if request.params.get("tools") or (request.params.get("n") or 1) > 1:
        if flag or tests:
            raise InvalidRequest("verification works on one plain answer: drop n or tools, or verify off",
                                 param="routemate.verify")
        return None
    if flag or tests:
        return Plan(tests)
    if not (rm.settings.verify.enabled and is_code_request(request)):
        return None
    return Plan(None) if Cascade(rm).can_escalate(request) else None


class VerifiedAnswer:
    """An ASGI response: run the cascade, then send its final answer as JSON or as an SSE stream."""

    def __init__(self, ex: Any, request: ChatRequest, plan: Plan, *, stream: bool, include_usage: bool) -> None:
        from ..server.wire import new_id

        self.ex, self.request, self.plan = ex, request, plan
        self.stream, self.include_usage = stream, include_usage
        self.id = new_id("chatcmpl")     # the body's id and x-routemate-request-id: feedback names the answer by it

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from ..server.answer import send_error, until_disconnect

        gw = self.ex.gw
        gw.metrics.in_flight.inc()
        cascade = Cascade(gw.rm, tests=self.plan.tests)
        last = "ok"
        try:
            result = await until_disconnect(receive, cascade.ask(self.request, entry="http"))
        except asyncio.CancelledError:
            self.ex.code, last = 499, "cancelled"
            raise
        except RoutemateError as exc:
            self.ex.code, last = exc.status, "error"
            await send_error(send, exc)
            return
        except Exception as exc:
            from ..server.answer import _unexpected

            error = _unexpected(exc)
            self.ex.code, last = error.status, "error"
            await send_error(send, error)
            return
        finally:
            gw.metrics.in_flight.inc(value=-1)
            for i, run in enumerate(cascade.runs):
                self.ex.outcomes.append((run, last if i == len(cascade.runs) - 1 else "ok"))
                if run.answer is not None and run.answer.log_id is not None:
                    try:
                        cascade.store.update(run.answer.log_id, response_id=self.id)
                    except Exception:   # the answer matters more than its log row
                        pass
            self.ex.record()
        await (self._stream(send, result) if self.stream else self._json(send, result))

    def _headers(self, result: Verified, content_type: bytes) -> list[tuple[bytes, bytes]]:
        from ..privacy import redact
        from ..server.wire import header_safe

        d = result.answer.decision
        v = result.verdict
        state = "unchecked" if v is None else ("pass" if v.ok else "fail")
        note = redact(self.ex.gw.settings, _ascii_note(result.note()))   # check labels can quote code output
        return [(b"content-type", content_type), (b"x-routemate-model", header_safe(d.model).encode()),
                (b"x-routemate-reason", header_safe(d.reason).encode()),
                (b"x-routemate-cost-usd", f"{result.cost_usd:.8f}".encode()),
                (b"x-routemate-verify", header_safe(f"{state}; {note}").encode()),
                (b"x-routemate-attempts", header_safe(",".join(a.answer.model for a in result.attempts)).encode()),
                (b"x-routemate-request-id", self.id.encode())]

    async def _json(self, send: Any, result: Verified) -> None:
        from ..server.wire import chat_body

        answer = result.answer
        usage = Usage(answer.usage.prompt_tokens, answer.usage.completion_tokens)
        body = chat_body(answer.completion, usage, id=self.id, model=answer.decision.model)
        headers = self._headers(result, b"application/json")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _stream(self, send: Any, result: Verified) -> None:
        from ..server.wire import dumps

        answer = result.answer
        id, created, model = self.id, int(time.time()), answer.decision.model
        choice = answer.completion.choices[0] if answer.completion.choices else None
        chunks = [Chunk(role="assistant"), Chunk(content=answer.text),
                  Chunk(finish_reason=choice.finish_reason if choice else "stop")]
        if self.include_usage:
            chunks.append(Chunk(usage=Usage(answer.usage.prompt_tokens, answer.usage.completion_tokens)))
        events = [b"data: " + dumps(chunk_event(c, id=id, model=model, created=created)) + b"\n\n" for c in chunks]
        events.append(f": routemate cost_usd={result.cost_usd:.8f}\n\n".encode())
        events.append(DONE)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*self._headers(result, b"text/event-stream; charset=utf-8"),
                                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})
        await send({"type": "http.response.body", "body": b"".join(events)})


def _ascii_note(note: str) -> str:
    """The note for an HTTP header (latin-1): no check marks, plain separators."""
    return note.replace("✓ ", "").replace("✗ ", "").replace(" · ", "; ").replace("→", "->")
