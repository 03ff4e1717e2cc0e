"""`routemate eval routing` on the real outcome files, through the real command."""

import json
import os
import subprocess
import sys

import pytest

RB_PAIR = ("meta/llama-2-70b-chat", "gpt-4-1106-preview")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ})


def test_json_report_on_routerbench_test_split_matches_the_reference_points(shared_data, tmp_path):
    plot = tmp_path / "curve.png"
    r = cli("eval", "routing", "--data", str(shared_data / "routing/routerbench-mbpp.jsonl"), "--split", "test",
            "--weak", RB_PAIR[0], "--strong", RB_PAIR[1], "--plot", str(plot), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"n", "weak_quality", "strong_quality", "oracle_quality", "apgr", "cpt"} <= set(out)
    assert set(out["cpt"]) == {"50", "80", "95"}
    # the data's own README: 0.375 vs 0.688, oracle 0.742 with 36.7% strong calls
    assert out["n"] == 128 and out["weak_quality"] == pytest.approx(0.375)
    assert out["strong_quality"] == pytest.approx(0.6875) and out["oracle_quality"] == pytest.approx(0.742, abs=1e-3)
    assert out["oracle_strong_share"] == pytest.approx(0.367, abs=1e-3)
    assert 0.0 <= out["apgr"] <= 1.0 and out["random"]["apgr"] == 0.5
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cost = out["cost"]      # RouterBench records what each answer cost
    assert cost["weak"] < cost["at_cpt80"] < cost["strong"] and 0 < cost["saving_at_cpt80"] < 1


def test_table_output_and_rules_router(routing_sample):
    r = cli("eval", "routing", "--data", str(routing_sample / "evalperf-sample.jsonl"), "--router", "rules",
            "--weak", "meta-llama/Meta-Llama-3-8B-Instruct", "--strong", "gpt-4o-2024-08-06")
    assert r.returncode == 0, r.stderr
    for word in ("always weak", "always strong", "random", "rules", "oracle", "APGR", "CPT(80%)"):
        assert word in r.stdout


def test_unknown_model_is_one_line_naming_the_models_present(routing_sample):
    r = cli("eval", "routing", "--data", str(routing_sample / "evalperf-sample.jsonl"), "--weak", "llama-9",
            "--strong", "gpt-4o-2024-08-06")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "model 'llama-9' is not in the outcome file" in r.stderr and "models present" in r.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    r = cli("eval", "routing", "--data", str(tmp_path / "nope.jsonl"), "--weak", "a", "--strong", "b")
    assert r.returncode == 1 and "cannot read outcome file" in r.stderr


def test_a_budget_is_applied_at_the_threshold_it_calibrates_to(routing_sample):
    r = cli("eval", "routing", "--data", str(routing_sample / "routerbench-mbpp-sample.jsonl"), "--split", "test",
            "--weak", RB_PAIR[0], "--strong", RB_PAIR[1], "--frontier-share", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    cal = out["calibrated"]
    from routemate.routing import LearnedRouter

    assert cal["threshold"] == pytest.approx(LearnedRouter().calibration.threshold_for_share(0.3))
    assert 0.0 < cal["strong_share"] < 1.0 and out["weak_quality"] <= cal["quality"] <= out["oracle_quality"]
    r = cli("eval", "routing", "--data", str(routing_sample / "evalperf-sample.jsonl"), "--weak", "a", "--strong", "b",
            "--frontier-share", "0.3", "--target-quality", "0.9")
    assert r.returncode == 1 and "not both" in r.stderr


def test_ladder_ceilings_keep_each_rung_above_the_bar():
    from routemate.eval.routing import suggest_ladder

    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    outcomes = {"small": [1, 1, 0, 0, 0, 0], "big": [1, 1, 1, 1, 0, 0], "top": [1] * 6}
    out = suggest_ladder(scores, outcomes, ["small", "big", "top"], bar=0.9)
    # small keeps 2/2 on the first two prompts, 2/3 (< 0.9) with a third; big then 2/2 on the next two
    assert out["ceilings"] == {"small": 0.3, "big": 0.5}
    assert out["shares"] == pytest.approx({"small": 1 / 3, "big": 1 / 3, "top": 1 / 3})
    assert out["quality"] == 1.0 == out["top_quality"]


def test_ladder_command_prints_config_for_any_models(routing_sample):
    r = cli("eval", "ladder", "--data", str(routing_sample / "evalperf-sample.jsonl"), "--json", "--models",
            "meta-llama/Meta-Llama-3-8B-Instruct,meta-llama/Llama-3.1-70B-Instruct,gpt-4o-2024-08-06")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    c = out["ceilings"]
    assert list(c) == ["meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"]
    assert 0 <= c["meta-llama/Meta-Llama-3-8B-Instruct"] <= c["meta-llama/Llama-3.1-70B-Instruct"] <= 1
    assert sum(out["shares"].values()) == pytest.approx(1.0)
    r = cli("eval", "ladder", "--data", str(routing_sample / "evalperf-sample.jsonl"), "--models", "gpt-4o-2024-08-06")
    assert r.returncode == 1 and "at least two models" in r.stderr


def test_a_router_scored_on_its_own_training_prompts_is_flagged(routing_sample):
    from routemate.eval.outcomes import file_digest
    from routemate.eval.routing import trained_on
    from routemate.routing import get_router
    from routemate.routing.learned import LearnedRouter, default_artifact_path

    rb = routing_sample / "routerbench-mbpp-sample.jsonl"
    artifact = json.loads(default_artifact_path().read_text())
    # a router whose provenance says it learned from this very file (by content, not by name)
    artifact["provenance"]["data"] = {"mine.jsonl": {"sha256": file_digest(rb), "split": "all"}}
    assert "trained on mine.jsonl (all split)" in trained_on(LearnedRouter(artifact), rb, "test")
    artifact["provenance"]["data"]["mine.jsonl"]["split"] = "train"
    held_out = LearnedRouter(artifact)
    assert trained_on(held_out, rb, "test") is None           # fair: it never saw the test split
    assert "(train split)" in trained_on(held_out, rb, "train")
    assert trained_on(held_out, rb, None) is not None          # the whole file includes what it saw
    assert trained_on(LearnedRouter(), rb, "test") is None      # the shipped router never saw this sample
    assert trained_on(get_router("rules"), rb, "test") is None  # nothing learned, nothing to flag


def test_the_shipped_router_is_flagged_on_the_set_it_learned_from(shared_data):
    from routemate.eval.routing import trained_on
    from routemate.routing.learned import LearnedRouter

    rb = shared_data / "routing" / "routerbench-mbpp.jsonl"
    assert "trained on routerbench-mbpp.jsonl (all split)" in trained_on(LearnedRouter(), rb, "test")


@pytest.mark.parametrize("package", ["eval", "verify", "routing"])
def test_evaluation_checks_and_routing_know_no_terminal_and_no_http(package):
    """Rendering belongs to the faces: these packages import no rich, typer, CLI or server code."""
    import ast
    from pathlib import Path

    import routemate

    root = Path(routemate.__file__).parent
    banned = {"rich", "typer", "routemate.cli", "routemate.server", "routemate.commands"}
    found = []
    for path in sorted((root / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = "routemate." + package if node.level == 1 else "routemate" if node.level == 2 else ""
                names = [".".join(filter(None, [base, node.module or ""])) if node.level else node.module or ""]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if any(n == b or n.startswith(b + ".") for b in banned)]
    assert found == []
