"""Backends: one module per kind of engine, all behind the same small ``Backend`` protocol.

``embedded`` runs llama.cpp in this process (xllamacpp); ``openai`` speaks to any OpenAI-compatible
HTTP server (OpenAI, vLLM, Ollama, llama.cpp server). Modules are imported only when a model of
that kind is first used, so nothing heavy loads at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from ..chat import ChatRequest, Chunk, Completion, CompletionRequest

if TYPE_CHECKING:
    from ..config import ModelConfig, Settings


class Backend(Protocol):
    config: "ModelConfig"
    # A last assistant message is continued rather than answered anew, and the answer (streamed or
    # not) is the continuation only: the cascade then starts further samples from what the first
    # answer copied out of the request.
    continues_assistant: bool

    async def chat(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]: ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def stream_complete(self, request: CompletionRequest) -> AsyncIterator[Chunk]: ...

    async def health(self) -> tuple[bool, str]: ...

    async def aclose(self) -> None: ...


def create_backend(model: "ModelConfig", settings: "Settings") -> Backend:
    if model.backend == "embedded":
        from .embedded import EmbeddedBackend

        return EmbeddedBackend(model, settings)
    from .openai import OpenAIBackend

    return OpenAIBackend(model, settings)


__all__ = ["Backend", "create_backend"]
