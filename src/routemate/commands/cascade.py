"""`routemate eval cascade`: recorded answers replayed through the live cascade's checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..cli import _console, eval_app, friendly
from ..config import VerifyConfig
from ..errors import InvalidRequest


@eval_app.command("cascade")
@friendly
def cascade_command(
    data: Path = typer.Option(..., "--data", help="Outcome file (JSON Lines) with recorded `responses` or `samples`."),
    weak: str = typer.Option(..., "--weak", help="The cheap model whose recorded answers are checked."),
    strong: Optional[str] = typer.Option(None, "--strong", help="The model a distrusted answer escalates to."),
    perfect_strong: bool = typer.Option(False, "--perfect-strong",
                                        help="Grade the strong side as right on every prompt (for files that record "
                                             "no frontier model, e.g. your own bench run)."),
    samples: int = typer.Option(1, "--samples", min=1, max=64,
                                help="Compare up to K recorded samples per prompt and pick one, as [verify] samples "
                                     "does live (needs `samples` and `sample_scores` in the file for K > 1)."),
    early: bool = typer.Option(False, "--early", help="Replay [verify] early: the first answer (`responses`, e.g. "
                                                      "a greedy one) is checked alone, and the samples after it are "
                                                      "compared only when it does not settle the request."),
    one_by_one: bool = typer.Option(False, "--one-by-one",
                                    help="With --early: the samples after the first answer are checked alone too, in "
                                         "order, and the first that settles the request is the answer."),
    confidence: float = typer.Option(VerifyConfig().threshold, "--confidence", min=0.0, max=1.0,
                                     help="Escalate a picked answer whose confidence is below this ([verify] threshold)."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (train/test)."),
    unverified: str = typer.Option("accept", "--unverified",
                                   help="accept or escalate answers where nothing could be run against the code."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    workers: int = typer.Option(2, "--workers", min=1, max=32, help="Prompts checked in parallel."),
    records: Optional[Path] = typer.Option(None, "--records", help="Write one JSON line per prompt here."),
    router: Optional[str] = typer.Option(
        None, "--router", help="Also use this router's scores, as the live cascade does: learned, rules, or a "
                               "trained router JSON (use one trained without these prompts)."),
    threshold: float = typer.Option(0.5, "--threshold", min=0.0, max=1.0,
                                    help="With --router: from this score an unverifiable answer escalates too."),
    skip_above: float = typer.Option(VerifyConfig().skip_above, "--skip-above", min=0.0, max=1.0,
                                     help="With --router: from this score the weak try is skipped."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (with the whole curve)."),
) -> None:
    """Replay recorded answers through the checks: quality, escalation rate, gap recovered, the curve."""
    from ..eval.cascade import PERFECT, replay
    from ..eval.outcomes import load, require_models

    if (strong is None) == (not perfect_strong):
        raise InvalidRequest("give either --strong MODEL or --perfect-strong",
                             hint="--strong names a model the file scores; --perfect-strong assumes one always right")

    if unverified not in ("accept", "escalate"):
        raise InvalidRequest(f"--unverified must be accept or escalate, not {unverified!r}")
    if one_by_one and not early:
        raise InvalidRequest("--one-by-one replays the samples after a first answer: it needs --early",
                             hint="add --early (and --samples K with K > 1)")
    if router is None and (threshold != 0.5 or skip_above != VerifyConfig().skip_above):
        raise InvalidRequest("--threshold and --skip-above need --router", hint="e.g. --router learned")
    if skip_above < threshold:
        raise InvalidRequest(f"--skip-above ({skip_above}) is below --threshold ({threshold})",
                             hint="the weak try is skipped only for scores above the threshold")
    rows = load(data, split=split)
    if not rows:
        raise InvalidRequest(f"{data} has no rows{f' in split {split!r}' if split else ''}")
    if not any(r.responses or r.samples for r in rows):
        raise InvalidRequest(f"{data} has no recorded responses (only scores)",
                             hint="`eval cascade` replays recorded answers through the checks; use a file with "
                                  "a `responses` field, e.g. routerbench-mbpp.jsonl")
    rows = require_models(rows, weak, *([strong] if strong else []))
    strong = strong or PERFECT
    if samples > 1 and not any(r.samples.get(weak) for r in rows):
        raise InvalidRequest(f"--samples {samples}: {data} records no `samples` of {weak}",
                             hint="produce them with: routemate bench run --data FILE --models MODEL --samples K")
    if limit:
        rows = rows[:limit]
    err = _console()
    scores = overlap = None
    if router is not None:
        from ..eval.routing import resolve_router, router_scores, trained_on

        resolved = resolve_router(router)
        scores = router_scores(resolved, rows)
        overlap = trained_on(resolved, data, split)
    total = sum(1 for r in rows if r.answers(weak))
    status = None if as_json else err.status(f"checking {total} prompts' answers of {weak}…")
    if status is not None:
        status.start()
    try:
        report, per_row = replay(
            rows, weak, strong, samples=samples, confidence=confidence, unverified=unverified, workers=workers,
            file=str(data), scores=scores, threshold=threshold, skip_above=skip_above, router=router, early=early,
            one_by_one=one_by_one,
            progress=(lambda k: status.update(f"checked {k}/{total} prompts' answers of {weak}…")) if status else None)
        if overlap:
            from dataclasses import replace

            report = replace(report, router_trained_on_these=overlap)
    finally:
        if status is not None:
            status.stop()
    if records:
        with records.open("w", encoding="utf-8") as fh:
            for rec in per_row:
                fh.write(json.dumps(rec) + "\n")
    if as_json:
        print(json.dumps(report.to_json()))
        return
    _render(report, unverified, threshold, skip_above)
    if overlap:
        err.print(f"[yellow]note:[/] {overlap}")


def _render(report, unverified: str, threshold: float, skip_above: float) -> None:  # type: ignore[no-untyped-def]
    out = _console(stderr=False)

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    k = f", best of {report.samples} samples" if report.samples > 1 else ""
    if report.early and report.samples_drawn is not None:
        k += f" (early: the first answer alone when it settles; {report.samples_drawn:.2f} drawn on average)"
    out.print(f"[bold]{report.n}[/] prompts · weak [bold]{report.weak}[/]{k} → strong [bold]{report.strong}[/] "
              f"({'escalating' if unverified == 'escalate' else 'accepting'} unverifiable answers; confidence "
              f"threshold {report.confidence_threshold:.2f})")
    out.print(f"quality {report.quality:.3f}  (weak {report.weak_quality:.3f}, picked local {report.local_quality:.3f}, "
              f"strong {report.strong_quality:.3f}, oracle {report.oracle_quality:.3f})")
    out.print(f"gap recovered {pct(report.gap_recovered)} at escalation rate {report.escalation_rate:.1%}; "
              f"frontier cost share {pct(report.frontier_cost_share)}")
    out.print(f"confidence AUROC {report.auroc if report.auroc is None else round(report.auroc, 3)}; "
              f"area under the escalation curve {pct(report.curve_area)} of the gap")
    if report.router:
        out.print(f"policy: router {report.router}; below {threshold:.2f} only distrusted answers escalate, from "
                  f"{threshold:.2f} unverifiable ones too, from {skip_above:.2f} the weak try is skipped "
                  f"({report.skipped:.1%} of prompts)")
    out.print(f"escalated {pct(report.caught)} of the wrong picks and {pct(report.false_alarms)} of the right ones; "
              f"something ran against {report.ran:.1%} of the answers checked · {report.seconds:.0f}s")
