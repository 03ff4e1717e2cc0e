"""``routemate serve``: uvicorn loads only when it runs."""

from __future__ import annotations

import sys
from typing import Any, Optional

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
    keys = bool(settings.gateway_keys() or settings.keys)
    if bind not in LOOPBACK and not keys:
        sys.stderr.write(f"routemate: warning: listening on {bind} without API keys: anyone who can reach this "
                         "port can use your models (add [keys.NAME] tables, or set ROUTEMATE_API_KEYS or "
                         "server.api_keys)\n")

    sandbox = _sandbox_line(settings)

    if settings.log_url:
        from ..store_postgres import redact_url

        log = redact_url(settings.log_url)
    else:
        log = str(settings.log_path)

    def ready(h: str, p: int) -> None:
        models = ", ".join(f"{m.name} ({m.tier})" for m in settings.models.values())
        sys.stderr.write(f"routemate gateway on http://{h}:{p}/v1 · models: {models} · "
                         f"keys: {'required' if keys else 'off'} · log: {log} · sandbox: {sandbox}\n")
        sys.stderr.flush()

    run(settings, host=host, port=port, warmup=warmup, ready=ready, access_log=access_log)


def _sandbox_line(settings: Any) -> str:
    """The sandbox's state for the start-up banner; a missing layer also gets a warning line that
    names it and says what becomes of code from clients (``routemate sandbox`` shows each layer)."""
    from ..verify.sandbox import describe, for_remote_code, layers, usable

    found = layers()
    missing = found.get("missing") or {}
    remote = for_remote_code(found, settings.verify.allow_weak_sandbox)
    if not missing and usable(found):
        return "full"
    sys.stderr.write(f"routemate: warning: the sandbox {describe(found)}; "
                     f"code from gateway clients: {remote}\n")
    return f"lacks {', '.join(missing)}" if usable(found) else "unavailable"


@app.command()
@friendly
def keys(as_json: bool = typer.Option(False, "--json")) -> None:
    """Gateway keys: spend in the current budget period, requests, limits and allowed models."""
    import json
    import time

    from ..cli import _console, _routemate, _usd
    from ..keys import period_start

    rm = _routemate()
    now = time.time()
    named = rm.settings.keys
    usage = {u["key_name"]: u for u in rm.store.key_usage()}
    rows = []
    for name, key in named.items():
        spent = rm.store.spend(period_start(key.period, now), [name]).get(name, 0.0)
        rows.append({"name": name, "period": key.period, "spent_usd": round(spent, 8), "budget_usd": key.budget_usd,
                     "remaining_usd": None if key.budget_usd is None else round(max(0.0, key.budget_usd - spent), 8),
                     "rpm": key.rpm, "models": key.models,
                     "requests": usage.get(name, {}).get("requests", 0),
                     "total_usd": round(usage.get(name, {}).get("cost_usd", 0.0), 8)})
    # keys that are no longer configured still show what they spent
    rows += [{"name": name, "period": None, "spent_usd": None, "budget_usd": None, "remaining_usd": None,
              "rpm": None, "models": None, "requests": u["requests"], "total_usd": round(u["cost_usd"], 8)}
             for name, u in usage.items() if name not in named]
    if as_json:
        print(json.dumps(rows))
        return
    con = _console(stderr=False)
    if not rows:
        con.print("no [keys.NAME] tables in the config, and no keyed requests in the log "
                  "(docs/gateway.md: Keys for teams)")
        return
    from rich.table import Table

    table = Table("key", "this period", "budget", "left", "rpm", "models", "requests", "all time")
    for r in rows:
        period = f"{_usd(r['spent_usd'])} ({r['period']})" if r["period"] else "(not configured)"
        table.add_row(r["name"], period, "-" if r["budget_usd"] is None else _usd(r["budget_usd"]),
                      "-" if r["remaining_usd"] is None else _usd(r["remaining_usd"]),
                      str(r["rpm"] or "-"),
                      ", ".join(r["models"]) if r["models"] else "all" if r["period"] else "-",
                      str(r["requests"]), _usd(r["total_usd"]))
    con.print(table)
