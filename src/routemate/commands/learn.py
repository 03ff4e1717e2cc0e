"""Learning from your own traffic: `routemate feedback`, `routemate router history|use|retrain`, and
`routemate eval online` (how a router that learns does on traffic it has not seen yet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..cli import _console, _routemate, app, eval_app, friendly

router_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Router versions learned from your traffic.")
app.add_typer(router_app, name="router")


@app.command()
@friendly
def feedback(
    request_id: str = typer.Argument(..., metavar="ID", help="A log id (routemate logs) or a response id."),
    rating: str = typer.Argument(..., metavar="good|bad", help="Was the answer good enough?"),
    note: Optional[str] = typer.Option(None, "--note", help="What was wrong (or right) with it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rate an answer: it is shown in `routemate logs` and teaches the router."""
    from ..labels import add_feedback
    from ..learning import after_label

    rm = _routemate()
    fb = add_feedback(rm.store, request_id, rating.strip().lower(), note, via="cli")
    after_label(rm, rm.store)
    if as_json:
        print(json.dumps({"request_id": fb.request_id, "rating": fb.rating, "note": fb.note, "model": fb.model}))
        return
    _console(stderr=False).print(f"recorded: request {fb.request_id} ({fb.model or '-'}) rated {fb.rating}"
                                 + (f" · {fb.note}" if fb.note else ""))


@router_app.command("history")
@friendly
def router_history(n: int = typer.Option(20, "-n", min=1), as_json: bool = typer.Option(False, "--json")) -> None:
    """Every router version proposed from your labels: quality on held-back labels, promoted or not, in use."""
    from ..labels import current_version, label_count, versions

    rm = _routemate()
    rows = versions(rm.store, n)
    current = current_version(rm.store)
    if as_json:
        print(json.dumps({"in_use": current, "labels": label_count(rm.store), "versions": rows}))
        return
    from datetime import datetime

    from rich.table import Table

    con = _console(stderr=False)
    con.print(f"in use: [bold]{'learned v' + str(current) if current else 'learned (the base router)'}[/] · "
              f"{label_count(rm.store)} labels of local answers")
    if not rows:
        con.print(f"[dim]no versions yet: one is proposed every {rm.settings.learning.retrain_every} labels "
                  "(checked answers and `routemate feedback`)[/]")
        return
    t = Table("version", "when", "labels", "held-back AUC", "vs in use", "", "why")
    for r in rows:
        mark = "[bold green]in use[/]" if r["in_use"] else ("promoted" if r["promoted"] else "[dim]not promoted[/]")
        t.add_row(f"v{r['version']}" if r["promoted"] else f"(v{r['version']})",
                  datetime.fromtimestamp(r["ts"]).strftime("%m-%d %H:%M"), str(r["labels"]),
                  "—" if r["quality"] is None else f"{r['quality']:.3f}",
                  "—" if r["baseline"] is None else f"{r['baseline']:.3f}", mark, r["why"] or "")
    con.print(t)


@router_app.command("use")
@friendly
def router_use(version: str = typer.Argument(..., help="A version (3 or v3); 0 or base for the base router.")) -> None:
    """Switch to a kept router version (roll back, or forward again)."""
    from ..errors import InvalidRequest
    from ..labels import use_version

    text = version.strip().lower().removeprefix("v")
    if text == "base":
        text = "0"
    if not text.isdigit():
        raise InvalidRequest(f"not a router version: {version!r}", hint="e.g. routemate router use v2 (or base)")
    rm = _routemate()
    use_version(rm.store, int(text))
    _console(stderr=False).print(f"in use: {'learned v' + text if text != '0' else 'learned (the base router)'}")


@router_app.command("retrain")
@friendly
def router_retrain(
    if_due: bool = typer.Option(False, "--if-due", help="Only when enough new labels arrived since the last try."),
    quiet: bool = typer.Option(False, "--quiet"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Propose a router version from your labels now; it is promoted only if it beats the one in use."""
    import fcntl

    from ..errors import RoutemateError
    from ..learning import base_of, due, retrain

    rm = _routemate()
    base = base_of(rm.router)
    if base is None:
        raise RoutemateError(f"the {rm.router.name} router does not learn", hint='set [routing] router = "learned"')
    if if_due and not due(rm.settings, rm.store):
        return
    rm.settings.home.mkdir(parents=True, exist_ok=True)
    with open(rm.settings.home / "retrain.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if quiet:
                return
            raise RoutemateError("another retraining is running", hint="try again in a minute") from None
        result = retrain(rm.settings, rm.store, base)
    if as_json:
        print(json.dumps(result))
    elif not quiet:
        _console(stderr=False).print(f"{result['why']} · {result['usable']} labels · {result['seconds']}s · "
                                     f"in use: {result['in_use']}")


@eval_app.command("online")
@friendly
def eval_online(
    data: Path = typer.Option(..., "--data", help="An outcome file, replayed as traffic."),
    weak: str = typer.Option(..., "--weak", help="The cheaper model (the local one), as named in the file."),
    strong: str = typer.Option(..., "--strong", help="The stronger model, as named in the file."),
    router: str = typer.Option("learned", "--router",
                               help="The starting router: learned (the shipped one) or a trained router JSON."),
    batch: int = typer.Option(25, "--batch", min=1, help="Requests between two updates of the router."),
    seed: int = typer.Option(0, "--seed", help="Order of the replay (the same seed, the same order)."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (train/test)."),
    prompts: str = typer.Option("text", "--prompts",
                                help="text, or hash: learn only from what a log with log.prompts = hash keeps."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="Also score a TF-IDF + logistic model retrained before each batch."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Replay outcomes as traffic: the router learns after each batch and is scored only on prompts it has not seen."""
    from ..errors import InvalidRequest
    from ..eval.online import replay
    from ..eval.outcomes import load, require_models
    from ..eval.routing import trained_on
    from ..routing.learned import LearnedRouter

    if prompts not in ("text", "hash"):
        raise InvalidRequest(f"--prompts must be text or hash, not {prompts!r}")
    base = LearnedRouter() if router == "learned" else LearnedRouter.from_path(router)
    rows = require_models(load(data, split=split), weak, strong)
    err = _console()
    status = None if as_json else err.status("replaying…")
    if status is not None:
        status.start()
    try:
        report = replay(rows, weak, strong, base, batch=batch, seed=seed, prompts=prompts, baseline=baseline,
                        progress=(lambda k, n: status.update(f"replayed {k}/{n} requests…")) if status else None)
    finally:
        if status is not None:
            status.stop()
    report.update({"data": str(data), "split": split or "all", "router": router,
                   "trained_on_these": trained_on(base, data, split)})
    if as_json:
        print(json.dumps(report))
        return
    out = _console(stderr=False)

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    out.print(f"[bold]{report['n']}[/] requests · {weak} → {strong} · batches of {batch} · seed {seed} · "
              f"prompts {prompts}")
    out.print(f"APGR, each prompt scored before the router learned from it: static [bold]{num(report['static_apgr'])}[/] · "
              f"online [bold]{num(report['online_apgr'])}[/] · "
              f"tf-idf baseline {num(report['baseline_apgr'])} · oracle {num(report['oracle_apgr'])}")
    out.print(f"{report['promotions']} of {len(report['versions'])} proposed versions promoted; "
              f"in use at the end: {report['final_version']}")
    points = [p for p in report["curve"] if p.get("apgr_unseen") is not None]
    if points:
        step = max(1, len(points) // 8)
        out.print("APGR on the rest of the stream: " + "  ".join(
            f"{p['seen']}→{num(p['apgr_unseen'])}" for p in points[::step]))
    if report["trained_on_these"]:
        err.print(f"[yellow]note:[/] {report['trained_on_these']}")
