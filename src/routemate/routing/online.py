"""The router that learns from your own traffic: a base learned router, corrected by your labels.

A label says whether a model's answer to a request was good enough: its code passed the checks
(1) or failed and was escalated (0), or the user rated it good or bad. The router's question is
"will the local model fall short on this request?", so the labels of local answers teach it.

The model is the base router's log-odds ``z`` (the shipped router, or ``routing.model``), corrected:

    z' = a·z + b + Σ w_d·(named feature d) + Σ w_t·(hashed word t)

fitted by L2-regularised logistic regression (Adagrad, pure Python: serving and learning need no
numpy). With few labels the correction stays near zero (``a`` = 1, ``b`` = 0: the base router);
with more it learns where *your* local model fails, and ``a`` can shrink, or flip sign, when the
base router's idea of difficulty is wrong for your traffic.

What a label keeps of its request (``Example``): the base router's log-odds, the named features
(sizes, code, task kind, markers, turns, tools: numbers, no text) and, only when the log keeps
prompt text (``log.prompts = "text"``), the hashed word counts. With ``log.prompts = "hash"`` the
learner uses the first two only, so nothing of the wording is kept beyond the prompt's sha256.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import vectorize
from .decision import Score
from .features import Features
from .learned import LABELS, LearnedRouter

FORMAT = "routemate-online/1"


@dataclass(frozen=True, slots=True)
class Example:
    """What learning needs of one request: no prompt text, ever."""

    prior: float                                  # the base router's log-odds
    dense: tuple[float, ...]                      # named features (``vectorize.DENSE_NAMES`` order), raw
    text: tuple[tuple[int, float], ...] = ()      # hashed word counts; empty when prompts are hashed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"p": round(self.prior, 5), "d": [round(x, 5) for x in self.dense]}
        if self.text:
            out["t"] = [[k, v] for k, v in self.text]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Example":
        return cls(float(data["p"]), tuple(float(x) for x in data["d"]),
                   tuple((int(k), float(v)) for k, v in data.get("t") or ()))


def example(base: LearnedRouter, f: Features, *, text: bool = True) -> Example:
    values = vectorize.dense(f)
    return Example(base.logit(f)[0], tuple(values[n] for n in vectorize.DENSE_NAMES),
                   tuple(sorted(vectorize.bucket_counts(f).items())) if text else ())


@dataclass
class Correction:
    """The learned part of an online router (see the module docstring)."""

    a: float = 1.0
    b: float = 0.0
    dense: dict[str, float] = field(default_factory=dict)
    text: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"a": round(self.a, 6), "b": round(self.b, 6),
                "dense": {k: round(v, 6) for k, v in self.dense.items() if abs(v) >= 1e-6},
                "text": [[k, round(v, 6)] for k, v in sorted(self.text.items()) if abs(v) >= 1e-6]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Correction":
        return cls(float(data.get("a", 1.0)), float(data.get("b", 0.0)),
                   {str(k): float(v) for k, v in (data.get("dense") or {}).items()},
                   {int(k): float(v) for k, v in data.get("text") or ()})


class Scaling:
    """Named features standardised and clipped as the base router does (its training mean and spread)."""

    def __init__(self, base: LearnedRouter) -> None:
        known = {n: (m, 1.0 / s) for n, m, s, _ in base.dense}
        self.names = [n for n in vectorize.DENSE_NAMES if n in known]
        idx = {n: i for i, n in enumerate(vectorize.DENSE_NAMES)}
        self.cols = [(n, idx[n], *known[n]) for n in self.names]
        self.clip = base.clip

    def __call__(self, raw: Sequence[float]) -> list[tuple[str, float]]:
        hi = self.clip
        out = []
        for name, i, mean, inv in self.cols:
            z = (raw[i] - mean) * inv
            if z:
                out.append((name, hi if z > hi else -hi if z < -hi else z))
        return out


def _text(ex: Example) -> list[tuple[int, float]]:
    """Hashed words as the base router weighs them: log-scaled counts, L2-normalised."""
    if not ex.text:
        return []
    vals = [(k, 1.0 + math.log(v)) for k, v in ex.text]
    norm = math.sqrt(sum(v * v for _, v in vals)) or 1.0
    return [(k, v / norm) for k, v in vals]


def fit(examples: Sequence[Example], labels: Sequence[float], base: LearnedRouter, *, l2: float = 1.0,
        epochs: int = 20, rate: float = 0.1, seed: int = 0) -> Correction:
    """Fit a correction to ``labels`` (1 = the local answer fell short, 0 = it was good enough;
    values between are soft labels). ``l2`` pulls every weight towards the base router."""
    scale = Scaling(base)
    rows = [(ex.prior, scale(ex.dense), _text(ex), float(y)) for ex, y in zip(examples, labels)]
    c = Correction()
    if not rows:
        return c
    n = len(rows)
    reg = l2 / n
    gd: dict[str, float] = {}
    gt: dict[int, float] = {}
    ga = gb = 1e-8
    wd, wt = c.dense, c.text
    order = list(range(n))
    rnd = random.Random(seed)
    sqrt = math.sqrt
    for _ in range(epochs):
        rnd.shuffle(order)
        for i in order:
            prior, dense, text, y = rows[i]
            z = c.a * prior + c.b
            for k, v in dense:
                z += wd.get(k, 0.0) * v
            for t, v in text:
                z += wt.get(t, 0.0) * v
            g = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) - y
            for k, v in dense:
                w = wd.get(k, 0.0)
                gi = g * v + reg * w
                gd[k] = acc = gd.get(k, 1e-8) + gi * gi
                wd[k] = w - rate * gi / sqrt(acc)
            for t, v in text:
                w = wt.get(t, 0.0)
                gi = g * v + reg * w
                gt[t] = acc = gt.get(t, 1e-8) + gi * gi
                wt[t] = w - rate * gi / sqrt(acc)
            gb += g * g
            c.b -= rate * g / sqrt(gb)
            gi = g * prior + reg * (c.a - 1.0)
            ga += gi * gi
            c.a -= rate * gi / sqrt(ga)
    return c


class OnlineRouter:
    """A base ``LearnedRouter`` plus a ``Correction``, named by its version (``learned v3``)."""

    def __init__(self, base: LearnedRouter, correction: Correction | None = None, *, version: int = 0,
                 info: dict[str, Any] | None = None) -> None:
        self.base = base
        self.correction = correction or Correction()
        self.version = version
        self.name = f"learned v{version}" if version else "learned"
        self.calibration = base.calibration
        self.provenance = base.provenance
        self.info = dict(info or {})
        self._scale = Scaling(base)

    def logit_of(self, ex: Example) -> float:
        """Log-odds for a stored example (what the guard and ``eval online`` compare)."""
        c = self.correction
        z = c.a * ex.prior + c.b
        for k, v in self._scale(ex.dense):
            z += c.dense.get(k, 0.0) * v
        if c.text:
            for t, v in _text(ex):
                z += c.text.get(t, 0.0) * v
        return z

    def score(self, f: Features) -> Score:
        if not self.version:
            return self.base.score(f)
        c = self.correction
        z0, parts = self.base.logit(f)
        z = c.a * z0 + c.b
        learned = 0.0
        if c.dense:
            values = vectorize.dense(f)
            for k, v in self._scale([values[n] for n in vectorize.DENSE_NAMES]):
                learned += c.dense.get(k, 0.0) * v
        if c.text:
            learned += vectorize.hashed_dot(f, c.text)
        z += learned
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        top = sorted(parts, key=lambda kv: -abs(kv[1]))[:2]
        why = (f"P(local falls short) {p:.2f}: base {z0:+.2f} ("
               + ", ".join(f"{LABELS.get(n, n)} {v:+.2f}" for n, v in top)
               + f"), learned from your traffic {z - z0:+.2f}")
        return Score(p, why, self.name)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": self.version, "correction": self.correction.to_json(),
                "base": self.base.source, "info": self.info}

    @classmethod
    def from_json(cls, base: LearnedRouter, data: dict[str, Any]) -> "OnlineRouter":
        if data.get("format") != FORMAT:
            raise ValueError(f"not an online router ({data.get('format')!r})")
        return cls(base, Correction.from_json(data["correction"]), version=int(data["version"]),
                   info=data.get("info") or {})
