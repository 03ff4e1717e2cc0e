"""A closed-loop HTTP/1.1 load generator that costs the machine as little CPU as possible.

Each of ``concurrency`` keep-alive connections sends one pre-built request, waits for the whole
response (content-length or chunked), and sends the next. Raw asyncio protocols on uvloop: a few
tens of µs per request, so on a 2-core machine the servers under test get nearly all the CPU.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)   # seconds, successful requests only
    errors: int = 0
    elapsed: float = 0.0
    cpu_ms: float | None = None          # server CPU per request, when the caller measured it

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict[str, float]:
        return {"p50_ms": round(self.pct(0.50), 3), "p99_ms": round(self.pct(0.99), 3), "rps": round(self.rps, 1),
                "cpu_ms_per_request": round(self.cpu_ms, 3) if self.cpu_ms is not None else None,
                "requests": len(self.latencies), "errors": self.errors}


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.done: asyncio.Future[bool] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.done is not None and not self.done.done():
            self.done.set_result(False)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.done is None or self.done.done():
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")      # at a line start: not "x-upstream-content-length:"
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:stop if stop > 0 else None])
            complete = len(self.buf) >= end + 4 + length
        else:
            complete = self.buf.endswith(b"0\r\n\r\n")
        if complete:
            ok = head.startswith(b"http/1.1 200")
            self.buf.clear()
            self.done.set_result(ok)


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n{extra}\r\n").encode() + body


async def run(host: str, port: int, request: bytes, concurrency: int, duration: float,
              warmup: float = 0.5) -> Result:
    loop = asyncio.get_running_loop()
    result = Result()
    conns = [await loop.create_connection(_Conn, host, port) for _ in range(concurrency)]
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker(proto: _Conn) -> None:
        while not proto.lost:
            now = time.perf_counter()
            if now >= stop_at:
                return
            proto.done = loop.create_future()
            proto.transport.write(request)  # type: ignore[attr-defined]
            ok = await proto.done
            t = time.perf_counter()
            if now >= measure_from:
                if ok:
                    result.latencies.append(t - now)
                else:
                    result.errors += 1

    await asyncio.gather(*(worker(p) for _, p in conns))
    result.elapsed = time.perf_counter() - measure_from
    for transport, _ in conns:
        transport.close()
    return result
