"""The pipeline every entry point shares: request → route → backend (with fallback) → log.

The CLI, the gateway and the Python API all go through ``Routemate``; none of them talks to a
backend directly, so routing, fallback, costs and the request log behave the same everywhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from .backends import Backend, create_backend
from .chat import (ChatRequest, Chunk, Completion, CompletionRequest, Usage, accumulate, estimate_prompt_tokens,
                   estimate_tokens, text_of)
from .config import ModelConfig, Settings, load_settings
from .costs import model_cost, saved_usd
from .errors import (BackendError, InvalidRequest, ModelNotFound, NoModelAvailable, PrivacyRefusal,
                     RoutemateError)
from .keys import CALLER, caller_name
from .routing import Candidate, Decision, Policy, Router, build_router, decide, extract, fall_back, threshold_for
from .routing.features import of_request
from .store import LogStore, Record, open_store


@dataclass
class Answer:
    text: str
    decision: Decision
    completion: Completion
    usage: Usage
    cost_usd: float
    saved_usd: float
    latency_ms: float
    ttft_ms: float | None = None
    log_id: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    features: Any = None             # the request's routing Features (chat): what a label learns from

    @property
    def model(self) -> str:
        return self.decision.model

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text, "model": self.decision.model, "tier": self.decision.tier,
            "reason": self.decision.reason,
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
            "cost_usd": round(self.cost_usd, 8), "saved_usd": round(self.saved_usd, 8),
            "latency_ms": round(self.latency_ms, 1), "id": self.log_id,
        }


def prompt_text(request: ChatRequest) -> str:
    """What the log stores as the prompt: the conversation's user-visible text."""
    return "\n".join(f"{m.get('role')}: {text_of(m)}" for m in request.messages)


def required_tool_call(request: ChatRequest) -> str:
    """Why the answer must come from a model that serves tools ("" when it need not): the caller
    demands a tool call, or the conversation ends in a tool result the model has to read."""
    params = request.params
    choice = params.get("tool_choice")
    if params.get("tools") and (choice == "required" or isinstance(choice, dict)):
        fn = choice.get("function") if isinstance(choice, dict) else None
        named = fn.get("name") if isinstance(fn, dict) else None
        return f"tool_choice requires a call of {named}" if named else "tool_choice requires a tool call"
    last = request.messages[-1] if request.messages else {}
    if last.get("role") in ("tool", "function"):
        return "the last message is a tool result"
    return ""


class Routemate:
    """One per process: owns the settings, the router, backends (created lazily) and the log."""

    def __init__(self, settings: Settings | None = None, *, store: LogStore | None = None,
                 router: Router | None = None) -> None:
        self.settings = settings or load_settings()
        self._store = store
        self.router = router or self._learned(build_router(self.settings.routing))
        self.threshold = threshold_for(self.router, self.settings.routing)
        self._backends: dict[str, Backend] = {}
        self._candidates: tuple[Candidate, ...] | None = None

    # -- parts ----------------------------------------------------------------------------------------
    def _learned(self, router: Router) -> Router:
        """The router version learned from this log's labels, when there is one (see learning.py)."""
        from .routing.learned import LearnedRouter

        if not (isinstance(router, LearnedRouter) and self.settings.learning.enabled):
            return router
        if self._store is None and not self.settings.log_url and not self.settings.log_path.exists():
            return router       # no log yet, so nothing learned: do not create one just to look
        from .learning import router_in_use

        try:
            return router_in_use(router, self.store)
        except Exception:       # a log it cannot read must not stop routing
            return router

    def refresh_router(self) -> bool:
        """Switch to the version in use now (another process may have promoted one); True if it changed."""
        from .labels import current_version
        from .learning import base_of, router_in_use

        base = base_of(self.router)
        if base is None or not self.settings.learning.enabled:
            return False
        if current_version(self.store) == getattr(self.router, "version", 0):
            return False        # the usual case: one small query, no artifact read
        fresh = router_in_use(base, self.store)
        if fresh.name == self.router.name:
            return False
        self.router = fresh
        return True

    @property
    def store(self) -> LogStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = create_backend(self.settings.model(name), self.settings)
        return self._backends[name]

    def candidates(self) -> tuple[Candidate, ...]:
        """Every model a chat or completion can go to, as the pure decision sees it. Built once: it
        depends only on the settings (circuit breakers adjust it per request in GuardedRoutemate)."""
        if self._candidates is not None:
            return self._candidates
        out = []
        for m in self.settings.models.values():
            if "chat" not in m.caps:       # embedding-only models answer no chat or completion
                continue
            ok, why = self.settings.available(m)
            out.append(Candidate(name=m.name, tier=m.tier, price=m.price_in + m.price_out, available=ok,
                                 unavailable_why=why, private=m.is_private,
                                 languages=tuple(m.languages) if m.languages is not None else None, caps=m.caps))
        self._candidates = tuple(out)
        return self._candidates

    def allowed_candidates(self) -> tuple[Candidate, ...]:
        """The candidates the current caller's key may use (all of them outside the gateway)."""
        caller = CALLER.get()
        if caller is None or caller.models is None:
            return self.candidates()
        return tuple(c for c in self.candidates() if caller.allows(c.name, c.tier))

    def _not_chat_only(self, pin: str | None) -> None:
        """A pin naming an embedding-only model gets that said, not "unknown model"."""
        m = self.settings.models.get(pin or "")
        if m is not None and "chat" not in m.caps:
            chat = ", ".join(c.name for c in self.candidates())
            raise InvalidRequest(f"model {pin!r} only serves embeddings (POST /v1/embeddings)", param="model",
                                 hint=f"for chat and completions use auto, local, frontier or one of: {chat}")

    def policy(self, request: ChatRequest) -> Policy:
        self._not_chat_only(request.model)
        params = request.params
        needs = set()
        if params.get("tools"):
            needs.add("tools")
        if isinstance(params.get("response_format"), dict) and params["response_format"].get("type") != "text":
            needs.add("json")
        from .lang import detect_messages
        from .privacy import private_reason

        requires_why = required_tool_call(request)
        if requires_why.startswith("the last message") and request.model in self.settings.models:
            requires_why = ""     # a model pinned by name reads the tool result as text; its caller chose it
        return Policy(candidates=self.allowed_candidates(), threshold=self.threshold, pin=request.model,
                      fallback=self.settings.routing.fallback, needs=frozenset(needs),
                      requires=frozenset({"tools"} if requires_why else ()), requires_why=requires_why,
                      ladder=tuple(self.settings.routing.ladder.items()),
                      language=detect_messages(request.messages),
                      private_reason=private_reason(self.settings, request.messages))

    def route(self, request: ChatRequest) -> tuple[Decision, Policy]:
        """The decision for a request; repeated calls on the same request object reuse it (the
        gateway's verify planner and the answer path both ask)."""
        hit = request.memo.get("route")
        if hit is not None and hit[0] is self:
            return hit[1], hit[2]
        policy = self.policy(request)
        decision = decide(self.router.score(of_request(request)), policy)
        request.memo["route"] = (self, decision, policy)
        return decision, policy

    def prepare(self, request: ChatRequest, persona: str | None = None) -> ChatRequest:
        if persona:
            request = request.with_system(self.settings.persona(persona).system_prompt)
        return request

    def warm(self, request: ChatRequest) -> None:
        """Start loading the model this request is routed to, if its backend loads in-process (the
        embedded engine), while the caller goes on preparing the request: a one-shot ``routemate ask``
        overlaps its own start-up with the engine's."""
        decision, _ = self.route(request)
        warm = getattr(self.backend(decision.model), "warm", None)
        if warm is not None:
            warm()

    # -- answering ------------------------------------------------------------------------------------
    def start(self, request: ChatRequest, *, entry: str = "python") -> "Run":
        """Route now; iterate the returned Run to stream the answer (falls back before first content)."""
        decision, policy = self.route(request)
        return Run(self, request, decision, policy, entry)

    async def ask(self, request: ChatRequest, *, entry: str = "python") -> Answer:
        run = self.start(request, entry=entry)
        async with aclosing(run.stream()) as chunks:
            async for _ in chunks:
                pass
        assert run.answer is not None
        return run.answer

    # -- autocomplete (legacy completions, fill-in-the-middle) ------------------------------------------
    def route_completion(self, request: CompletionRequest, *, default: str = "local") -> tuple[Decision, Policy]:
        """Route an autocomplete request. ``auto`` means ``default`` (latency-bound: local unless configured)."""
        pin = default if request.model in ("", "auto") else request.model
        self._not_chat_only(pin)
        messages = [{"role": "user", "content": request.prompt + (request.suffix or "")}]
        features = extract(messages, completion=True)
        needs = {"completions"} | ({"fim"} if request.suffix is not None else set())
        from .privacy import private_reason

        # code being completed can hold secrets as easily as a chat: the same privacy rule applies
        policy = Policy(candidates=self.allowed_candidates(), threshold=self.threshold, pin=pin,
                        fallback=self.settings.routing.fallback, needs=frozenset(needs),
                        private_reason=private_reason(self.settings, messages))
        decision = decide(self.router.score(features), policy)
        if pin != request.model:
            why = decision.reason.replace(f"tier {pin} requested", f"autocomplete defaults to {pin}", 1)
            decision = replace(decision, reason=why.replace(f"pinned to {pin}", f"autocomplete defaults to {pin}", 1))
        return decision, policy

    def start_completion(self, request: CompletionRequest, *, entry: str = "python",
                         default: str = "local") -> "CompletionRun":
        decision, policy = self.route_completion(request, default=default)
        return CompletionRun(self, request, decision, policy, entry)

    async def ask_verified(self, request: ChatRequest, *, tests: str | None = None, entry: str = "python",
                           progress: Any = None) -> Any:
        """Verify-then-escalate: check a code answer by running it, escalate only when it fails.
        Returns a ``routemate.verified.Verified``."""
        from .verified import Cascade

        return await Cascade(self, tests=tests, progress=progress).ask(request, entry=entry)

    # -- embeddings ------------------------------------------------------------------------------------
    def embedding_model(self, requested: str, texts: list[str]) -> tuple[ModelConfig, str]:
        """The model that embeds ``texts``, and why. Not routed per request: vectors from different
        models cannot be compared, so ``auto`` always means the same model (private ones first, then
        the config's order), and a secret in the input refuses rather than switching models."""
        from .privacy import private_reason

        serving = [m for m in self.settings.models.values() if "embeddings" in m.caps]
        example = ('add capabilities = ["embeddings"] to a model, e.g. [models.embed] backend = "openai", '
                   'base_url = "http://localhost:11434/v1", model = "nomic-embed-text", capabilities = ["embeddings"]')
        if requested in ("", "auto", "local", "frontier"):
            pool = [m for m in serving if requested in ("", "auto") or m.tier == requested]
            if not pool:
                raise ModelNotFound(f"no {'' if requested in ('', 'auto') else requested + ' '}model serves "
                                    f"embeddings", param="model", hint=example)
            chosen = sorted(pool, key=lambda m: not m.is_private)[0]
            why = f"embeddings: {chosen.name}, the {'private ' if chosen.is_private else ''}embedding model"
        else:
            if requested not in self.settings.models:
                names = ", ".join(["auto", *(m.name for m in serving)])
                raise ModelNotFound(f"unknown model {requested!r}", hint=f"use one of: {names}" if serving else example)
            chosen = self.settings.model(requested)
            if "embeddings" not in chosen.caps:
                names = ", ".join(m.name for m in serving)
                raise InvalidRequest(f"model {requested!r} does not serve embeddings", param="model",
                                     hint=f"use {names}" if names else example)
            why = f"embeddings: pinned to {chosen.name}"
        ok, unavailable = self.settings.available(chosen)
        if not ok:
            raise NoModelAvailable(f"{chosen.name} cannot embed now: {unavailable}")
        secret = private_reason(self.settings, [{"role": "user", "content": t} for t in texts])
        if secret and not chosen.is_private:
            raise PrivacyRefusal(f"{secret}; the embedding model {chosen.name} is not private, and vectors from "
                                 f"another model would not match the rest of your index",
                                 hint="remove the secret from the input, or make a private (local) model the "
                                      "embedding model")
        return chosen, why

    async def embed(self, body: dict[str, Any], texts: list[str] | None = None, *,
                    entry: str = "python") -> dict[str, Any]:
        """An OpenAI-shaped embeddings response for ``body`` (``input``, ``model``, ...), logged and costed.
        ``texts``: the input's strings, if already extracted (they are scanned for secrets)."""
        if texts is None:
            value = body.get("input")
            texts = [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
        requested = str(body.get("model") or "auto")
        model, why = self.embedding_model(requested, texts)
        started = time.perf_counter()
        backend = self.backend(model.name)
        inner = getattr(backend, "inner", backend)
        embed = getattr(inner, "embeddings", None)
        if embed is None:
            raise InvalidRequest(f"the {model.backend} backend of {model.name} cannot embed", param="model")
        try:
            out = await embed(body)
        except BackendError as exc:
            self.store.log(Record(entry=entry, status="error", requested=requested, model=model.name,
                                  tier=model.tier, reason=why, error=str(exc)[:500], key_name=caller_name(),
                                  meta={"endpoint": "embeddings", "inputs": len(texts)}))
            raise
        usage = out.get("usage") if isinstance(out.get("usage"), dict) else {}
        tokens = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)
        out["model"] = model.name
        self.store.log(Record(entry=entry, status="ok", requested=requested, model=model.name, tier=model.tier,
                              reason=why, prompt_tokens=tokens, cost_usd=tokens * model.price_in / 1e6,
                              latency_ms=(time.perf_counter() - started) * 1000, key_name=caller_name(),
                              meta={"endpoint": "embeddings", "inputs": len(texts)}))
        return out

    async def health(self) -> dict[str, tuple[bool, str]]:
        names = list(self.settings.models)
        results = await asyncio.gather(*(self.backend(n).health() for n in names), return_exceptions=True)
        return {n: (r if isinstance(r, tuple) else (False, str(r))) for n, r in zip(names, results)}

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()


class Run:
    """One request in flight. ``decision`` can change (fallback) until the first chunk arrives."""

    def __init__(self, rm: Routemate, request: ChatRequest, decision: Decision, policy: Policy, entry: str) -> None:
        self.rm, self.request, self.decision, self.policy, self.entry = rm, request, decision, policy, entry
        self.answer: Answer | None = None
        self.attempts: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.ttft: float | None = None
        # a Store written synchronously, for callers that need the row id back (verify-then-escalate
        # links its attempts); default: the process's store, which may write in the background
        self.log_to: LogStore | None = None
        self.response_id: str | None = None     # the id the client gets, so feedback can name this answer
        # False: a failing model raises instead of handing over (a caller asking a local model for
        # several samples escalates itself rather than paying a frontier model for all of them)
        self.fallback = True
        # where to end the answer early: given the text so far, the offset to end it at (None: go on).
        # The model is stopped there and the answer ends normally (the check of a first answer starts
        # once its code block closes); ``cut`` says it was ended so
        self.until: Callable[[str], int | None] | None = None
        self.cut = False
        self._sofar = ""

    def _for_model(self) -> ChatRequest:
        model = self.rm.settings.model(self.decision.model)
        return self.request.with_system(model.system_prompt)

    # What differs between a chat and an autocomplete run: which backend stream, what the log stores
    # as the prompt, and how its tokens are estimated when the backend reports none.
    def _open(self, backend: Backend) -> AsyncIterator[Chunk]:
        return backend.stream(self._for_model())

    def _prompt(self) -> str:
        return prompt_text(self.request)

    def _estimated_prompt_tokens(self) -> int:
        return estimate_prompt_tokens(self.request.messages)

    def _meta(self) -> dict[str, Any]:
        return {"attempts": self.attempts} if self.attempts else {}

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self.stream()

    async def stream(self) -> AsyncIterator[Chunk]:
        """The answer's chunks. A consumer that may stop early should close it deterministically
        (``async with contextlib.aclosing(run.stream())``) so the log row is written at once."""
        chunks: list[Chunk] = []
        status, error = "ok", None
        try:
            while True:
                backend = self.rm.backend(self.decision.model)
                try:
                    async with aclosing(self._open(backend)) as opened:
                        async for chunk in opened:
                            if self.ttft is None and (chunk.content or chunk.tool_calls):
                                self.ttft = time.perf_counter() - self.started
                            if self.until is not None and chunk.content:
                                chunk = self._ended(chunk)
                            chunks.append(chunk)
                            yield chunk
                            if self.cut:
                                break
                    break
                except BackendError as exc:
                    if chunks or not (self.fallback and self.rm.settings.routing.fallback):
                        raise
                    failed = self.decision
                    self.decision, self.policy = fall_back(self.decision, short_error(exc), self.policy)
                    row = self._log_failure(failed, exc)
                    self.attempts.append({"model": failed.model, "error": str(exc),
                                          **({"log_id": row} if row is not None else {})})
        except (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit):
            status, error = "cancelled", "cancelled by the client"
            raise
        except RoutemateError as exc:
            status, error = "error", str(exc)
            raise
        except Exception as exc:
            status, error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.answer = self._finish(chunks, status, error)

    def _ended(self, chunk: Chunk) -> Chunk:
        """``chunk``, or the part of it up to where ``until`` ends the answer (then ``cut`` is set)."""
        assert self.until is not None
        before = self._sofar
        self._sofar += chunk.content
        end = self.until(self._sofar)
        if end is None:
            return chunk
        self.cut = True
        return replace(chunk, content=chunk.content[:max(0, end - len(before))], finish_reason="stop")

    def _log_failure(self, failed: Decision, exc: BackendError) -> int | None:
        """A model that failed before its first byte (retries spent) gets its own error row, so the
        log and the error counts see it; the row that answers lists it in ``meta.attempts``."""
        record = Record(entry=self.entry, status="error", prompt=self._logged_prompt(), requested=self.request.model,
                        model=failed.model, tier=failed.tier, reason=failed.reason, score=failed.score,
                        threshold=failed.threshold, router=failed.router,
                        latency_ms=(time.perf_counter() - self.started) * 1000, error=str(exc),
                        meta={**self._meta(), "fell_back_to": self.decision.model}, key_name=caller_name())
        try:
            return (self.log_to or self.rm.store).log(record)
        except Exception:  # the answer matters more than a log row
            return None

    def _logged_prompt(self) -> str:
        """The prompt as the log may store it: secrets replaced by ``[REDACTED:kind]``."""
        from .privacy import redact_for_log

        settings = self.rm.settings
        if settings.privacy.enabled and self.policy.private_reason is None:
            # routing already scanned every message and found nothing to hide
            return self._prompt()
        return redact_for_log(settings, self._prompt()) or ""

    def _finish(self, chunks: list[Chunk], status: str, error: str | None) -> Answer:
        completion = accumulate(chunks)
        usage = completion.usage or Usage(self._estimated_prompt_tokens(), estimate_tokens(completion.text))
        completion.usage = usage
        model = self.rm.settings.model(self.decision.model)
        spent = model_cost(model, usage)
        saved = saved_usd(self.rm.settings, usage, spent)
        latency = (time.perf_counter() - self.started) * 1000
        answer = Answer(completion.text, self.decision, completion, usage, spent, saved, latency,
                        self.ttft * 1000 if self.ttft is not None else None, attempts=self.attempts,
                        features=getattr(self.request, "memo", {}).get("features"))
        d = self.decision
        record = Record(entry=self.entry, status=status, prompt=self._logged_prompt(), requested=self.request.model,
                        model=d.model, tier=d.tier, reason=d.reason, score=d.score, threshold=d.threshold,
                        router=d.router, prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens, cost_usd=spent, saved_usd=saved,
                        latency_ms=latency, ttft_ms=answer.ttft_ms, error=error, meta=self._meta(),
                        key_name=caller_name(), response_id=self.response_id)
        try:
            answer.log_id = (self.log_to or self.rm.store).log(record)
        except Exception:  # the answer matters more than its log row; never lose it to a log failure
            answer.log_id = None
        return answer


class CompletionRun(Run):
    """One autocomplete request in flight: like ``Run``, over a backend's completion stream.

    A ``suffix`` goes to backends that take it (capability ``fim``); otherwise the model's
    ``fim_template`` renders prefix and suffix into one prompt; with neither, the suffix is dropped
    and the reason says so. A prompt without suffix (already rendered by the client) is sent as is.
    """

    request: CompletionRequest  # type: ignore[assignment]

    def _for_model(self) -> CompletionRequest:  # type: ignore[override]
        from .fim import render

        req = self.request
        model = self.rm.settings.model(self.decision.model)
        if req.suffix is None or "fim" in model.caps:
            return req
        if model.fim_template:
            prompt, params = render(model.fim_template, req.prompt, req.suffix, req.params)
            return CompletionRequest(prompt, None, params, req.model)
        note = f"suffix dropped: {model.name} takes no suffix and has no fim_template"
        if note not in self.decision.reason:
            self.decision = replace(self.decision, reason=f"{self.decision.reason}; {note}")
        return CompletionRequest(req.prompt, None, req.params, req.model)

    def _open(self, backend: Backend) -> AsyncIterator[Chunk]:
        return backend.stream_complete(self._for_model())

    def _prompt(self) -> str:
        return self.request.prompt + (f"\n<suffix>\n{self.request.suffix}" if self.request.suffix else "")

    def _estimated_prompt_tokens(self) -> int:
        return estimate_tokens(self._prompt())

    def _meta(self) -> dict[str, Any]:
        return {"endpoint": "completions", **super()._meta()}


def short_error(exc: Exception) -> str:
    """An error as it goes into a fallback reason: one bounded line."""
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "…"
