"""`routemate eval routing|ladder`, `routemate train`, `routemate calibrate`.

Heavy imports (scikit-learn, matplotlib) stay inside the command bodies.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ..cli import _console, _routemate, app, eval_app, friendly


def _wide_console() -> Any:
    """Tables stay readable when piped (rich would otherwise wrap them at 80 columns)."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def _split_list(values: list[str]) -> list[str]:
    """Options may repeat (``--data A --data B``) or hold a comma-separated list."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _routing_table(report: dict[str, Any]) -> Any:
    """The sweep of `eval routing` as a terminal table (the report itself is plain data)."""
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.1%}"

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    cpt, rnd, orc = report["cpt"], report["random"], report["oracle"]
    t = Table("policy", "quality", "strong share", "APGR", "CPT(50%)", "CPT(80%)", "CPT(95%)",
              title=f"{report['weak']} → {report['strong']} · {report['n']} prompts · {report['split']}")
    t.add_row("always weak", num(report["weak_quality"]), pct(0.0), "", "", "", "")
    t.add_row("always strong", num(report["strong_quality"]), pct(1.0), "", "", "", "")
    t.add_row("random", "", "", num(rnd["apgr"]), pct(rnd["cpt"]["50"]), pct(rnd["cpt"]["80"]), pct(rnd["cpt"]["95"]))
    t.add_row(f"[bold]{report['router']}[/]", "", "", f"[bold]{num(report['apgr'])}[/]", pct(cpt["50"]),
              f"[bold]{pct(cpt['80'])}[/]", pct(cpt["95"]))
    t.add_row("oracle", num(report["oracle_quality"]), pct(report["oracle_strong_share"]), num(orc["apgr"]),
              pct(orc["cpt"]["50"]), pct(orc["cpt"]["80"]), pct(orc["cpt"]["95"]))
    cal = report.get("calibrated")
    if cal:
        budget = (f"frontier_share {cal['frontier_share']}" if cal["frontier_share"] is not None
                  else f"target_quality {cal['target_quality']}")
        t.add_row(f"{report['router']} at {budget}", num(cal["quality"]), pct(cal["strong_share"]),
                  f"PGR {num(cal['pgr'])}", "", f"threshold {cal['threshold']:.3f}", "")
    cost = report.get("cost")
    if cost and cost["at_cpt80"] is not None:
        t.caption = (f"cost per 1,000 prompts: always weak ${cost['weak'] * 1000:.2f}, always strong "
                     f"${cost['strong'] * 1000:.2f}, {report['router']} at CPT(80%) ${cost['at_cpt80'] * 1000:.2f} "
                     f"({cost['saving_at_cpt80']:.0%} less than always strong)")
    return t


@eval_app.command("routing")
@friendly
def eval_routing(
    data: Path = typer.Option(..., "--data", help="An outcome file (JSON Lines: prompt, scores, ...)."),
    weak: str = typer.Option(..., "--weak", help="The cheaper model, as named in the file."),
    strong: str = typer.Option(..., "--strong", help="The stronger model, as named in the file."),
    router: str = typer.Option("learned", "--router", help="learned, rules, or a trained router JSON."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (train/test)."),
    plot_path: Optional[Path] = typer.Option(None, "--plot", help="Write the quality/strong-share curve (PNG)."),
    frontier_share: Optional[float] = typer.Option(None, "--frontier-share", min=0.0, max=1.0,
                                                   help="Also route at the threshold this budget sets."),
    target_quality: Optional[float] = typer.Option(None, "--target-quality", min=0.0, max=1.0,
                                                   help="Also route at the threshold this quality target sets."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Sweep the router's threshold: quality vs strong share, APGR, CPT, random and oracle."""
    from ..errors import InvalidRequest
    from ..eval.routing import evaluate, plot, resolve_router

    if frontier_share is not None and target_quality is not None:
        raise InvalidRequest("give --frontier-share or --target-quality, not both")
    report = evaluate(data, weak, strong, resolve_router(router), split=split, router_name=router,
                      frontier_share=frontier_share, target_quality=target_quality)
    if plot_path is not None:
        report["plot"] = str(plot(report, plot_path))
    if as_json:
        print(json.dumps(report))
        return
    con = _wide_console()
    con.print(_routing_table(report))
    if "plot" in report:
        con.print(f"[dim]plot: {report['plot']}[/]")
    if report["trained_on_these"]:
        _console().print(f"[yellow]note:[/] {report['trained_on_these']}")


@eval_app.command("ladder")
@friendly
def eval_ladder(
    data: Path = typer.Option(..., "--data", help="An outcome file scoring every model of the ladder."),
    models: str = typer.Option(..., "--models", help="Cheapest first, the top model last: small,big,top."),
    router: str = typer.Option("learned", "--router", help="learned, rules, or a trained router JSON."),
    bar: float = typer.Option(0.9, "--bar", min=0.0, max=1.0,
                              help="Each rung keeps at least this fraction of the top model's quality."),
    split: Optional[str] = typer.Option(None, "--split"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Suggest [routing.ladder] ceilings from outcomes of your models, and what they would do."""
    from ..eval.outcomes import load, require_models
    from ..eval.routing import resolve_router, router_scores, suggest_ladder

    names = _split_list([models])
    rows = require_models(load(data, split=split), *names)
    scores = router_scores(resolve_router(router), rows)
    out = suggest_ladder(scores, {m: [r.scores[m] for r in rows] for m in names}, names, bar=bar)
    if as_json:
        print(json.dumps(out))
        return
    con = _wide_console()
    con.print(f"{out['n']} prompts (the ceilings were fitted on them) · quality {out['quality']:.3f} vs {out['top_quality']:.3f} for {names[-1]} alone · "
              + ", ".join(f"{m} {share:.0%}" for m, share in out["shares"].items()))
    con.print("\\[routing.ladder]")
    for m, c in out["ceilings"].items():
        con.print(f'"{m}" = {c}' if not m.replace("_", "").replace("-", "").isalnum() else f"{m} = {c}")


@app.command()
@friendly
def train(
    data: list[str] = typer.Option(..., "--data", help="Outcome files (repeat, or comma-separate)."),
    weak: str = typer.Option(..., "--weak", help="The cheaper model; per file, the first listed name it scores."),
    strong: str = typer.Option(..., "--strong", help="The stronger model; per file, the first listed name."),
    out: Path = typer.Option(..., "--out", help="Where to write the router (JSON)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Drop prompts that appear in these files."),
    exclude_split: Optional[str] = typer.Option(None, "--exclude-split",
                                                help="Only exclude the prompts of this split of --exclude."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (rows marked all stay)."),
    candidate: Optional[str] = typer.Option(None, "--candidate", help="Skip the choice; fit this candidate."),
    cv: bool = typer.Option(True, "--cv/--no-cv", help="Grouped cross-validation to choose the model."),
) -> None:
    """Train a learned router on outcome files; `routing.model = PATH` then uses it."""
    from ..eval.outcomes import prompts_of, training_rows
    from ..routing.train import train as fit_router

    files = [Path(p) for p in _split_list(data)]
    held = [Path(p) for p in _split_list(exclude)]
    err = _console()
    command = "routemate " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    rows, info = training_rows(files, _split_list([weak]), _split_list([strong]), split=split,
                               exclude=prompts_of(held, exclude_split))
    with err.status("training…") as status:
        artifact, report = fit_router(
            rows, info, excluded=[p.name + (f" ({exclude_split} split)" if exclude_split else "") for p in held],
            candidate=candidate, cv=cv, progress=lambda name: status.update(f"cross-validating: {name} done"),
            command=command)
    if report.cv:
        from rich.table import Table

        groups = list(report.cv[0]["apgr"])
        t = Table("candidate", *groups, "mean APGR", title="grouped cross-validation (held-out group APGR)")
        for r in report.cv:
            mark = "[bold]" if r["candidate"] == report.chosen else ""
            t.add_row(f"{mark}{r['candidate']}", *(f"{r['apgr'][g]:.3f}" if r["apgr"][g] is not None else "—"
                                                     for g in groups),
                      f"{mark}{r['mean_apgr']:.3f}" if r["mean_apgr"] is not None else "—")
        err.print(t)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(artifact, separators=(",", ":")) + "\n", encoding="utf-8")
    err.print(f"chose [bold]{report.chosen}[/] · {report.rows} prompts · {out.stat().st_size / 1024:.0f} KiB")
    err.print(f'[dim]use it: \\[routing] router = "learned", model = "{out}"[/]')
    print(out)


@app.command()
@friendly
def calibrate(
    frontier_share: float = typer.Option(..., "--frontier-share", min=0.0, max=1.0,
                                         help="The share of your requests the frontier should answer."),
    last: int = typer.Option(2000, "--last", min=1, help="How many recent logged requests to use."),
    min_requests: int = typer.Option(50, "--min-requests", min=1, help="Refuse with fewer logged requests."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The threshold that would have sent that share of *your* logged requests to the frontier."""
    from ..errors import RoutemateError
    from ..routing.learned import Calibration

    rm = _routemate()
    router = rm.router.name
    rows = [r for r in rm.store.recent(last)
            if r["router"] == router and r["score"] is not None and r["entry"] != "bench"]
    if len(rows) < min_requests:
        raise RoutemateError(f"only {len(rows)} logged requests were routed by the {router} router",
                             hint=f"calibrate after at least {min_requests}, or lower --min-requests")
    scores = sorted(float(r["score"]) for r in rows)
    quantiles = tuple(scores[round(i * (len(scores) - 1) / 100)] for i in range(101))
    threshold = Calibration(quantiles, ()).threshold_for_share(frontier_share)
    now = rm.threshold
    share_now = sum(s >= now for s in scores) / len(scores)
    share_new = sum(s >= threshold for s in scores) / len(scores)
    if as_json:
        print(json.dumps({"requests": len(rows), "router": router, "threshold": round(threshold, 4),
                          "share": share_new, "current_threshold": now, "current_share": share_now}))
        return
    con = _console(stderr=False)
    con.print(f"{len(rows)} logged requests routed by {router}: threshold {now:.3f} sent {share_now:.0%} "
              f"to the frontier; {threshold:.3f} would have sent {share_new:.0%}.")
    con.print(f"set it with: \\[routing] threshold = {threshold:.3f}   (and remove frontier_share / target_quality)")
