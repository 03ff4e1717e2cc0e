"""Checked answers behind ``POST /v1/chat/completions``: this face parses the extension fields
and renders the cascade's events (``routemate.verified``) as OpenAI JSON or SSE.

An answer is sent once it is chosen: a cheap answer once it has been checked, the last model on
the ladder live as it streams (checked after). The client sees one answer, exactly as OpenAI would
send it, plus headers:

- ``x-routemate-verify``: ``pass`` / ``fail`` / ``not-checked`` (it ran, but nothing stated an
  expected result) / ``not-run`` / ``pending`` (streamed live, checked after: a final
  ``: routemate verify=...`` SSE comment carries the verdict), then the note;
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
from ..verified import Cascade, Decided, Finished, Progress, Verified, wants_checks
from .answer import Exchange, _unexpected, send_error, until_disconnect
from .wire import chat_body, dumps, header_safe, new_id

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
    if not wants_checks(rm, request, None, None):
        return None
    return Plan(None) if Cascade(rm).worth_checking(request) else None


class VerifiedAnswer:
    """An ASGI response that renders a cascade (see the module docstring)."""

    def __init__(self, ex: Exchange, request: ChatRequest, plan: Plan, *, stream: bool, include_usage: bool) -> None:
        self.ex, self.request, self.plan = ex, request, plan
        self.stream, self.include_usage = stream, include_usage
        self.started = False
        self.id = new_id("chatcmpl")     # the body's id and x-routemate-request-id: feedback names the answer by it

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        gw = self.ex.gw
        gw.metrics.in_flight.inc()
        cascade = Cascade(gw.rm, tests=self.plan.tests)
        last = "ok"
        try:
            await until_disconnect(receive, self._render(send, cascade))
        except asyncio.CancelledError:
            self.ex.code, last = 499, "cancelled"
            raise
        except RoutemateError as exc:
            last = "error"
            await self._fail(send, exc)
        except Exception as exc:
            last = "error"
            await self._fail(send, _unexpected(exc))
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

    async def _render(self, send: Any, cascade: Cascade) -> None:
        id, created = self.id, int(time.time())
        decided: Decided | None = None
        async for event in cascade.stream(self.request, entry="http"):
            if isinstance(event, Progress):
                continue
            if isinstance(event, Decided):
                decided = event
                if self.stream:
                    await self._start(send, event.decision.model, self._state(event, None, cascade), sse=True)
                    await self._event(send, Chunk(role="assistant"), id, created, event.decision.model)
            elif isinstance(event, Finished):
                result = event.result
                if self.stream:
                    await self._finish(send, result, id, created, live=decided is not None and decided.live)
                else:
                    await self._json(send, result)
            elif self.stream and event.content:
                assert decided is not None
                await self._event(send, event, id, created, decided.decision.model)

    def _state(self, decided: Decided | None, result: Verified | None, cascade: Cascade) -> list[tuple[bytes, bytes]]:
        """The routemate headers: what answered, why, and how it was checked (pending when live)."""
        if result is not None:
            state, note, decision = result.state, result.note(), result.answer.decision
            models = [a.answer.model for a in result.attempts]
        else:
            assert decided is not None
            state, note = decided.state, decided.note
            if decided.verdict is None:
                note = "; ".join(filter(None, [decided.note, "checked after the stream"]))
            decision = decided.decision
            models = [run.decision.model for run in cascade.runs]
        from ..privacy import redact

        note = redact(self.ex.gw.settings, _ascii_note(note))     # check labels can quote code output
        headers = [(b"x-routemate-model", header_safe(decision.model).encode()),
                   (b"x-routemate-reason", header_safe(decision.reason).encode()),
                   (b"x-routemate-verify", header_safe(f"{state}; {note}", keep_end=True).encode()),
                   (b"x-routemate-attempts", header_safe(",".join(models)).encode()),
                   (b"x-routemate-request-id", self.id.encode())]
        if result is not None:
            headers.append((b"x-routemate-cost-usd", f"{result.cost_usd:.8f}".encode()))
        return headers

    async def _start(self, send: Any, model: str, headers: list[tuple[bytes, bytes]], *, sse: bool) -> None:
        self.started = True
        kind = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")] if sse else [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": [*kind, *headers]})

    async def _event(self, send: Any, chunk: Chunk, id: str, created: int, model: str) -> None:
        body = b"data: " + dumps(chunk_event(chunk, id=id, model=model, created=created)) + b"\n\n"
        await send({"type": "http.response.body", "body": body, "more_body": True})

    async def _finish(self, send: Any, result: Verified, id: str, created: int, *, live: bool) -> None:
        answer = result.answer
        model = answer.decision.model
        choice = answer.completion.choices[0] if answer.completion.choices else None
        chunks = [Chunk(finish_reason=choice.finish_reason if choice else "stop")]
        if self.include_usage:
            chunks.append(Chunk(usage=Usage(answer.usage.prompt_tokens, answer.usage.completion_tokens)))
        events = [b"data: " + dumps(chunk_event(c, id=id, model=model, created=created)) + b"\n\n" for c in chunks]
        # SSE comments: every client skips them, a human with curl sees the cost and the verdict
        events.append(f": routemate cost_usd={result.cost_usd:.8f}\n\n".encode())
        if live:
            from ..privacy import redact

            state = result.state
            note = redact(self.ex.gw.settings, _ascii_note(result.note()))
            events.append(f": routemate verify={state}; {header_safe(note, keep_end=True)}\n\n".encode())
        events.append(DONE)
        await send({"type": "http.response.body", "body": b"".join(events)})

    async def _json(self, send: Any, result: Verified) -> None:
        answer = result.answer
        usage = Usage(answer.usage.prompt_tokens, answer.usage.completion_tokens)
        body = chat_body(answer.completion, usage, id=self.id, model=answer.decision.model)
        headers = [(b"content-type", b"application/json"), *self._state(None, result, None),  # type: ignore[arg-type]
                   (b"content-length", str(len(body)).encode())]
        self.started = True
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _fail(self, send: Any, exc: RoutemateError) -> None:
        if not self.started:
            self.ex.code = exc.status
            await send_error(send, exc)
            return
        self.ex.gw.metrics.stream_errors.inc((self.request.model,))
        err = exc.to_openai()["error"]
        if err.get("code") is None:
            err["code"] = "upstream_error"
        await send({"type": "http.response.body", "body": b"data: " + dumps({"error": err}) + b"\n\n"})


def _ascii_note(note: str) -> str:
    """The note for an HTTP header (latin-1): no check marks, plain separators."""
    return note.replace("✓ ", "").replace("✗ ", "").replace("○ ", "").replace(" · ", "; ").replace("→", "->")
