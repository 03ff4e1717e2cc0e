"""`routemate bench run`: run configured models on any outcome file that has hidden `tests`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from ..cli import _console, _routemate, bench_app, friendly


@bench_app.command("run")
@friendly
def bench_run(
    data: Path = typer.Option(..., "--data", help="An outcome file whose rows carry hidden `tests` (MBPP test_list "
                                                  "asserts or a HumanEval check)."),
    models: str = typer.Option(..., "--models", help="Configured models to run, comma-separated (e.g. local)."),
    samples: int = typer.Option(1, "--samples", min=1, max=16,
                                help="Answers per prompt and model, drawn in one call (recorded as `samples` with "
                                     "`sample_scores`, for `eval cascade --samples`)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, max=2.0,
                                                help="Sampling temperature (default: 0 for one sample, [verify] "
                                                     "temperature for several)."),
    show_tests: int = typer.Option(0, "--show-tests", min=0, max=10,
                                   help="Append this many of each row's hidden asserts to its prompt as visible "
                                        "examples (MBPP's own prompt format); grading still runs them all."),
    split: Optional[str] = typer.Option(None, "--split", help="Only rows of this split (train/test)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N rows with tests."),
    every: int = typer.Option(1, "--every", min=1, help="Only every Nth row with tests (a spread-out subset)."),
    out: Path = typer.Option(..., "--out", help="The outcome file to write (other models' recorded fields are kept)."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Cap on each answer's length."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.5, help="Seconds each graded program may run."),
    memory_mb: int = typer.Option(512, "--memory-mb", min=64, help="Memory limit of each graded program."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Prompts in flight at once."),
    resume: bool = typer.Option(False, "--resume", help="Keep the rows already in --out; run the rest."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Run models on an outcome file's prompts (K samples each), graded by its hidden tests."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..errors import ModelNotFound
    from ..eval import bench
    from ..eval.outcomes import load

    names = [m.strip() for m in models.split(",") if m.strip()]
    rm = _routemate()
    unknown = [m for m in names if m not in rm.settings.models]
    if unknown:
        raise ModelNotFound(f"unknown model {unknown[0]!r}",
                            hint=f"configured: {', '.join(rm.settings.models)} (see `routemate models`)")
    tasks = bench.tasks_from(load(data, split=split), show_tests=show_tests)[::every]
    if limit:
        tasks = tasks[:limit]
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
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=_console(), transient=False)
    bars = {m: progress.add_task(m, total=len(tasks), status="") for m in names}
    passed = {m: [0, 0] for m in names}

    def on_result(model: str, task: bench.Task, grades: list[bench.Grade]) -> None:
        passed[model][0] += grades[0].passed
        passed[model][1] += any(g.passed for g in grades)
        done = progress.tasks[bars[model]].completed + 1
        any_ = f" ({passed[model][1]} with a passing sample)" if samples > 1 else ""
        progress.update(bars[model], advance=1, status=f"{passed[model][0]}/{done} passed{any_} · {task.id}")

    async def go() -> tuple[list[dict[str, object]], dict[str, bench.ModelStats]]:
        try:
            return await bench.run(rm, names, tasks, samples=samples, temperature=temperature, max_tokens=max_tokens,
                                   timeout=timeout, memory_mb=memory_mb, concurrency=concurrency, on_result=on_result,
                                   on_row=on_row)
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
        return
    from rich.table import Table

    t = Table("model", "pass@1 (sample 1)", *(["every sample", f"pass@{samples}"] if samples > 1 else []),
              "cost $", "median latency", title=f"{data.name} · {len(tasks)} prompts")
    for r in result[:-1]:
        more = [f"{r['sample_pass_rate']:.1%}", f"{r['pass_at_k']:.1%}"] if samples > 1 else []
        t.add_row(r["model"], f"{r['pass_at_1']:.1%}", *more, f"{r['cost_usd']:.4f}", f"{r['median_latency_s']:.1f}s")
    con = _console(stderr=False)
    con.print(t)
    con.print(f"[dim]wrote {out}" + (f" ({len(kept)} rows kept from the earlier run)" if kept else "") + "[/]")
    if samples > 1:
        con.print(f"[dim]replay the cascade on it: routemate eval cascade --data {out} --weak {names[0]} "
                  f"--strong MODEL --samples {samples}[/]")
