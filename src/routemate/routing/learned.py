"""The learned router: a logistic model over conversation features, scored in plain Python.

``Score.value`` is the predicted chance that the cheaper model's answer is *not* good enough (so,
as for every router, higher means "needs the stronger model"). The model is trained offline with
scikit-learn (``routemate train``) and exported to a small JSON artifact: hashed-text weights, the
named features' scaling and weights, the training score distribution for calibration, and
provenance. Serving never imports numpy or scikit-learn.

Artifact format (``format: routemate-router/1``)::

    {"format", "label", "hash_bits", "max_last_tokens", "max_context_tokens", "intercept",
     "text": {"index": [...], "weight": [...]},
     "dense": {"names": [...], "mean": [...], "scale": [...], "weight": [...], "clip": 4.0},
     "calibration": {"quantiles": [101 scores], "curve": [[threshold, strong_share, quality_fraction], ...]},
     "provenance": {...}}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import vectorize
from .decision import Score
from .features import Features

FORMAT = "routemate-router/2"   # /2: words hashed as ASCII bytes, bigrams mixed from word CRCs
# How a part of the score reads in a decision's reason.
LABELS = {
    "text": "wording", "log_chars": "conversation size", "log_last_chars": "request size",
    "log_last_words": "request words", "code_blocks": "code blocks", "log_code_lines": "code lines",
    "code_share": "share of code", "languages": "languages", "messages": "messages", "log_turns": "turns",
    "tools": "tools offered", "tool_calls": "tool calls", "reasoning": "reasoning markers",
    "constraints": "constraints", "has_tests": "tests", "has_traceback": "traceback", "has_system": "system prompt",
    "doctests": "examples", "signatures": "signatures", "urls": "links", "numbers_per_word": "numbers",
    "non_ascii": "non-English text",
}
DEFAULT_ARTIFACT = "router.json"


@dataclass(frozen=True)
class Calibration:
    """The training distribution of scores: turns a budget into a threshold."""

    quantiles: tuple[float, ...]                        # 101 points: the k-th percentile of scores
    curve: tuple[tuple[float, float, float], ...]       # (threshold, strong share, quality / strong quality)

    def threshold_for_share(self, share: float) -> float:
        """The threshold that sends about ``share`` of training-like prompts to the stronger model."""
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"frontier share {share} is not between 0 and 1", field="routing.frontier_share")
        if share <= 0.0:
            return 1.0 + 1e-9      # nothing reaches it: scores are at most 1
        q = self.quantiles
        pos = (1.0 - share) * (len(q) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(q) - 1)
        return q[lo] + (q[hi] - q[lo]) * (pos - lo)

    def threshold_for_quality(self, fraction: float) -> float:
        """The highest threshold whose training quality reaches ``fraction`` of the stronger model's."""
        if not 0.0 < fraction <= 1.5:
            raise ConfigError(f"target quality {fraction} must be a fraction such as 0.95",
                              field="routing.target_quality")
        for threshold, _share, quality in self.curve:   # ordered by growing strong share
            if quality >= fraction - 1e-9:
                return threshold
        return self.curve[-1][0] if self.curve else 0.0


class LearnedRouter:
    """Scores conversations with an exported logistic model (see the module docstring)."""

    name = "learned"

    def __init__(self, artifact: dict[str, Any] | None = None, *, source: str = "") -> None:
        data = artifact if artifact is not None else _load_default()
        self.source = source or "builtin"
        try:
            fmt = data.get("format")
            if isinstance(fmt, str) and fmt.startswith("routemate-router/") and fmt != FORMAT:
                raise ValueError(f"it was trained for another version of the features ({fmt}; this version "
                                 f"reads {FORMAT}): retrain it with the `routemate train` command in its provenance")
            if fmt != FORMAT:
                raise ValueError(f"format is {fmt!r}, expected {FORMAT!r}")
            if int(data["hash_bits"]) != vectorize.HASH_BITS:
                raise ValueError(f"hash_bits {data['hash_bits']} ≠ {vectorize.HASH_BITS} (retrain the model)")
            self.intercept = float(data["intercept"])
            text = data["text"]
            self.text_weights = dict(zip((int(i) for i in text["index"]), (float(w) for w in text["weight"])))
            d = data["dense"]
            known = set(vectorize.DENSE_NAMES)
            # a feature this version does not compute contributes nothing, rather than failing
            self.clip = float(d.get("clip", vectorize.CLIP))
            self.dense = [(n, float(m), float(s) or 1.0, float(w))
                          for n, m, s, w in zip(d["names"], d["mean"], d["scale"], d["weight"]) if n in known]
            # what scoring loops over: features with a weight, and 1/scale instead of a division
            self._active = [(n, m, 1.0 / s, w) for n, m, s, w in self.dense if w]
            cal = data.get("calibration") or {}
            self.calibration = Calibration(tuple(float(x) for x in cal.get("quantiles") or (0.0, 1.0)),
                                           tuple((float(a), float(b), float(c)) for a, b, c in cal.get("curve") or ()))
            self.label = str(data.get("label", "the cheaper model's answer falls short"))
            self.provenance: dict[str, Any] = dict(data.get("provenance") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a usable router model ({exc})", file=self.source, field="routing.model",
                              hint="retrain it with `routemate train`, or unset routing.model") from None

    @classmethod
    def from_path(cls, path: str | Path) -> "LearnedRouter":
        path = Path(path).expanduser()
        return cls(_load_file(str(path)), source=str(path))

    def logit(self, f: Features) -> tuple[float, list[tuple[str, float]]]:
        """The model's log-odds and each named part's contribution (text counted as one part)."""
        parts = [("text", vectorize.hashed_dot(f, self.text_weights))]
        values = vectorize.dense(f)
        hi = self.clip
        lo = -hi
        for name, mean, inv_scale, weight in self._active:
            z = (values[name] - mean) * inv_scale
            if z:
                parts.append((name, weight * (hi if z > hi else lo if z < lo else z)))
        return self.intercept + sum(c for _, c in parts), parts

    def score(self, f: Features) -> Score:
        z, parts = self.logit(f)
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        top = sorted(parts, key=lambda kv: -abs(kv[1]))[:3]
        why = f"P(local falls short) {p:.2f}: " + ", ".join(f"{LABELS.get(n, n)} {c:+.2f}" for n, c in top)
        return Score(p, why, self.name)


@lru_cache(maxsize=8)
def _load_file(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read router model: {exc.strerror or exc}", file=path, field="routing.model",
                          hint="train one with `routemate train --out PATH`, or unset routing.model") from None
    except ValueError as exc:
        raise ConfigError(f"router model is not JSON ({exc})", file=path, field="routing.model") from None


@lru_cache(maxsize=1)
def _load_default() -> dict[str, Any]:
    ref = resources.files("routemate.data").joinpath(DEFAULT_ARTIFACT)
    return json.loads(ref.read_text(encoding="utf-8"))


def default_artifact_path() -> Path:
    return Path(str(resources.files("routemate.data").joinpath(DEFAULT_ARTIFACT)))
