"""`routemate eval cascade`: recorded answers replayed through the same checks, graded afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from routemate.errors import InvalidRequest
from routemate.eval.cascade import replay
from routemate.eval.outcomes import load

GOOD = "```python\ndef add(a, b):\n    return a + b\n```\n```python\nprint(add(2, 3))  # 5\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```\n```python\nprint(add(2, 3))  # 5\n```"
PROSE = "Just add them."


def outcome_file(tmp_path: Path) -> Path:
    rows = [
        # weak right and its example holds: kept
        {"id": "1", "prompt": "Write a function add(a, b).", "scores": {"w": 1, "s": 1},
         "costs": {"w": 0.001, "s": 0.01}, "responses": {"w": GOOD, "s": GOOD}},
        # weak wrong and its own example shows it: escalated
        {"id": "2", "prompt": "Write a function add(a, b).", "scores": {"w": 0, "s": 1},
         "costs": {"w": 0.001, "s": 0.01}, "responses": {"w": BAD, "s": GOOD}},
        # weak answered without code: escalated
        {"id": "3", "prompt": "Write a function add(a, b).", "scores": {"w": 0, "s": 1},
         "costs": {"w": 0.001, "s": 0.01}, "responses": {"w": PROSE, "s": GOOD},
         # the hidden tests say the opposite of the truth: a verifier that read them would keep this
         "tests": {"test_list": ["assert True"]}},
        # weak wrong but nothing shows it: kept (an honest miss)
        {"id": "4", "prompt": "Write a function add(a, b).", "scores": {"w": 0, "s": 1},
         "costs": {"w": 0.001, "s": 0.01}, "responses": {"w": "```python\ndef add(a, b):\n    return a * b\n```",
                                                           "s": GOOD}},
    ]
    path = tmp_path / "outcomes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_replay_grades_with_scores_but_decides_on_checks(tmp_path: Path) -> None:
    report, records = replay(load(outcome_file(tmp_path)), "w", "s", workers=1)
    assert [r["escalated"] for r in records] == [False, True, True, False]
    assert report.n == 4 and report.escalation_rate == 0.5
    assert report.weak_quality == 0.25 and report.strong_quality == 1.0 and report.oracle_quality == 1.0
    assert report.quality == 0.75
    assert report.gap_recovered == pytest.approx((0.75 - 0.25) / 0.75)
    assert report.frontier_cost_share == pytest.approx(0.5)
    assert report.caught == pytest.approx(2 / 3) and report.false_alarms == 0


def test_escalating_unverifiable_answers(tmp_path: Path) -> None:
    report, records = replay(load(outcome_file(tmp_path)), "w", "s", unverified="escalate", workers=1)
    assert [r["escalated"] for r in records] == [False, True, True, True]
    assert report.gap_recovered == pytest.approx(1.0)


def test_file_without_responses_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps({"id": "1", "prompt": "p", "scores": {"w": 1, "s": 0}}) + "\n")
    with pytest.raises(InvalidRequest, match="no recorded responses"):
        replay(load(path), "w", "s")
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data", str(path), "--weak", "w",
                        "--strong", "s"], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert r.returncode == 1 and "has no recorded responses (only scores)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_evalperf_says_it_has_no_responses(routing_sample: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data",
                        str(routing_sample / "evalperf-sample.jsonl"), "--weak", "meta-llama/Meta-Llama-3-8B-Instruct",
                        "--strong", "gpt-4o-2024-08-06"], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert r.returncode == 1 and "no recorded responses" in r.stderr


def test_cli_json_on_real_mbpp_answers(routing_sample: Path, tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data",
                        str(routing_sample / "routerbench-mbpp-sample.jsonl"), "--weak", "meta/llama-2-70b-chat",
                        "--strong", "gpt-4-1106-preview", "--split", "test", "--limit", "12", "--json",
                        "--records", str(records)], capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 12
    assert {"quality", "escalation_rate", "gap_recovered", "frontier_cost_share", "weak_quality", "strong_quality",
            "oracle_quality"} <= set(out)
    assert out["weak_quality"] <= out["quality"] <= out["oracle_quality"]
    assert len(records.read_text().splitlines()) == 12


def test_unknown_model_names_what_exists(routing_sample: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data",
                        str(routing_sample / "routerbench-mbpp-sample.jsonl"), "--weak", "nope",
                        "--strong", "gpt-4-1106-preview"], capture_output=True, text=True, env={**os.environ},
                       timeout=60)
    assert r.returncode == 1 and "model 'nope' is not in the outcome file" in r.stderr


def test_router_scores_follow_the_live_policy(tmp_path: Path) -> None:
    rows = load(outcome_file(tmp_path))
    # row 1: confident → the weak try is skipped (strong answers, the weak model costs nothing)
    # row 2: above the threshold: tried first, its failing check escalates it
    # row 3: below the threshold: no code → escalated because it fails (no code at all)
    # row 4: above the threshold, nothing could be run against it → escalated too (unlike without a router)
    report, records = replay(rows, "w", "s", workers=1, scores=[0.95, 0.6, 0.1, 0.7], threshold=0.5,
                             skip_above=0.9, router="test")
    assert [r["path"] for r in records] == ["skipped", "weak first", "weak", "weak first"]
    assert [r["escalated"] for r in records] == [True, True, True, True]
    assert records[0]["verification"] is None and records[3]["ran"] is False
    assert report.skipped == 0.25 and report.router == "test" and report.threshold == 0.5
    assert report.quality == 1.0 and report.gap_recovered == pytest.approx(1.0)
    # frontier spend: all four prompts; the weak model was asked three times
    assert report.cost_share == pytest.approx((0.04 + 0.003) / 0.04)
    # below the threshold, an unverifiable answer is accepted as without a router
    _, low = replay(rows, "w", "s", workers=1, scores=[0.1, 0.1, 0.1, 0.1], router="test")
    assert [r["escalated"] for r in low] == [False, True, True, False]


def test_cli_router_policy(routing_sample: Path) -> None:
    base = [sys.executable, "-m", "routemate", "eval", "cascade", "--data",
            str(routing_sample / "routerbench-mbpp-sample.jsonl"), "--weak", "meta/llama-2-70b-chat",
            "--strong", "gpt-4-1106-preview", "--split", "test", "--limit", "16"]
    r = subprocess.run(base + ["--router", "learned", "--json"], capture_output=True, text=True,
                       env={**os.environ}, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["router"] == "learned" and out["threshold"] == 0.5 and 0.0 <= out["skipped"] <= 1.0
    assert out["router_trained_on_these"] is None      # a file the router never saw is not flagged
    r = subprocess.run(base + ["--threshold", "0.4"], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert r.returncode == 1 and "--threshold and --skip-above need --router" in r.stderr


def test_cli_notes_a_router_scored_on_its_training_prompts(shared_data: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data",
                        str(shared_data / "routing" / "routerbench-mbpp.jsonl"), "--weak", "meta/llama-2-70b-chat",
                        "--strong", "gpt-4-1106-preview", "--split", "test", "--limit", "16", "--router", "learned",
                        "--json"], capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert r.returncode == 0, r.stderr
    # the shipped router learned from this file: the report says its figures measure fit
    assert "trained on routerbench-mbpp.jsonl" in json.loads(r.stdout)["router_trained_on_these"]


# -- several samples per prompt ---------------------------------------------------------------------------

ADD_PROMPT = "Write a function add(a, b).\nassert add(2, 3) == 5"
TIMES = "```python\ndef add(a, b):\n    return a * b\n```"
PLUS = "```python\ndef add(a, b):\n    return a + b\n```"
PLUS2 = "```python\ndef add(a, b):\n    return b + a\n```"
MINUS = "```python\ndef add(a, b):\n    return a - b\n```"


def sampled_file(tmp_path: Path) -> Path:
    rows = [
        # the first sample is wrong, the example picks a right one among the samples
        {"id": "1", "prompt": ADD_PROMPT, "scores": {"w": 0, "s": 1}, "responses": {"w": MINUS, "s": PLUS},
         "samples": {"w": [MINUS, PLUS, PLUS2, TIMES]}, "sample_scores": {"w": [0, 1, 1, 0]}},
        # every sample is wrong: the example fails them all, so the prompt escalates
        {"id": "2", "prompt": ADD_PROMPT, "scores": {"w": 0, "s": 1}, "responses": {"w": MINUS, "s": PLUS},
         "samples": {"w": [MINUS, MINUS, MINUS, MINUS]}, "sample_scores": {"w": [0, 0, 0, 0]}},
        # no example: the samples disagree. The sample scores claim the odd one out is right: a checker
        # that read them would pick it; the replay must not
        {"id": "3", "prompt": "Write a Python function add(a, b) that adds two numbers.", "scores": {"w": 1, "s": 1},
         "responses": {"w": PLUS, "s": PLUS}, "samples": {"w": [PLUS, PLUS2, PLUS, TIMES]},
         "sample_scores": {"w": [0, 0, 0, 1]}},
    ]
    path = tmp_path / "sampled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_replay_with_samples_picks_like_the_live_cascade_and_grades_only_afterwards(tmp_path: Path) -> None:
    report, records = replay(load(sampled_file(tmp_path)), "w", "s", samples=4, workers=1)
    assert [r["pick"] for r in records] == [1, 0, 0]          # row 3: the largest group, whatever the scores say
    assert [r["agreeing"] for r in records] == [2, 4, 3]
    assert [r["escalated"] for r in records] == [False, True, False]
    assert report.samples == 4 and report.n == 3
    assert report.weak_quality == 0.0 and report.sample_quality == pytest.approx((0.5 + 0 + 0.25) / 3)
    assert report.local_quality == pytest.approx(1 / 3) and report.quality == pytest.approx(2 / 3)
    assert report.gap_recovered == pytest.approx(2 / 3)
    # the curve runs from nothing escalated to everything, and its area is a share of the gap
    assert report.curve[0]["escalation_rate"] == 0 and report.curve[-1]["escalation_rate"] == 1
    assert report.curve[-1]["quality"] == 1.0 and 0 <= report.curve_area <= 1.5


def test_replay_json_has_null_where_a_figure_does_not_exist(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data", str(sampled_file(tmp_path)),
                        "--weak", "w", "--strong", "s", "--samples", "4", "--json", "--workers", "1"],
                       capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "NaN" not in r.stdout
    out = json.loads(r.stdout)
    assert out["frontier_cost_share"] is None and out["cost_share"] is None       # the file has no costs
    assert {"local_quality", "curve", "curve_area", "auroc", "quality", "escalation_rate", "gap_recovered"} <= set(out)


def test_asking_for_samples_a_file_does_not_record_is_a_clear_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data", str(outcome_file(tmp_path)),
                        "--weak", "w", "--strong", "s", "--samples", "4"], capture_output=True, text=True,
                       env={**os.environ}, timeout=60)
    assert r.returncode == 1 and "records no `samples` of w" in r.stderr and "bench run" in r.stderr


def test_one_by_one_without_early_is_a_clear_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "eval", "cascade", "--data", str(sampled_file(tmp_path)),
                        "--weak", "w", "--perfect-strong", "--samples", "4", "--one-by-one"], capture_output=True,
                       text=True, env={**os.environ}, timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") <= 2 and "--one-by-one" in r.stderr and "--early" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_file_without_a_frontier_model_is_replayed_against_one_always_right(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "routemate", "eval", "cascade", "--data", str(sampled_file(tmp_path)), "--weak", "w",
            "--samples", "4", "--json", "--workers", "1"]
    r = subprocess.run(base + ["--perfect-strong"], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["strong"] == "(always right)" and out["strong_quality"] == 1.0 and out["quality"] == round(2 / 3, 4)
    r = subprocess.run(base, capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert r.returncode == 1 and "give either --strong MODEL or --perfect-strong" in r.stderr


def test_early_replay_checks_the_first_answer_alone_and_draws_the_rest_only_when_it_does_not_settle(
        tmp_path: Path) -> None:
    two = ADD_PROMPT + "\nassert add(1, 1) == 2"
    rows = [
        # the first (greedy) answer passes both examples: it settles; the samples are never compared
        {"id": "1", "prompt": two, "scores": {"w": 1, "s": 1}, "responses": {"w": PLUS, "s": PLUS},
         "samples": {"w": [MINUS, MINUS, TIMES, MINUS]}, "sample_scores": {"w": [0, 0, 0, 0]}},
        # it fails: the samples after it (the copy of it at their head left out) join, and a right one is picked
        {"id": "2", "prompt": two, "scores": {"w": 0, "s": 1}, "responses": {"w": MINUS, "s": PLUS},
         "samples": {"w": [MINUS, PLUS, PLUS2, TIMES, PLUS]}, "sample_scores": {"w": [0, 1, 1, 0, 1]}},
        # no example: nothing could settle it, so its samples are drawn at once (the first answer is not asked)
        {"id": "3", "prompt": "Write a Python function add(a, b) that adds two numbers.", "scores": {"w": 1, "s": 1},
         "responses": {"w": PLUS, "s": PLUS}, "samples": {"w": [PLUS2, PLUS, TIMES]},
         "sample_scores": {"w": [1, 1, 0]}},
    ]
    path = tmp_path / "early.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report, records = replay(load(path), "w", "s", samples=4, workers=1, early=True)
    assert [r["samples"] for r in records] == [1, 4, 3]
    assert [r["picked_score"] for r in records] == [1, 1, 1] and not any(r["escalated"] for r in records)
    assert report.early and report.samples_drawn == pytest.approx(8 / 3)
    assert report.weak_quality == pytest.approx(2 / 3)          # the first answers: 1, 0 and sample 1 of row 3
    full, _ = replay(load(path), "w", "s", samples=4, workers=1)
    assert not full.early and full.samples_drawn == pytest.approx(11 / 3)         # row 3 records 3
    assert full.weak_quality == pytest.approx(1 / 3)                               # samples[0]: 0, 0, 1
    # one by one: row 2's second answer (PLUS) passes both examples alone and settles it
    one, records = replay(load(path), "w", "s", samples=4, workers=1, early=True, one_by_one=True)
    assert [(r["samples"], r["pick"], r["picked_score"]) for r in records] == [(1, 0, 1), (2, 1, 1), (3, 0, 1)]
    assert one.samples_drawn == pytest.approx(6 / 3) and one.local_quality == pytest.approx(1.0)


def test_one_by_one_replay_stops_where_two_samples_agree_on_one_example(tmp_path: Path) -> None:
    rows = [
        # the first answer and the next agree on every input and hold the example: two drawn
        {"id": "1", "prompt": ADD_PROMPT, "scores": {"w": 1, "s": 1}, "responses": {"w": PLUS, "s": PLUS},
         "samples": {"w": [PLUS2, TIMES, TIMES]}, "sample_scores": {"w": [1, 0, 0]}},
        # the first fails the example; the next two agree: three drawn, the pick among them
        {"id": "2", "prompt": ADD_PROMPT, "scores": {"w": 0, "s": 1}, "responses": {"w": MINUS, "s": PLUS},
         "samples": {"w": [PLUS, PLUS2, MINUS]}, "sample_scores": {"w": [1, 1, 0]}},
    ]
    path = tmp_path / "one.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    batched, records = replay(load(path), "w", "s", samples=4, workers=1, early=True)
    # one example: a first answer alone never settles it, so its recorded samples are drawn at once
    assert [r["samples"] for r in records] == [3, 3] and batched.local_quality == 1.0
    one, records = replay(load(path), "w", "s", samples=4, workers=1, early=True, one_by_one=True)
    assert [(r["samples"], r["pick"], r["picked_score"]) for r in records] == [(2, 0, 1), (3, 1, 1)]
    assert one.samples_drawn == pytest.approx(2.5) and one.local_quality == 1.0
