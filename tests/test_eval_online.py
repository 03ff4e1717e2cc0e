"""`routemate eval online`: outcomes replayed as traffic; the router learns and is scored on unseen prompts."""

import json
import os
import random
import subprocess
import sys

import pytest

HARD = ["prime", "matrix", "regex", "recursion", "bitwise"]
EASY = ["list", "string", "upper", "reverse", "length"]


def outcomes(path, n, seed):
    """A local model that fails on HARD words, which the shipped router knows nothing about."""
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            hard = rng.random() < 0.5
            word = rng.choice(HARD if hard else EASY)
            row = {"id": f"acme/{i}", "source": "acme", "split": "all",
                   "prompt": f"Please handle the {word} job number {i} for customer {rng.randint(0, 999)}.",
                   "scores": {"acme/local": float(rng.random() < (0.1 if hard else 0.9)), "acme/frontier": 1.0}}
            fh.write(json.dumps(row) + "\n")
    return path


def cli(*args):
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ})


def test_the_online_router_learns_what_the_static_one_cannot(tmp_path):
    data = outcomes(tmp_path / "traffic.jsonl", 200, seed=1)
    r = cli("eval", "online", "--data", str(data), "--weak", "acme/local", "--strong", "acme/frontier",
            "--batch", "20", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["n"] == 200 and report["batch"] == 20
    assert report["online_apgr"] > report["static_apgr"] + 0.08, report
    assert report["baseline_apgr"] is not None and report["promotions"] >= 1
    assert report["final_version"].startswith("learned v")
    curve = [p for p in report["curve"] if "apgr_unseen" in p]
    # scored only on what it has not seen: the last point still has prompts to come
    assert curve and all(p["unseen"] >= 10 for p in curve) and curve[-1]["seen"] < 200
    assert curve[-1]["apgr_unseen"] > curve[-1]["static_unseen"]


def test_the_same_seed_replays_the_same_stream(tmp_path):
    data = outcomes(tmp_path / "traffic.jsonl", 80, seed=2)
    args = ("eval", "online", "--data", str(data), "--weak", "acme/local", "--strong", "acme/frontier", "--batch",
            "20", "--seed", "7", "--no-baseline", "--json")
    a, b = json.loads(cli(*args).stdout), json.loads(cli(*args).stdout)
    assert a["online_apgr"] == b["online_apgr"] and a["curve"] == b["curve"] and a["baseline_apgr"] is None


def test_hash_mode_learns_without_the_words(tmp_path):
    data = outcomes(tmp_path / "traffic.jsonl", 120, seed=3)
    r = cli("eval", "online", "--data", str(data), "--weak", "acme/local", "--strong", "acme/frontier",
            "--prompts", "hash", "--no-baseline", "--json")
    report = json.loads(r.stdout)
    # the difference between HARD and EASY jobs is only in the words: without them nothing is learned
    assert report["prompts"] == "hash" and abs(report["online_apgr"] - report["static_apgr"]) < 0.1


@pytest.mark.parametrize("args, message", [
    (("--prompts", "words"), "--prompts must be text or hash"),
    (("--batch", "500"), "too few for batches of 500"),
])
def test_bad_options_are_one_line(tmp_path, args, message):
    data = outcomes(tmp_path / "traffic.jsonl", 60, seed=4)
    r = cli("eval", "online", "--data", str(data), "--weak", "acme/local", "--strong", "acme/frontier", *args)
    assert r.returncode != 0 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_unknown_model_names_what_the_file_has(tmp_path):
    data = outcomes(tmp_path / "traffic.jsonl", 60, seed=5)
    r = cli("eval", "online", "--data", str(data), "--weak", "gpt-2", "--strong", "acme/frontier")
    assert r.returncode == 1 and "models present: acme/local" in r.stderr and "Traceback" not in r.stderr
