"""`routemate train`: learns any pair in any outcome file, exports a router the CLI and service use."""

import json
import os
import random
import subprocess
import sys

import pytest

from routemate.eval.outcomes import load, training_rows
from routemate.routing import LearnedRouter, extract
from routemate.routing.train import TrainingError, need_sklearn, train

HARD_WORDS = ["prime", "matrix", "regex", "recursion", "fibonacci", "bitwise"]
EASY_WORDS = ["list", "string", "upper", "reverse", "length", "first"]


def synthetic(path, n, seed, source="acme-bench"):
    """Prompts whose hard words make the small model fail: a signal a router can learn."""
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            hard = rng.random() < 0.5
            word = rng.choice(HARD_WORDS if hard else EASY_WORDS)
            prompt = f"Write a function that handles the {word} case number {i} for item {rng.randint(0, 999)}."
            tiny = float(rng.random() < (0.05 if hard else 0.95))
            row = {"id": f"{source}/{i}", "source": source, "split": "all", "prompt": prompt,
                   "scores": {"acme/tiny": tiny, "acme/huge": 1.0},
                   "tests": {"secret": "assert hidden()"}}
            fh.write(json.dumps(row) + "\n")
    return path


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ})


def test_train_then_eval_on_unseen_models_and_a_held_out_file(tmp_path):
    data = synthetic(tmp_path / "train.jsonl", 120, seed=1)
    held = synthetic(tmp_path / "held.jsonl", 80, seed=2, source="acme-heldout")
    out = tmp_path / "router.json"
    r = cli("train", "--data", str(data), "--weak", "acme/tiny", "--strong", "acme/huge", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and "grouped cross-validation" in r.stderr and "chose" in r.stderr
    artifact = json.loads(out.read_text())
    prov = artifact["provenance"]
    assert prov["data"]["train.jsonl"]["weak"] == "acme/tiny" and len(prov["data"]["train.jsonl"]["sha256"]) == 16
    assert "routemate train --data" in prov["command"] and prov["date"] and prov["grouped_cv"]
    assert "handles the" not in out.read_text(), "hashed features only: no prompt text in the artifact"

    r = cli("eval", "routing", "--data", str(held), "--weak", "acme/tiny", "--strong", "acme/huge",
            "--router", str(out), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    # the best ordering can only reach ~0.77 here (half the prompts carry all the gain); random is 0.5
    assert report["n"] == 80 and report["apgr"] > 0.65 and report["apgr"] > report["oracle"]["apgr"] - 0.1
    assert report["cpt"]["80"] < 0.6


def test_routers_never_see_hidden_tests_or_scores(tmp_path):
    data = synthetic(tmp_path / "train.jsonl", 40, seed=3)
    rows, _ = training_rows([data], ["acme/tiny"], ["acme/huge"])
    assert all(not hasattr(r, "tests") and "secret" not in r.prompt for r in rows)
    assert load(data)[0].hidden_tests() == {"secret": "assert hidden()"}


def test_per_file_model_names_and_exclusion(tmp_path):
    a = synthetic(tmp_path / "a.jsonl", 40, seed=4)
    b = tmp_path / "b.jsonl"
    b.write_text(a.read_text().replace("acme/tiny", "other/small").replace("acme/huge", "other/large"))
    rows, info = training_rows([a, b], ["acme/tiny", "other/small"], ["acme/huge", "other/large"])
    assert len(rows) == 80 and info["b.jsonl"]["weak"] == "other/small"
    rows, info = training_rows([a, b], ["acme/tiny", "other/small"], ["acme/huge", "other/large"],
                           exclude=[o.prompt for o in load(a)][:10])
    assert len(rows) == 60 and info["a.jsonl"]["excluded"] == 10


def test_unknown_model_lists_what_the_file_has(tmp_path):
    data = synthetic(tmp_path / "train.jsonl", 30, seed=5)
    with pytest.raises(TrainingError, match="scores none of the weak models gpt-2.*models present: acme/tiny"):
        training_rows([data], ["gpt-2"], ["acme/huge"])
    r = cli("train", "--data", str(data), "--weak", "gpt-2", "--strong", "acme/huge", "--out", str(tmp_path / "x"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(TrainingError, match=r"pip install 'routemate\[train\]'"):
        need_sklearn()


def test_fixed_candidate_without_cv_is_usable_directly(tmp_path):
    data = synthetic(tmp_path / "train.jsonl", 60, seed=6)
    artifact, report = train(*training_rows([data], ["acme/tiny"], ["acme/huge"]), candidate="logistic text+dense C=1",
                             cv=False)
    assert report.cv == [] and report.chosen == "logistic text+dense C=1"
    router = LearnedRouter(artifact)
    hard = router.score(extract([{"role": "user", "content": "Write a function that handles the prime case."}]))
    easy = router.score(extract([{"role": "user", "content": "Write a function that handles the list case."}]))
    assert hard.value > easy.value
    cal = router.calibration
    assert len(cal.quantiles) == 101 and list(cal.quantiles) == sorted(cal.quantiles)


def test_the_shipped_router_is_what_its_recorded_command_builds_from_this_code(shared_data, tmp_path):
    """A change to the features without retraining would leave the shipped weights pointing at the
    wrong buckets: the recorded command, rerun, must give the same model."""
    import shlex

    from routemate.routing.learned import default_artifact_path

    shipped = json.loads(default_artifact_path().read_text())
    args = shlex.split(shipped["provenance"]["command"])
    assert args[:2] == ["routemate", "train"]
    args = [str(shared_data / "routing" / a.rsplit("/", 1)[1]) if a.endswith(".jsonl") else a for a in args[2:]]
    out = tmp_path / "router.json"
    args[args.index("--out") + 1] = str(out)
    r = cli("train", *args)
    assert r.returncode == 0, r.stderr
    rebuilt = json.loads(out.read_text())
    assert rebuilt["format"] == shipped["format"] and rebuilt["provenance"]["model"] == shipped["provenance"]["model"]
    # the same scores on every training prompt (a tolerance, not equality: another scikit-learn
    # release may round the last digits differently)
    new, old = LearnedRouter(rebuilt), LearnedRouter(shipped)
    prompts = [o.prompt for name in ("routerbench-mbpp.jsonl", "evalperf.jsonl")
               for o in load(shared_data / "routing" / name)]
    worst = max(abs(new.score(f).value - old.score(f).value)
                for f in (extract([{"role": "user", "content": p}]) for p in prompts))
    assert worst < 1e-3, f"scores moved by {worst:.4f}: retrain the shipped router with its provenance command"


def test_routing_learns_without_evaluation_or_the_cli():
    """Layering: routing (training included) imports neither eval/ nor the CLI; eval/ calls routing."""
    import ast
    from pathlib import Path

    import routemate

    root = Path(routemate.__file__).parent
    for path in (root / "routing").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                target = ("." * node.level) + node.module
                assert not target.startswith(("..eval", "..cli", "..commands", "routemate.eval", "routemate.cli")), \
                    f"{path.name} imports {target}"
