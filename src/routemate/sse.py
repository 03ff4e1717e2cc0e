"""The one Server-Sent Events codec: OpenAI stream events to ``Chunk``s and back.

Decoding follows the SSE rules upstreams rely on: events end at a blank line, ``data:`` lines of
one event are joined with newlines, comments (``:`` lines, used as keep-alives) are skipped, and
``data: [DONE]`` ends the stream. An in-band ``{"error": ...}`` event becomes an ``SSEError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable, Iterator
from typing import Any

import orjson  # several times faster than json for the many small events of a stream

from .chat import Chunk, Usage

DONE = b"data: [DONE]\n\n"


class SSEError(Exception):
    """An upstream sent ``data: {"error": {...}}`` inside a stream."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        super().__init__(error.get("message") or json.dumps(error))


class SSEDecoder:
    """Incremental decoder: feed bytes as they arrive, get complete ``data`` payloads back."""

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []

    def feed(self, raw: bytes) -> Iterator[str]:
        self._buf += raw
        while True:
            cut = self._buf.find(b"\n")
            if cut < 0:
                return
            line, self._buf = self._buf[:cut].rstrip(b"\r"), self._buf[cut + 1:]
            if not line:
                if self._data:
                    yield "\n".join(self._data)
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append((value[1:] if value.startswith(b" ") else value).decode("utf-8"))
            # other fields (event:, id:, retry:) and comments carry nothing OpenAI streams use

    def close(self) -> Iterator[str]:
        if self._buf.strip():
            yield from self.feed(b"\n\n")
        elif self._data:
            yield "\n".join(self._data)
            self._data = []


def event_to_chunks(event: dict[str, Any]) -> list[Chunk]:
    """One OpenAI ``chat.completion.chunk`` (or ``text_completion``) event as chunks."""
    if "error" in event and not event.get("choices"):
        raise SSEError(event["error"] if isinstance(event["error"], dict) else {"message": str(event["error"])})
    usage = Usage.from_dict(event.get("usage"))
    chunks = []
    for choice in event.get("choices") or ():
        delta = choice.get("delta")
        if delta is None:      # legacy completions stream text, not deltas
            delta = {"content": choice.get("text") or ""}
        chunks.append(Chunk(content=delta.get("content") or "", role=delta.get("role"),
                            tool_calls=delta.get("tool_calls") or None,
                            finish_reason=choice.get("finish_reason"), index=choice.get("index") or 0))
    if usage is not None:
        chunks.append(Chunk(usage=usage))
    return chunks


async def decode_stream(body: AsyncIterable[bytes]) -> Any:
    """Async-iterate the chunks of an OpenAI SSE body. Stops at ``[DONE]``."""
    decoder = SSEDecoder()
    async for raw in body:
        for data in decoder.feed(raw):
            if data.strip() == "[DONE]":
                return
            for chunk in event_to_chunks(orjson.loads(data)):
                yield chunk
    for data in decoder.close():
        if data.strip() != "[DONE]":
            for chunk in event_to_chunks(orjson.loads(data)):
                yield chunk


def decode_all(raw: bytes | Iterable[bytes]) -> list[Chunk]:
    """Decode a whole recorded stream (tests, replays)."""
    decoder = SSEDecoder()
    out: list[Chunk] = []
    for part in [raw] if isinstance(raw, bytes) else raw:
        for data in [*decoder.feed(part)]:
            if data.strip() == "[DONE]":
                return out
            out.extend(event_to_chunks(orjson.loads(data)))
    return out


def encode_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def chunk_event(chunk: Chunk, *, id: str, model: str, created: int,
                object: str = "chat.completion.chunk") -> dict[str, Any]:
    """The OpenAI event for one chunk. A usage-only chunk gets ``choices: []`` as OpenAI sends it."""
    event: dict[str, Any] = {"id": id, "object": object, "created": created, "model": model}
    if chunk.usage is not None and not (chunk.content or chunk.tool_calls or chunk.finish_reason or chunk.role):
        event["choices"] = []
        event["usage"] = chunk.usage.to_dict()
        return event
    if object == "text_completion":
        choice: dict[str, Any] = {"index": chunk.index, "text": chunk.content, "logprobs": None,
                                  "finish_reason": chunk.finish_reason}
    else:
        delta: dict[str, Any] = {}
        if chunk.role:
            delta["role"] = chunk.role
        if chunk.content or not (chunk.tool_calls or chunk.finish_reason):
            delta["content"] = chunk.content
        if chunk.tool_calls:
            delta["tool_calls"] = chunk.tool_calls
        choice = {"index": chunk.index, "delta": delta, "finish_reason": chunk.finish_reason}
    event["choices"] = [choice]
    if chunk.usage is not None:
        event["usage"] = chunk.usage.to_dict()
    return event


def encode_chunk(chunk: Chunk, **kw: Any) -> bytes:
    return encode_event(chunk_event(chunk, **kw))


def encode_error(message: str, *, type: str = "upstream_error", code: str | None = None) -> bytes:
    """The in-band error event sent when a stream fails after content has started."""
    return encode_event({"error": {"message": message, "type": type, "param": None, "code": code}})
