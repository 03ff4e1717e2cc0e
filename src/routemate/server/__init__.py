"""The OpenAI-compatible gateway (``routemate serve``).

``create_app()`` builds the ASGI app; ``serve()`` runs it with uvicorn. Importing this package
stays cheap (the CLI imports it to register ``serve``): Starlette and uvicorn load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings
    from .app import FastPath


def create_app(settings: "Settings | None" = None, **kwargs: Any) -> "FastPath":
    from .app import create_app as build

    return build(settings, **kwargs)


def serve(settings: "Settings | None" = None, *, host: str | None = None, port: int | None = None,
          warmup: bool = True, ready: Any = None, access_log: bool = False) -> None:
    """Run the gateway until interrupted (blocking). ``ready(host, port)`` is called once listening."""
    from .run import run

    run(settings, host=host, port=port, warmup=warmup, ready=ready, access_log=access_log)


__all__ = ["create_app", "serve"]
