"""routemate: every coding request goes to the cheapest model that will answer it well.

Python use::

    import routemate
    answer = routemate.ask("Write a function that reverses a string")
    print(answer.model, answer.decision.reason, answer.text)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat import ChatRequest, Chunk, Completion, CompletionRequest, Usage
    from .config import ModelConfig, Settings, load_settings
    from .errors import (BackendError, ConfigError, InvalidRequest, ModelNotFound, NoModelAvailable, PrivacyRefusal,
                         RoutemateError)
    from .routing import Decision, Features, Router, Score
    from .service import Answer, Routemate, Run

__version__ = "0.1.0"

# Names are imported on first use, so `import routemate` (and the CLI's start) does not pay for
# pydantic and the service until something needs them.
_EXPORTS = {
    "chat": ("ChatRequest", "Chunk", "Completion", "CompletionRequest", "Usage"),
    "config": ("ModelConfig", "Settings", "load_settings"),
    "errors": ("BackendError", "ConfigError", "InvalidRequest", "ModelNotFound", "NoModelAvailable",
               "PrivacyRefusal", "RoutemateError"),
    "routing": ("Decision", "Features", "Router", "Score"),
    "service": ("Answer", "Routemate", "Run"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'routemate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def ask(prompt: str, *, model: str = "auto", persona: str | None = None, settings: "Settings | None" = None,
        **params: Any) -> "Answer":
    """Answer one prompt synchronously (routes, calls the model, logs). For async code use ``Routemate``."""
    import asyncio

    from .chat import ChatRequest
    from .service import Routemate

    rm = Routemate(settings)
    request = rm.prepare(ChatRequest([{"role": "user", "content": prompt}], params, model), persona)

    async def run() -> "Answer":
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
