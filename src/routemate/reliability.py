"""Circuit breakers: stop sending requests to a model that keeps failing, then probe it again.

Retries with backoff live in the OpenAI backend (before any byte of an answer is read) and
fallback along the model ladder lives in ``Run``; a breaker sits between the two. After
``failures`` consecutive failed attempts on one model its circuit opens: for ``cooldown`` seconds
the router treats the model as unavailable (the decision's reason says so) and the next model on
the ladder answers at once instead of after another round of timeouts. When the cooldown is over
one request is let through as a probe; its success closes the circuit, its failure reopens it.

What counts as a failure: a connect error, a timeout, a stream cut, a 5xx, 408, 429, 401 or 403 (the
model cannot serve anyone). A 400-class answer about one request (bad tool schema, context too
long) says the model is up, so it counts as a success.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from .backends import Backend
from .chat import ChatRequest, Chunk, Completion, CompletionRequest
from .errors import BackendError
from .routing import Candidate
from .service import Routemate

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
HEALTH_STATUSES = {401, 403, 408, 429}


def is_health_failure(exc: BackendError) -> bool:
    """Whether an error says the model is unwell (not just that one request was bad)."""
    status = exc.upstream_status
    return status is None or status >= 500 or status in HEALTH_STATUSES


class CircuitBreaker:
    """Thread-safe consecutive-failure breaker with one probe after each cooldown."""

    def __init__(self, failures: int = 5, cooldown: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self.state = CLOSED
        self.consecutive = 0
        self.opened_at = 0.0
        self.opens = 0            # times the circuit has opened (a metric)
        self.last_error = ""
        self._probing = False
        self._lock = threading.Lock()

    def retry_in(self) -> float:
        """Seconds until a probe may go through (0 when requests may be sent now)."""
        with self._lock:
            if self.state != OPEN:
                return 0.0
            return max(0.0, self.opened_at + self.cooldown - self.clock())

    def blocked(self) -> bool:
        """True while requests must not be sent (open and cooling down, or a probe is in flight)."""
        with self._lock:
            if self.state == HALF_OPEN:
                return self._probing
            return self.state == OPEN and self.clock() < self.opened_at + self.cooldown

    def allow(self) -> bool:
        """Ask to send one request; after a cooldown the first caller becomes the probe."""
        with self._lock:
            if self.state == CLOSED:
                return True
            if self.state == OPEN and self.clock() >= self.opened_at + self.cooldown:
                self.state = HALF_OPEN
            if self.state == HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self.state, self.consecutive, self._probing = CLOSED, 0, False

    def failure(self, error: str = "") -> None:
        with self._lock:
            self.consecutive += 1
            self.last_error = error
            if self.state == HALF_OPEN or self.consecutive >= self.failures:
                if self.state != OPEN:
                    self.opens += 1
                self.state, self.opened_at, self._probing = OPEN, self.clock(), False

    def abandon(self) -> None:
        """The request was cancelled before telling anything about the model's health."""
        with self._lock:
            self._probing = False

    def why(self) -> str:
        return (f"circuit open after {self.consecutive} failures, next try in {self.retry_in():.0f}s"
                + (f"; last: {self.last_error}" if self.last_error else ""))


class GuardedBackend:
    """A backend behind a breaker: refuses fast while the circuit is open, and reports outcomes."""

    def __init__(self, inner: Backend, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.breaker = breaker
        self.config = inner.config
        self.continues_assistant = bool(getattr(inner, "continues_assistant", False))

    @property
    def retries(self) -> int:
        return int(getattr(self.inner, "retries", 0))

    def _refuse(self) -> BackendError:
        return BackendError(f"{self.config.name}: {self.breaker.why()}", retryable=True)

    async def _guard(self, stream: Callable[[], AsyncIterator[Chunk]]) -> AsyncIterator[Chunk]:
        if not self.breaker.allow():
            raise self._refuse()
        settled = False
        try:
            async for chunk in stream():
                yield chunk
        except BackendError as exc:
            settled = True
            if is_health_failure(exc):
                self.breaker.failure(str(exc)[:200])
            else:
                self.breaker.success()
            raise
        except (asyncio.CancelledError, GeneratorExit):
            settled = True
            self.breaker.abandon()
            raise
        finally:
            if not settled:
                self.breaker.success()

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._guard(lambda: self.inner.stream(request))

    def stream_complete(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        return self._guard(lambda: self.inner.stream_complete(request))

    async def chat(self, request: ChatRequest) -> Completion:
        return await self._call(lambda: self.inner.chat(request))

    async def complete(self, request: CompletionRequest) -> Completion:
        return await self._call(lambda: self.inner.complete(request))

    async def _call(self, call: Callable[[], Any]) -> Any:
        if not self.breaker.allow():
            raise self._refuse()
        try:
            result = await call()
        except BackendError as exc:
            self.breaker.failure(str(exc)[:200]) if is_health_failure(exc) else self.breaker.success()
            raise
        except asyncio.CancelledError:
            self.breaker.abandon()
            raise
        self.breaker.success()
        return result

    async def health(self) -> tuple[bool, str]:
        if self.breaker.blocked():
            return False, self.breaker.why()
        return await self.inner.health()

    async def aclose(self) -> None:
        await self.inner.aclose()


class GuardedRoutemate(Routemate):
    """``Routemate`` with a breaker per model: open circuits are unavailable to the router."""

    def __init__(self, *args: Any, failures: int = 5, cooldown: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breakers = {name: CircuitBreaker(failures, cooldown) for name in self.settings.models}

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = GuardedBackend(super().backend(name), self.breakers[name])  # type: ignore[assignment]
        return self._backends[name]

    def candidates(self) -> tuple[Candidate, ...]:
        out = []
        for c in super().candidates():
            breaker = self.breakers.get(c.name)
            if c.available and breaker is not None and breaker.blocked():
                c = replace(c, available=False, unavailable_why=breaker.why())
            out.append(c)
        return tuple(out)

    def retries(self) -> dict[str, int]:
        return {name: int(getattr(b, "retries", 0)) for name, b in self._backends.items()}


__all__ = ["CircuitBreaker", "GuardedBackend", "GuardedRoutemate", "is_health_failure"]
