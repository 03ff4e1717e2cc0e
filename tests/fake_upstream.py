"""A small OpenAI-compatible upstream on a loopback port, for the frontier side of tests.

It runs a real HTTP server (aiohttp) in a background thread, so the code under test talks to it
exactly as it would to OpenAI. Each request takes the next behaviour from ``script`` (then
``default``):

    ok          a normal answer (``reply``), streamed if asked, usage included unless send_usage=False
    tools       the answer is a call of the first tool offered (streamed as tool-call deltas)
    500 / 503   that status with an OpenAI error body
    429         429 with ``retry-after: 0``
    401         bad key
    timeout     sleeps ``hang`` seconds before answering
    reset       closes the connection without answering
    cut         streams part of the answer, then drops the connection
    stream-error  streams part of the answer, then an in-band error event
    cut-early   streams only the role chunk (no content), then drops the connection
    stall       streams part of the answer, then goes silent for ``hang`` seconds
    echo-key    401 whose message repeats the Authorization header it received (a careless upstream)
    no-stream   ignores "stream": true and answers one JSON body (some servers and proxies do)
    html        200 with an HTML page instead of an answer (a misrouted proxy)
    empty       200 text/event-stream that ends without a single event

``replies`` (a list) replaces ``reply`` with answers given in turn, one per choice. ``n`` is ignored
(one choice, as Ollama does) unless ``honour_n`` is set (as OpenAI and vLLM do): then a request
with ``n`` choices takes the next ``n`` replies.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any

from aiohttp import web


class FakeUpstream:
    def __init__(self, reply: str = "Hello from the fake frontier.", model: str = "fake-gpt") -> None:
        self.reply = reply
        self.replies: list[str] = []
        self.honour_n = False
        self._turn = 0
        self.model = model
        self.script: deque[str] = deque()
        self.default = "ok"
        self.send_usage = True
        self.hang = 30.0
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0          # clients that were gone when a timeout/stall ended
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "FakeUpstream":
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-upstream")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    # -- handlers -------------------------------------------------------------------------------------
    def _next(self) -> str:
        return self.script.popleft() if self.script else self.default

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _fault(self, behaviour: str, request: web.Request) -> web.StreamResponse | None:
        if behaviour in ("500", "503", "401", "400"):
            status = int(behaviour)
            return web.json_response({"error": {"message": f"fake upstream says {status}", "type": "server_error",
                                                 "param": None, "code": None}}, status=status)
        if behaviour == "echo-key-200":     # a proxy answering 200 with a body that is not OpenAI's, key inside
            return web.json_response({"detail": "." * 90 + f" {request.headers.get('authorization')}"})
        if behaviour == "echo-key":
            return web.json_response({"error": {"message": f"bad key {request.headers.get('authorization')}",
                                                "type": "invalid_request_error"}}, status=401)
        if behaviour == "429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit"}}, status=429,
                                     headers={"retry-after": "0"})
        if behaviour == "timeout":
            await asyncio.sleep(self.hang)
            self._count_gone(request)
        if behaviour == "html":
            return web.Response(text="<html><body>Welcome to nginx!</body></html>", content_type="text/html")
        if behaviour == "empty":
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write_eof()
            return resp
        if behaviour == "reset":
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError
        return None

    @staticmethod
    def vector(text: str, dims: int = 8) -> list[float]:
        """A deterministic stand-in embedding of ``text`` (tests compare against it)."""
        import hashlib

        digest = hashlib.sha256(text.encode()).digest()
        return [round(b / 255 - 0.5, 6) for b in digest[:dims]]

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        import base64
        import struct

        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        fault = await self._fault(self._next(), request)
        if fault is not None:
            return fault
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, item in enumerate(inputs):
            vec = self.vector(item if isinstance(item, str) else json.dumps(item), body.get("dimensions") or 8)
            value: Any = vec
            if body.get("encoding_format") == "base64":
                value = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(len(str(x).split()) for x in inputs)
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        behaviour = self._next()
        fault = await self._fault(behaviour, request)
        if fault is not None:
            return fault
        prompt_tokens = sum(len(str(m.get("content") or "")) // 4 + 1 for m in body.get("messages", []))
        if behaviour == "no-stream":
            body = {**body, "stream": False}
            behaviour = "tools" if body.get("tools") and body.get("tool_choice") not in (None, "none", "auto") \
                else "ok"
        if behaviour == "tools" and body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}
            if not body.get("stream"):
                return web.json_response(self._completion({"role": "assistant", "content": None, "tool_calls": [call]},
                                                          "tool_calls", prompt_tokens, 9))
            deltas = [{"role": "assistant", "content": None,
                       "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                       "function": {"name": name, "arguments": ""}}]},
                      {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
                      {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}]
            return await self._stream(request, deltas, "tool_calls", prompt_tokens, 9, body)
        n = int(body.get("n") or 1) if self.honour_n else 1
        texts = [self._reply() for _ in range(n)]
        words = [t.split(" ") for t in texts]
        if not body.get("stream"):
            out = self._completion({"role": "assistant", "content": texts[0]}, "stop", prompt_tokens,
                                   sum(len(w) for w in words))
            out["choices"] = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                              for i, t in enumerate(texts)]
            return web.json_response(out)
        deltas = [({"role": "assistant", "content": ""}, i) for i in range(n)] + \
            [({"content": w + (" " if j < len(ws) - 1 else "")}, i) for i, ws in enumerate(words) for j, w in enumerate(ws)]
        if behaviour in ("cut", "stream-error", "stall"):
            deltas = deltas[: max(2, len(deltas) // 2)]
        if behaviour == "cut-early":
            deltas, behaviour = deltas[:1], "cut"
        return await self._stream(request, deltas, "stop", prompt_tokens, sum(len(w) for w in words), body, behaviour,
                                  n=n)

    def _reply(self) -> str:
        if not self.replies:
            return self.reply
        text = self.replies[self._turn % len(self.replies)]
        self._turn += 1
        return text

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        fault = await self._fault(self._next(), request)
        if fault is not None:
            return fault
        text = self.reply
        usage = {"prompt_tokens": len(body.get("prompt", "")) // 4 + 1, "completion_tokens": len(text.split()),
                 "total_tokens": 0}
        if not body.get("stream"):
            return web.json_response({"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()),
                                      "model": self.model, "usage": usage,
                                      "choices": [{"index": 0, "text": text, "finish_reason": "stop",
                                                   "logprobs": None}]})
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for w in text.split(" "):
            await resp.write(self._event({"object": "text_completion", "choices": [
                {"index": 0, "text": w + " ", "finish_reason": None}]}))
        await resp.write(self._event({"object": "text_completion", "choices": [
            {"index": 0, "text": "", "finish_reason": "stop"}]}))
        if self.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(self._event({"object": "text_completion", "choices": [], "usage": usage}))
        await resp.write(b"data: [DONE]\n\n")
        return resp

    # -- helpers --------------------------------------------------------------------------------------
    def _count_gone(self, request: web.Request) -> bool:
        gone = request.transport is None or request.transport.is_closing()
        self.disconnects += gone
        return gone

    def _completion(self, message: dict[str, Any], finish: str, pt: int, ct: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                               "model": self.model, "choices": [{"index": 0, "message": message,
                                                                 "finish_reason": finish}]}
        if self.send_usage:
            out["usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        return out

    def _event(self, payload: dict[str, Any]) -> bytes:
        payload = {"id": "chatcmpl-fake", "created": int(time.time()), "model": self.model, **payload}
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    async def _stream(self, request: web.Request, deltas: list[Any], finish: str, pt: int, ct: int,
                      body: dict[str, Any], behaviour: str = "ok", n: int = 1) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for item in deltas:
            delta, index = item if isinstance(item, tuple) else (item, 0)
            await resp.write(self._event({"object": "chat.completion.chunk",
                                          "choices": [{"index": index, "delta": delta, "finish_reason": None}]}))
        if behaviour == "cut":
            assert request.transport is not None
            request.transport.close()
            return resp
        if behaviour == "stall":
            await asyncio.sleep(self.hang)
            if self._count_gone(request):
                return resp
        if behaviour == "stream-error":
            await resp.write(b'data: {"error": {"message": "upstream overloaded", "type": "server_error"}}\n\n')
            return resp
        for index in range(n):
            await resp.write(self._event({"object": "chat.completion.chunk",
                                          "choices": [{"index": index, "delta": {}, "finish_reason": finish}]}))
        if self.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(self._event({"object": "chat.completion.chunk", "choices": [],
                                          "usage": {"prompt_tokens": pt, "completion_tokens": ct,
                                                    "total_tokens": pt + ct}}))
        await resp.write(b"data: [DONE]\n\n")
        return resp
