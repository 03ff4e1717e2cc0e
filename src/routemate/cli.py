"""The ``routemate`` command line.

Answers go to stdout; the header (model and why) and the footer (tokens, cost, saved) go to
stderr, so ``routemate ask ... > out.md`` keeps only the answer. Every error is one line on
stderr and a non-zero exit; Ctrl-C while streaming exits 130 and the log row says cancelled.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from contextlib import aclosing
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, Callable, Optional

import typer

# The command owns its process: no pydantic plugin can be installed for it, and looking for them
# reads the metadata of every installed distribution (~0.4 s of each start in a busy venv). To keep
# plugins (e.g. tracing in `routemate serve`), set PYDANTIC_DISABLE_PLUGINS to an empty value.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from .chat import ChatRequest  # noqa: E402
from .errors import ConfigError, RoutemateError  # noqa: E402

# Help text is plain text: with rich markup, bracketed words such as [verify] or [routing.ladder] (config
# sections, which help text names often) would be read as style tags and vanish.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Route every coding request to the cheapest model that answers it well.")

EXTENSIONS = {".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "tsx", ".rs": "rust", ".go": "go",
              ".java": "java", ".c": "c", ".h": "c", ".cpp": "cpp", ".cc": "cpp", ".rb": "ruby", ".sh": "bash",
              ".sql": "sql", ".md": "markdown", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json",
              ".kt": "kotlin", ".swift": "swift", ".cs": "csharp", ".php": "php", ".log": "text"}


def _err(message: str) -> None:
    sys.stderr.write(f"routemate: error: {message}\n")


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn routemate's errors into one line and an exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _err(str(exc))
            raise typer.Exit(2) from None
        except RoutemateError as exc:
            _err(str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            sys.stderr.write("\nroutemate: cancelled\n")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None

    return wrapper


def _routemate() -> Any:
    from .config import load_settings
    from .service import Routemate

    return Routemate(load_settings())


def _console(stderr: bool = True) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _build_prompt(prompt: Optional[str], files: list[Path]) -> str:
    parts = [prompt.strip()] if prompt and prompt.strip() else []
    for f in files:
        try:
            body = f.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise RoutemateError(f"cannot read {f}: {exc.strerror or exc}", hint="check the path given to -f") from None
        parts.append(f"{f.name}:\n```{EXTENSIONS.get(f.suffix.lower(), '')}\n{body.rstrip()}\n```")
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        if piped.strip():
            parts.append(f"```\n{piped.rstrip()}\n```")
    if not parts:
        raise RoutemateError("nothing to ask", hint='give a prompt: routemate ask "how do I ..."')
    return "\n\n".join(parts)


def _header(decision: Any) -> str:
    return f"[bold]{decision.model}[/] [dim]({decision.tier}) · {_escape(decision.reason)}[/]"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _footer(answer: Any, waited_s: float | None = None) -> str:
    """Tokens, cost, saving and the time the user waited (``waited_s``: all attempts and checks)."""
    u = answer.usage
    seconds = answer.latency_ms / 1000 if waited_s is None else waited_s
    rate = f" · id {answer.log_id} (routemate feedback {answer.log_id} good|bad)" if answer.log_id else ""
    return (f"[dim]{u.prompt_tokens}+{u.completion_tokens} tokens · ${answer.cost_usd:.6f} · "
            f"saved ${answer.saved_usd:.6f} · {seconds:.1f}s{rate}[/]")


async def _stream_answer(rm: Any, request: ChatRequest, entry: str, show: bool) -> Any:
    """Stream one answer to stdout; header on the first token, footer at the end."""
    err = _console()
    run = rm.start(request, entry=entry)
    shown = False
    try:
        async with aclosing(run.stream()) as chunks:
            async for chunk in chunks:
                if show and not shown and (chunk.content or chunk.tool_calls):
                    err.print(_header(run.decision))
                    shown = True
                if show and chunk.content:
                    sys.stdout.write(chunk.content)
                    sys.stdout.flush()
    finally:
        await rm.aclose()
    if show:
        if not shown:
            err.print(_header(run.decision))
        sys.stdout.write("\n")
        err.print(_footer(run.answer))
    return run.answer


@app.command()
@friendly
def ask(
    prompt: Optional[str] = typer.Argument(None, help="The request. Piped stdin is appended as context."),
    file: list[Path] = typer.Option([], "--file", "-f", help="Add a file to the request (repeatable)."),
    model: str = typer.Option("auto", "--model", "-m", help="auto, local, frontier, or a configured model."),
    persona: Optional[str] = typer.Option(None, "--persona", "-p", help="A named system prompt, e.g. tutor."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Cap the answer's length."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object instead of streaming."),
    verify: Optional[bool] = typer.Option(
        None, "--verify/--no-verify",
        help="Check a code answer by running it before showing it; a failing answer is escalated to a "
             "stronger model. On by default for requests that write code ([verify] enabled = true); "
             "--no-verify streams the answer unchecked."),
    test: Optional[Path] = typer.Option(None, "--test", help="A Python test file the code must pass "
                                                             "(test_* functions or asserts; implies --verify)."),
) -> None:
    """Ask once; the answer streams from the model the router picks (code answers are checked first)."""
    text = _build_prompt(prompt, file)
    rm = _routemate()
    params = {"max_tokens": max_tokens} if max_tokens else {}
    request = rm.prepare(ChatRequest([{"role": "user", "content": text}], params, model), persona)
    tests = _read_tests(test, verify)
    rm.warm(request)          # the embedded engine loads in the background while the rest is set up
    from .verified import wants_checks

    if wants_checks(rm, request, verify, tests):
        asyncio.run(_ask_checked(rm, request, tests, as_json))
        return
    answer = asyncio.run(_stream_answer(rm, request, "cli", show=not as_json))
    if as_json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))


def _read_tests(path: Optional[Path], verify: Optional[bool]) -> Optional[str]:
    """The ``--test`` file, checked to be readable Python before any model is asked."""
    if path is None:
        return None
    if verify is False:
        raise RoutemateError("--test needs verification", hint="drop --no-verify")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutemateError(f"cannot read test file {path}: {getattr(exc, 'strerror', None) or exc}",
                             hint="give a readable Python file to --test") from None
    try:
        compile(text, str(path), "exec")
    except SyntaxError as exc:
        raise RoutemateError(f"test file {path} is not valid Python (line {exc.lineno}: {exc.msg})",
                             hint="fix the test file; it runs as given") from None
    return text


async def _ask_checked(rm: Any, request: ChatRequest, tests: Optional[str], as_json: bool) -> Any:
    """Render a checked answer: progress on a spinner, the answer on stdout once it is chosen (live
    when nothing could replace it), how it was chosen and checked on stderr."""
    from .verified import Cascade, Decided, Finished, Progress

    started = time.perf_counter()       # what the user waits for: every attempt and every check
    err = _console()
    status = None if as_json else err.status("asking…", spinner="dots")
    if status is not None:
        status.start()
    result = decided = None
    try:
        async for event in Cascade(rm, tests=tests).stream(request, entry="cli"):
            if as_json:
                if isinstance(event, Finished):
                    result = event.result
                continue
            if isinstance(event, Progress):
                status.update(_escape(event.message))
            elif isinstance(event, Decided):
                status.stop()
                decided = event
                err.print(_header(event.decision))
                if event.note:
                    color = "yellow" if event.live or "✗" in event.note or "○" in event.note else "green"
                    err.print(f"[{color}]{_escape(event.note)}[/]")
            elif isinstance(event, Finished):
                result = event.result
            elif event.content:
                sys.stdout.write(event.content)
                sys.stdout.flush()
    finally:
        if status is not None:
            status.stop()
        await rm.aclose()
    assert result is not None
    waited = time.perf_counter() - started
    if as_json:
        # latency_ms is the whole wait; each attempt's own time stays in its log row
        print(json.dumps({**result.to_json(), "latency_ms": round(waited * 1000, 1)}, ensure_ascii=False))
        return result
    sys.stdout.write("\n")
    answer = result.answer
    footer = _footer(answer, waited)
    if result.escalated:
        footer = footer.replace(f"${answer.cost_usd:.6f}", f"${result.cost_usd:.6f} in {len(result.attempts)} attempts")
    err.print(footer)
    if decided is not None and decided.live:   # streamed before it was checked: the verdict comes now
        err.print(f"[{'green' if result.state == 'pass' else 'yellow'}]{_escape(result.attempts[-1].line())}[/]")
    verdict = result.verdict
    if verdict is not None and not verdict.ok:
        lines = [line.strip() for c in verdict.failed for line in (c.detail or "").splitlines() if line.strip()]
        for line in lines[:4]:
            err.print(f"[dim]  {_escape(line[:200])}[/]")
        if len(lines) > 4:
            err.print(f"[dim]  … {len(lines) - 4} more (routemate logs --json has them all)[/]")
        if result.stays:
            err.print(f"[dim]  {_escape(result.stays)}[/]")
    return result


@app.command()
@friendly
def chat(
    model: str = typer.Option("auto", "--model", "-m", help="Start pinned to a model (or /model in the REPL)."),
    persona: Optional[str] = typer.Option(None, "--persona", "-p"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1),
) -> None:
    """A multi-turn conversation; each turn is routed on the whole conversation so far."""
    rm = _routemate()
    err = _console()
    if persona:
        rm.settings.persona(persona)   # fail early on a typo
    err.print("[dim]routemate chat · /model NAME|auto · /persona NAME · /reset · /exit[/]")
    history: list[dict[str, Any]] = []
    params = {"max_tokens": max_tokens} if max_tokens else {}
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                line = input(f"{model}> ")
            except EOFError:
                break
            except KeyboardInterrupt:
                sys.stderr.write("\n")
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                cmd, _, arg = line.partition(" ")
                if cmd in ("/exit", "/quit"):
                    break
                if cmd == "/model":
                    names = {"auto", "local", "frontier", *rm.settings.models}
                    if arg.strip() in names:
                        model = arg.strip()
                    else:
                        err.print(f"[red]unknown model {arg.strip()!r}[/]; choose one of {', '.join(sorted(names))}")
                elif cmd == "/persona":
                    try:
                        rm.settings.persona(arg.strip())
                        persona = arg.strip()
                    except RoutemateError as exc:
                        err.print(f"[red]{_escape(str(exc))}[/]")
                elif cmd == "/reset":
                    history.clear()
                else:
                    err.print(f"[red]unknown command {cmd}[/]")
                continue
            history.append({"role": "user", "content": line})
            request = rm.prepare(ChatRequest(list(history), params, model), persona)
            try:
                answer = loop.run_until_complete(_stream_answer(rm, request, "chat", show=True))
            except KeyboardInterrupt:
                sys.stderr.write("\n(cancelled)\n")
                history.pop()
                continue
            except RoutemateError as exc:
                err.print(f"[red]{_escape(str(exc))}[/]")
                history.pop()
                continue
            history.append({"role": "assistant", "content": answer.text})
    finally:
        loop.run_until_complete(rm.aclose())
        loop.close()


@app.command()
@friendly
def route(
    prompt: str = typer.Argument(..., help="The request to route (no model is called)."),
    model: str = typer.Option("auto", "--model", "-m"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show which model a request would go to, and why. No model is called."""
    if not prompt.strip():
        raise RoutemateError("nothing to route", hint='give a prompt: routemate route "how do I ..."')
    rm = _routemate()
    decision, _ = rm.route(ChatRequest([{"role": "user", "content": prompt}], {}, model))
    if as_json:
        print(json.dumps(decision.to_dict(), ensure_ascii=False))
    else:
        _console(stderr=False).print(_header(decision) + f" [dim]score {decision.score:.2f}[/]")


@app.command()
@friendly
def models(
    as_json: bool = typer.Option(False, "--json"),
    catalog: bool = typer.Option(False, "--catalog", help="List the models routemate can fetch by name instead: "
                                 "size, whether each is on disk, and the HumanEval pass@1 measured for it."),
) -> None:
    """List configured models and whether each can be reached now."""
    if catalog:
        from .commands.models import print_catalog
        from .config import load_settings

        return print_catalog(load_settings(), as_json)
    rm = _routemate()

    async def probe() -> dict[str, tuple[bool, str]]:
        try:
            return await rm.health()
        finally:
            await rm.aclose()

    health = asyncio.run(probe())
    rows = []
    for m in rm.settings.models.values():
        ok, why = health[m.name]
        weights = rm.settings.catalog_model(m)
        upstream = weights.name if weights else Path(m.path).name if m.path else m.upstream_model
        rows.append({"name": m.name, "backend": m.backend, "tier": m.tier, "model": upstream,
                     "price_in": m.price_in, "price_out": m.price_out, "private": m.is_private,
                     "capabilities": sorted(m.caps), "reachable": ok, "status": why})
    if as_json:
        print(json.dumps(rows))
        return
    from rich.table import Table

    table = Table("name", "backend", "tier", "upstream", "serves", "$/1M in·out", "status")
    for r in rows:
        status = f"[green]✓[/] {r['status']}" if r["reachable"] else f"[red]✗[/] {r['status']}"
        table.add_row(r["name"], r["backend"], r["tier"], r["model"], ", ".join(r["capabilities"]),
                      f"{r['price_in']:.2f} · {r['price_out']:.2f}", status)
    _console(stderr=False).print(table)


@app.command()
@friendly
def logs(
    n: int = typer.Option(20, "-n", min=1, help="How many recent requests."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recent requests: model, reason, tokens, cost, saved, status, and your feedback."""
    from .labels import feedback_for

    store = _routemate().store
    rows = store.recent(n)
    rated = feedback_for(store, [r["id"] for r in rows])
    for r in rows:
        r["feedback"] = rated.get(r["id"], [])
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    from rich import box
    from rich.table import Table

    con = _console(stderr=False)
    columns = [("id", "right"), ("time", "left"), ("via", "left"), ("model", "left"), ("tokens", "right"),
               ("cost", "right"), ("saved", "right"), ("ms", "right"), ("status", "left"), ("rated", "left")]
    if con.width < 100:
        columns = [(name, justify) for name, justify in columns if name not in ("via", "ms")]
    # one line per request whatever the width: the reason gets what is left and ends in "…"
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)   # type: ignore[arg-type]
    table.add_column("reason", ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
    today = datetime.now().strftime("%m-%d")
    for r in reversed(rows):
        stamp = datetime.fromtimestamp(r["ts"])
        cells = {"id": str(r["id"]), "via": r["entry"], "model": _escape(r["model"] or "-"),
                 "time": stamp.strftime("%H:%M:%S" if stamp.strftime("%m-%d") == today else "%m-%d %H:%M"),
                 "tokens": f"{r['prompt_tokens']}+{r['completion_tokens']}", "cost": _usd(r["cost_usd"]),
                 "saved": _usd(r["saved_usd"]), "ms": f"{r['latency_ms'] or 0:.0f}",
                 "status": r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]",
                 "rated": _rating(r["feedback"])}
        table.add_row(*(cells[name] for name, _ in columns), _escape(" ".join((r["reason"] or "").split())))
    con.print(table)
    if rows:     # a hint, not data: stderr, so `routemate logs > file` keeps only the table
        _console().print("[dim]full rows: routemate logs --json[/]")


def _rating(feedback: list[dict[str, Any]]) -> str:
    """The latest rating of a request, as `routemate logs` shows it."""
    if not feedback:
        return ""
    last = feedback[-1]["rating"]
    return "[green]good[/]" if last == "good" else "[red]bad[/]"


def _usd(x: float | None) -> str:
    """Dollars compactly: $0, $0.00132, $1.25."""
    x = x or 0.0
    if x == 0:
        return "$0"
    return f"${x:.2f}" if x >= 1 else f"${x:.3g}" if x >= 0.001 else f"${x:.2g}"


@app.command()
@friendly
def stats(as_json: bool = typer.Option(False, "--json"),
          days: float = typer.Option(30.0, "--days", min=0.01, max=3660,
                                     help="Window of the breakdowns (totals are all-time).")) -> None:
    """Requests, share per model, spend and savings, escalations, checks, feedback and router versions."""
    from .overview import overview

    s = overview(_routemate().store, days=days)
    if as_json:
        print(json.dumps(s))
        return
    from rich.table import Table

    con = _console(stderr=False)
    con.print(f"{s['requests']} requests ({s['ok']} ok, {s['errors']} errors, {s['cancelled']} cancelled) · "
              f"spent {_usd(s['cost_usd'])} where the frontier model alone would have cost {_usd(s['frontier_usd'])}: "
              f"saved {_usd(s['saved_usd'])} ({s['saved_share']:.0%})")
    table = Table("model", "tier", "requests", "share", "spent", "saved", "avg ms")
    for m in s["models"]:
        table.add_row(m["model"], m["tier"], str(m["requests"]), f"{m['share']:.0%}", _usd(m["cost_usd"]),
                      _usd(m["saved_usd"]), f"{m['avg_latency_ms'] or 0:.0f}")
    con.print(table)
    esc, fb, router = s["escalations"], s["feedback"], s["router"]
    checked = ", ".join(f"{v['model']} {v['pass_rate']:.0%} of {v['checked']}" for v in s["verification"])
    con.print(f"last {days:g} days: {esc['count']} escalated ({esc['share']:.0%})"
              + (f" · checks passed: {checked}" if checked else "")
              + f" · feedback {fb['good']} good, {fb['bad']} bad · router "
              + (f"learned v{router['in_use']}" if router["in_use"] else "base") + f" ({router['labels']} labels)")


@app.command()
@friendly
def init(force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write an annotated example config to $ROUTEMATE_CONFIG or <home>/config.toml."""
    import os

    from .config import EXAMPLE_CONFIG, config_path

    path = config_path(os.environ)
    if path.exists() and not force:
        raise RoutemateError(f"{path} already exists", hint="use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    print(path)


# Command groups whose commands live beside their feature (e.g. ``routemate eval routing``).
eval_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Measure routers and cascades on recorded outcomes.")
bench_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Run configured models on benchmarks.")

# Modules that register commands on ``app``, ``eval_app`` or ``bench_app`` when imported. They keep
# heavy imports (scikit-learn, uvicorn, ...) inside command bodies so start-up stays fast.
COMMAND_MODULES: list[str] = ["routemate.commands.serve", "routemate.commands.evaluate", "routemate.commands.learn",
                              "routemate.commands.models", "routemate.commands.cascade",
                              "routemate.commands.bench", "routemate.commands.sandbox"]


def _register(argv: Optional[list[str]] = None) -> None:
    """Import the command modules, unless the command line names a command defined in this module
    (``routemate ask ...`` starts faster without loading serve, eval and bench)."""
    import importlib

    argv = sys.argv[1:] if argv is None else argv
    own = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands if c.callback}
    if argv and argv[0] in own:
        return
    for name in COMMAND_MODULES:
        importlib.import_module(name)
    for group, name in ((eval_app, "eval"), (bench_app, "bench")):
        if group.registered_commands and not any(g.name == name for g in app.registered_groups):
            app.add_typer(group, name=name)


def main() -> None:
    _register()
    app()


if __name__ == "__main__":
    main()
