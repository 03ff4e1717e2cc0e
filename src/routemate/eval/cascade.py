"""Replaying recorded answers through the live cascade's checks and escalation rule.

For each prompt, up to ``samples`` recorded answers of the weak model (``samples`` field, else its
one ``responses`` entry) go through exactly what ``ask`` does (``verify.agreement``: run on the same
inputs, grouped, picked, scored), seeing only the prompt and the answers — never the hidden
``tests``, never a score. An answer the rule distrusts "escalates": the strong model's recorded
score counts instead. Scores are read only afterwards, by the scorer: ``sample_scores`` grade the
pick, ``scores`` the strong model.

With router scores, the replay follows the live policy (``routemate.verified.Cascade``) for each
prompt: below the router threshold the weak model answers and only a distrusted answer escalates;
from the threshold up to ``skip_above`` the weak model still tries first, but an answer nothing ran
against escalates too; from ``skip_above`` the weak try is skipped.

``strong = PERFECT`` grades the strong side as right on every prompt: for files that record no
frontier model (your own ``bench humaneval`` run), the gap is then everything the weak model gets
wrong, the most demanding reading of "gap recovered".

Besides the figures at one confidence threshold, the report has the whole ``curve``: escalation
rate → quality as the threshold sweeps every confidence seen, and its ``curve_area`` (the mean share
of the weak→strong gap recovered over escalation rates 0..1, as APGR is for routers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidRequest
from .outcomes import Outcome

PERFECT = "(always right)"


@dataclass(frozen=True)
class CascadeReport:
    file: str
    weak: str
    strong: str
    n: int
    samples: int                   # answers of the weak model compared per prompt (at most)
    weak_quality: float            # one unchecked answer of the weak model (its first sample)
    sample_quality: float          # mean over all its samples (the expected score of one sample)
    local_quality: float           # the picked weak answer, before any escalation
    strong_quality: float
    oracle_quality: float
    quality: float
    escalation_rate: float
    gap_recovered: float | None
    confidence_threshold: float
    auroc: float | None            # how well confidence separates right picks from wrong ones
    curve_area: float | None
    curve: list[dict[str, float | None]]
    frontier_cost_share: float | None
    cost_share: float | None
    caught: float | None           # share of wrong picks that were escalated
    false_alarms: float | None     # share of right picks that were escalated
    ran: float                     # share of the weak answers checked where something ran
    seconds: float
    router: str | None = None      # the router whose scores set the policy (None: the checks alone)
    threshold: float | None = None
    skip_above: float | None = None
    skipped: float = 0.0           # share of prompts sent straight to the strong model
    router_trained_on_these: str | None = None
    early: bool = False            # [verify] early: one answer first, the other samples only when it is not settled
    samples_drawn: float | None = None   # mean answers compared per prompt the weak model answered

    def to_json(self) -> dict[str, Any]:
        """Valid JSON: figures that do not exist (no costs, no gap) are null, never NaN."""
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def replay(rows: list[Outcome], weak: str, strong: str, *, samples: int = 1, confidence: float = 0.5,
           unverified: str = "accept", language: str | None = "python", timeout: float = 10.0, workers: int = 2,
           progress: Callable[[int], None] | None = None, file: str = "", scores: Sequence[float] | None = None,
           threshold: float = 0.5, skip_above: float = 0.85, router: str | None = None,
           inputs: int | None = None, early: bool = False,
           one_by_one: bool = False) -> tuple[CascadeReport, list[dict[str, Any]]]:
    """Replay ``rows``; returns the report and one record per prompt (id, escalated, why, ...).

    ``scores`` (one router score per row) switch on the live policy's use of the router (module
    docstring); ``confidence`` is the live ``[verify] threshold``. ``early`` replays ``[verify]
    early``: the first answer (``responses``) is checked alone, and the samples after it are
    compared only when it is not ``settled``. ``one_by_one`` (with ``early``): the samples after it
    are checked one after another, alone and with those before it, and the draw stops where they are
    ``settled`` (a sample alone, or enough of them agreeing); all are compared only when never."""
    from ..verify.agreement import LIMIT, agree, fewest_to_settle, judge, settled

    pairs = [(r, sc) for r, sc in zip(rows, scores if scores is not None else [None] * len(rows))
             if r.answers(weak)]
    if not pairs:
        raise InvalidRequest(f"{file or 'the outcome file'} has no recorded responses for {weak!r}",
                             hint="`eval cascade` replays recorded answers; this file only has scores. Use a "
                                  "file with a `responses` field, e.g. routerbench-mbpp.jsonl")
    early = early and samples > 1
    # as live: the fewest samples that could settle each request (1: its first answer alone, 2: samples
    # agreeing, drawn one at a time; 0: none, every sample is drawn and compared)
    fewest = [fewest_to_settle(r.prompt) if early else 0 for r, _ in pairs]
    items = [(r, sc, f if f == 1 or one_by_one else 0) for (r, sc), f in zip(pairs, fewest)]
    graded = [(_grades_early if f else _grades)(r, weak, samples) for r, _, f in items]
    started = time.perf_counter()
    done = 0

    def check(item: tuple[Outcome, float | None, int]) -> Any:
        nonlocal done
        row, score, fewest = item
        # only what a live request would have: the prompt and the weak model's answers
        answers = (row.first_and_rest(weak) if fewest else row.answers(weak))[:samples]

        seen: dict[Any, Any] = {}        # as live: each answer runs once, its verdict reused later

        def agreed(texts: list[str]) -> Any:
            return agree(row.prompt, texts, default_language=language, timeout=timeout, router_score=score,
                         workers=1, limit=LIMIT if inputs is None else inputs, seen=seen)

        result = None     # (agreement, index of the answer picked, answers drawn)
        if score is None or score < skip_above:
            # in order: the first answer alone; with one_by_one each later one alone, then with those before
            together = None
            for i in range((len(answers) if one_by_one else 1) if fewest else 0):
                a = agreed(answers[i:i + 1]) if fewest == 1 else None
                if a is not None and settled(a, confidence):
                    result = (a, i, i + 1)
                    break
                if i and one_by_one:
                    together = agreed(answers[:i + 1])
                    if settled(together, confidence):
                        result = (together, together.pick, i + 1)
                        break
            if result is None:
                a = together if together is not None and together.k == len(answers) else agreed(answers)
                result = (a, a.pick, a.k)
        done += 1
        if progress:
            progress(done)
        return result

    with ThreadPoolExecutor(max(1, workers)) as pool:
        checked = list(pool.map(check, items))
    agreements = [c[0] if c else None for c in checked]

    records, doubts, picked_scores, strong_scores = [], [], [], []
    quality = weak_q = sample_q = local_q = strong_q = oracle_q = 0.0
    frontier_spent = frontier_all = spent = 0.0
    escalated = caught = bad = false_alarms = good = ran = skipped = 0
    costs_known = strong != PERFECT and all(strong in r.costs for r, _ in pairs)
    for (row, score), c, grades in zip(pairs, checked, graded):
        a = c[0] if c else None
        s = 1.0 if strong == PERFECT else row.scores[strong]
        first = grades[0]
        picked = grades[c[1]] if c else first
        if a is None:                           # the router is confident: the weak model is not asked
            up, path, why = True, "skipped", "skipped"
        else:
            lowered = score is not None and score >= threshold    # routed higher, the weak model tries first
            up, why = judge(a, confidence, lowered=lowered, unverified=unverified)
            path = "weak first" if lowered else "weak"
        skipped += a is None
        quality += s if up else picked
        weak_q, sample_q, local_q = weak_q + first, sample_q + sum(grades) / len(grades), local_q + picked
        strong_q, oracle_q = strong_q + s, oracle_q + max(first, s)
        cw, cs = row.costs.get(weak, 0.0), row.costs.get(strong, 0.0)
        spent += (0.0 if a is None else cw) + (cs if up else 0.0)
        frontier_spent += cs if up else 0.0
        frontier_all += cs
        escalated += up
        ran += a is not None and a.ran
        if picked < 0.5:
            bad += 1
            caught += up
        else:
            good += 1
            false_alarms += up
        # the curve sweeps the confidence alone: a skipped prompt or a hard failure always escalates
        doubts.append(2.0 if a is None else (1.0 - a.confidence if not a.hard_fail else 1.5))
        picked_scores.append(picked)
        strong_scores.append(s)
        records.append({"id": row.id, "escalated": up, "why": why, "path": path, "router_score": score,
                        "weak_score": first, "picked_score": picked, "strong_score": s,
                        "samples": c[2] if c else 0, "pick": c[1] if c else None,
                        "agreeing": a.agreeing if a else None, "confidence": round(a.confidence, 4) if a else None,
                        "verification": (a.summary() or a.verdict.summary()) if a else None,
                        "ok": a.verdict.ok if a else None, "ran": a.ran if a else None})
    n = len(pairs)
    gap = strong_q - weak_q
    curve, area = _curve(doubts, picked_scores, strong_scores, weak_q / n)
    report = CascadeReport(
        file=file, weak=weak, strong=strong, n=n, samples=samples, weak_quality=weak_q / n,
        sample_quality=sample_q / n, local_quality=local_q / n, strong_quality=strong_q / n,
        oracle_quality=oracle_q / n, quality=quality / n, escalation_rate=escalated / n,
        gap_recovered=(quality - weak_q) / gap if gap > 0 else None, confidence_threshold=confidence,
        auroc=_auroc([a.confidence for a in agreements if a is not None],
                     [p >= 0.5 for a, p in zip(agreements, picked_scores) if a is not None]),
        curve_area=area, curve=curve,
        frontier_cost_share=frontier_spent / frontier_all if costs_known and frontier_all else None,
        cost_share=spent / frontier_all if costs_known and frontier_all else None,
        caught=caught / bad if bad else None, false_alarms=false_alarms / good if good else None,
        ran=ran / (n - skipped) if n > skipped else 0.0, seconds=time.perf_counter() - started, router=router,
        early=early, samples_drawn=(sum(c[2] for c in checked if c) / (n - skipped) if n > skipped else None),
        threshold=threshold if scores is not None else None, skip_above=skip_above if scores is not None else None,
        skipped=skipped / n)
    return report, records


def _grades(row: Outcome, weak: str, samples: int) -> list[float]:
    """The scorer's grade of each answer that will be compared (never shown to the checks)."""
    answers = row.answers(weak)[:samples]
    if row.samples.get(weak):
        grades = row.hidden_sample_scores(weak)[:samples]
        if len(grades) < len(answers):
            raise InvalidRequest(f"row {row.id}: {len(answers)} samples of {weak} but {len(grades)} sample_scores",
                                 hint="each sample needs the grader's verdict in sample_scores, in the same order")
        return grades
    return [row.scores[weak]]


def _grades_early(row: Outcome, weak: str, samples: int) -> list[float]:
    """The grades of ``row.first_and_rest(weak)``, in that order (for scorers only)."""
    grades = row.hidden_first_and_rest_scores(weak)
    if len(grades) < min(samples, len(row.first_and_rest(weak))):
        raise InvalidRequest(f"row {row.id}: its answers of {weak} outnumber their scores",
                             hint="each sample needs the grader's verdict in sample_scores, in the same order")
    return grades[:samples]


def _curve(doubts: list[float], local: list[float], strong: list[float],
           weak: float) -> tuple[list[dict[str, float | None]], float | None]:
    """Escalation rate → quality as the threshold sweeps every confidence (most doubtful first),
    and the area between that curve and the weak line over the whole gap."""
    from ..routing.metrics import curve

    c = curve(doubts, local, strong)
    gap = c.strong - weak
    # each point escalates every prompt whose confidence is at most ``confidence_at_most``
    points = [{"confidence_at_most": round(1.0 - t, 4) if t <= 1 else None,
               "escalation_rate": round(share, 4), "quality": round(q, 4),
               "gap_recovered": round((q - weak) / gap, 4) if gap > 0 else None}
              for share, q, t in zip(c.shares, c.qualities, c.thresholds)]
    if gap <= 0:
        return points, None
    area = sum((c.shares[i] - c.shares[i - 1]) * ((c.qualities[i] + c.qualities[i - 1]) / 2 - weak)
               for i in range(1, len(c.shares)))
    return points, area / gap


def _auroc(confidences: list[float], right: list[bool]) -> float | None:
    """P(a right pick has a higher confidence than a wrong one), ties counting half."""
    pos = [c for c, r in zip(confidences, right) if r]
    neg = [c for c, r in zip(confidences, right) if not r]
    if not pos or not neg:
        return None
    ranked = sorted(confidences)
    # rank-sum (Mann-Whitney) with average ranks for ties
    ranks: dict[float, float] = {}
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j] == ranked[i]:
            j += 1
        ranks[ranked[i]] = (i + j + 1) / 2
        i = j
    total = sum(ranks[c] for c in pos)
    return (total - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
