"""The embedded engine: llama.cpp in this process, through xllamacpp's native server API.

The engine loads once per process, lazily, the first time a request needs it. Requests run in a
worker thread (the engine call blocks); chunks cross to the event loop through a queue, and a
consumer that stops reading (client gone, Ctrl-C) cancels generation at the next token.

xllamacpp also opens an HTTP listener on a loopback port, with no key and CORS open by default, so
any local process or web page could drive it. routemate never uses that listener: it gets a random
per-process API key, CORS limited to its own origin, and no web UI or slot endpoints.
"""

from __future__ import annotations

import asyncio
import atexit
import secrets
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import aclosing
from pathlib import Path
from typing import Any

from ..chat import ChatRequest, Choice, Chunk, Completion, CompletionRequest, Usage, accumulate
from ..config import ModelConfig, Settings
from ..errors import BackendError, InvalidRequest, RoutemateError
from ..sse import event_to_chunks

# Parameters llama.cpp's server understands; anything else is dropped rather than sent.
SUPPORTED = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "presence_penalty",
    "frequency_penalty", "logit_bias", "response_format", "logprobs", "top_logprobs", "n_probs", "top_k",
    "min_p", "repeat_penalty", "grammar", "json_schema", "ignore_eos",
}
TOOL_PARAMS = {"tools", "tool_choice", "parallel_tool_calls"}
# Small local models ramble and repeat at llama.cpp's defaults (temperature 0.8, no repeat penalty):
# a 135M model asked for a string reversal sometimes ran to 2,000 tokens of noise. These apply when
# neither the request nor the model's `params` in the config set them.
GENERATION_DEFAULTS = {"temperature": 0.2, "top_p": 0.9, "repeat_penalty": 1.1, "max_tokens": 512}
# Samples one request may ask for (``n``). Up to ``parallel`` of them decode together in one batch;
# more run as further batches, so a bigger n only costs time.
MAX_N = 16

_engines: dict[tuple[Any, ...], "_Engine"] = {}
_engines_lock = threading.Lock()
# Generations in flight. At interpreter exit they are told to stop and joined: tearing the engine
# down while a worker thread is still inside it aborts the process (e.g. after Ctrl-C).
_inflight: dict[threading.Thread, threading.Event] = {}


@atexit.register
def _stop_inflight() -> None:
    for worker, stop in list(_inflight.items()):
        stop.set()
        worker.join(timeout=30)


def default_threads() -> int:
    """Threads when the config sets none: the physical cores this process may use, minus one for the
    rest of the machine. A llama.cpp thread that loses its core stalls every other one at each of the
    decoder's many barriers: on 2 cores beside one busy process, 2 threads decoded 0.1 tokens/s and 1
    thread 20.6 (bench/threads.py, docs/models.md)."""
    from .cpus import usable_cores

    return max(1, usable_cores() - 1)


class _Engine:
    """One loaded model. Shared by every ModelConfig that names the same weights and shape."""

    def __init__(self, path: Path, n_ctx: int, threads: int, parallel: int, prompt_cache_mib: int) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = parallel
        params.n_ctx = n_ctx * parallel          # llama.cpp splits the context across slots
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # llama.cpp keeps the KV cache of a prompt whose slot another request takes, in host memory, up to
        # 8 GiB by default: a server's memory would creep up by ~11 MiB for every new 900-token prompt
        # of the default model (docs/models.md). Bounded here.
        if hasattr(params, "cache_ram_mib"):
            params.cache_ram_mib = prompt_cache_mib
        params.verbosity = -1
        params.n_threads_http = 1
        # Start-up is on the critical path of `routemate ask` (first token ≤ 2 s). Fitting parameters to
        # device memory is for GPU offload and costs ~0.3 s here; the warm-up decode costs ~0.07 s and
        # the first real request takes no longer without it (both measured on the default model).
        if hasattr(params, "fit_params"):
            params.fit_params = False
        params.warmup = False
        # lock down the engine's own HTTP listener (see module docstring)
        params.api_keys = [secrets.token_urlsafe(32)]
        params.cors_origins = "http://127.0.0.1"
        params.endpoint_slots = False
        params.endpoint_metrics = False
        params.endpoint_props = False
        params.ui = False
        started = time.perf_counter()
        try:
            self.server = xllamacpp.Server(params)
        except Exception as exc:   # the engine raises plain RuntimeErrors
            raise BackendError(f"the embedded engine could not load {path.name}: {exc}",
                               hint="check that the file is a GGUF model llama.cpp supports") from None
        self.load_s = time.perf_counter() - started
        self.path = path
        self.parallel = parallel


def _engine_for(config: ModelConfig, settings: Settings) -> _Engine:
    path = Path(config.path).expanduser() if config.path else None
    threads = config.threads or default_threads()
    catalog = settings.catalog_model(config)
    if catalog is not None:
        from ..weights import ensure

        path = ensure(catalog, settings.models_dir)
    elif path is None or not path.exists():
        raise BackendError(f"model file {path} does not exist",
                           hint=f"fix `path` under [models.{config.name}] or remove it to use the default model")
    key = (str(path), config.n_ctx, threads, config.parallel, config.prompt_cache_mib)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = _Engine(path, config.n_ctx, threads, config.parallel, config.prompt_cache_mib)
        return _engines[key]


def _engine_error(result: dict[str, Any]) -> RoutemateError:
    err = result.get("error") or {}
    message = err.get("message", "unknown engine error") if isinstance(err, dict) else str(err)
    if isinstance(err, dict) and err.get("type") == "exceed_context_size_error":
        # not the client's mistake: a model with a bigger context can answer, so let fallback try one
        return BackendError(f"embedded engine: {message}",
                            hint="raise n_ctx for this model, or let a bigger model answer long requests")
    if isinstance(err, dict) and err.get("code") == 400:
        return InvalidRequest(f"the embedded engine rejected the request: {message}")
    return BackendError(f"embedded engine: {message}")


class EmbeddedBackend:
    continues_assistant = True      # llama.cpp prefills a last assistant message

    def __init__(self, config: ModelConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._engine: _Engine | None = None
        self._loading: Future[_Engine] | None = None

    def engine(self) -> _Engine:
        if self._engine is None:
            loading, self._loading = self._loading, None
            # a load started by warm() is waited for; if it failed, its error is this call's error
            self._engine = loading.result() if loading is not None else _engine_for(self.config, self.settings)
        return self._engine

    def warm(self) -> bool:
        """Start loading the engine in a background thread, so that it loads while the rest of the
        request is prepared (the engine releases the GIL while it loads). Returns whether a load
        started. Weights that still have to be fetched are not: the fetch shows its progress in the
        foreground, on the first real call."""
        if self._engine is not None or self._loading is not None or not self._weights_present():
            return False
        future: Future[_Engine] = Future()

        def load() -> None:
            try:
                future.set_result(_engine_for(self.config, self.settings))
            except BaseException as exc:   # handed to whoever waits in engine()
                future.set_exception(exc)
            finally:
                _inflight.pop(threading.current_thread(), None)

        loader = threading.Thread(target=load, name="routemate-load", daemon=True)
        _inflight[loader] = threading.Event()      # exit waits for a load in progress to finish
        self._loading = future
        loader.start()
        return True

    def _weights_present(self) -> bool:
        catalog = self.settings.catalog_model(self.config)
        if catalog is None:
            return bool(self.config.path) and Path(self.config.path).expanduser().is_file()
        from ..weights import present

        return present(catalog, self.settings.models_dir)

    def _body(self, params: dict[str, Any]) -> dict[str, Any]:
        allowed = SUPPORTED | (TOOL_PARAMS if "tools" in self.config.caps else set())
        asked = {k: v for k, v in params.items() if k in allowed and v is not None}
        if "max_completion_tokens" in asked:
            asked.setdefault("max_tokens", asked.pop("max_completion_tokens"))
        defaults = {**GENERATION_DEFAULTS, "max_tokens": min(512, max(64, self.config.n_ctx // 2))}
        configured = {k: v for k, v in self.config.params.items() if k in allowed and v is not None}
        body = {**defaults, **configured, **asked}
        n = body.pop("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
            raise InvalidRequest(f"n must be a whole number from 1 to {MAX_N} on the embedded engine, got {n!r}",
                                 param="n", hint="ask for fewer samples, or send the request several times")
        return {**body, "n": n} if n > 1 else body

    async def chat(self, request: ChatRequest) -> Completion:
        body = {**self._body(request.params), "messages": request.messages}
        # with n > 1 the engine's own answer counts the tokens of the first sample only; after an
        # assistant prefill it repeats the prefill, where the stream holds the continuation alone
        if body.get("n", 1) > 1 or request.prefilled:
            return accumulate([c async for c in self._stream("handle_chat_completions", body)])
        result = await self._call("handle_chat_completions", body)
        return _completion(result, chat=True)

    async def complete(self, request: CompletionRequest) -> Completion:
        body = self._completion_body(request)
        if body.get("n", 1) > 1:
            return accumulate([c async for c in self._stream("handle_completions", body)])
        result = await self._call("handle_completions", body)
        return _completion(result, chat=False)

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        body = {**self._body(request.params), "messages": request.messages}
        return self._stream("handle_chat_completions", body)

    def stream_complete(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        return self._stream("handle_completions", self._completion_body(request))

    def _completion_body(self, request: CompletionRequest) -> dict[str, Any]:
        # llama.cpp's /completion has no suffix field; FIM prompts arrive pre-rendered here
        return {**self._body(request.params), "prompt": request.prompt}

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        engine = await asyncio.to_thread(self.engine)
        result = await asyncio.to_thread(getattr(engine.server, method), body)
        if not isinstance(result, dict) or "error" in result:
            raise _engine_error(result if isinstance(result, dict) else {"error": str(result)})
        return result

    def _stream(self, method: str, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        return self._samples(method, body) if body.get("n", 1) > 1 else self._engine_stream(method, body)

    async def _samples(self, method: str, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        """``n`` samples: their chunks interleaved by ``index``, then one usage chunk (the prompt counted
        once, the completion tokens of every sample summed). Up to ``parallel`` samples decode together
        in one batch; the engine evaluates their shared prompt once."""
        n = body["n"]
        width = (await asyncio.to_thread(self.engine)).parallel
        prompt_tokens = completion_tokens = 0
        for start in range(0, n, width):
            batch = {**body, "n": min(width, n - start)}
            if "seed" in body:
                # the engine seeds sample i of a batch with seed + i: later batches carry on from there
                batch["seed"] = body["seed"] + start
            async with aclosing(self._engine_stream(method, batch)) as chunks:
                async for chunk in chunks:
                    if chunk.usage is not None:    # one per sample, each counting the same prompt
                        prompt_tokens = chunk.usage.prompt_tokens
                        completion_tokens += chunk.usage.completion_tokens
                        continue
                    chunk.index += start
                    yield chunk
        yield Chunk(usage=Usage(prompt_tokens, completion_tokens))

    async def _engine_stream(self, method: str, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        engine = await asyncio.to_thread(self.engine)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        end = object()

        def deliver(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:      # the consumer's loop is gone: nobody is listening
                stop.set()

        def on_chunk(event: dict[str, Any]) -> bool:
            deliver(event)
            return stop.is_set()          # True tells the engine to cancel

        def run() -> None:
            try:
                result = getattr(engine.server, method)({**body, "stream": True,
                                                         "stream_options": {"include_usage": True}}, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    deliver(result)
            except Exception as exc:  # surfaced to the consumer below
                deliver({"error": {"message": str(exc)}})
            finally:
                _inflight.pop(threading.current_thread(), None)
                deliver(end)

        worker = threading.Thread(target=run, name="routemate-embedded", daemon=True)
        _inflight[worker] = stop
        worker.start()
        try:
            while (event := await queue.get()) is not end:
                if "error" in event:
                    raise _engine_error(event)
                for chunk in event_to_chunks(event):
                    yield chunk
        finally:
            stop.set()

    async def health(self) -> tuple[bool, str]:
        try:
            import xllamacpp  # noqa: F401
        except ImportError as exc:
            return False, f"xllamacpp is not installed ({exc})"
        catalog = self.settings.catalog_model(self.config)
        if catalog is None:
            path = Path(self.config.path or "").expanduser()
            return (True, "loaded" if self._engine else f"ready ({path.name})") if path.exists() else \
                (False, f"{path} does not exist")
        from ..weights import on_disk

        if self._engine:
            return True, f"loaded ({catalog.name})"
        if await asyncio.to_thread(on_disk, catalog, self.settings.models_dir):
            return True, f"ready ({catalog.name})"
        return True, f"fetched on first use ({catalog.download_size / 1e6:,.0f} MB)"

    async def aclose(self) -> None:
        return None


def _completion(result: dict[str, Any], *, chat: bool) -> Completion:
    choices = []
    for c in result.get("choices") or ():
        message = c.get("message") if chat else {"role": "assistant", "content": c.get("text", "")}
        choices.append(Choice(message or {"role": "assistant", "content": ""}, c.get("finish_reason"),
                              c.get("index") or 0))
    return Completion(choices, Usage.from_dict(result.get("usage")))
