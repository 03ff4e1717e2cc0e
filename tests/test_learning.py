"""Router versions learned from labels in the log: promoted only when better, kept, and rolled back."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

from routemate import labels
from routemate.chat import ChatRequest
from routemate.config import load_settings
from routemate.learning import label_checked
from routemate.routing import extract
from routemate.routing.learned import LearnedRouter
from routemate.routing.online import example
from routemate.service import Routemate
from routemate.store import Store

HARD = ["prime", "matrix", "regex", "recursion", "bitwise"]
EASY = ["list", "string", "upper", "reverse", "length"]


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def add_labels(store, n, seed, flip=False):
    """Local answers that fall short on HARD words (or, flipped, on EASY ones)."""
    base, rng = LearnedRouter(), random.Random(seed)
    for _ in range(n):
        hard = rng.random() < 0.5
        f = extract([{"role": "user", "content": f"Write code for the {rng.choice(HARD if hard else EASY)} job."}])
        labels.add_label(store, None, "local", "local", float(hard == flip), "verify", example(base, f).to_json())


def test_retrain_promotes_a_better_version_and_the_reason_names_it(env):
    settings = load_settings(env)
    store = Store(settings.log_path)
    add_labels(store, 120, seed=1)
    r = cli(env, "router", "retrain", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["promoted"] and result["in_use"] == "learned v1" and result["quality"] > result["baseline"]
    route = json.loads(cli(env, "route", "Write code for the regex job.", "--json").stdout)
    assert route["router"] == "learned v1" and route["reason"].startswith("learned v1: P(local falls short)")
    assert route["score"] > 0.7
    easy = json.loads(cli(env, "route", "Write code for the upper job.", "--json").stdout)
    assert easy["score"] < 0.3

    # labels that contradict what v1 learned, then recent ones that agree with it: the candidate
    # fitted on the older, contradicting labels ranks the recent ones worse, so v1 stays
    add_labels(store, 150, seed=2, flip=True)
    add_labels(store, 50, seed=3)
    result = json.loads(cli(env, "router", "retrain", "--json").stdout)
    assert not result["promoted"] and result["in_use"] == "learned v1" and "kept learned v1" in result["why"]
    history = json.loads(cli(env, "router", "history", "--json").stdout)
    assert history["in_use"] == 1 and [(v["version"], v["promoted"], v["in_use"]) for v in history["versions"]] == \
        [(2, False, False), (1, True, True)]
    table = cli({**env, "COLUMNS": "200"}, "router", "history").stdout
    assert "in use: learned v1" in table and "not promoted" in table


def test_rollback_to_the_base_router_and_forward_again(env):
    settings = load_settings(env)
    store = Store(settings.log_path)
    add_labels(store, 100, seed=4)
    assert json.loads(cli(env, "router", "retrain", "--json").stdout)["promoted"]
    assert cli(env, "router", "use", "base").stdout.strip() == "in use: learned (the base router)"
    route = json.loads(cli(env, "route", "Write code for the regex job.", "--json").stdout)
    assert route["router"] == "learned" and route["reason"].startswith("learned: ")
    assert cli(env, "router", "use", "v1").returncode == 0
    assert json.loads(cli(env, "route", "Write code for the regex job.", "--json").stdout)["router"] == "learned v1"
    r = cli(env, "router", "use", "v7")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "there is no router version 7" in r.stderr


def test_a_running_service_picks_up_a_version_promoted_elsewhere(env):
    settings = load_settings(env)
    store = Store(settings.log_path)
    rm = Routemate(settings, store=store)
    assert rm.router.name == "learned" and not rm.refresh_router()
    add_labels(store, 100, seed=5)
    assert json.loads(cli(env, "router", "retrain", "--json").stdout)["promoted"]
    assert rm.refresh_router() and rm.router.name == "learned v1"


def test_checked_answers_become_labels_without_words_when_prompts_are_hashed(env, write_config):
    from types import SimpleNamespace

    from routemate.verify.checks import verify

    write_config('[log]\nprompts = "hash"\n')
    settings = load_settings(env)
    store = Store(settings.log_path, prompts="hash")
    rm = Routemate(settings, store=store)
    request = ChatRequest([{"role": "user", "content": "Write a function add(a, b).\n>>> add(2, 3)\n5"}])
    decision, _ = rm.route(request)
    good = verify(request.messages[0]["content"], "```python\ndef add(a, b):\n    return a + b\n```")
    bad = verify(request.messages[0]["content"], "```python\ndef add(a, b):\n    return a - b\n```")
    features = request.memo["features"]
    for log_id, verdict in ((1, good), (2, bad)):
        answer = SimpleNamespace(log_id=log_id, decision=decision, features=features)
        assert label_checked(rm, store, answer, verdict)
    rows = labels.labels(store)
    assert [(r["outcome"], r["source"], r["model"]) for r in rows] == [(1.0, "verify", "local"), (0.0, "verify", "local")]
    assert all("t" not in r["example"] and r["example"]["d"] for r in rows)    # named features, no words


async def test_verify_then_escalate_labels_every_checked_answer(hybrid, env):
    hybrid.reply = "```python\ndef add(a, b):\n    return a + b\n```"
    rm = Routemate(load_settings(env))
    request = ChatRequest([{"role": "user", "content": "Write a Python function add(a, b).\n>>> add(2, 3)\n5"}],
                          {}, "gpt4o")
    try:
        result = await rm.ask_verified(request)
    finally:
        await rm.aclose()
    assert result.verdict.ok
    rows = labels.labels(rm.store, tier="frontier")
    assert [(r["request_id"], r["model"], r["outcome"], r["source"]) for r in rows] == \
        [(result.answer.log_id, "gpt4o", 1.0, "verify")]
    assert rows[0]["example"]["d"] and rows[0]["example"]["t"]     # log.prompts = text: the words too


def test_a_version_learned_on_another_base_router_is_not_applied(env, tmp_path):
    from routemate.learning import router_in_use
    from routemate.routing.learned import default_artifact_path

    store = Store(load_settings(env).log_path)
    add_labels(store, 100, seed=8)
    assert json.loads(cli(env, "router", "retrain", "--json").stdout)["promoted"]
    assert router_in_use(LearnedRouter(), store).name == "learned v1"
    other = tmp_path / "router.json"
    other.write_text(default_artifact_path().read_text())     # routing.model now names another artifact
    assert router_in_use(LearnedRouter.from_path(other), store).name == "learned"


def test_enough_new_labels_retrain_in_the_background(env, write_config):
    import time

    from routemate.learning import after_label

    write_config("[learning]\nretrain_every = 20\n")
    settings = load_settings(env)
    store = Store(settings.log_path)
    rm = Routemate(settings, store=store)
    add_labels(store, 10, seed=9)
    after_label(rm, store)                      # not due: nothing starts
    add_labels(store, 90, seed=10)
    after_label(rm, store)                      # due: a detached `routemate router retrain --if-due`
    deadline = time.monotonic() + 120
    while not labels.versions(store) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [v["version"] for v in labels.versions(store)] == [1] and rm.refresh_router()
    assert rm.router.name == "learned v1"
