"""The online router: the shipped router corrected by labels of the user's own traffic."""

import json
import random

from routemate.routing import extract
from routemate.routing.learned import LearnedRouter
from routemate.routing.learner import Label, auc, propose
from routemate.routing.online import Correction, Example, OnlineRouter, example, fit

HARD = ["prime", "matrix", "regex", "recursion", "bitwise"]
EASY = ["list", "string", "upper", "reverse", "length"]


def traffic(n, seed, flip=False):
    """(features, fell_short): requests naming a HARD word defeat the local model (or the reverse)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        hard = rng.random() < 0.5
        word = rng.choice(HARD if hard else EASY)
        f = extract([{"role": "user", "content": f"Write a function for the {word} task, case {rng.randint(0, 99)}."}])
        out.append((f, float(hard != flip)))
    return out


def test_without_labels_it_is_the_base_router():
    base = LearnedRouter()
    f = extract([{"role": "user", "content": "Write a Python function that reverses a string"}])
    online = OnlineRouter(base)
    assert online.score(f).value == base.score(f).value and online.name == "learned"


def test_labels_teach_it_where_the_local_model_falls_short():
    base = LearnedRouter()
    data = traffic(120, seed=1)
    correction = fit([example(base, f) for f, _ in data], [y for _, y in data], base)
    router = OnlineRouter(base, correction, version=3)
    hard = extract([{"role": "user", "content": "Write a function for the regex task, case 7."}])
    easy = extract([{"role": "user", "content": "Write a function for the upper task, case 7."}])
    assert router.score(hard).value > 0.7 > 0.3 > router.score(easy).value
    score = router.score(hard)
    assert score.router == "learned v3" and "learned from your traffic +" in score.why


def test_hashed_prompts_keep_no_words_yet_still_teach_named_features():
    base = LearnedRouter()
    f = extract([{"role": "user", "content": "Write a function for the regex task.\n```python\nx = 1\n```"}])
    kept = example(base, f, text=False)
    assert kept.text == () and "t" not in kept.to_json()
    again = Example.from_json(json.loads(json.dumps(kept.to_json())))
    assert again.to_json() == kept.to_json() and abs(again.prior - kept.prior) < 1e-4
    full = example(base, f)
    assert full.text and Example.from_json(json.loads(json.dumps(full.to_json()))).text == full.text
    # code-heavy requests always fail here: a named feature (code blocks) carries it, no words needed
    code = extract([{"role": "user", "content": "Fix this:\n```python\ndef f(x):\n    return x\n```"}])
    prose = extract([{"role": "user", "content": "Explain what a closure is."}])
    exs = [example(base, code, text=False), example(base, prose, text=False)] * 30
    router = OnlineRouter(base, fit(exs, [1.0, 0.0] * 30, base), version=1)
    assert router.score(code).value > router.score(prose).value + 0.3


def test_a_router_saved_as_json_scores_the_same():
    base = LearnedRouter()
    data = traffic(60, seed=2)
    router = OnlineRouter(base, fit([example(base, f) for f, _ in data], [y for _, y in data], base), version=2)
    again = OnlineRouter.from_json(base, json.loads(json.dumps(router.to_json())))
    f = data[0][0]
    assert abs(again.score(f).value - router.score(f).value) < 1e-4 and again.version == 2


def test_auc_with_soft_labels_and_ties():
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auc([0.5, 0.5], [0, 1]) == 0.5
    # each soft label is part positive, part negative: at one score its two parts tie
    assert auc([0.1, 0.9], [0.25, 0.75]) == 0.75 * 0.75 + 2 * (0.25 * 0.75 / 2)
    assert auc([0.1, 0.2], [1, 1]) is None


def test_a_worse_candidate_is_not_promoted():
    base = LearnedRouter()
    good = traffic(150, seed=3)
    current = OnlineRouter(base, fit([example(base, f) for f, _ in good], [y for _, y in good], base), version=4)
    # older labels say the opposite of the recent ones: a candidate fitted on them ranks worse
    labels = [Label(example(base, f), y) for f, y in traffic(80, seed=4, flip=True) + traffic(20, seed=5)]
    proposal = propose(base, current, labels, version=5)
    assert not proposal.promoted and proposal.quality < proposal.baseline
    assert "kept learned v4" in proposal.why and proposal.held_back == 20


def test_a_better_candidate_is_promoted_and_learns_from_every_label():
    base = LearnedRouter()
    current = OnlineRouter(base, Correction(a=-1.0), version=1)       # a router that ranks backwards
    labels = [Label(example(base, f), y) for f, y in traffic(100, seed=6)]
    proposal = propose(base, current, labels, version=2)
    assert proposal.promoted and proposal.quality > proposal.baseline
    assert proposal.router.name == "learned v2" and proposal.router.info["labels"] == 100


def test_too_few_labels_propose_nothing():
    base = LearnedRouter()
    labels = [Label(example(base, f), y) for f, y in traffic(12, seed=7)]
    proposal = propose(base, OnlineRouter(base), labels, version=1)
    assert not proposal.promoted and "too few labels" in proposal.why
