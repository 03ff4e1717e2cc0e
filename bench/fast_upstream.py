"""A deliberately cheap OpenAI-compatible upstream for overhead benchmarks.

Raw asyncio protocol (uvloop when installed), keep-alive, canned answers: about 20 µs of CPU per
request, so what a benchmark measures is the hop in front of it, not this server. Answers
``stream: true`` with a short SSE stream (role, two content chunks, finish, usage, [DONE]).

    python bench/fast_upstream.py [--port 0]    # prints "PORT <n>" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()), "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}).encode()
COMPLETION = json.dumps({
    "id": "cmpl-bench", "object": "text_completion", "created": int(time.time()), "model": "bench",
    "choices": [{"index": 0, "text": " return a + b", "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()


def _event(delta: dict, finish: str | None = None) -> bytes:
    return b"data: " + json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                                   "model": "bench", "choices": [{"index": 0, "delta": delta,
                                                                  "finish_reason": finish}]}).encode() + b"\n\n"


STREAM = (_event({"role": "assistant", "content": ""}) + _event({"content": "Hello"}) + _event({"content": " there"})
          + _event({}, "stop")
          + b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench",'
            b'"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\n'
          + b"data: [DONE]\n\n")


def _response(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


RESPONSES = {
    "chat": _response(ANSWER), "chat-stream": _response(STREAM, b"text/event-stream"),
    "completion": _response(COMPLETION), "models": _response(MODELS),
}


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17:stop if stop > 0 else None])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            line = head[:head.find(b"\r\n")]
            if line.startswith(b"get"):
                kind = "models"
            elif b"/completions" in line and b"/chat/" not in line:
                kind = "completion"
            else:
                stream = b'"stream":true' in body or b'"stream": true' in body
                kind = "chat-stream" if stream else "chat"
            self.transport.write(RESPONSES[kind])  # type: ignore[attr-defined]


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, host, port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except (ImportError, AttributeError):
        run = asyncio.run
    try:
        run(serve(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
