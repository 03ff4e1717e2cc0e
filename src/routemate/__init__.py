"""routemate: every coding request goes to the cheapest model that will answer it well.

Python use::

    import routemate
    answer = routemate.ask("Write a function that reverses a string")
    print(answer.model, answer.decision.reason, answer.text)
"""

from __future__ import annotations

from typing import Any

from .chat import ChatRequest, Chunk, Completion, CompletionRequest, Usage
from .config import ModelConfig, Settings, load_settings
from .errors import (BackendError, ConfigError, InvalidRequest, ModelNotFound, NoModelAvailable, PrivacyRefusal,
                     RoutemateError)
from .routing import Decision, Features, Router, Score
from .service import Answer, Routemate, Run

__version__ = "0.1.0"


def ask(prompt: str, *, model: str = "auto", persona: str | None = None, settings: Settings | None = None,
        **params: Any) -> Answer:
    """Answer one prompt synchronously (routes, calls the model, logs). For async code use ``Routemate``."""
    import asyncio

    rm = Routemate(settings)
    request = rm.prepare(ChatRequest([{"role": "user", "content": prompt}], params, model), persona)

    async def run() -> Answer:
        try:
            return await rm.ask(request, entry="python")
        finally:
            await rm.aclose()

    return asyncio.run(run())


__all__ = [
    "Answer", "BackendError", "ChatRequest", "Chunk", "Completion", "CompletionRequest", "ConfigError", "Decision",
    "Features", "InvalidRequest", "ModelConfig", "ModelNotFound", "NoModelAvailable", "PrivacyRefusal", "Router",
    "Routemate", "RoutemateError", "Run", "Score", "Settings", "Usage", "ask", "load_settings",
]
