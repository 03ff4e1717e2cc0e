"""A real gateway on a loopback port (uvicorn in a thread) and a raw HTTP helper for tests."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from routemate.config import load_settings
from routemate.server.app import create_app
from routemate.server.run import uvicorn_config


class RunningGateway:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        import uvicorn

        self.app = create_app(load_settings(env))
        self.gateway = self.app.state.gateway
        self.server = uvicorn.Server(uvicorn_config(self.app, "127.0.0.1", 0))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="gateway")

    def start(self) -> "RunningGateway":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def rm(self) -> Any:
        return self.gateway.rm

    def log_rows(self) -> list[dict[str, Any]]:
        return list(reversed(self.rm.store.recent(100)))

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 60) -> "Reply":
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        hdrs = {"content-type": "application/json", **(headers or {})}
        try:
            conn.request(method, path, body=raw, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def post(self, path: str, body: Any, **kw: Any) -> "Reply":
        return self.request("POST", path, body, **kw)


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[Any]:
        """SSE data payloads, parsed (``[DONE]`` kept as the string)."""
        out = []
        for block in self.body.decode().split("\n\n"):
            data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
            if data:
                text = "\n".join(data)
                out.append(text if text == "[DONE]" else json.loads(text))
        return out

    def text(self) -> str:
        """The concatenated content of a streamed chat answer."""
        parts = []
        for e in self.events():
            if isinstance(e, dict):
                for c in e.get("choices") or ():
                    parts.append((c.get("delta") or {}).get("content") or c.get("text") or "")
        return "".join(parts)


@pytest.fixture
def gateway(hybrid: Any, env: dict[str, str]) -> Iterator[RunningGateway]:
    """The gateway over the embedded local model and the fake frontier upstream."""
    gw = RunningGateway(env).start()
    try:
        yield gw
    finally:
        gw.stop()


_OPENED: list[Any] = []


def opened(client: Any) -> Any:
    """Register an SDK client to be closed after the test (``close_clients``)."""
    _OPENED.append(client)
    return client


@pytest.fixture
def close_clients() -> Iterator[None]:
    """A client left to the garbage collector leaves its keep-alive socket open (a ResourceWarning)."""
    yield
    while _OPENED:
        _OPENED.pop().close()
