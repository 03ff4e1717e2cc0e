"""New router versions from labels, and the guard that decides whether one replaces the current.

``propose`` fits a candidate on every label but the most recent ones, scores candidate and current
router on those held-back labels (AUC: how well each ranks the requests the local model fell short
on above the ones it handled), and promotes the candidate only if it ranks them better. A promoted
candidate is then refitted with the held-back labels included, so the version in use has learned
from everything; its recorded quality is the held-back figure of the candidate that earned it.

Pure: no I/O. The service stores labels and versions; ``eval online`` replays outcome files
through this same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .learned import LearnedRouter
from .online import Correction, Example, OnlineRouter, fit


@dataclass(frozen=True, slots=True)
class Label:
    """One request's outcome for the local model: ``fell_short`` 1 = not good enough, 0 = fine."""

    example: Example
    fell_short: float


@dataclass(frozen=True)
class Proposal:
    router: OnlineRouter            # the candidate (refitted on every label when promoted)
    promoted: bool
    quality: float | None           # the candidate's AUC on the held-back labels
    baseline: float | None          # the current router's AUC on the same labels
    trained_on: int
    held_back: int
    why: str


def auc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """Area under the ROC curve with soft labels (each example is ``y`` positive and ``1 − y``
    negative); ties count half. None when the labels are all one class."""
    pos_total = sum(labels)
    neg_total = len(labels) - pos_total
    if pos_total <= 0 or neg_total <= 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    area = 0.0
    neg_below = 0.0
    i = 0
    while i < len(order):
        j = i
        pos = neg = 0.0
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            pos += labels[order[j]]
            neg += 1.0 - labels[order[j]]
            j += 1
        area += pos * (neg_below + neg / 2)
        neg_below += neg
        i = j
    return area / (pos_total * neg_total)


def propose(base: LearnedRouter, current: OnlineRouter, labels: Sequence[Label], *, version: int,
            holdout: float = 0.2, min_holdout: int = 10, l2: float = 1.0, epochs: int = 20) -> Proposal:
    """A candidate version learned from ``labels`` (oldest first), and whether it beats ``current``."""
    held = max(min_holdout, round(len(labels) * holdout))
    train, test = list(labels[:-held]), list(labels[-held:])
    if len(train) < min_holdout or len(test) < min_holdout:
        cand = OnlineRouter(base, Correction(), version=version)
        return Proposal(cand, False, None, None, len(train), len(test),
                        f"too few labels ({len(labels)}; need {2 * min_holdout})")
    cand = OnlineRouter(base, _fit(train, base, l2, epochs), version=version)
    ys = [lab.fell_short for lab in test]
    quality = auc([cand.logit_of(lab.example) for lab in test], ys)
    baseline = auc([current.logit_of(lab.example) for lab in test], ys)
    if quality is None or baseline is None:
        return Proposal(cand, False, quality, baseline, len(train), len(test),
                        "the held-back labels are all one outcome: nothing to compare on")
    if quality <= baseline:
        return Proposal(cand, False, quality, baseline, len(train), len(test),
                        f"kept {current.name}: candidate ranks held-back labels no better ({quality:.3f} ≤ {baseline:.3f})")
    final = OnlineRouter(base, _fit(labels, base, l2, epochs), version=version,
                         info={"labels": len(labels), "held_back_auc": round(quality, 4),
                               "replaced": current.name, "replaced_auc": round(baseline, 4)})
    return Proposal(final, True, quality, baseline, len(train), len(test),
                    f"promoted: ranks held-back labels better than {current.name} ({quality:.3f} > {baseline:.3f})")


def _fit(labels: Sequence[Label], base: LearnedRouter, l2: float, epochs: int) -> Correction:
    return fit([lab.example for lab in labels], [lab.fell_short for lab in labels], base, l2=l2, epochs=epochs)
