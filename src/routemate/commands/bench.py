"""`routemate bench run` (any outcome file with hidden `tests`) and `routemate bench humaneval`.

Both ask configured models, K samples each, grade every answer in the sandbox and write an outcome
file row by row (an interrupted run resumes with --resume). The work is in ``eval.bench``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from ..cli import _console, _routemate, bench_app, friendly

SAMPLES = typer.Option(1, "--samples", min=1, max=16,
                       help="Answers per prompt and model, drawn in one call (recorded as `samples` with "
                            "`sample_scores`, for `eval cascade --samples`).")
TEMPERATURE = typer.Option(None, "--temperature", min=0.0, max=2.0,
                           help="Sampling temperature (default: 0 for one sample, [verify] temperature for several).")
MAX_TOKENS = typer.Option(512, "--max-tokens", min=1, help="Cap on each answer's length.")
TIMEOUT = typer.Option(10.0, "--timeout", min=0.5, help="Seconds each graded program may run.")
MEMORY = typer.Option(512, "--memory-mb", min=64, help="Memory limit of each graded program.")
CONCURRENCY = typer.Option(1, "--concurrency", min=1, max=64,
                           help="Prompts in flight at once (API models answer faster in parallel).")
RESUME = typer.Option(False, "--resume", help="Keep the rows already in --out; run the rest.")
JSON = typer.Option(False, "--json", help="Print the summary as one JSON object.")
CONTINUE_STUB = typer.Option(False, "--continue-stub",
                             help="With --samples K: the first answer greedy, the other K-1 starting at its "
                                  "code block (the stub it copied) and stopping at its end, as the cascade "
                                  "draws them ([verify] continue_stub).")


@bench_app.command("run")
@friendly
def bench_run(
    data: Path = typer.Option(..., "--data", help="An outcome file whose rows carry hidden `tests` (MBPP test_list "
                                                  "asserts or a HumanEval check)."),
    models: str = typer.Option(..., "--models", help="Configured models to run, comma-separated (e.g. local)."),
    samples: int = SAMPLES,
    temperature: Optional[float] = TEMPERATURE,
    show_tests: int = typer.Option(0, "--show-tests", min=0, max=10,
                                   help="Append this many of each row's hidden asserts to its prompt as visible "
                                        "examples (MBPP's own prompt format); grading still runs them all."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (train/test)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N rows with tests."),
    every: int = typer.Option(1, "--every", min=1, help="Only every Nth row with tests (a spread-out subset)."),
    out: Path = typer.Option(..., "--out", help="The outcome file to write (other models' recorded fields are kept)."),
    max_tokens: int = MAX_TOKENS, timeout: float = TIMEOUT, memory_mb: int = MEMORY, concurrency: int = CONCURRENCY,
    resume: bool = RESUME, as_json: bool = JSON, continue_stub: bool = CONTINUE_STUB,
) -> None:
    """Run models on an outcome file's prompts (K samples each), graded by its hidden tests."""
    from ..eval import bench
    from ..eval.outcomes import load

    tasks = bench.tasks_from(load(data, split=split), show_tests=show_tests)[::every]
    _bench(models, tasks[:limit] if limit else tasks, out, data.name, samples=samples, temperature=temperature,
           max_tokens=max_tokens, timeout=timeout, memory_mb=memory_mb, concurrency=concurrency, resume=resume,
           as_json=as_json, continue_stub=continue_stub)


@bench_app.command("humaneval")
@friendly
def bench_humaneval(
    models: str = typer.Option(..., "--models", help="Configured models to run, comma-separated (e.g. local,gpt4o)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N problems."),
    every: int = typer.Option(1, "--every", min=1, help="Only every Nth problem (a spread-out subset)."),
    samples: int = SAMPLES,
    temperature: Optional[float] = TEMPERATURE,
    out: Path = typer.Option(Path("humaneval-outcomes.jsonl"), "--out", help="The outcome file to write."),
    max_tokens: int = MAX_TOKENS, timeout: float = TIMEOUT, memory_mb: int = MEMORY, concurrency: int = CONCURRENCY,
    resume: bool = RESUME, as_json: bool = JSON, continue_stub: bool = CONTINUE_STUB,
) -> None:
    """Run models on HumanEval (graded in the sandbox) and write an outcome file for `routemate train`."""
    from ..eval import humaneval as he

    tasks = [he.task(p) for p in he.problems()][::every]
    names = _bench(models, tasks[:limit] if limit else tasks, out, "HumanEval", samples=samples,
                   temperature=temperature, max_tokens=max_tokens, timeout=timeout, memory_mb=memory_mb,
                   concurrency=concurrency, resume=resume, as_json=as_json, continue_stub=continue_stub)
    if len(names) > 1 and not as_json:
        _console(stderr=False).print(f"[dim]retrain the router on your models: routemate train --data {out} --weak "
                                     f"{names[0]} --strong {names[-1]} --out router.json[/]")


def _progress_line(model: str, done: int, total: int, passed: int, elapsed: float) -> str:
    line = f"{model}: {done}/{total} prompts · {passed} passed · {_duration(elapsed)} elapsed"
    if done < total:
        line += f" · about {_duration(elapsed / done * (total - done))} left"
    return line


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _bench(models: str, tasks: list[Any], out: Path, title: str, *, samples: int, temperature: float | None,
           max_tokens: int, timeout: float, memory_mb: int, concurrency: int, resume: bool, as_json: bool,
           continue_stub: bool = False) -> list[str]:
    """Ask, grade, write row by row (resumable), show progress and the summary. Returns the models."""
    import asyncio

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..errors import ModelNotFound
    from ..eval import bench

    names = [m.strip() for m in models.split(",") if m.strip()]
    rm = _routemate()
    unknown = [m for m in names if m not in rm.settings.models]
    if unknown:
        raise ModelNotFound(f"unknown model {unknown[0]!r}",
                            hint=f"configured: {', '.join(rm.settings.models)} (see `routemate models`)")
    kept: list[str] = []
    if resume and out.exists():
        done = bench.done_ids(out)
        kept = [line for line in out.read_text(encoding="utf-8").splitlines()
                if line.strip().startswith("{") and line.rstrip().endswith("}")]
        tasks = [t for t in tasks if t.id not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    sink = out.open("w", encoding="utf-8")
    for line in kept:
        sink.write(line + "\n")
    sink.flush()

    def on_row(row: dict[str, object]) -> None:
        # every finished row is on disk at once: an interrupted run resumes with --resume
        sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        sink.flush()

    started = time.perf_counter()
    console = _console()
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=False)
    # a run piped to a file or a CI log gets no live bar: it gets a plain line every 5% of the prompts
    step = None if console.is_terminal else max(1, len(tasks) // 20)
    bars = {m: progress.add_task(m, total=len(tasks), status="") for m in names}
    passed = {m: [0, 0] for m in names}

    def on_result(model: str, task: bench.Task, grades: list[bench.Grade]) -> None:
        passed[model][0] += grades[0].passed
        passed[model][1] += any(g.passed for g in grades)
        done = progress.tasks[bars[model]].completed + 1
        some = f" ({passed[model][1]} with a passing sample)" if samples > 1 else ""
        progress.update(bars[model], advance=1,
                        status=f"{passed[model][0]}/{done} passed{some} · {task.id}: {grades[0].why[:40]}")
        if step and (done % step == 0 or done == len(tasks)):
            print(_progress_line(model, done, len(tasks), passed[model][0], time.perf_counter() - started),
                  file=sys.stderr, flush=True)

    async def go() -> tuple[list[dict[str, object]], dict[str, bench.ModelStats]]:
        try:
            return await bench.run(rm, names, tasks, samples=samples, temperature=temperature, max_tokens=max_tokens,
                                   timeout=timeout, memory_mb=memory_mb, concurrency=concurrency,
                                   continue_stub=continue_stub, on_result=on_result, on_row=on_row)
        finally:
            await rm.aclose()

    try:
        with progress:
            _, stats = asyncio.run(go())
    finally:
        sink.close()
    result = bench.summary(stats, time.perf_counter() - started)
    if as_json:
        print(json.dumps({"out": str(out), "models": result[:-1], "seconds": result[-1]["seconds"], "kept": len(kept)}))
        return names
    from rich.table import Table

    table = Table("model", "pass@1", "passed", *(["every sample", f"pass@{samples}"] if samples > 1 else []), "cost $",
                  "median latency",
                  title=f"{title} · {len(tasks)} prompts" + (f" · {samples} samples" if samples > 1 else ""))
    for r in result[:-1]:
        more = [f"{r['sample_pass_rate']:.1%}", f"{r['pass_at_k']:.1%}"] if samples > 1 else []
        table.add_row(r["model"], f"{r['pass_at_1']:.1%}", f"{r['passed']}/{r['problems']}", *more,
                      f"{r['cost_usd']:.4f}", f"{r['median_latency_s']:.1f}s")
    # tables stay readable when piped (rich would otherwise wrap them at 80 columns)
    con = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    con.print(table)
    con.print(f"[dim]wrote {out}" + (f" ({len(kept)} rows kept from the earlier run)" if kept else "") + "[/]")
    if samples > 1:
        con.print(f"[dim]replay the cascade on it: routemate eval cascade --data {out} --weak {names[0]} "
                  f"--strong MODEL --samples {samples}[/]")
    return names
