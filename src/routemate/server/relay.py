"""Answering in another wire format: one run, rendered by an ``Encoder`` (Anthropic Messages, OpenAI
Responses) with the same contract as the chat route (see ``answer.py``): nothing is sent before the
first content, so a failure before it falls back to the next model unnoticed; a failure after it
ends the stream with the format's own in-band error; a client that leaves cancels the upstream call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..chat import ChatRequest, Chunk
from ..errors import RoutemateError
from ..service import Answer as Result
from ..service import Run
from .answer import (Exchange, Limits, Receive, Send, _headers, _unexpected, has_content, resilient, send_error,
                     until_disconnect)
from .wire import ratelimit_headers

if TYPE_CHECKING:
    from .app import Gateway


class Encoder(Protocol):
    """Renders one answer in a wire format. Stateful: one per request."""

    def error(self, exc: RoutemateError) -> bytes: ...            # a JSON error body (status from exc)

    def whole(self, result: Result) -> bytes: ...                 # a non-streamed answer

    def opening(self, model: str) -> bytes: ...                   # a stream's first events

    def chunk(self, chunk: Chunk) -> bytes: ...                   # events for one chunk

    def closing(self, result: Result) -> bytes: ...               # a stream's last events

    def failed(self, exc: RoutemateError) -> bytes: ...           # an in-band error once content was sent


class Relay:
    """An ASGI response answering ``run`` through ``encoder``. ``done`` runs on the finished answer
    before its last bytes go out (the Responses API stores the conversation there)."""

    def __init__(self, ex: Exchange, run: Run, encoder: Encoder, *, stream: bool,
                 done: Callable[[Run], Awaitable[None]] | None = None) -> None:
        self.ex, self.run, self.encoder, self.stream, self.done = ex, run, encoder, stream, done

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        metrics = self.ex.gw.metrics
        metrics.in_flight.inc()
        try:
            await until_disconnect(receive, self._stream(send) if self.stream else self._json(send))
        except asyncio.CancelledError:
            self.ex.code = 499
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        finally:
            metrics.in_flight.inc(value=-1)
            self.ex.record()

    async def _reject(self, send: Send, exc: RoutemateError) -> None:
        self.ex.code = exc.status
        await send_error(send, exc, self.encoder.error(exc))

    async def _json(self, send: Send) -> None:
        last = self.run
        try:
            async for last, _ in resilient(self.ex, self.run, restart_after_content=True):
                pass
            assert last.answer is not None
            body = self.encoder.whole(last.answer)
            if self.done is not None:
                await self.done(last)
        except RoutemateError as exc:
            return await self._reject(send, exc)
        except Exception as exc:
            return await self._reject(send, _unexpected(exc))
        headers = _headers(last, b"application/json", last.answer.cost_usd)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _stream(self, send: Send) -> None:
        pending: list[Chunk] = []
        committed = False
        last = self.run

        async def commit(run: Run) -> None:
            nonlocal committed
            committed = True
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*_headers(run, b"text/event-stream; charset=utf-8"),
                                    (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})
            body = self.encoder.opening(run.decision.model) + b"".join(self.encoder.chunk(c) for c in pending)
            pending.clear()
            await send({"type": "http.response.body", "body": body, "more_body": True})

        source = resilient(self.ex, self.run, restart_after_content=False)
        try:
            async for run, chunk in source:
                if run is not last:
                    pending.clear()        # a fallback before content: forget what the failed run sent
                    last = run
                if chunk.usage is not None and not (chunk.content or chunk.tool_calls or chunk.finish_reason):
                    continue               # usage comes once, at the end, from the final answer
                if not committed:
                    if not has_content(chunk):
                        pending.append(chunk)
                        continue
                    await commit(run)
                await send({"type": "http.response.body", "body": self.encoder.chunk(chunk), "more_body": True})
            if self.done is not None:
                await self.done(last)
        except Exception as exc:
            err = exc if isinstance(exc, RoutemateError) else _unexpected(exc)
            if not committed:
                return await self._reject(send, err)
            self.ex.gw.metrics.stream_errors.inc((last.decision.model,))
            await send({"type": "http.response.body", "body": self.encoder.failed(err)})
            return
        finally:
            await source.aclose()      # type: ignore[attr-defined]
        if not committed:
            await commit(last)
        assert last.answer is not None
        await send({"type": "http.response.body", "body": self.encoder.closing(last.answer)})


Parse = Callable[[dict[str, Any]], Awaitable[ChatRequest]]


async def accept(gw: "Gateway", endpoint: str, scope: dict[str, Any], receive: Receive, send: Send, parse: Parse,
                 error_body: Callable[[RoutemateError], bytes],
                 limits: Limits = ratelimit_headers) -> tuple[dict[str, Any], Run, Send] | None:
    """Key, body, the format's parse, the key's limits and routing: the body, the run to answer and
    the ``send`` to answer through (it adds the key's rate-limit headers, rendered by ``limits``), or
    None once an error (in the format's shape) was sent."""
    from .app import _body, _headers

    headers = _headers(scope)
    model = "auto"
    allowance = None
    try:
        key = gw.check_key(headers)
        body = await gw.body(headers, _body(receive))
        model = str(body.get("model") or "auto")
        request = await parse(body)
        allowance = await gw.keyring.admit(key, request.model)
        run = gw.rm.start(request, entry="http")
    except RoutemateError as exc:
        gw._log_refusal(exc, model, endpoint)
        gw.metrics.responses.inc((endpoint, str(exc.status)))
        send = gw.limited(send, allowance or getattr(exc, "allowance", None), limits)
        await send_error(send, exc, error_body(exc))
        return None
    return body, run, gw.limited(send, allowance, limits)


def sse(event: str, data: Any) -> bytes:
    """One named server-sent event (both formats name every event)."""
    from .wire import dumps

    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"
