"""Routing metrics as RouteLLM defines them, for any pair of models on any outcome file.

A router gives each prompt a score (higher: more in need of the strong model). Sweeping a threshold
over those scores sends a growing share of prompts to the strong model; the *curve* is quality (mean
score of the answers actually chosen) against that share. Prompts with equal scores move together,
so the curve is linear between distinct scores, which is exactly the expected value of breaking
ties at random.

- **PGR** at a point: (quality − weak) / (strong − weak), the share of the weak→strong gap recovered.
- **APGR**: area between the curve and always-weak over the area for always-strong (random = 0.5).
- **CPT(x)**: the smallest strong share at which PGR reaches x (random: CPT(x) = x).
- **oracle**: the weak model whenever its score is at least the strong one's.
Pure Python: no numpy, so it can run anywhere routemate runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidRequest

CPT_LEVELS = (0.5, 0.8, 0.95)


@dataclass(frozen=True, slots=True)
class Curve:
    """Quality against strong share; ``thresholds[i]`` sends ``shares[i]`` of prompts to strong."""

    shares: tuple[float, ...]
    qualities: tuple[float, ...]
    thresholds: tuple[float, ...]
    weak: float
    strong: float

    def pgr(self, quality: float) -> float | None:
        gap = self.strong - self.weak
        return (quality - self.weak) / gap if gap > 0 else None

    def quality_at(self, share: float) -> float:
        """Interpolated quality at a strong share in [0, 1]."""
        share = min(1.0, max(0.0, share))
        for i in range(1, len(self.shares)):
            s0, s1 = self.shares[i - 1], self.shares[i]
            if share <= s1:
                q0, q1 = self.qualities[i - 1], self.qualities[i]
                return q0 if s1 == s0 else q0 + (q1 - q0) * (share - s0) / (s1 - s0)
        return self.qualities[-1]


def curve(router: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> Curve:
    """The threshold sweep of ``router`` scores over prompts scored ``weak`` / ``strong``."""
    n = len(router)
    if n == 0:
        raise InvalidRequest("no prompts to evaluate", hint="check --data and the model names")
    if not len(weak) == len(strong) == n:
        raise ValueError("router, weak and strong must have the same length")
    order = sorted(range(n), key=lambda i: -router[i])
    q = sum(weak) / n
    shares, quals, thresholds = [0.0], [q], [float("inf")]
    i = 0
    while i < n:
        t = router[order[i]]
        while i < n and router[order[i]] == t:   # a tie moves as one group
            j = order[i]
            q += (strong[j] - weak[j]) / n
            i += 1
        shares.append(i / n)
        quals.append(q)
        thresholds.append(t)
    quals[-1] = sum(strong) / n                  # exact, free of accumulated rounding
    return Curve(tuple(shares), tuple(quals), tuple(thresholds), quals[0], quals[-1])


def apgr(c: Curve) -> float | None:
    """Area between the curve and always-weak, over the always-strong area (None when no gap)."""
    gap = c.strong - c.weak
    if gap <= 0:
        return None
    area = 0.0
    for i in range(1, len(c.shares)):
        width = c.shares[i] - c.shares[i - 1]
        area += width * ((c.qualities[i] + c.qualities[i - 1]) / 2 - c.weak)
    return area / gap


def cpt(c: Curve, level: float) -> float | None:
    """Smallest strong share whose PGR reaches ``level`` (linear along the curve)."""
    gap = c.strong - c.weak
    if gap <= 0:
        return None
    target = c.weak + level * gap
    if c.qualities[0] >= target - 1e-12:
        return 0.0
    for i in range(1, len(c.shares)):
        q0, q1 = c.qualities[i - 1], c.qualities[i]
        if q1 >= target - 1e-12 and q1 > q0:
            s0, s1 = c.shares[i - 1], c.shares[i]
            return s0 + (s1 - s0) * (target - q0) / (q1 - q0)
    return 1.0


def oracle(weak: Sequence[float], strong: Sequence[float]) -> tuple[float, float]:
    """(quality, strong share) of routing each prompt to the weak model iff it does at least as well."""
    n = len(weak)
    quality = sum(max(w, s) for w, s in zip(weak, strong)) / n
    share = sum(s > w for w, s in zip(weak, strong)) / n
    return quality, share


def threshold_for_share(c: Curve, share: float) -> float:
    """The score threshold that sends at most ``share`` of these prompts to the strong model."""
    best = c.thresholds[0]
    for s, t in zip(c.shares, c.thresholds):
        if s <= share + 1e-12:
            best = t
    return best


def summary(router: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> dict[str, object]:
    """Every headline figure for one router on one pair, as plain JSON-able values."""
    c = curve(router, weak, strong)
    oracle_q, oracle_share = oracle(weak, strong)
    gains = [s - w for w, s in zip(weak, strong)]
    oc = curve(gains, weak, strong)   # the best possible ordering: the bound any router's APGR can reach
    return {
        "n": len(router), "weak_quality": c.weak, "strong_quality": c.strong,
        "oracle_quality": oracle_q, "oracle_strong_share": oracle_share,
        "apgr": apgr(c), "cpt": {f"{round(x * 100)}": cpt(c, x) for x in CPT_LEVELS},
        "random": {"apgr": 0.5 if c.strong > c.weak else None,
                   "cpt": {f"{round(x * 100)}": x for x in CPT_LEVELS}},
        "oracle": {"apgr": apgr(oc), "cpt": {f"{round(x * 100)}": cpt(oc, x) for x in CPT_LEVELS}},
    }
