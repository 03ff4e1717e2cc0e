"""Answering one HTTP request: fallback across runs, ``n`` emulation, JSON or SSE out.

The contract a client sees:

- Nothing is sent until the first content (text or a tool-call delta) exists. A failure before
  that, including a stream that breaks after only its role chunk, moves the request to the next
  model on the ladder, and the client never notices; if no model is left it gets a normal JSON
  error with a real status code.
- Once content has been sent, a failure ends the stream with one ``data: {"error": {...}}``
  event and no ``[DONE]`` (OpenAI's own in-band shape; the openai SDK raises ``APIError``). The
  request log records the error.
- A non-streaming request has sent nothing until it is complete, so it falls back even after a
  stream cut mid-answer: no request is lost while a model is left.
- ``stream_options.include_usage`` always gets a usage chunk (``choices: []``) before ``[DONE]``,
  estimated when the backend reports none.
- A client that disconnects cancels the upstream call (the log row says cancelled).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..chat import Choice, Chunk, Completion, Usage
from ..errors import BackendError, QuotaExceeded, RateLimited, RoutemateError
from ..keys import caller_name
from ..routing import fall_back
from ..service import Run, short_error
from ..sse import chunk_event
from .metrics import reason_kind
from .wire import chat_body, completion_body, dumps, error_body, header_safe, new_id, ratelimit_headers

if TYPE_CHECKING:
    from ..keys import Allowance
    from .app import Gateway

log = logging.getLogger("routemate.server")
DONE = b"data: [DONE]\n\n"
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Limits = Callable[["Allowance", float], list[tuple[bytes, bytes]]]    # renders a key's rate-limit headers


class Exchange:
    """The runs one HTTP request went through, and how each ended (for metrics)."""

    def __init__(self, gw: "Gateway", endpoint: str) -> None:
        self.gw, self.endpoint = gw, endpoint
        self.started = time.perf_counter()
        self.outcomes: list[tuple[Run, str]] = []
        self.code = 200

    def record(self) -> None:
        m = self.gw.metrics
        for run, status in self.outcomes:
            answer, d = run.answer, run.decision
            model = d.model
            m.requests.inc((self.endpoint, model, _reason(run), status))
            prev = None
            for attempt in run.attempts:          # fallbacks Run made on its own, before first content
                m.requests.inc((self.endpoint, attempt["model"], _reason(run), "error"))
                if prev is not None:
                    m.fallbacks.inc((prev, attempt["model"]))
                prev = attempt["model"]
            if prev is not None:
                m.fallbacks.inc((prev, model))
            if answer is None:
                continue
            m.latency.observe((self.endpoint, model), answer.latency_ms / 1000)
            if answer.ttft_ms is not None:
                m.ttft.observe((self.endpoint, model), answer.ttft_ms / 1000)
            m.tokens.inc((model, "prompt"), answer.usage.prompt_tokens)
            m.tokens.inc((model, "completion"), answer.usage.completion_tokens)
            m.cost.inc((model,), answer.cost_usd)
            m.saved.inc((model,), answer.saved_usd)
        m.responses.inc((self.endpoint, str(self.code)))
        key = caller_name()
        if key is not None:
            self.gw.keyring.spent(key, sum(run.answer.cost_usd for run, _ in self.outcomes if run.answer))


def _reason(run: Run) -> str:
    return reason_kind(run.decision, len(run.attempts))


def has_content(chunk: Chunk) -> bool:
    return bool(chunk.content or chunk.tool_calls)


async def resilient(ex: Exchange, run: Run, *, restart_after_content: bool) -> AsyncIterator[tuple[Run, Chunk]]:
    """The chunks of one answer, moving to the next model when a run fails before it may not.

    ``Run`` already falls back before its first chunk; this also covers a run that failed after
    contentless chunks (role only), and, for callers that have sent nothing yet
    (``restart_after_content``), a run cut mid-answer.
    """
    while True:
        produced = False
        gen = run.__aiter__()
        settled = False
        try:
            async for chunk in gen:
                produced = produced or has_content(chunk)
                yield run, chunk
            settled = True
            ex.outcomes.append((run, "ok"))
            return
        except BackendError as exc:
            settled = True
            ex.outcomes.append((run, "error"))
            if (produced and not restart_after_content) or not ex.gw.rm.settings.routing.fallback:
                raise
            decision, policy = fall_back(run.decision, short_error(exc), run.policy)
            ex.gw.metrics.fallbacks.inc((run.decision.model, decision.model))
            answered_as = run.response_id
            run = type(run)(run.rm, run.request, decision, policy, run.entry)
            run.response_id = answered_as
        except RoutemateError:
            settled = True
            ex.outcomes.append((run, "error"))
            raise
        finally:
            await gen.aclose()
            if not settled:
                ex.outcomes.append((run, "cancelled"))


async def merged(sources: list[AsyncIterator[tuple[Run, Chunk]]]) -> AsyncIterator[tuple[int, Run, Chunk]]:
    """Interleave several answers (emulated ``n``), tagging each chunk with its choice index."""
    if len(sources) == 1:
        try:
            async for run, chunk in sources[0]:
                yield 0, run, chunk
        finally:
            await sources[0].aclose()     # type: ignore[attr-defined]
        return
    queue: asyncio.Queue[tuple[int, Any, BaseException | None]] = asyncio.Queue()
    end = object()

    async def pump(i: int, source: AsyncIterator[tuple[Run, Chunk]]) -> None:
        try:
            async for item in source:
                queue.put_nowait((i, item, None))
            queue.put_nowait((i, end, None))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait((i, None, exc))

    tasks = [asyncio.ensure_future(pump(i, s)) for i, s in enumerate(sources)]
    try:
        remaining = len(tasks)
        while remaining:
            i, item, exc = await queue.get()
            if exc is not None:
                raise exc
            if item is end:
                remaining -= 1
                continue
            run, chunk = item
            yield i, run, replace(chunk, index=i)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until_disconnect(receive: Receive, work: Awaitable[Any]) -> Any:
    """Run ``work``; cancel it if the client goes away first (that cancels the upstream call)."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                task.cancel()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    finally:
        watcher.cancel()


def _headers(run: Run, content_type: bytes, cost: float | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type), (b"x-routemate-model", header_safe(run.decision.model).encode()),
               (b"x-routemate-reason", header_safe(run.decision.reason).encode())]
    if run.response_id:
        headers.append((b"x-routemate-request-id", run.response_id.encode()))
    if cost is not None:
        headers.append((b"x-routemate-cost-usd", f"{cost:.8f}".encode()))
    return headers


def error_headers(exc: RoutemateError) -> list[tuple[bytes, bytes]]:
    """What an error response says beside its body: how to authenticate, when to retry."""
    if exc.status == 401:
        return [(b"www-authenticate", b"Bearer")]
    if isinstance(exc, QuotaExceeded):
        # a spent budget does not come back in seconds: the OpenAI and Anthropic SDKs retry a 429
        # (twice by default) unless told not to
        return [(b"x-should-retry", b"false")]
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, RateLimited) and retry_after is not None:
        return [(b"retry-after", str(retry_after).encode())]
    if exc.status in (503, 429) and "circuit open" in str(exc):
        return [(b"retry-after", b"5")]
    return []


def with_limits(send: Send, allowance: "Allowance | None", clock: Callable[[], float],
                render: Limits = ratelimit_headers) -> Send:
    """``send`` adding a key's rate-limit headers to whatever response starts through it (an answer,
    streamed or not, or an error), rendered as it goes out so a reset given as a duration counts from
    then (by the keyring's ``clock``); ``send`` itself without an allowance (a key without ``rpm``)."""
    if allowance is None:
        return send

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *render(allowance, clock())]}
        await send(message)

    return wrapped


async def send_error(send: Send, exc: RoutemateError, body: bytes | None = None) -> None:
    body = error_body(exc) if body is None else body
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *error_headers(exc)]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _unexpected(exc: Exception) -> RoutemateError:
    log.exception("unexpected error while answering")
    return RoutemateError(f"internal error ({type(exc).__name__}: {exc})",
                          hint="this is a bug in routemate; the request log has the details")


class Answer:
    """An ASGI response that answers with the runs of one request (``len(runs) > 1``: emulated n)."""

    def __init__(self, ex: Exchange, runs: list[Run], *, stream: bool, include_usage: bool, chat: bool) -> None:
        self.ex, self.runs, self.stream, self.include_usage, self.chat = ex, runs, stream, include_usage, chat
        # one id for the response: the body's ``id``, the x-routemate-request-id header and the log rows,
        # so ``POST /v1/feedback`` can name the answer by either
        self.id = new_id("chatcmpl" if chat else "cmpl")
        for run in runs:
            run.response_id = self.id

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        gw = self.ex.gw
        gw.metrics.in_flight.inc()
        try:
            await until_disconnect(receive, self._stream(send) if self.stream else self._json(send))
        except asyncio.CancelledError:
            self.ex.code = 499          # client closed the connection; nothing left to send
            if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
        finally:
            gw.metrics.in_flight.inc(value=-1)
            self.ex.record()

    # -- whole answers --------------------------------------------------------------------------------
    async def _collect(self, run: Run) -> Run:
        last = run
        async for last, _ in resilient(self.ex, run, restart_after_content=True):
            pass
        return last

    async def _json(self, send: Send) -> None:
        error: RoutemateError | None = None
        finals: list[Run] = []
        try:
            if len(self.runs) == 1:
                finals = [await self._collect(self.runs[0])]
            else:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(self._collect(r)) for r in self.runs]
                finals = [t.result() for t in tasks]
        except* RoutemateError as eg:
            error = eg.exceptions[0]  # type: ignore[assignment]
        except* Exception as eg:
            error = _unexpected(eg.exceptions[0])  # type: ignore[arg-type]
        if error is not None:
            self.ex.code = error.status
            await send_error(send, error)
            return
        choices: list[Choice] = []
        usage = Usage()
        cost = 0.0
        for i, run in enumerate(finals):
            assert run.answer is not None
            for c in run.answer.completion.choices:
                choices.append(Choice(c.message, c.finish_reason, c.index if len(finals) == 1 else i))
            usage.prompt_tokens += run.answer.usage.prompt_tokens
            usage.completion_tokens += run.answer.usage.completion_tokens
            cost += run.answer.cost_usd
        build = chat_body if self.chat else completion_body
        body = build(Completion(choices, usage), usage, id=self.id, model=finals[0].decision.model)
        headers = _headers(finals[0], b"application/json", cost)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # -- streams --------------------------------------------------------------------------------------
    async def _stream(self, send: Send) -> None:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        id, created = self.id, int(time.time())
        sources = [resilient(self.ex, r, restart_after_content=False) for r in self.runs]
        pending: list[tuple[int, Run, Chunk]] = []
        committed = False
        last: dict[int, Run] = {}

        def event(chunk: Chunk, run: Run) -> bytes:
            return b"data: " + dumps(chunk_event(chunk, id=id, model=run.decision.model, created=created,
                                                 object=kind)) + b"\n\n"

        async def commit(run: Run) -> None:
            nonlocal committed
            committed = True
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*_headers(run, b"text/event-stream; charset=utf-8"),
                                    (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})
            if pending:
                await send({"type": "http.response.body", "more_body": True,
                            "body": b"".join(event(c, r) for _, r, c in pending)})
                pending.clear()

        source = merged(sources)
        try:
            async for i, run, chunk in source:
                if last.get(i) is not run:
                    if not committed:   # a fallback: forget what the failed run sent before content
                        pending[:] = [p for p in pending if p[0] != i]
                    last[i] = run
                if chunk.usage is not None:
                    if not (chunk.content or chunk.tool_calls or chunk.finish_reason or chunk.role):
                        continue           # usage comes once, at the end, from the final answers
                    chunk = replace(chunk, usage=None)
                if not committed:
                    if not has_content(chunk):
                        pending.append((i, run, chunk))
                        continue
                    await commit(run)
                await send({"type": "http.response.body", "body": event(chunk, run), "more_body": True})
        except RoutemateError as exc:
            await self._fail(send, exc, committed, last)
            return
        except Exception as exc:
            await self._fail(send, _unexpected(exc), committed, last)
            return
        finally:
            await source.aclose()
        finals = list(last.values()) or self.runs
        if not committed:
            await commit(finals[0])
        tail = []
        usage = Usage()
        cost = 0.0
        for run in finals:
            if run.answer is not None:
                usage.prompt_tokens += run.answer.usage.prompt_tokens
                usage.completion_tokens += run.answer.usage.completion_tokens
                cost += run.answer.cost_usd
        if self.include_usage:
            tail.append(event(Chunk(usage=usage), finals[0]))
        # an SSE comment: every client skips it, a human with curl sees what the answer cost
        tail.append(f": routemate cost_usd={cost:.8f}\n\n".encode())
        tail.append(DONE)
        await send({"type": "http.response.body", "body": b"".join(tail)})

    async def _fail(self, send: Send, exc: RoutemateError, committed: bool, last: dict[int, Run]) -> None:
        if not committed:
            self.ex.code = exc.status
            await send_error(send, exc)
            return
        model = next(iter(last.values())).decision.model if last else "-"
        self.ex.gw.metrics.stream_errors.inc((model,))
        err = exc.to_openai()["error"]
        if err.get("code") is None:
            err["code"] = "upstream_error"
        await send({"type": "http.response.body", "body": b"data: " + dumps({"error": err}) + b"\n\n"})
