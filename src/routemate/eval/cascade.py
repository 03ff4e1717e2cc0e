"""``routemate eval cascade``: replay recorded answers through the verifier, as the live cascade would.

For each prompt, the weak model's recorded response is checked with exactly the checks ``ask``
runs, seeing only the prompt and the response (never the hidden ``tests``, never a score). A
failing answer "escalates": the strong model's recorded score counts instead. Scores are used
only afterwards, to grade the outcome.

With ``--router``, the replay follows the live policy (``routemate.verified.Cascade``) for each
prompt's router score: below the threshold the weak model answers and only a failing answer
escalates; from the threshold up to ``skip_above`` the weak model still tries first, but an answer
nothing could be run against escalates too; from ``skip_above`` the weak try is skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional

import typer

from ..cli import eval_app, friendly
from ..config import VerifyConfig
from ..errors import InvalidRequest
from .outcomes import Outcome, load, require_models


@dataclass(frozen=True)
class CascadeReport:
    file: str
    weak: str
    strong: str
    n: int
    weak_quality: float
    strong_quality: float
    oracle_quality: float
    quality: float
    escalation_rate: float
    gap_recovered: float
    frontier_cost_share: float
    cost_share: float
    caught: float        # share of the weak model's wrong answers that were escalated
    false_alarms: float  # share of the weak model's right answers that were escalated
    ran: float           # share of the weak answers checked where something was run against the code
    seconds: float
    router: str | None = None      # the router whose scores set the policy (None: the checks alone)
    threshold: float | None = None
    skip_above: float | None = None
    skipped: float = 0.0           # share of prompts sent straight to the strong model
    router_trained_on_these: str | None = None


def replay(rows: list[Outcome], weak: str, strong: str, *, unverified: str = "accept", language: str | None = "python",
           timeout: float = 10.0, workers: int = 2, progress: Callable[[int], None] | None = None,
           file: str = "", scores: Sequence[float] | None = None, threshold: float = 0.5,
           skip_above: float = 0.85, router: str | None = None) -> tuple[CascadeReport, list[dict[str, Any]]]:
    """Replay ``rows``; returns the report and one record per prompt (id, escalated, why).

    ``scores`` (one router score per row of ``rows``) switch on the live policy's use of the
    router: see the module docstring."""
    from ..verify.checks import must_escalate
    from ..verify.checks import verify

    pairs = [(r, sc) for r, sc in zip(rows, scores if scores is not None else [None] * len(rows))
             if weak in r.responses]
    usable = [r for r, _ in pairs]
    routed = [sc for _, sc in pairs]
    if not usable:
        raise InvalidRequest(f"{file or 'the outcome file'} has no recorded responses for {weak!r}",
                             hint="`eval cascade` replays recorded answers; this file only has scores. Use a "
                                  "file with a `responses` field, e.g. routerbench-mbpp.jsonl")
    started = time.perf_counter()
    done = 0

    def check(item: tuple[Outcome, float | None]) -> Any:
        nonlocal done
        row, score = item
        # only what a live request would have: the prompt and the weak model's answer
        verdict = None if score is not None and score >= skip_above else \
            verify(row.prompt, row.responses[weak], default_language=language, timeout=timeout)
        done += 1
        if progress:
            progress(done)
        return verdict

    with ThreadPoolExecutor(max(1, workers)) as pool:
        verdicts = list(pool.map(check, pairs))

    records = []
    quality = weak_q = strong_q = oracle_q = 0.0
    frontier_spent = frontier_all = spent = weak_all = 0.0
    escalated = caught = bad = false_alarms = good = ran = skipped = 0
    for row, verdict, score in zip(usable, verdicts, routed):
        w, s = row.scores[weak], row.scores[strong]
        if verdict is None:                     # the router is confident: the weak model is not asked
            up, path = True, "skipped"
        else:
            lowered = score is not None and score >= threshold    # routed higher, the weak model tries first
            up = must_escalate(verdict, lowered=lowered, unverified=unverified)
            path = "weak first" if lowered else "weak"
        skipped += verdict is None
        quality += s if up else w
        weak_q, strong_q, oracle_q = weak_q + w, strong_q + s, oracle_q + max(w, s)
        cw, cs = row.costs.get(weak, 0.0), row.costs.get(strong, 0.0)
        spent += (0.0 if verdict is None else cw) + (cs if up else 0.0)
        frontier_spent += cs if up else 0.0
        frontier_all += cs
        weak_all += cw
        escalated += up
        ran += verdict is not None and verdict.ran
        if w < 0.5:
            bad += 1
            caught += up
        else:
            good += 1
            false_alarms += up
        records.append({"id": row.id, "escalated": up, "weak_score": w, "strong_score": s, "path": path,
                        "router_score": score, "verification": verdict.summary() if verdict else None,
                        "ok": verdict.ok if verdict else None, "ran": verdict.ran if verdict else None})
    n = len(usable)
    gap = strong_q - weak_q
    report = CascadeReport(
        file=file, weak=weak, strong=strong, n=n, weak_quality=weak_q / n, strong_quality=strong_q / n,
        oracle_quality=oracle_q / n, quality=quality / n, escalation_rate=escalated / n,
        gap_recovered=(quality - weak_q) / gap if gap else float("nan"),
        frontier_cost_share=frontier_spent / frontier_all if frontier_all else float("nan"),
        cost_share=spent / frontier_all if frontier_all else float("nan"),
        caught=caught / bad if bad else float("nan"), false_alarms=false_alarms / good if good else float("nan"),
        ran=ran / (n - skipped) if n > skipped else 0.0, seconds=time.perf_counter() - started, router=router,
        threshold=threshold if scores is not None else None, skip_above=skip_above if scores is not None else None,
        skipped=skipped / n)
    return report, records


@eval_app.command("cascade")
@friendly
def cascade_command(
    data: Path = typer.Option(..., "--data", help="Outcome file (JSON Lines) with recorded `responses`."),
    weak: str = typer.Option(..., "--weak", help="The cheap model whose recorded answers are checked."),
    strong: str = typer.Option(..., "--strong", help="The model a failing answer escalates to."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (train/test)."),
    unverified: str = typer.Option("accept", "--unverified",
                                   help="accept or escalate answers where nothing could be run against the code."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    workers: int = typer.Option(2, "--workers", min=1, max=32, help="Answers checked in parallel."),
    records: Optional[Path] = typer.Option(None, "--records", help="Write one JSON line per prompt here."),
    router: Optional[str] = typer.Option(
        None, "--router", help="Also use this router's scores, as the live cascade does: learned, rules, or a "
                               "trained router JSON (use one trained without these prompts)."),
    threshold: float = typer.Option(0.5, "--threshold", min=0.0, max=1.0,
                                    help="With --router: from this score an unverifiable answer escalates too."),
    skip_above: float = typer.Option(VerifyConfig().skip_above, "--skip-above", min=0.0, max=1.0,
                                     help="With --router: from this score the weak try is skipped."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Replay recorded answers through the verifier: quality, escalation rate, gap recovered, cost."""
    if unverified not in ("accept", "escalate"):
        raise InvalidRequest(f"--unverified must be accept or escalate, not {unverified!r}")
    if router is None and (threshold != 0.5 or skip_above != VerifyConfig().skip_above):
        raise InvalidRequest("--threshold and --skip-above need --router", hint="e.g. --router learned")
    if skip_above < threshold:
        raise InvalidRequest(f"--skip-above ({skip_above}) is below --threshold ({threshold})",
                             hint="the weak try is skipped only for scores above the threshold")
    rows = load(data, split=split)
    if not rows:
        raise InvalidRequest(f"{data} has no rows{f' in split {split!r}' if split else ''}")
    if not any(r.responses for r in rows):
        raise InvalidRequest(f"{data} has no recorded responses (only scores)",
                             hint="`eval cascade` replays recorded answers through the checks; use a file with "
                                  "a `responses` field, e.g. routerbench-mbpp.jsonl")
    rows = require_models(rows, weak, strong)
    if limit:
        rows = rows[:limit]
    from ..cli import _console

    err = _console()
    scores = overlap = None
    if router is not None:
        from .routing import resolve_router, router_scores, trained_on

        resolved = resolve_router(router)
        scores = router_scores(resolved, rows)
        overlap = trained_on(resolved, data, split)
    total = sum(1 for r in rows if weak in r.responses)
    status = None if as_json else err.status(f"checking {total} recorded answers of {weak}…")
    if status is not None:
        status.start()
    try:
        report, per_row = replay(
            rows, weak, strong, unverified=unverified, workers=workers, file=str(data), scores=scores,
            threshold=threshold, skip_above=skip_above, router=router,
            progress=(lambda k: status.update(f"checked {k}/{total} answers of {weak}…")) if status else None)
        report = replace(report, router_trained_on_these=overlap)
    finally:
        if status is not None:
            status.stop()
    if records:
        with records.open("w", encoding="utf-8") as fh:
            for rec in per_row:
                fh.write(json.dumps(rec) + "\n")
    if as_json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(report).items()}))
        return
    out = _console(stderr=False)
    out.print(f"[bold]{report.n}[/] prompts · weak [bold]{weak}[/] → strong [bold]{strong}[/] "
              f"({'escalating' if unverified == 'escalate' else 'accepting'} unverifiable answers)")
    out.print(f"quality {report.quality:.3f}  (weak {report.weak_quality:.3f}, strong {report.strong_quality:.3f}, "
              f"oracle {report.oracle_quality:.3f})")
    out.print(f"gap recovered {report.gap_recovered:.1%} at escalation rate {report.escalation_rate:.1%}; "
              f"frontier cost share {report.frontier_cost_share:.1%}")
    if report.router:
        out.print(f"policy: router {report.router}; below {threshold:.2f} only failing answers escalate, from "
                  f"{threshold:.2f} unverifiable ones too, from {skip_above:.2f} the weak try is skipped "
                  f"({report.skipped:.1%} of prompts)")
    out.print(f"escalated {report.caught:.1%} of the weak model's wrong answers and {report.false_alarms:.1%} of "
              f"its right ones; code was run against something for {report.ran:.1%} of the answers checked · "
              f"{report.seconds:.0f}s")
    if overlap:
        err.print(f"[yellow]note:[/] {overlap}")
