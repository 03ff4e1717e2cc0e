"""``routemate eval cascade``: replay recorded answers through the verifier, as the live cascade would.

For each prompt, the weak model's recorded response is checked with exactly the checks ``ask``
runs, seeing only the prompt and the response (never the hidden ``tests``, never a score). A
failing answer "escalates": the strong model's recorded score counts instead. Scores are used
only afterwards, to grade the outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from ..cli import eval_app, friendly
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
    caught: float        # share of the weak model's wrong answers that failed the checks
    false_alarms: float  # share of the weak model's right answers that failed the checks
    ran: float           # share of weak answers where something was run against the code
    seconds: float


def replay(rows: list[Outcome], weak: str, strong: str, *, unverified: str = "accept", language: str | None = "python",
           timeout: float = 10.0, workers: int = 2, progress: Callable[[int], None] | None = None,
           file: str = "") -> tuple[CascadeReport, list[dict[str, Any]]]:
    """Replay ``rows``; returns the report and one record per prompt (id, escalated, why)."""
    from ..verify.checks import verify

    usable = [r for r in rows if weak in r.responses]
    if not usable:
        raise InvalidRequest(f"{file or 'the outcome file'} has no recorded responses for {weak!r}",
                             hint="`eval cascade` replays recorded answers; this file only has scores. Use a "
                                  "file with a `responses` field, e.g. routerbench-mbpp.jsonl")
    started = time.perf_counter()
    done = 0

    def check(row: Outcome) -> Any:
        nonlocal done
        # only what a live request would have: the prompt and the weak model's answer
        verdict = verify(row.prompt, row.responses[weak], default_language=language, timeout=timeout)
        done += 1
        if progress:
            progress(done)
        return verdict

    with ThreadPoolExecutor(max(1, workers)) as pool:
        verdicts = list(pool.map(check, usable))

    records = []
    quality = weak_q = strong_q = oracle_q = 0.0
    frontier_spent = frontier_all = spent = weak_all = 0.0
    escalated = caught = bad = false_alarms = good = ran = 0
    for row, verdict in zip(usable, verdicts):
        w, s = row.scores[weak], row.scores[strong]
        up = (not verdict.ok) or (unverified == "escalate" and not verdict.ran)
        quality += s if up else w
        weak_q, strong_q, oracle_q = weak_q + w, strong_q + s, oracle_q + max(w, s)
        cw, cs = row.costs.get(weak, 0.0), row.costs.get(strong, 0.0)
        spent += cw + (cs if up else 0.0)
        frontier_spent += cs if up else 0.0
        frontier_all += cs
        weak_all += cw
        escalated += up
        ran += verdict.ran
        if w < 0.5:
            bad += 1
            caught += up
        else:
            good += 1
            false_alarms += up
        records.append({"id": row.id, "escalated": up, "weak_score": w, "strong_score": s,
                        "verification": verdict.summary(), "ok": verdict.ok, "ran": verdict.ran})
    n = len(usable)
    gap = strong_q - weak_q
    report = CascadeReport(
        file=file, weak=weak, strong=strong, n=n, weak_quality=weak_q / n, strong_quality=strong_q / n,
        oracle_quality=oracle_q / n, quality=quality / n, escalation_rate=escalated / n,
        gap_recovered=(quality - weak_q) / gap if gap else float("nan"),
        frontier_cost_share=frontier_spent / frontier_all if frontier_all else float("nan"),
        cost_share=spent / frontier_all if frontier_all else float("nan"),
        caught=caught / bad if bad else float("nan"), false_alarms=false_alarms / good if good else float("nan"),
        ran=ran / n, seconds=time.perf_counter() - started)
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
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Replay recorded answers through the verifier: quality, escalation rate, gap recovered, cost."""
    if unverified not in ("accept", "escalate"):
        raise InvalidRequest(f"--unverified must be accept or escalate, not {unverified!r}")
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
    total = sum(1 for r in rows if weak in r.responses)
    status = None if as_json else err.status(f"checking {total} recorded answers of {weak}…")
    if status is not None:
        status.start()
    try:
        report, per_row = replay(
            rows, weak, strong, unverified=unverified, workers=workers, file=str(data),
            progress=(lambda k: status.update(f"checked {k}/{total} answers of {weak}…")) if status else None)
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
    out.print(f"checks caught {report.caught:.1%} of the weak model's wrong answers, flagged "
              f"{report.false_alarms:.1%} of its right ones; code was run against something for "
              f"{report.ran:.1%} of answers · {report.seconds:.0f}s")
