"""Run configured models on coding tasks with hidden tests, K samples each, graded in the sandbox.

A task is a prompt and its hidden tests, from any outcome file that has ``tests`` (MBPP's
``test_list`` of asserts, or HumanEval's ``test`` with a ``check(candidate)`` function) or from
HumanEval itself (``eval.humaneval``). Each model is asked through ``Routemate`` pinned to it (any
configured model works), ``samples`` answers at once (``routemate.verified.sample``: one call with
``n``); every answer is graded by running the hidden tests in ``verify.sandbox``. The result is an
outcome file: ``scores``/``responses`` hold sample 1, ``samples``/``sample_scores`` all of them,
and what the input file recorded for other models (say GPT-4's answers and scores) is kept, so
``routemate eval cascade --samples K`` can replay the cascade with that model as the strong side.

Grading reads the hidden tests; nothing else here does, and nothing in ``verify`` ever sees them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import BackendError, RoutemateError
from .outcomes import Outcome


class BenchError(RoutemateError):
    code = "bench_error"


@dataclass(frozen=True)
class Task:
    id: str
    prompt: str                        # what the model is asked
    tests: dict[str, Any]              # hidden: {"entry_point", "test_list", "test_imports"} or {"entry_point", "test"}
    source: str = ""
    split: str = "all"
    preamble: str = ""                 # code run before the answer when grading (a HumanEval stub's imports)
    recorded: dict[str, Any] = field(default_factory=dict)   # other models' scores, costs, responses to keep


@dataclass(frozen=True)
class Grade:
    passed: bool
    why: str                 # "passed", "failed", "timed out", "memory", "no code", ...
    duration_s: float = 0.0


@dataclass
class ModelStats:
    passed: int = 0          # sample 1 (what one unchecked answer scores)
    done: int = 0
    sample_passed: int = 0   # every sample
    samples: int = 0
    any_passed: int = 0      # tasks where at least one sample passed (pass@k)
    cost_usd: float = 0.0
    latency_s: list[float] = field(default_factory=list)


SHOW_TESTS = "\n\nYour code should pass {these}:\n```python\n{tests}\n```"


def tasks_from(rows: Sequence[Outcome], *, show_tests: int = 0) -> list[Task]:
    """Tasks from outcome rows that carry tests. ``show_tests`` > 0 appends that many of the
    hidden asserts to the prompt as visible examples (MBPP's own prompt format); grading still runs
    all of them."""
    out = []
    for row in rows:
        tests = row.hidden_tests()
        if not isinstance(tests, dict) or not (tests.get("test_list") or tests.get("test")):
            continue
        prompt = row.prompt
        if show_tests and tests.get("test_list"):
            shown = tests["test_list"][:show_tests]
            prompt += SHOW_TESTS.format(these="this test" if len(shown) == 1 else "these tests", tests="\n".join(shown))
        recorded = {"scores": row.scores, "costs": row.costs, "responses": row.responses}
        out.append(Task(row.id, prompt, tests, row.source, row.split, recorded=recorded))
    if not out:
        raise BenchError("no row of the file has hidden `tests` to grade answers with",
                         hint="use an outcome file with a `tests` field (MBPP test_list or HumanEval test), "
                              "e.g. routerbench-mbpp.jsonl")
    return out


def program(task: Task, answer: str) -> str | None:
    """The script that grades an answer: the task's preamble, the answer's code (its own examples
    left out), the hidden tests. A differently named function stands in for the tested one when the
    prompt never named it. None when the answer has no code at all."""
    from ..verify.checks import main_function
    from ..verify.extract import find_blocks, python_answer

    entry = str(task.tests.get("entry_point") or "")
    parsed = python_answer(answer)
    if parsed is not None and parsed.definitions.strip() and (entry in parsed.names or not task.preamble):
        code = parsed.definitions      # the answer's own examples and prints stay out of grading
        if entry and entry not in parsed.names:
            stand_in = main_function(parsed)
            code += f"\n\n{entry} = {stand_in}\n" if stand_in else ""
    else:
        # a bare continuation of the prompt (the classic completion style)
        blocks = [b.code for b in find_blocks(answer) if b.language in (None, "python")]
        code = blocks[0] if blocks else answer if task.preamble else ""
        if not code.strip():
            return None
        if task.preamble and not code.lstrip().startswith(("def ", "import ", "from ", "class ", "@")):
            code = task.preamble + code
            return f"{code}\n\n{_tests(task)}\n"
    return f"{task.preamble}\n\n{code}\n\n{_tests(task)}\n"


def _tests(task: Task) -> str:
    t = task.tests
    if t.get("test_list"):
        return "\n".join([*t.get("test_imports", []), *t["test_list"]])
    return f"{t['test']}\n\ncheck({t['entry_point']})"


def grade(task: Task, answer: str, *, timeout: float = 10.0, memory_mb: int = 512) -> Grade:
    """Run the hidden tests against an answer in the sandbox."""
    from ..verify.sandbox import run_python

    script = program(task, answer)
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


async def run(rm: Any, models: Sequence[str], tasks: Sequence[Task], *, samples: int = 1,
              temperature: float | None = None, max_tokens: int = 512, timeout: float = 10.0, memory_mb: int = 512,
              concurrency: int = 1, continue_stub: bool = False,
              on_result: Callable[[str, Task, list[Grade]], None] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> tuple[list[dict[str, Any]],
                                                                            dict[str, ModelStats]]:
    """Ask every model every task (pinned), ``samples`` answers each, grade them all; outcome rows
    (in task order) and per-model stats. ``temperature``: default 0 for one sample (its best guess),
    the cascade's sampling temperature for several. ``continue_stub``: as the live cascade draws them
    for a request that gives a stub, the first answer greedy and the others going on from the stub it
    copied (``[verify] continue_stub``). ``on_row`` sees each finished row at once."""
    from ..chat import ChatRequest
    from ..verified import can_continue, continued, continuing, later_head, sample

    stats = {m: ModelStats() for m in models}
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    gate = asyncio.Semaphore(max(1, concurrency))
    temp = temperature if temperature is not None else (rm.settings.verify.temperature if samples > 1 else 0.0)

    async def one(k: int, task: Task) -> None:
        async with gate:
            rec = task.recorded
            row: dict[str, Any] = {"id": task.id, "source": task.source, "split": task.split, "prompt": task.prompt,
                                   "scores": dict(rec.get("scores") or {}), "costs": dict(rec.get("costs") or {}),
                                   "responses": dict(rec.get("responses") or {}), "tests": task.tests}
            if samples > 1:
                row["samples"], row["sample_scores"] = {}, {}
            for m in models:
                request = ChatRequest([{"role": "user", "content": task.prompt}],
                                      {"max_tokens": max_tokens, "temperature": temp}, m)
                decision, policy = rm.route(request)
                if decision.model != m:
                    raise BenchError(f"{m} cannot answer {task.id} ({decision.reason})",
                                     hint="check `routemate models`; the run stops rather than mislabel answers")
                try:
                    if continue_stub and samples > 1:
                        answer, texts, _ = await sample(rm, request, decision, policy, 1, 0.0, entry="bench")
                        head = later_head(task.prompt, texts[0]) if can_continue(rm, request, m) else ""
                        more, extra, _ = await sample(rm, continuing(request, head, answer), decision, policy,
                                                      samples - 1, temp, entry="bench")
                        answer = replace(answer, cost_usd=answer.cost_usd + more.cost_usd,
                                         latency_ms=answer.latency_ms + more.latency_ms)
                        texts += [continued(head, t) for t in extra]
                    else:
                        answer, texts, _ = await sample(rm, request, decision, policy, samples, temp, entry="bench")
                except BackendError as exc:      # no fallback here: another model's answer would be mislabelled
                    raise BenchError(f"{m} could not answer {task.id}: {exc}",
                                     hint="check `routemate models`; the run stops rather than mislabel answers") from None
                grades = await asyncio.gather(*(asyncio.to_thread(grade, task, t, timeout=timeout, memory_mb=memory_mb)
                                                for t in texts))
                row["scores"][m] = 1.0 if grades[0].passed else 0.0
                row["costs"][m] = round(answer.cost_usd, 8)
                row["responses"][m] = texts[0]
                if samples > 1:
                    row["samples"][m] = texts
                    row["sample_scores"][m] = [1.0 if g.passed else 0.0 for g in grades]
                s = stats[m]
                s.done += 1
                s.passed += grades[0].passed
                s.samples += len(grades)
                s.sample_passed += sum(g.passed for g in grades)
                s.any_passed += any(g.passed for g in grades)
                s.cost_usd += answer.cost_usd
                s.latency_s.append(answer.latency_ms / 1000)
                if on_result:
                    on_result(m, task, list(grades))
            rows[k] = row
            if on_row:
                on_row(row)

    jobs = [asyncio.ensure_future(one(k, t)) for k, t in enumerate(tasks)]
    try:
        await asyncio.gather(*jobs)
    finally:
        for j in jobs:        # one failure (or Ctrl-C) stops the others instead of leaving them running
            j.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
    return [r for r in rows if r is not None], stats


def done_ids(out: Path) -> set[str]:
    """Tasks already in an outcome file (to resume an interrupted run)."""
    if not out.exists():
        return set()
    ids = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            continue      # a line cut short by the interruption: that task runs again
    return ids


def summary(stats: dict[str, ModelStats], seconds: float) -> list[dict[str, Any]]:
    out = []
    for m, s in stats.items():
        lat = sorted(s.latency_s)
        out.append({"model": m, "problems": s.done, "passed": s.passed,
                    "pass_at_1": s.passed / s.done if s.done else 0.0,
                    "sample_pass_rate": s.sample_passed / s.samples if s.samples else 0.0,
                    "pass_at_k": s.any_passed / s.done if s.done else 0.0, "cost_usd": s.cost_usd,
                    "median_latency_s": lat[len(lat) // 2] if lat else 0.0})
    out.append({"model": "(wall time)", "seconds": seconds})
    return out
