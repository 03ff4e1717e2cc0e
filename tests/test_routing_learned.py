"""The shipped learned router: artifact, scoring, calibration to a budget, and its place in routing."""

import json
import subprocess
import sys

import pytest

from routemate.chat import ChatRequest
from routemate.config import build_settings
from routemate.errors import ConfigError
from routemate.eval.outcomes import load
from routemate.routing import LearnedRouter, extract
from routemate.routing.learned import Calibration, default_artifact_path
from routemate.service import Routemate

MODELS = {"local": {"backend": "embedded"},
          "gpt": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "tier": "frontier", "price_in": 2.5}}


def settings(**routing):
    return build_settings({"models": MODELS, "routing": routing}, {"ROUTEMATE_HOME": "/nonexistent"})


def conv(*turns):
    roles = ["user", "assistant"]
    return extract([{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)])


@pytest.fixture(scope="module")
def router():
    return LearnedRouter()


@pytest.fixture(scope="module")
def prompts(shared_data):
    return [o.prompt for f in ("routerbench-mbpp.jsonl", "evalperf.jsonl") for o in load(shared_data / "routing" / f)]


@pytest.fixture(scope="module")
def sample_prompts(routing_sample):
    return [o.prompt for f in ("routerbench-mbpp-sample.jsonl", "evalperf-sample.jsonl")
            for o in load(routing_sample / f)]


def test_artifact_is_small_with_provenance_and_no_prompt_text(router, sample_prompts):
    path = default_artifact_path()
    assert path.stat().st_size < 1_000_000
    text = path.read_text()
    prov = router.provenance
    assert {"data", "command", "date", "model", "grouped_cv"} <= set(prov)
    assert "routemate train" in prov["command"] and set(prov["data"]) == {"routerbench-mbpp.jsonl", "evalperf.jsonl"}
    # these prompts are among the ones it was trained on
    assert not any(p[:40] in text for p in sample_prompts if len(p) >= 40), "the artifact must not store prompt text"


def test_scores_are_probabilities_that_explain_themselves(router):
    for f in (conv("hi"), conv("Write a python function to find the nth prime number."),
              conv("Fix this:\n```python\ndef f(:\n```\nTraceback (most recent call last):\nSyntaxError: x")):
        s = router.score(f)
        assert 0.0 <= s.value <= 1.0 and s.router == "learned"
        assert s.why.startswith("P(local falls short)")


def test_easy_chat_scores_below_a_hard_systems_task(router):
    easy = router.score(conv("Say hello.")).value
    hard = router.score(conv("Design a distributed, lock-free job scheduler with consensus across regions; "
                             "explain the trade-offs.")).value
    assert easy < 0.5 <= hard


def test_earlier_turns_count_not_just_the_last_message(router):
    last = "Now make it faster."
    alone = router.score(conv(last)).value
    with_context = router.score(conv("Write a function to compute the nth Catalan number modulo a prime.",
                                      "def catalan(n, p): ...", last)).value
    assert with_context != pytest.approx(alone)


def test_text_is_hashed_as_bounded_words_and_ordered_bigrams():
    from routemate.routing import vectorize as v

    assert v.words("Hello, World! x=3; café 123abc", 20) == [b"hello", b"world", b"x", b"3", b"caf", b"123abc"]
    a, b = conv("sort the list"), conv("list the sort")
    assert set(v.bucket_counts(a)) != set(v.bucket_counts(b)), "same words, other order: other bigrams"
    assert sum(v.bucket_counts(a).values()) == 6      # 3 words + 3 bigrams (the first one after a start mark)
    # a huge paste costs no more than MAX_LAST_TOKENS words (and as many bigrams)
    assert sum(v.bucket_counts(conv("word " * 50_000)).values()) == 2 * v.MAX_LAST_TOKENS
    # the serving dot product is the training vector's
    f = conv("Write a function that merges two sorted lists, then explain its complexity.")
    vec = v.hashed(f)
    weights = {k: (i % 7 - 3) / 10 for i, k in enumerate(sorted(vec))}
    assert v.hashed_dot(f, weights) == pytest.approx(sum(weights[k] * x for k, x in vec.items()))


def test_serving_imports_neither_numpy_nor_sklearn():
    code = ("import sys; from routemate.routing import LearnedRouter, extract; "
            "LearnedRouter().score(extract([{'role': 'user', 'content': 'hi'}])); "
            "print(sorted(m for m in ('numpy', 'sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_calibration_maps_a_budget_to_a_threshold():
    cal = Calibration(tuple(i / 100 for i in range(101)), ((0.9, 0.1, 0.8), (0.6, 0.4, 0.95), (0.0, 1.0, 1.0)))
    assert cal.threshold_for_share(0.3) == pytest.approx(0.7)
    assert cal.threshold_for_share(1.0) == 0.0 and cal.threshold_for_share(0.0) > 1.0
    assert cal.threshold_for_quality(0.8) == 0.9 and cal.threshold_for_quality(0.9) == 0.6
    with pytest.raises(ConfigError, match="between 0 and 1"):
        cal.threshold_for_share(1.5)


def test_frontier_share_sends_about_that_share_of_training_like_prompts(prompts):
    rm = Routemate(settings(frontier_share=0.3))
    assert rm.threshold == pytest.approx(rm.router.calibration.threshold_for_share(0.3))
    tiers = [rm.route(ChatRequest([{"role": "user", "content": p}]))[0].tier for p in prompts]
    share = tiers.count("frontier") / len(tiers)
    assert 0.2 <= share <= 0.4, share


def test_higher_target_quality_sends_more_to_the_frontier():
    lax, strict = Routemate(settings(target_quality=0.85)), Routemate(settings(target_quality=0.98))
    assert strict.threshold < lax.threshold


def test_budget_needs_a_calibrated_router_and_only_one_budget():
    with pytest.raises(ConfigError, match="rules router has no training distribution"):
        Routemate(settings(router="rules", frontier_share=0.3))
    with pytest.raises(ConfigError, match="not both"):
        settings(frontier_share=0.3, target_quality=0.9)


def test_rules_router_stays_selectable():
    rm = Routemate(settings(router="rules"))
    decision, _ = rm.route(ChatRequest([{"role": "user", "content": "Say hello."}]))
    assert decision.router == "rules" and decision.model == "local"


def test_a_trained_artifact_is_used_via_routing_model(tmp_path):
    data = json.loads(default_artifact_path().read_text())
    data["intercept"] += 50          # a router that always wants the frontier
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    rm = Routemate(settings(model=str(path)))
    decision, _ = rm.route(ChatRequest([{"role": "user", "content": "Say hello."}]))
    assert decision.model == "gpt" and decision.score > 0.99


def test_unusable_artifacts_are_clear_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read router model.*routemate train"):
        Routemate(settings(model=str(tmp_path / "missing.json")))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="not a usable router model"):
        Routemate(settings(model=str(bad)))
    # a model trained on an older version's features would score garbage: refuse it, say how to fix it
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**json.loads(default_artifact_path().read_text()), "format": "routemate-router/1"}))
    with pytest.raises(ConfigError, match=r"another version of the features.*retrain"):
        Routemate(settings(model=str(old)))


def test_calibrate_from_the_request_log(env, tmp_path):
    import os

    from routemate.config import load_settings
    from routemate.store import Record, Store

    store = Store(load_settings().log_path)
    for i in range(100):
        store.log(Record(entry="cli", status="ok", score=i / 100, router="learned", threshold=0.5))
    store.log(Record(entry="bench", status="ok", score=0.99, router="learned"))      # benchmarks do not count
    store.log(Record(entry="cli", status="ok", score=0.99, router="rules"))         # nor other routers
    store.close()
    run = lambda *a: subprocess.run([sys.executable, "-m", "routemate", "calibrate", *a], capture_output=True,  # noqa: E731
                                    text=True, timeout=60, env={**os.environ})
    r = run("--frontier-share", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["requests"] == 100 and out["threshold"] == pytest.approx(0.7, abs=0.011)
    assert out["share"] == pytest.approx(0.3, abs=0.011) and out["current_share"] == pytest.approx(0.5)
    r = run("--frontier-share", "0.3", "--min-requests", "500")
    assert r.returncode == 1 and "only 100 logged requests" in r.stderr
