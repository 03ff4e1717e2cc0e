"""``routemate pull [NAME]`` and ``routemate models --catalog``: the weights routemate can fetch by name."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from rich.markup import escape

from ..cli import _console, app, friendly
from ..errors import RoutemateError


@app.command()
@friendly
def pull(name: Optional[str] = typer.Argument(
        None, help="A catalog model (routemate models --catalog) or a configured model. Default: the weights of "
                   "every configured embedded model.")) -> None:
    """Fetch, verify and assemble model weights now (otherwise: on first use). Prints each file's path."""
    from ..config import load_settings
    from ..weights import ensure

    settings = load_settings()
    for entry in _targets(settings, name):
        print(ensure(entry, settings.models_dir))


def _targets(settings: Any, name: str | None) -> list[Any]:
    from ..catalog import CATALOG

    if name is None:
        wanted = {m.name: settings.catalog_model(m) for m in settings.models.values()}
        entries = list({e.name: e for e in wanted.values() if e is not None}.values())
        if not entries:
            raise RoutemateError("no configured model runs catalog weights (they all name a GGUF path or a "
                                 "server)", hint=f"name one: routemate pull {next(iter(CATALOG))}")
        return entries
    if name in CATALOG:
        return [CATALOG[name]]
    if name in settings.models:
        entry = settings.catalog_model(settings.models[name])
        if entry is None:
            raise RoutemateError(f"model {name!r} does not run catalog weights, so there is nothing to pull for it",
                                 hint=f"catalog models: {', '.join(CATALOG)}")
        return [entry]
    raise RoutemateError(f"{name!r} is neither a catalog model nor a configured model",
                         hint=f"catalog models: {', '.join(CATALOG)} (routemate models --catalog)")


def catalog_rows(settings: Any) -> list[dict[str, Any]]:
    from ..catalog import CATALOG, DEFAULT_MODEL
    from ..weights import on_disk

    used = {}
    for m in settings.models.values():
        entry = settings.catalog_model(m)
        if entry is not None:
            used.setdefault(entry.name, []).append(m.name)
    rows = []
    for e in CATALOG.values():
        path = on_disk(e, settings.models_dir)
        rows.append({"name": e.name, "title": e.title, "family": e.family, "parameters": e.parameters,
                     "quantisation": e.quantisation, "download_bytes": e.download_size, "size_bytes": e.size,
                     "sha256": e.sha256, "packages": [e.spec(p) for p in e.parts], "licence": e.licence,
                     "context_length": e.context_length, "fim_template": e.fim_template,
                     "humaneval_pass1": e.humaneval, "default": e.name == DEFAULT_MODEL,
                     "configured_as": used.get(e.name, []), "on_disk": str(path) if path else None})
    return rows


def print_catalog(settings: Any, as_json: bool) -> None:
    rows = catalog_rows(settings)
    if as_json:
        print(json.dumps(rows))
        return
    from rich.table import Table

    from rich import box

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "weights", "download", "on disk", "HumanEval"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        score = f"{r['humaneval_pass1']:.1%}" if r["humaneval_pass1"] is not None else "[dim]—[/]"
        table.add_row(r["name"] + ("*" if r["default"] else ""), f"{r['parameters']} {r['quantisation']}",
                      f"{r['download_bytes'] / 1e6:,.0f} MB", "[green]✓[/]" if r["on_disk"] else "[dim]—[/]",
                      score)
    _console(stderr=False).print(table)
    _console().print(escape("* the default. HumanEval: pass@1 on all 164 problems, measured through the embedded "
                            'engine. Fetch one now: routemate pull NAME; use it: [models.local] weights = "NAME"'),
                     style="dim")
