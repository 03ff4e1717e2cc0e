"""The routing decision: a pure function of features, a router's score and the policy.

Order of precedence, strongest first:
1. privacy: a request that must stay local only goes to private models, even over a pin;
   a hard requirement (``Policy.requires``: a tool call the caller demands, a tool result to
   answer) only goes to models that have it, and is refused (400) when none does;
2. an explicit pin (a model name or a tier alias) from the caller;
3. the router's score against the threshold: at or above it, the frontier tier; below, local;
   with a ladder (``Policy.ladder``: model → ceiling), the cheapest rung whose ceiling is above
   the score, and the frontier when the score reaches every ceiling;
Within a tier the cheapest model that can serve the request wins (capabilities, language). When
the wanted model cannot be tried (no key, ...), the next one answers and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import InvalidRequest, ModelNotFound, NoModelAvailable, PrivacyRefusal

TIERS = ("local", "frontier")


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    tier: str
    price: float = 0.0                  # price_in + price_out: orders models within a tier
    available: bool = True
    unavailable_why: str = ""
    private: bool = False
    languages: tuple[str, ...] | None = None   # None: any language
    caps: frozenset[str] = frozenset({"chat"})

    def speaks(self, language: str | None) -> bool:
        return language is None or self.languages is None or language in self.languages


@dataclass(frozen=True, slots=True)
class Score:
    """A router's verdict: ``value`` in [0, 1] is how much the request needs the stronger model."""

    value: float
    why: str = ""
    router: str = "rules"


@dataclass(frozen=True, slots=True)
class Policy:
    candidates: tuple[Candidate, ...]
    threshold: float = 0.5
    pin: str | None = None                  # model name or tier alias; "auto"/None lets the router pick
    fallback: bool = True
    needs: frozenset[str] = frozenset()     # capabilities the request would like (tools, fim, ...)
    language: str | None = None             # natural language of the request (ISO 639-1)
    private_reason: str | None = None       # set when the request must not leave private models
    ladder: tuple[tuple[str, float], ...] = ()   # (model, ceiling): rungs below the frontier
    requires: frozenset[str] = frozenset()  # capabilities the answer cannot do without (tools, ...)
    requires_why: str = ""                  # why, for the reason and the error ("tool_choice is required")


@dataclass(frozen=True, slots=True)
class Decision:
    model: str
    tier: str
    reason: str
    score: float
    threshold: float
    router: str = "rules"
    pinned: bool = False
    fallback_from: str | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "tier": self.tier, "reason": self.reason, "score": round(self.score, 4),
                "threshold": round(self.threshold, 4), "router": self.router, "pinned": self.pinned,
                "fallback_from": self.fallback_from}


def _order(cands: list[Candidate], tier: str) -> list[Candidate]:
    """The ladder searched when ``tier`` is wanted: that tier cheapest first, then the other tier."""
    same = sorted((c for c in cands if c.tier == tier), key=lambda c: c.price)
    # going down from frontier, prefer the strongest local; going up, the cheapest frontier
    other = sorted((c for c in cands if c.tier != tier), key=lambda c: c.price, reverse=(tier == "frontier"))
    return same + other


def _climb(score: Score, policy: Policy, cands: list[Candidate]) -> tuple[list[Candidate], str]:
    """The ladder order for a score: rungs whose ceiling is above it (lowest ceiling first), then
    the frontier, then the rest as a last resort; and the reason."""
    ceilings = dict(policy.ladder)
    rungs = sorted((c for c in cands if c.name in ceilings), key=lambda c: (ceilings[c.name], c.price))
    eligible = [c for c in rungs if score.value < ceilings[c.name]]
    order = eligible + [c for c in _order(cands, "frontier") if c not in eligible]
    head = f"{score.router}: {score.why + ' → ' if score.why else ''}{score.value:.2f}"
    if eligible:
        why = f"{head} < {ceilings[eligible[0].name]:.2f} (ladder ceiling of {eligible[0].name})"
    else:
        why = f"{head} ≥ every ladder ceiling"
    return order, why


def _serving(policy: Policy, cands: list[Candidate], pinned: bool) -> tuple[list[Candidate], str]:
    """The candidates that have every required capability, and the note saying so; an error when
    none does (never a silent answer without the tool call the caller demanded)."""
    need = ", ".join(sorted(policy.requires))
    why = policy.requires_why or f"the request needs {need}"
    serving = [c for c in cands if policy.requires <= c.caps]
    if not serving:
        if policy.private_reason and any(policy.requires <= c.caps for c in policy.candidates):
            raise PrivacyRefusal(f"refused: {policy.private_reason}, and no private (local) model serves {need} "
                                 f"({why})", hint=f'give a local model capabilities = ["chat", "{need}"] if it '
                                                  "can, or remove the secret from the request")
        raise InvalidRequest(f"{why}, but no configured model serves {need}", param="tool_choice",
                             hint=f'add "{need}" to the capabilities of a model that can call tools, or send '
                                  'tool_choice "auto"')
    if pinned and policy.pin not in TIERS and all(c.name != policy.pin for c in serving):
        raise InvalidRequest(f"{why}, but model {policy.pin!r} does not serve {need}", param="model",
                             hint=f"use auto or one of: {', '.join(c.name for c in serving)}")
    return serving, f"{why}: only models with {need}"


def decide(score: Score, policy: Policy) -> Decision:
    cands = list(policy.candidates)
    notes: list[str] = []
    if policy.private_reason:
        private = [c for c in cands if c.private]
        if not any(c.available for c in private):
            raise PrivacyRefusal(f"refused: {policy.private_reason}, and no private (local) model can serve it",
                                 hint="configure a local model, or remove the secret from the request")
        notes.append(f"kept local: {policy.private_reason}")
        cands = private

    pinned = policy.pin not in (None, "", "auto")
    names = {c.name for c in policy.candidates}
    if pinned and policy.pin not in names and policy.pin not in TIERS:
        raise ModelNotFound(f"unknown model {policy.pin!r}",
                            hint=f"use auto, local, frontier or one of: {', '.join(sorted(names))}")
    if policy.requires:
        cands, note = _serving(policy, cands, pinned)
        notes.append(note)

    if pinned and policy.pin in TIERS:
        wanted_tier, first = policy.pin, None
        why = f"tier {policy.pin} requested"
    elif pinned:
        target = next((c for c in cands if c.name == policy.pin), None)
        wanted_tier = next(c.tier for c in policy.candidates if c.name == policy.pin)
        first = target
        why = f"pinned to {policy.pin}" if target else f"pin {policy.pin} overridden"
    else:
        wanted_tier = "frontier" if score.value >= policy.threshold else "local"
        first = None
        cmp = "≥" if wanted_tier == "frontier" else "<"
        why = f"{score.router}: {score.why + ' → ' if score.why else ''}{score.value:.2f} {cmp} {policy.threshold:.2f}"

    climbing = bool(policy.ladder) and not pinned
    if climbing:
        ladder, why = _climb(score, policy, cands)
        wanted_tier = ladder[0].tier if ladder else "frontier"
    else:
        ladder = _order(cands, wanted_tier)
    if first is not None:
        ladder = [first] + [c for c in ladder if c is not first]

    wanted = ladder[0] if ladder else None
    usable = [c for c in ladder if c.available]
    if not usable:
        missing = "; ".join(f"{c.name}: {c.unavailable_why}" for c in cands if not c.available) or "none configured"
        raise NoModelAvailable(f"no model can answer ({missing})",
                               hint="run `routemate models`, set the missing API key, or add a model to the config")
    speaking = [c for c in usable if c.speaks(policy.language)]
    if not speaking:
        notes.append(f"no model declares language '{policy.language}'")
        speaking = usable
    if first is not None and first in speaking:
        chosen = first
    elif climbing:   # the ladder order already encodes the choice; capabilities pick along it
        chosen = next((c for c in speaking if policy.needs <= c.caps), speaking[0])
    else:
        # capabilities pick within the tier; they never move a request to a pricier tier
        pool = [c for c in speaking if c.tier == wanted_tier] or speaking
        chosen = next((c for c in pool if policy.needs <= c.caps), pool[0])
    assert wanted is not None
    if chosen is not wanted:
        if not wanted.available and not policy.fallback:
            raise NoModelAvailable(f"{wanted.name} cannot answer ({wanted.unavailable_why}) and fallback is off",
                                   hint="set routing.fallback = true, or pick another model")
        if not wanted.available:
            notes.append(f"{wanted.name} unavailable ({wanted.unavailable_why}); answered by {chosen.name}")
        elif not wanted.speaks(policy.language):
            notes.append(f"{wanted.name} does not serve language '{policy.language}'; answered by {chosen.name}")
        elif not policy.needs <= wanted.caps and policy.needs <= chosen.caps:
            notes.append(f"{wanted.name} lacks {', '.join(sorted(policy.needs - wanted.caps))}; "
                         f"answered by {chosen.name}")
    if chosen.tier != wanted_tier and not any(c.tier == wanted_tier for c in policy.candidates):
        notes.append(f"no {wanted_tier} model configured; answered by {chosen.name}")
    if not policy.needs <= chosen.caps:
        notes.append(f"{chosen.name} lacks {', '.join(sorted(policy.needs - chosen.caps))}; "
                     "those parameters are dropped")

    reason = "; ".join([why, *notes])
    return Decision(model=chosen.name, tier=chosen.tier, reason=reason, score=score.value,
                    threshold=policy.threshold, router=score.router, pinned=pinned,
                    fallback_from=wanted.name if not wanted.available else None,
                    notes=tuple(notes))


def fall_back(decision: Decision, error: str, policy: Policy) -> tuple[Decision, Policy]:
    """The next decision after ``decision.model`` failed at call time (down, timed out, circuit open),
    and the policy to use for any further fallback. Raises NoModelAvailable when nothing is left."""
    failed = decision.model
    policy = replace(policy, candidates=tuple(
        replace(c, available=False, unavailable_why=error) if c.name == failed else c for c in policy.candidates))
    nxt = decide(Score(decision.score, "", decision.router), policy)
    reason = f"{decision.reason}; {failed} failed ({error}); answered by {nxt.model}"
    return replace(nxt, reason=reason, fallback_from=failed, pinned=decision.pinned), policy
