"""Several samples of one request, run on the same inputs: group them by behaviour, pick one, and
say how sure the pick is.

Sampling a cheap model several times and executing the answers picks right answers far more
reliably than checking one answer (CodeT's dual agreement, MBR-exec, AlphaCode's clustering). Here:

1. every sample runs once in the sandbox (one process per sample) on the request's examples, the
   user's tests, its own examples, and the same generated inputs (``inputs.generate``);
2. samples that behave identically on every input (same results, same exceptions, same output) form
   a group; samples with no runnable code (no code, does not parse, lacks the function) form none;
3. the pick comes from the group that passes the most request examples and tests, then the largest,
   then the one whose members' own examples hold; within it, the first sample whose own checks pass;
4. ``confidence`` (0..1) combines agreement, examples passed and the router's score with a small
   logistic model (``Confidence``); the caller escalates below a threshold.

``Agreement.evidence()`` is what a repair prompt carries: the failing example, or the inputs on
which the samples disagree and what each group returned.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from .checks import NOTHING_STATED, Verdict, verify
from .extract import python_answer
from .inputs import LIMIT, generate
from .spec import Spec, read_request

STATIC = ("code", "language", "parses", "defines", "imports")
UNSTABLE = ("timeout", "not reached", "not defined")


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]          # sample indexes, in order
    outputs: tuple[str, ...]          # behaviour on the compared inputs
    examples_passed: int
    tests_passed: int

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class Agreement:
    verdicts: tuple[Verdict, ...]
    inputs: tuple[str, ...]           # every generated input (argument lists)
    compared: tuple[int, ...]         # indexes of the inputs every sample finished (the ones compared)
    groups: tuple[Group, ...]         # best first
    pick: int
    confidence: float
    features: dict[str, float] = field(default_factory=dict)
    entry: str | None = None
    examples: int = 0                 # examples in the request
    writes_tests: bool = False        # the request asks for tests of the user's code

    @property
    def verdict(self) -> Verdict:
        return self.verdicts[self.pick]

    @property
    def k(self) -> int:
        return len(self.verdicts)

    @property
    def agreeing(self) -> int:
        """How many samples behave like the one picked."""
        return self.groups[0].size if self.groups else 0

    @property
    def hard_fail(self) -> bool:
        """The pick fails what the user wrote (an example, a test) or has no runnable code."""
        v = self.verdict
        return any(c.status == "fail" and c.name in (*STATIC, "examples", "tests") for c in v.checks) \
            or not v.checks

    @property
    def ran(self) -> bool:
        """Whether anything ran: examples, tests, own examples, or inputs compared across samples."""
        return self.verdict.ran or (bool(self.compared) and self.k > 1 and bool(self.groups))

    def summary(self) -> str:
        """``3 of 4 samples agree on 9 inputs; 2 examples pass``."""
        parts = []
        tests = self.verdict.check("tests")
        if self.writes_tests:     # tests of the user's code: their outcome is the whole story
            ok = sum(1 for v in self.verdicts if v.ok)
            label = tests.label if tests is not None else self.verdict.summary()
            return label + (f" ({ok} of {self.k} samples' tests pass)" if self.k > 1 else "")
        if self.k > 1 and self.compared:
            n = len(self.compared)
            parts.append(f"{self.agreeing} of {self.k} samples agree on {n} input{'s' * (n != 1)}")
        elif self.k > 1:
            parts.append(f"{self.k} samples, no inputs to compare them on")
        elif self.compared:
            raised = sum(self.verdict.outputs[i].startswith("raises") for i in self.compared)
            parts.append(f"ran on {len(self.compared)} inputs" + (f" ({raised} raise)" if raised else ""))
        check = self.verdict.check("examples")
        if check is not None:
            n = check.total
            parts.append(f"{check.passed} of {n} examples pass" if check.passed < n else
                         f"{n} examples pass" if n > 1 else "1 example passes")
        if tests is not None and tests.status != "skip":
            parts.append(tests.label)
        own = self.verdict.check("own")
        if own is not None and own.status == "pass":      # what "verified" rests on when nothing else states a result
            parts.append(own.label)
        return "; ".join(parts)

    def evidence(self) -> str:
        """What a stronger model should know: what failed, or where the samples disagree."""
        lines = [self.verdict.report()] if not self.verdict.ok else []
        if len(self.groups) > 1 and self.entry:
            lines.append(f"- {self.k} samples of the earlier answer disagree on these inputs (what each did):")
            for at, i in enumerate(self.compared):
                said: dict[str, int] = {}
                for g in self.groups:
                    said[g.outputs[at]] = said.get(g.outputs[at], 0) + g.size
                if len(said) > 1:
                    what = "; ".join(f"{n} gave {_short(out)}" for out, n in sorted(said.items(), key=lambda x: -x[1]))
                    lines.append(f"  {self.entry}({_short(self.inputs[i])}): {what}")
                if len(lines) > 6:
                    break
        return "\n".join(line for line in lines if line)

    def to_dict(self) -> dict[str, Any]:
        """For the request log: everything the decision rested on (no code, no hidden data)."""
        return {"samples": self.k, "pick": self.pick, "agreeing": self.agreeing,
                "groups": [list(g.members) for g in self.groups], "inputs": len(self.inputs),
                "compared": len(self.compared), "examples": self.examples,
                "examples_passed": self.groups[0].examples_passed if self.groups else 0,
                "confidence": round(self.confidence, 4),
                "features": {k: round(v, 4) for k, v in self.features.items()}, "summary": self.summary(),
                "verdicts": [v.to_dict() for v in self.verdicts]}


def agree(request: str, answers: Sequence[str], *, tests: str | None = None, default_language: str | None = "python",
          timeout: float = 10.0, memory_mb: int = 512, own_examples: bool = True, router_score: float | None = None,
          workers: int = 2, spec: Spec | None = None, model: "Confidence | None" = None,
          limit: int = LIMIT, strict: bool = False, seen: dict[Any, Verdict] | None = None) -> Agreement:
    """Run every answer on the same inputs (at most ``limit`` generated), group, pick, and score
    the pick (module docstring). ``seen`` keeps verdicts between calls for one request with the same
    settings: an answer already run on the same inputs is not run again (samples drawn one at a time
    are compared after each, and a sample that hangs would cost the timeout at every comparison)."""
    if not answers:
        raise ValueError("agree() needs at least one answer")
    spec = spec or read_request(request)
    inputs = generate(spec, [python_answer(a) for a in answers], limit)

    def key(answer: str) -> tuple[str, str, tuple[str, ...]]:
        return request, answer, inputs

    def one(answer: str) -> Verdict:
        if seen is not None and key(answer) in seen:
            return seen[key(answer)]
        verdict = verify(request, answer, tests=tests, default_language=default_language, timeout=timeout,
                         memory_mb=memory_mb, own_examples=own_examples, spec=spec, inputs=inputs,
                         strict=strict)
        if seen is not None:
            seen[key(answer)] = verdict
        return verdict

    fresh = len({a for a in answers if seen is None or key(a) not in seen})
    if fresh <= 1 or workers <= 1:
        verdicts = [one(a) for a in answers]
    else:
        with ThreadPoolExecutor(min(workers, len(answers))) as pool:
            verdicts = list(pool.map(one, answers))
    return decide(tuple(verdicts), inputs, spec, router_score=router_score, model=model)


def decide(verdicts: tuple[Verdict, ...], inputs: tuple[str, ...], spec: Spec, *, router_score: float | None = None,
           model: "Confidence | None" = None) -> Agreement:
    """Group, pick and score verdicts already computed (pure: no sandbox)."""
    runnable = [i for i, v in enumerate(verdicts) if _runnable(v)]
    compared = tuple(j for j in range(len(inputs))
                     if runnable and all(len(verdicts[i].outputs) > j and not verdicts[i].outputs[j].startswith(UNSTABLE)
                                         for i in runnable))
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for i in runnable:
        v = verdicts[i]
        key = (tuple(v.outputs[j] for j in compared), _passed(v, "examples"), _passed(v, "tests"))
        by_key.setdefault(key, []).append(i)
    groups = [Group(tuple(m), key[0], key[1], key[2]) for key, m in by_key.items()]

    def rank(g: Group) -> tuple[Any, ...]:
        raising = sum(o.startswith("raises") for o in g.outputs)
        own_ok = sum(verdicts[i].ok for i in g.members)
        return (-g.examples_passed, -g.tests_passed, bool(g.outputs) and raising == len(g.outputs), -g.size,
                -own_ok, g.members[0])

    groups.sort(key=rank)
    if groups:
        best = groups[0]
        pick = next((i for i in best.members if verdicts[i].ok), best.members[0])
    else:
        pick = 0
    agreement = Agreement(tuple(verdicts), inputs, compared, tuple(groups), pick, 0.0, entry=spec.entry,
                          examples=len(spec.examples), writes_tests=spec.wants_tests)
    features = _features(agreement, router_score)
    confidence = 0.0 if agreement.hard_fail else (model or Confidence.default()).score(features)
    return Agreement(tuple(verdicts), inputs, compared, tuple(groups), pick, confidence, features,
                     spec.entry or verdicts[pick].entry, len(spec.examples), spec.wants_tests)


def judge(a: Agreement, threshold: float | None, *, lowered: bool = False,
          unverified: str = "accept") -> tuple[bool, str]:
    """Whether an answer goes up the ladder, and why; the live cascade and its replay both ask
    this. Any answer that fails what the user wrote (an example, a test) or has no runnable code
    does (one answer alone also when its own examples fail). With a ``threshold`` (the cheap
    model's answers) also one below it in confidence, or one nothing ran against when the router
    had sent the request higher (``lowered``) or ``unverified = "escalate"``."""
    v = a.verdict
    if a.hard_fail or (not v.ok and a.k == 1):
        return True, f"failed ({v.summary()})"
    if threshold is None:
        return False, ""
    if not a.ran and (lowered or unverified == "escalate"):
        if v.executed:
            return True, f"failed (not checked: it ran {v.what_ran()}, but {NOTHING_STATED})"
        return True, "failed (nothing could be run against its code)"
    if a.confidence < threshold:
        # nothing ran (no inputs, another language, a sandbox that refused): say why, not just "no inputs"
        why = (a.summary() or v.summary()) if a.ran or v.executed else f"not run: {v.not_run()}"
        return True, f"has low confidence {a.confidence:.2f} ({why})"
    return False, ""


# Examples from the request that must hold on one answer before no more samples are drawn. One is too
# few: on MBPP prompts showing one assert, 4 of the 16 greedy answers that passed it failed the hidden
# tests, where the pick among 4 samples failed on 2; showing two, the answers that passed both were
# as right as the pick (docs/verify.md, "Stopping at the first sample").
SETTLING_EXAMPLES = 2
# Samples drawn one at a time that must behave alike (same result on every compared input, every
# example of the request held) before no more are drawn, when one answer alone could not settle it
# (docs/verify.md, "Samples that agree").
SETTLING_AGREEMENT = 2


def could_settle(request: str, tests: str | None = None) -> bool:
    """Whether a first answer to ``request`` could settle it at all: the user gave tests, the request
    asks for tests of code it supplies, or it states at least ``SETTLING_EXAMPLES`` examples. When
    not, an early-stopping cascade draws every sample at once (one call, one round of checks)."""
    return fewest_to_settle(request, tests) == 1


def fewest_to_settle(request: str, tests: str | None = None) -> int:
    """The fewest samples that could settle ``request`` (``settled``): 1 when one answer could
    (``could_settle``), ``SETTLING_AGREEMENT`` when the request states an example that samples drawn
    one at a time can agree on, 0 when nothing could."""
    if tests is not None:
        return 1
    spec = read_request(request)
    if spec.wants_tests or len(spec.examples) >= SETTLING_EXAMPLES:
        return 1
    return SETTLING_AGREEMENT if spec.examples and spec.entry else 0


def settled(a: Agreement, threshold: float) -> bool:
    """Whether the samples drawn so far are trusted without drawing more (``[verify] early``): its
    confidence clears the threshold, nothing failed, and either one answer held the user's tests or
    at least ``SETTLING_EXAMPLES`` of the request's examples, or (several samples, drawn one at a
    time) at least ``SETTLING_AGREEMENT`` of them, a majority, behave alike on every compared input and
    hold every example the request states. The live cascade and its replay both ask this."""
    v = a.verdict
    if a.hard_fail or not v.ok or a.confidence < threshold:
        return False
    tests, examples = v.check("tests"), v.check("examples")
    held = tests is not None and tests.status == "pass" and tests.passed > 0
    shown = examples.passed if examples is not None and examples.status == "pass" else 0
    if a.k == 1:
        return held or shown >= SETTLING_EXAMPLES
    return (held or shown > 0) and bool(a.compared) \
        and a.agreeing >= SETTLING_AGREEMENT and 2 * a.agreeing > a.k


def _runnable(v: Verdict) -> bool:
    return bool(v.checks) and not any(c.status == "fail" and c.name in STATIC for c in v.checks) \
        and v.check("imports") is None and v.language in (None, "python")


def _passed(v: Verdict, name: str) -> int:
    """Checks of that kind that held; a failing tests check ranks below any passing one (an
    answer's own tests differ in number from sample to sample)."""
    c = v.check(name)
    if c is None or c.status == "skip":
        return 0
    return c.passed if c.status == "pass" or name == "examples" else -1


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- confidence -----------------------------------------------------------------------------------------

FEATURES = ("agree", "margin", "examples", "examples_pass", "tests_pass", "own_fail", "raises", "compared", "router",
            "single", "checked")


def _features(a: Agreement, router_score: float | None) -> dict[str, float]:
    k = max(1, a.k)
    sizes = [g.size for g in a.groups] + [0, 0]
    v = a.verdict
    examples = v.check("examples")
    own = v.check("own")
    tests = v.check("tests")
    compared = [v.outputs[i] for i in a.compared] if v.outputs else []
    compared_any = bool(a.compared)      # without inputs, samples "agree" on nothing
    return {
        "agree": sizes[0] / k if compared_any or k == 1 else 0.0,
        "margin": (sizes[0] - sizes[1]) / k if compared_any or k == 1 else 0.0,
        "examples": 1.0 if a.examples else 0.0,
        "examples_pass": (examples.passed / examples.total) if examples is not None and examples.total else 0.0,
        "tests_pass": 1.0 if tests is not None and tests.status == "pass" else 0.0,
        "own_fail": 1.0 if own is not None and own.status == "fail" else 0.0,
        "raises": (sum(o.startswith("raises") for o in compared) / len(compared)) if compared else 0.0,
        "compared": min(len(a.compared), 12) / 12,
        "router": (router_score if router_score is not None else 0.5) - 0.5,
        "single": 1.0 if k == 1 else 0.0,
        # something stated what the pick should give, and it did (an example that only prints is no check)
        "checked": 1.0 if v.ran else 0.0,
    }


@dataclass(frozen=True)
class Confidence:
    """A logistic model over ``FEATURES``: P(the picked answer is right). ``curve`` (threshold,
    escalation rate, quality as a share of the strong model's) lets a budget choose a threshold."""

    weights: dict[str, float]
    bias: float
    curve: tuple[tuple[float, float, float], ...] = ()
    source: str = "builtin"
    provenance: dict[str, Any] = field(default_factory=dict)

    def score(self, features: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(k, 0.0) * v for k, v in features.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def threshold_for_share(self, share: float) -> float:
        """The threshold that escalated about ``share`` of the calibration prompts."""
        if not self.curve:
            raise ValueError("this confidence model has no calibration curve")
        best = self.curve[0][0]
        for threshold, escalated, _quality in self.curve:     # ordered by growing escalation
            if escalated <= share + 1e-9:
                best = threshold
        return best

    def threshold_for_quality(self, fraction: float) -> float:
        """The lowest threshold whose calibration quality reached ``fraction`` of the strong model's."""
        if not self.curve:
            raise ValueError("this confidence model has no calibration curve")
        for threshold, _escalated, quality in self.curve:
            if quality >= fraction - 1e-9:
                return threshold
        return self.curve[-1][0]

    def to_json(self) -> dict[str, Any]:
        return {"format": "routemate-confidence/1", "weights": self.weights, "bias": self.bias,
                "curve": [list(c) for c in self.curve], "provenance": self.provenance}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "") -> "Confidence":
        return cls({k: float(v) for k, v in data["weights"].items()}, float(data["bias"]),
                   tuple(tuple(float(x) for x in c) for c in data.get("curve", ())),  # type: ignore[misc]
                   source or "file", dict(data.get("provenance") or {}))

    @staticmethod
    def default() -> "Confidence":
        return _shipped()


# Used until a fitted model ships: agreement and passing examples raise confidence, raising on
# generated inputs and failing its own examples lower it; a pick nothing checked (no example states
# an expected result) sits 0.5 lower in log-odds than one something checked.
HAND_SET = Confidence({"agree": 3.0, "margin": 1.0, "examples": 0.5, "examples_pass": 2.5, "tests_pass": 3.0,
                       "own_fail": -1.5, "raises": -2.0, "compared": 0.5, "router": -1.5, "single": -0.5,
                       "checked": 0.5}, -2.0, source="hand-set")


@lru_cache(maxsize=1)
def _shipped() -> Confidence:
    try:
        text = resources.files("routemate.data").joinpath("confidence.json").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return HAND_SET
    return Confidence.from_json(json.loads(text), source="builtin")
