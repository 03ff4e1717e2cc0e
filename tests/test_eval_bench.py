"""`routemate bench run`: any outcome file with hidden tests, K samples per prompt, graded in the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from routemate.eval.bench import Task, grade, tasks_from
from routemate.eval.outcomes import load
from test_verified import local_fake, two_fakes  # noqa: F401  (fixtures)

MBPP = {"entry_point": "add_nums", "test_imports": [], "test_list": ["assert add_nums(1, 2) == 3",
                                                                     "assert add_nums(-1, 1) == 0"]}
RIGHT = "```python\ndef add_nums(a, b):\n    return a + b\n```"
RENAMED = "Sure:\n```python\ndef add_two(x, y):\n    return x + y\n\nprint(add_two(2, 2))  # 4\n```"
WRONG = "```python\ndef add_nums(a, b):\n    return a - b\n```"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True,
                          env={**os.environ}, timeout=300, stdin=subprocess.DEVNULL)


def test_mbpp_tests_grade_answers_and_a_renamed_function_stands_in() -> None:
    task = Task("m", "Write a function to add two numbers.", MBPP)
    assert grade(task, RIGHT).passed and grade(task, RENAMED).passed
    assert not grade(task, WRONG).passed and grade(task, "no code here").why == "no code"


def test_visible_tests_are_appended_and_the_hidden_ones_stay_for_grading(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "1", "prompt": "Write a function to add two numbers.", "scores": {"g": 1},
                                "tests": MBPP}) + "\n" + json.dumps({"id": "2", "prompt": "no tests", "scores": {"g": 1}})
                    + "\n")
    tasks = tasks_from(load(path), show_tests=1)
    assert [t.id for t in tasks] == ["1"]
    assert tasks[0].prompt.endswith("Your code should pass this test:\n```python\nassert add_nums(1, 2) == 3\n```")
    assert tasks[0].tests == MBPP


def test_bench_run_records_samples_keeps_other_models_and_replays(two_fakes: Any, tmp_path: Path) -> None:
    local, _ = two_fakes
    local.replies = [WRONG, RIGHT, RENAMED]
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"id": "1", "prompt": "Write a function to add two numbers.", "split": "test",
                                "scores": {"gpt-4": 1.0}, "costs": {"gpt-4": 0.01},
                                "responses": {"gpt-4": RIGHT}, "tests": MBPP}) + "\n")
    out = tmp_path / "out.jsonl"
    r = cli("bench", "run", "--data", str(data), "--models", "llama", "--samples", "3", "--show-tests", "1",
            "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert "llama: 1/1 prompts · 0 passed · " in r.stderr     # progress without a terminal: plain lines
    summary = json.loads(r.stdout)["models"][0]
    assert summary["pass_at_1"] == 0 and summary["pass_at_k"] == 1 and summary["sample_pass_rate"] == 2 / 3
    row = json.loads(out.read_text())
    assert row["samples"]["llama"] == [WRONG, RIGHT, RENAMED] and row["sample_scores"]["llama"] == [0, 1, 1]
    assert row["responses"]["llama"] == WRONG and row["scores"] == {"gpt-4": 1.0, "llama": 0.0}
    assert row["responses"]["gpt-4"] == RIGHT and row["costs"]["gpt-4"] == 0.01      # the recorded side is kept
    assert [(q["body"]["n"], q["body"]["temperature"]) for q in local.requests] == [(3, 0.8)]
    r = cli("eval", "cascade", "--data", str(out), "--weak", "llama", "--strong", "gpt-4", "--samples", "3", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["weak_quality"] == 0 and report["local_quality"] == 1 and report["quality"] == 1


def test_a_file_without_tests_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"id": "1", "prompt": "p", "scores": {"g": 1}}) + "\n")
    r = cli("bench", "run", "--data", str(data), "--models", "local", "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 1 and "no row of the file has hidden `tests`" in r.stderr and "Traceback" not in r.stderr


def test_progress_lines_say_how_far_and_how_long_is_left() -> None:
    from routemate.commands.bench import _progress_line

    assert _progress_line("q05", 40, 286, 18, 372.0) == \
        "q05: 40/286 prompts · 18 passed · 6m12s elapsed · about 38m08s left"
    assert _progress_line("q05", 286, 286, 126, 2 * 3600 + 65.0) == "q05: 286/286 prompts · 126 passed · 2h01m elapsed"
    assert _progress_line("q05", 1, 3, 1, 9.4) == "q05: 1/3 prompts · 1 passed · 9s elapsed · about 19s left"


async def test_continue_stub_draws_a_greedy_first_answer_then_samples_from_the_stub_it_copied(
        two_fakes: Any) -> None:
    from routemate.config import load_settings
    from routemate.eval.bench import run
    from routemate.service import Routemate

    local, _ = two_fakes
    prompt = 'Complete it:\n```python\ndef add_nums(a, b):\n    """Add them."""\n```'
    head = '```python\ndef add_nums(a, b):\n    """Add them."""\n'
    local.replies = [head + "    return a - b\n```", "    return a + b\n```", "    return b + a\n```"]
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True       # as the embedded engine does
    try:
        rows, stats = await run(rm, ["llama"], [Task("1", prompt, MBPP)], samples=3, continue_stub=True)
    finally:
        await rm.aclose()
    assert [(q["body"].get("n", 1), q["body"]["temperature"]) for q in local.requests] == [(1, 0.0), (2, 0.8)]
    assert local.requests[1]["body"]["messages"][-1] == {"role": "assistant", "content": head}
    row = rows[0]
    assert row["samples"]["llama"] == [head + "    return a - b\n```", head + "    return a + b\n```",
                                       head + "    return b + a\n```"]
    assert row["sample_scores"]["llama"] == [0, 1, 1] and row["responses"]["llama"] == row["samples"]["llama"][0]
    assert stats["llama"].passed == 0 and stats["llama"].any_passed == 1
