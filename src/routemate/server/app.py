"""The gateway's Starlette application: routes, keys, body limits, health and metrics.

Everything answering goes through ``Routemate`` (routing, fallback, costs, the request log), so a
request through the gateway is logged and costed exactly like one from the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import KeyConfig, Settings, load_settings
from ..errors import ModelNotFound, NoModelAvailable, PrivacyRefusal, RoutemateError
from ..keys import CALLER, Allowance, Keyring
from ..routing import extract
from ..service import Routemate
from ..store import Record
from .answer import Answer, Exchange, Limits, Receive, Send, error_headers, send_error, with_limits
from .metrics import Counter, Gauge, Metrics
from .wire import (MethodNotAllowed, NotFound, PayloadTooLarge, Unauthorized, dumps, error_body, parse_chat,
                   parse_completion, parse_embeddings, parse_feedback, parse_json, ratelimit_headers)

log = logging.getLogger("routemate.server")
Scope = dict[str, Any]
TIER_ALIASES = ("auto", "local", "frontier")
READY_CACHE_S = 5.0
ROUTER_REFRESH_S = 15.0     # how often the gateway looks for a newly promoted router version


class Gateway:
    """Per-process state behind the routes: the ``Routemate``, metrics, keys and limits."""

    def __init__(self, settings: Settings | None = None, *, rm: Routemate | None = None, warmup: bool = False) -> None:
        if rm is None:
            from ..reliability import GuardedRoutemate
            from ..store import LogWriter, open_store

            settings = settings or load_settings()
            store = LogWriter(open_store(settings))
            rm = GuardedRoutemate(settings, store=store,  # type: ignore[arg-type]
                                  failures=settings.server.circuit_failures,
                                  cooldown=settings.server.circuit_cooldown)
        self.rm = rm
        self.settings = rm.settings
        self.keyring = Keyring(self.settings, store=self._raw_store)
        self.max_body = int(self.settings.server.max_body_mb * 1024 * 1024)
        self.metrics = Metrics()
        self.metrics.collectors.append(self._live_metrics)
        self.warmup = warmup
        self.warming = False
        self._ready: tuple[float, int, dict[str, Any]] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> Any:
        task = asyncio.ensure_future(self._warm()) if self.warmup else None
        learner = asyncio.ensure_future(self._follow_router())
        try:
            yield
        finally:
            learner.cancel()
            if task is not None:
                task.cancel()
            await self.rm.aclose()
            store = getattr(self.rm, "_store", None)
            if store is not None and hasattr(store, "close"):
                await asyncio.to_thread(store.close)

    async def _warm(self) -> None:
        """Load the embedded engine now, so the first request does not pay for it."""
        self.warming = True
        try:
            await self._load_engines()
        finally:
            self.warming = False

    async def _follow_router(self) -> None:
        """Switch to a router version promoted by a retraining process (or another replica)."""
        while True:
            await asyncio.sleep(ROUTER_REFRESH_S)
            try:
                if await asyncio.to_thread(self.rm.refresh_router):
                    log.info("router in use: %s", self.rm.router.name)
            except Exception:   # a log it cannot read now must not stop serving
                log.warning("could not check the router version in use", exc_info=True)

    async def _load_engines(self) -> None:
        for m in self.settings.models.values():
            if m.backend == "embedded":
                backend: Any = self.rm.backend(m.name)
                inner = getattr(backend, "inner", backend)
                try:
                    await asyncio.to_thread(inner.engine)
                except Exception as exc:   # reported by /readyz and on first use
                    log.warning("could not load %s: %s", m.name, exc)

    # -- helpers --------------------------------------------------------------------------------------
    def check_key(self, headers: Mapping[str, str]) -> KeyConfig | None:
        """The caller's ``[keys]`` entry (None for a plain key, or when no keys are configured); 401
        for a missing or unknown key. Sets the caller for routing (allowed models) and the log."""
        CALLER.set(None)
        if not self.keyring.required:
            return None
        header = headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else headers.get("x-api-key", "")
        if not token:
            raise Unauthorized("missing API key",
                               hint="send 'Authorization: Bearer <key>' with a key from [keys], server.api_keys or "
                                    "ROUTEMATE_API_KEYS")
        found, key = self.keyring.match(token)
        if not found:
            raise Unauthorized("invalid API key", hint="use a key from [keys], server.api_keys or ROUTEMATE_API_KEYS")
        CALLER.set(self.keyring.caller(key))
        return key

    async def body(self, headers: Mapping[str, str], parts: AsyncIterator[bytes]) -> dict[str, Any]:
        length = headers.get("content-length")
        limit_mb = f"{self.settings.server.max_body_mb:g} MB"
        if length and length.isdigit() and int(length) > self.max_body:
            raise PayloadTooLarge(f"request body of {int(length)} bytes is over the {limit_mb} limit",
                                  hint="shorten the request or raise server.max_body_mb")
        chunks, size = [], 0
        async for part in parts:
            size += len(part)
            if size > self.max_body:
                raise PayloadTooLarge(f"request body is over the {limit_mb} limit",
                                      hint="shorten the request or raise server.max_body_mb")
            chunks.append(part)
        return parse_json(b"".join(chunks))

    def limited(self, send: Send, allowance: Allowance | None, render: Limits = ratelimit_headers) -> Send:
        """``send`` carrying the key's rate-limit headers (``Keyring.admit``'s allowance) on its response."""
        return with_limits(send, allowance, self.keyring.clock, render)

    def limit_headers(self, allowance: Allowance | None) -> dict[str, str]:
        """The same headers for a Starlette response."""
        if allowance is None:
            return {}
        return {k.decode(): v.decode() for k, v in ratelimit_headers(allowance, self.keyring.clock())}

    def _raw_store(self) -> Any:
        """The log store itself (not its background writer): key limits need answers at once."""
        store = self.rm.store
        return getattr(store, "store", store)

    def error(self, exc: RoutemateError, endpoint: str, allowance: Allowance | None = None) -> Response:
        self.metrics.responses.inc((endpoint, str(exc.status)))
        headers = {k.decode(): v.decode() for k, v in error_headers(exc)}
        return Response(error_body(exc), exc.status, headers={**headers, **self.limit_headers(allowance)},
                        media_type="application/json")

    # -- routes ---------------------------------------------------------------------------------------
    # The two answering routes are raw ASGI (see ``FastPath``): Starlette's request object and
    # middleware would cost more than the rest of the hop.
    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange(self, "chat")
        headers = _headers(scope)
        try:
            key = self.check_key(headers)
            body = await self.body(headers, _body(receive))
            req, stream, include_usage = parse_chat(body)
            send = self.limited(send, await self.keyring.admit(key, req.model))   # every answer from here on
        except RoutemateError as exc:
            return await self._reject(exc, "chat", self.limited(send, getattr(exc, "allowance", None)))
        try:
            from .verified import VerifiedAnswer, plan

            checks = plan(self.rm, req, body, headers)    # verify-then-escalate for code (docs/verify.md)
            if checks is None:
                run = self.rm.start(req, entry="http")
        except RoutemateError as exc:
            self._log_refusal(exc, req.model, "chat")
            return await self._reject(exc, "chat", send)
        if checks is not None:
            return await VerifiedAnswer(ex, req, checks, stream=stream, include_usage=include_usage)(scope, receive,
                                                                                                      send)
        answer = Answer(ex, [run], stream=stream, include_usage=include_usage, chat=True)
        await answer(scope, receive, send)

    async def completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange(self, "completions")
        headers = _headers(scope)
        try:
            key = self.check_key(headers)
            req, stream, include_usage = parse_completion(await self.body(headers, _body(receive)))
            send = self.limited(send, await self.keyring.admit(key, req.model))
        except RoutemateError as exc:
            return await self._reject(exc, "completions", self.limited(send, getattr(exc, "allowance", None)))
        try:
            run = self.rm.start_completion(req, entry="http", default=self.settings.server.autocomplete)
        except RoutemateError as exc:
            self._log_refusal(exc, req.model, "completions")
            return await self._reject(exc, "completions", send)
        answer = Answer(ex, [run], stream=stream, include_usage=include_usage, chat=False)
        await answer(scope, receive, send)

    def _log_refusal(self, exc: RoutemateError, requested: str, endpoint: str) -> None:
        """A valid request that could not be routed (privacy refusal, no model left) is logged;
        without its prompt, which may hold the very secret it was refused for."""
        if isinstance(exc, (PrivacyRefusal, NoModelAvailable)):
            try:
                self.rm.store.log(Record(entry="http", status="error", requested=requested, error=str(exc),
                                         meta={"endpoint": endpoint, "refused": exc.code}))
            except Exception:   # the client's answer matters more than the row
                log.warning("could not log a refused request", exc_info=True)

    async def _reject(self, exc: RoutemateError, endpoint: str, send: Send) -> None:
        self.metrics.responses.inc((endpoint, str(exc.status)))
        await send_error(send, exc)

    async def route(self, request: Request) -> Response:
        try:
            self.check_key(request.headers)
            req, _, _ = parse_chat(await self.body(request.headers, request.stream()))
            decision, _ = self.rm.route(req)
        except RoutemateError as exc:
            return self.error(exc, "route")
        features = extract(req.messages, tools=len(req.params.get("tools") or ()))
        body = {**decision.to_dict(), "features": features.summary()}
        self.metrics.responses.inc(("route", "200"))
        return Response(dumps(body), media_type="application/json")

    async def embeddings(self, request: Request) -> Response:
        """``POST /v1/embeddings``: one fixed embedding model (see ``Routemate.embedding_model``)."""
        body: dict[str, Any] = {}
        allowance = None
        try:
            key = self.check_key(request.headers)
            body = await self.body(request.headers, request.stream())
            texts = parse_embeddings(body)
            allowance = await self.keyring.admit(key, str(body.get("model") or "auto"))
            out = await self.rm.embed(body, texts, entry="http")
        except RoutemateError as exc:
            self._log_refusal(exc, str(body.get("model") or "auto"), "embeddings")
            return self.error(exc, "embeddings", allowance or getattr(exc, "allowance", None))
        self.metrics.responses.inc(("embeddings", "200"))
        return Response(dumps(out), media_type="application/json",
                        headers={"x-routemate-model": out["model"], **self.limit_headers(allowance)})

    async def feedback(self, request: Request) -> Response:
        """``POST /v1/feedback``: a rating of an answer, by its id; it becomes a label (learning.py)."""
        from ..labels import add_feedback
        from ..learning import after_label

        try:
            self.check_key(request.headers)
            ref, rating, note = parse_feedback(await self.body(request.headers, request.stream()))
            fb = await asyncio.to_thread(add_feedback, self.rm.store, ref, rating, note, via="http")
        except RoutemateError as exc:
            return self.error(exc, "feedback")
        await asyncio.to_thread(after_label, self.rm, self.rm.store)
        self.metrics.responses.inc(("feedback", "200"))
        return Response(dumps({"object": "feedback", "id": ref, "request_id": fb.request_id, "rating": fb.rating,
                               "model": fb.model}), media_type="application/json")

    async def stats(self, request: Request) -> Response:
        """``GET /v1/stats[?days=N]``: the object ``routemate stats --json`` prints (the dashboard's data)."""
        from ..errors import InvalidRequest
        from ..overview import overview

        try:
            self.check_key(request.headers)
            raw = request.query_params.get("days", "30")
            try:
                days = float(raw)
            except ValueError:
                days = -1.0
            if not 0 < days <= 3660:
                raise InvalidRequest(f"days must be a number of days between 0 and 3660, got {raw!r}", param="days")
            body = await asyncio.to_thread(overview, self.rm.store, days=days)
        except RoutemateError as exc:
            return self.error(exc, "stats")
        self.metrics.responses.inc(("stats", "200"))
        return Response(dumps(body), media_type="application/json", headers={"cache-control": "no-store"})

    def model_list(self) -> list[dict[str, Any]]:
        data, seen = [], set()
        for name in TIER_ALIASES:
            data.append({"id": name, "object": "model", "created": 0, "owned_by": "routemate",
                         "description": "router decides" if name == "auto" else f"cheapest available {name} model"})
            seen.add(name)
        for m in self.settings.models.values():
            if m.name in seen:
                continue
            data.append({"id": m.name, "object": "model", "created": 0, "owned_by": "routemate", "tier": m.tier,
                         "capabilities": sorted(m.caps)})
        return data

    async def models(self, request: Request) -> Response:
        try:
            self.check_key(request.headers)
        except RoutemateError as exc:
            return self.error(exc, "models")
        return Response(dumps({"object": "list", "data": self.model_list()}), media_type="application/json")

    async def model(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            self.check_key(request.headers)
            found = next((m for m in self.model_list() if m["id"] == name), None)
            if found is None:
                raise ModelNotFound(f"unknown model {name!r}",
                                    hint=f"use one of: {', '.join(m['id'] for m in self.model_list())}")
        except RoutemateError as exc:
            return self.error(exc, "models")
        return Response(dumps(found), media_type="application/json")

    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        if self.warming:
            return Response(b'{"status":"warming up","models":{}}', 503, media_type="application/json")
        now = time.monotonic()
        if self._ready is None or now - self._ready[0] > READY_CACHE_S:
            health = await self.rm.health()
            models = {name: {"ok": ok, "status": why} for name, (ok, why) in health.items()}
            self._ready = (now, 200 if any(ok for ok, _ in health.values()) else 503, models)
        _, status, models = self._ready
        body = {"status": "ready" if status == 200 else "unavailable", "models": models}
        return Response(dumps(body), status, media_type="application/json")

    async def metrics_endpoint(self, request: Request) -> Response:
        try:
            self.check_key(request.headers)
        except RoutemateError as exc:
            return self.error(exc, "metrics")
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    def _live_metrics(self) -> Any:
        retries = Counter("routemate_upstream_retries_total", "Upstream attempts retried (connect errors, "
                          "408, 429, 5xx) by model.", ("model",))
        state = Gauge("routemate_circuit_open", "1 while a model's circuit is open (0 closed, 0.5 probing).",
                      ("model",))
        opens = Counter("routemate_circuit_opens_total", "Times a model's circuit opened.", ("model",))
        backends = getattr(self.rm, "_backends", {})
        for name, backend in backends.items():
            yield retries, (name,), float(getattr(backend, "retries", 0))
        for name, breaker in getattr(self.rm, "breakers", {}).items():
            yield state, (name,), {"closed": 0.0, "open": 1.0}.get(breaker.state, 0.5)
            yield opens, (name,), float(breaker.opens)
        store = getattr(self.rm, "_store", None)
        if store is not None and "dropped" in getattr(store, "__dict__", {}):
            yield Counter("routemate_log_dropped_total", "Request-log rows that could not be written."), (), \
                float(store.dropped)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    if status == 405:
        err: RoutemateError = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        err = NotFound(f"no route {request.method} {request.url.path}",
                       hint="the API lives under /v1: /v1/chat/completions, /v1/completions, /v1/responses, "
                            "/v1/messages, /v1/embeddings, /v1/models")
    return Response(error_body(err), err.status, media_type="application/json")


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    err = RoutemateError(f"internal error ({type(exc).__name__})", hint="this is a bug in routemate")
    return Response(error_body(err), 500, media_type="application/json")


class FastPath:
    """The ASGI entry: the answering routes go straight to their handlers, the rest to Starlette."""

    def __init__(self, app: Starlette, gw: Gateway) -> None:
        from .guard import Guard

        self.app, self.gateway, self.state = app, gw, app.state
        server = gw.settings.server
        self.guard = Guard(server.host, server.allowed_hosts, server.cors_origins)
        self.routes: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {}
        from functools import partial

        from .anthropic import messages, messages_count_tokens
        from .responses import responses

        for prefix in ("/v1", ""):     # some clients drop the /v1 from their base URL
            self.routes[f"{prefix}/chat/completions"] = gw.chat
            self.routes[f"{prefix}/completions"] = gw.completions
            self.routes[f"{prefix}/responses"] = partial(responses, gw)
            self.routes[f"{prefix}/messages"] = partial(messages, gw)
            self.routes[f"{prefix}/messages/count_tokens"] = partial(messages_count_tokens, gw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # the browser guard runs first, on every request, with or without API keys (server/guard.py)
            refused, origin = self.guard.check(scope)
            if refused is not None:
                self.gateway.metrics.responses.inc(("guard", str(refused.status)))
                if scope["path"].endswith(("/messages", "/messages/count_tokens")):   # Anthropic's error shape
                    from .anthropic import error_body as anthropic_error

                    body = anthropic_error(refused)
                    await send({"type": "http.response.start", "status": refused.status, "headers": [
                        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                    return await send({"type": "http.response.body", "body": body})
                return await send_error(send, refused)
            if origin is not None:
                from .guard import preflight_headers, with_cors

                if scope["method"] == "OPTIONS":
                    await send({"type": "http.response.start", "status": 204,
                                "headers": preflight_headers(scope, origin)})
                    return await send({"type": "http.response.body", "body": b""})
                send = with_cors(send, origin)
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                try:
                    await handler(scope, receive, send)
                except ClientGone:
                    pass
                except Exception as exc:  # a bug must still answer in OpenAI shape, and keep serving
                    log.exception("unexpected error on %s", scope["path"])
                    err = RoutemateError(f"internal error ({type(exc).__name__})", hint="this is a bug in routemate")
                    try:
                        await send_error(send, err)
                    except Exception:
                        pass
                return
        await self.app(scope, receive, send)


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nothing to answer."""


def _headers(scope: Scope) -> dict[str, str]:
    wanted = (b"authorization", b"x-api-key", b"content-length", b"x-routemate-verify")
    return {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in wanted}


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


def create_app(settings: Settings | None = None, *, rm: Routemate | None = None, warmup: bool = False) -> FastPath:
    """The ASGI app. Pass ``rm`` to share a ``Routemate`` (tests, embedding in another server)."""
    gw = Gateway(settings, rm=rm, warmup=warmup)
    routes = []
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/chat/completions", _method_not_allowed, methods=["GET"]),
            Route(f"{prefix}/completions", _method_not_allowed, methods=["GET"]),
            Route(f"{prefix}/responses", _method_not_allowed, methods=["GET"]),
            Route(f"{prefix}/messages", _method_not_allowed, methods=["GET"]),
            Route(f"{prefix}/models", gw.models, methods=["GET"]),
            Route(f"{prefix}/models/{{name:path}}", gw.model, methods=["GET"]),
            Route(f"{prefix}/route", gw.route, methods=["POST"]),
            Route(f"{prefix}/embeddings", gw.embeddings, methods=["POST"]),
            Route(f"{prefix}/feedback", gw.feedback, methods=["POST"]),
        ]
    routes += [Route("/healthz", gw.healthz, methods=["GET"]), Route("/readyz", gw.readyz, methods=["GET"]),
               Route("/metrics", gw.metrics_endpoint, methods=["GET"]), Route("/v1/stats", gw.stats, methods=["GET"])]
    from .dashboard import routes as dashboard_routes

    routes += dashboard_routes()
    app = Starlette(routes=routes, lifespan=gw.lifespan,
                    exception_handlers={HTTPException: _not_found, Exception: _crash})
    app.state.gateway = gw
    return FastPath(app, gw)


async def _method_not_allowed(request: Request) -> Response:
    raise HTTPException(405)


__all__ = ["FastPath", "Gateway", "create_app"]
