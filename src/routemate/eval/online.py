"""``routemate eval online``: replay an outcome file as traffic and measure a router that learns from it.

Rows arrive in a fixed order (shuffled by ``seed``), ``batch`` at a time. Each batch is routed by
the router of that moment — first the base router, then whatever version the learner has promoted
— and only then do its outcomes become labels (the weak model's score: 1 − score is how far it fell
short), exactly as a request is labelled after it was answered. After each batch the learner
proposes a new version through the same code the service uses (``routing.learner.propose``: fit
on older labels, promote only if it ranks the held-back recent ones better).

So every prompt is scored by a router that had never seen it. ``online_apgr`` is the APGR of those
scores over the whole stream; ``static_apgr`` that of the base router that never learns; the
baseline, a TF-IDF + logistic regression retrained on all outcomes so far before each batch (it
needs scikit-learn), is scored the same way. ``curve`` follows the stream: after each batch, the
APGR of the version in use on the prompts still to come.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidRequest
from ..routing import extract, metrics
from ..routing.learned import LearnedRouter
from ..routing.learner import Label, propose
from ..routing.online import OnlineRouter, example
from .outcomes import Outcome

MIN_CURVE = 10     # APGR on fewer prompts than this says little


def _apgr(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> float | None:
    if len(scores) < 2:
        return None
    return metrics.apgr(metrics.curve(list(scores), list(weak), list(strong)))


def tfidf_baseline(seen: Sequence[str], fell_short: Sequence[float], upcoming: Sequence[str]) -> list[float]:
    """TF-IDF (words and bigrams) + logistic regression on the outcomes so far, for the next prompts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y = [int(v >= 0.5) for v in fell_short]
    if len(set(y)) < 2:
        return [float(y[0]) if y else 0.5] * len(upcoming)
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(vec.fit_transform(seen), y)
    return [float(p) for p in model.predict_proba(vec.transform(list(upcoming)))[:, 1]]


def replay(rows: Sequence[Outcome], weak: str, strong: str, base: LearnedRouter, *, batch: int = 25,
           seed: int = 0, prompts: str = "text", baseline: bool = True,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    if weak == strong:
        raise InvalidRequest("--weak and --strong name the same model", hint="compare two different models")
    if batch < 1:
        raise InvalidRequest("--batch must be at least 1")
    order = list(rows)
    random.Random(seed).shuffle(order)
    n = len(order)
    if n < 2 * batch:
        raise InvalidRequest(f"only {n} prompts score both models: too few for batches of {batch}",
                             hint="use a smaller --batch or a larger outcome file")
    w = [r.scores[weak] for r in order]
    s = [r.scores[strong] for r in order]
    feats = [extract([{"role": "user", "content": r.prompt}]) for r in order]
    examples = [example(base, f, text=(prompts == "text")) for f in feats]
    static = [base.score(f).value for f in feats]
    if baseline:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            baseline = False

    current = OnlineRouter(base)
    labels: list[Label] = []
    online: list[float] = []
    base_scores: list[float] = []
    curve: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for start in range(0, n, batch):
        idx = range(start, min(n, start + batch))
        online += [current.score(feats[i]).value for i in idx]
        if baseline:
            base_scores += (tfidf_baseline([order[i].prompt for i in range(start)], [1 - x for x in w[:start]],
                                           [order[i].prompt for i in idx])
                            if start else [0.5] * len(idx))
        labels += [Label(examples[i], 1.0 - w[i]) for i in idx]
        seen = start + len(idx)
        if seen < n:
            proposal = propose(base, current, labels, version=current.version + 1)
            versions.append({"labels": seen, "version": proposal.router.version, "promoted": proposal.promoted,
                             "quality": proposal.quality, "baseline": proposal.baseline, "why": proposal.why})
            if proposal.promoted:
                current = proposal.router
            rest = range(seen, n)
            point: dict[str, Any] = {"seen": seen, "version": current.name, "unseen": n - seen,
                                     "online_so_far": _apgr(online, w[:seen], s[:seen])}
            if n - seen >= MIN_CURVE:
                point["apgr_unseen"] = _apgr([current.score(feats[i]).value for i in rest],
                                             [w[i] for i in rest], [s[i] for i in rest])
                point["static_unseen"] = _apgr([static[i] for i in rest], [w[i] for i in rest], [s[i] for i in rest])
            curve.append(point)
        if progress:
            progress(seen, n)
    summary = metrics.summary(online, w, s)
    return {
        "n": n, "weak": weak, "strong": strong, "batch": batch, "seed": seed, "prompts": prompts,
        "weak_quality": summary["weak_quality"], "strong_quality": summary["strong_quality"],
        "static_apgr": _apgr(static, w, s), "online_apgr": summary["apgr"],
        "baseline_apgr": _apgr(base_scores, w, s) if baseline else None,
        "baseline": "tfidf+logistic, retrained before each batch" if baseline else None,
        "oracle_apgr": summary["oracle"]["apgr"],
        "online_cpt80": summary["cpt"]["80"],
        "static_cpt80": metrics.cpt(metrics.curve(static, w, s), 0.8),
        "promotions": sum(v["promoted"] for v in versions), "final_version": current.name,
        "curve": curve, "versions": versions,
    }
