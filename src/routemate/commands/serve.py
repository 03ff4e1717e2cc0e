"""``routemate serve``: uvicorn loads only when it runs."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..cli import app, friendly

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
@friendly
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Interface to listen on (default: server.host, "
                                       "127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", min=0, max=65535, help="Port (default: server.port, 8080)."),
    warmup: bool = typer.Option(True, "--warmup/--no-warmup", help="Load the embedded model at start-up."),
    access_log: bool = typer.Option(False, "--access-log", help="Print one line per HTTP request to stderr."),
) -> None:
    """Serve an OpenAI-compatible API (/v1/chat/completions, /v1/completions, ...) that routes every request."""
    from ..config import load_settings
    from ..server import serve as run

    settings = load_settings()
    bind = host or settings.server.host
    keys = settings.gateway_keys()
    if bind not in LOOPBACK and not keys:
        sys.stderr.write(f"routemate: warning: listening on {bind} without API keys: anyone who can reach this "
                         "port can use your models (set ROUTEMATE_API_KEYS or server.api_keys)\n")

    def ready(h: str, p: int) -> None:
        models = ", ".join(f"{m.name} ({m.tier})" for m in settings.models.values())
        sys.stderr.write(f"routemate gateway on http://{h}:{p}/v1 · models: {models} · "
                         f"keys: {'required' if keys else 'off'} · log: {settings.log_path}\n")
        sys.stderr.flush()

    run(settings, host=host, port=port, warmup=warmup, ready=ready, access_log=access_log)
