"""Checked answers for code: ask → check → escalate, the part of the service both faces call.

The cheap model answers first; its code is checked by running it (``routemate.verify``), and only
an answer the checks do not trust costs a call to a stronger model, whose request carries the
evidence (a repair prompt). ``Cascade(rm).stream(request)`` yields what a face renders, in order:

- ``Progress`` lines while work is under way (asking, checking, escalating);
- one ``Decided`` when the answer to show is known: from then on its text follows as ``Chunk``s,
  live from the model when no later check could change the choice (the last rung of the ladder),
  else at once;
- ``Finished`` with the ``Verified`` result (the verdict of the answer shown, every attempt).

``ask()`` consumes the stream and returns the ``Verified``. Every attempt is its own row in the
request log; later attempts point at the first with ``parent_id`` and carry ``attempt`` = 2, 3,
... and the checks' verdict in ``meta["verify"]``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .chat import ChatRequest, Chunk, text_of
from .config import VerifyConfig
from .routing import Decision, Policy, Score, decide
from .routing.features import of_request
from .service import Answer, Run
from .verify.checks import Verdict, must_escalate, verify
from .verify.spec import asks_for_code

TIER_RANK = {"local": 0, "frontier": 1}
CODE_TASKS = frozenset({"generate", "fix", "refactor", "test"})
CODE_WORDS = re.compile(r"\b(functions?|methods?|class(es)?|script|program|code|implement\w*|algorithm|regex|"
                        r"unit tests?|def|lambda|api|endpoint|parser|decorator|module)\b", re.I)

REPAIR = """{request}

---
An earlier answer to this request was checked by running its code, and it failed:
{report}

The failing code:
```{language}
{code}
```

Write a complete, corrected answer to the request above. Keep the function names and signatures the
request asks for, and make sure the examples in the request hold."""


def is_code_request(request: ChatRequest) -> bool:
    """Whether checks apply by default: the request asks for code to be written or changed, in
    any language ("write a story" is a generate task too, but has no code to check)."""
    f = of_request(request)
    if f.task in CODE_TASKS and bool(f.languages or f.code_blocks or CODE_WORDS.search(f.last_user)):
        return True
    return asks_for_code(f.last_user)


def wants_checks(rm: Any, request: ChatRequest, flag: bool | None, tests: str | None) -> bool:
    """An explicit on/off (or user tests, which need checks) wins; otherwise ``[verify] enabled``
    and a code-writing request."""
    if flag is not None or tests is not None:
        return bool(flag) or tests is not None
    return bool(rm.settings.verify.enabled) and is_code_request(request)


def request_text(request: ChatRequest) -> str:
    """What the checks read as the request: every user turn (examples may sit in an earlier one)."""
    return "\n\n".join(text_of(m) for m in request.messages if m.get("role") == "user")


def repair(request: ChatRequest, verdict: Verdict, failed: str) -> ChatRequest:
    """The original conversation with its last user turn extended by the failure report."""
    code = verdict.code or failed
    report = verdict.report() or "- its code could not be checked against anything in the request"
    messages = [dict(m) for m in request.messages]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    text = REPAIR.format(request=text_of(messages[last_user]) if last_user is not None else "",
                         report=report, language=verdict.language or "", code=code.rstrip())
    if last_user is None:
        messages.append({"role": "user", "content": text})
    else:
        messages[last_user] = {**messages[last_user], "content": text}
    return ChatRequest(messages, dict(request.params), request.model)


def history(attempts: list["Attempt"], skipped: bool) -> list[str]:
    """How the answer shown came to be: a cheap try skipped, earlier answers that failed."""
    parts = [f"{a.answer.model} failed ({a.verdict.summary()}) → escalated" for a in attempts if a.verdict]
    return ["cheap try skipped (router is confident this needs the frontier)", *parts] if skipped else parts


@dataclass
class Attempt:
    answer: Answer
    verdict: Verdict | None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.answer.model, "tier": self.answer.decision.tier,
                "cost_usd": round(self.answer.cost_usd, 8), "log_id": self.answer.log_id,
                "verified": self.verdict.to_dict() if self.verdict else None}


@dataclass
class Verified:
    """The answer to return, how it was checked, and every attempt that led to it."""

    answer: Answer                   # the last attempt's answer
    verdict: Verdict | None
    attempts: list[Attempt] = field(default_factory=list)
    skipped_cheap: bool = False
    stays: str | None = None         # why a failing answer was not escalated (None: it was, or it passed)
    kept_local: str | None = None    # why a failing answer was not escalated: its repair prompt holds a secret

    @property
    def escalated(self) -> bool:
        return len(self.attempts) > 1

    @property
    def cost_usd(self) -> float:
        return sum(a.answer.cost_usd for a in self.attempts) or self.answer.cost_usd

    @property
    def ok(self) -> bool:
        return self.verdict is not None and self.verdict.ok

    def note(self) -> str:
        """The line shown with the answer, e.g. ``✓ verified: parses, 3/3 examples ...``."""
        last = self.verdict.line() if self.verdict else "not checked"
        if self.kept_local:
            last += f" · not escalated: {self.kept_local}"
        return " · ".join([*history(self.attempts[:-1], self.skipped_cheap), last])

    def to_json(self) -> dict[str, Any]:
        out = self.answer.to_json()
        out["cost_usd"] = round(self.cost_usd, 8)
        out["verified"] = self.verdict.to_dict() if self.verdict else None
        out["verification"] = self.note()
        out["attempts"] = [a.to_json() for a in self.attempts]
        return out


@dataclass(frozen=True)
class Progress:
    message: str


@dataclass(frozen=True)
class Decided:
    """The answer to show is chosen; its text follows. ``live``: it streams from the model now and
    is checked once complete (``Finished`` has the verdict)."""

    decision: Decision
    note: str
    live: bool
    verdict: Verdict | None = None     # None when live


@dataclass(frozen=True)
class Finished:
    result: Verified


Event = Progress | Decided | Chunk | Finished


class Cascade:
    """Answer a request with verify-then-escalate (see module doc)."""

    def __init__(self, rm: Any, *, tests: str | None = None, config: VerifyConfig | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.rm = rm
        self.tests = tests
        self.config = config or rm.settings.verify
        self.progress = progress
        self.runs: list[Run] = []        # every Run this cascade made (for gateway metrics)

    # -- policy ---------------------------------------------------------------------------------------
    def first(self, request: ChatRequest) -> tuple[Decision, Policy, bool, bool]:
        """The first model to try: the router's pick, or a cheaper one when checks can catch it.
        Returns (decision, policy, lowered, skipped_cheap)."""
        decision, policy = self.rm.route(request)
        if decision.pinned or decision.tier != "frontier":
            return decision, policy, False, False
        if decision.score >= self.config.skip_above:
            return decision, policy, False, True
        try:
            cheap = decide(Score(decision.score, "", decision.router), replace(policy, pin="local"))
        except Exception:   # no local model can serve it: keep the router's pick
            return decision, policy, False, False
        if cheap.tier != "local":
            return decision, policy, False, False
        reason = (f"{decision.reason}; verify-first: {cheap.model} tries first ({decision.score:.2f} < "
                  f"skip_above {self.config.skip_above:.2f}), its code is checked before it is returned")
        return replace(cheap, reason=reason, pinned=False), policy, True, False

    def ladder(self, policy: Policy, tried: list[str]) -> list[str]:
        """Models stronger than the last one tried, weakest first (private ones only when the
        request must stay private)."""
        cands = [c for c in policy.candidates if c.available and (c.private or not policy.private_reason)]
        cands.sort(key=lambda c: (TIER_RANK.get(c.tier, 1), c.price))
        names = [c.name for c in cands]
        last = tried[-1]
        after = names[names.index(last) + 1:] if last in names else names
        return [n for n in after if n not in tried]

    def can_escalate(self, request: ChatRequest) -> bool:
        return self.why_not_escalated(request) is None

    def why_not_escalated(self, request: ChatRequest) -> str | None:
        """Why a failing answer to ``request`` would stay as it is (None: it would be escalated)."""
        decision, policy, _, _ = self.first(request)
        return self._stays(decision, policy, [decision.model], 1)

    def _stays(self, decision: Decision, policy: Policy, tried: list[str], number: int) -> str | None:
        if decision.pinned:
            return f"the model was pinned ({decision.model}), so a failing answer is not escalated"
        if self.config.max_escalations <= 0:
            return "[verify] max_escalations = 0, so a failing answer is not escalated"
        if number > self.config.max_escalations:
            return f"[verify] max_escalations = {self.config.max_escalations} was reached"
        if not self.ladder(policy, tried):
            return (f"no model stronger than {tried[-1]} is available to escalate to: set OPENAI_API_KEY "
                    f"or add a frontier model to the config (routemate init writes an example)")
        return None

    # -- the cascade ----------------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The log, written synchronously: attempts are linked by row id (the gateway's background
        writer hands no ids back, so rows go to its underlying Store)."""
        store = self.rm.store
        return getattr(store, "store", store)

    async def check(self, request: ChatRequest, answer: Answer) -> Verdict:
        """Check an answer already given (and record the verdict on its log row)."""
        verdict = await self._verify(request_text(request), answer.text, "python")
        self._log(answer, verdict, None, 1, list(answer.attempts))
        return verdict

    async def ask(self, request: ChatRequest, *, entry: str = "python") -> Verified:
        async for event in self.stream(request, entry=entry):
            if isinstance(event, Progress) and self.progress is not None:
                self.progress(event.message)
            elif isinstance(event, Finished):
                return event.result
        raise RuntimeError("the cascade ended without a result")   # pragma: no cover

    async def stream(self, request: ChatRequest, *, entry: str = "python") -> AsyncIterator[Event]:
        decision, policy, lowered, skipped = self.first(request)
        asked = request_text(request)
        attempts: list[Attempt] = []
        parent: int | None = None
        current = request
        number = 1
        while True:
            tried = [a.answer.model for a in attempts] + [decision.model]
            stays = self._stays(decision, policy, tried, number)
            run = Run(self.rm, current, decision, policy, entry)
            run.log_to = self.store
            self.runs.append(run)
            yield Progress(f"asking {decision.model}…")
            live = stays is not None        # nothing could replace this answer: stream it as it comes
            shown = False
            async for chunk in run:
                if live and chunk.content:
                    if not shown:
                        yield Decided(run.decision, " · ".join(history(attempts, skipped)), live=True)
                        shown = True
                    yield Chunk(content=chunk.content)
            answer = run.answer
            assert answer is not None
            if live and not shown:
                yield Decided(run.decision, " · ".join(history(attempts, skipped)), live=True)
            yield Progress(f"checking {answer.model}'s code…")
            verdict = await self._verify(asked, answer.text, entry)
            attempts.append(Attempt(answer, verdict))
            self._log(answer, verdict, parent, number, run.attempts)
            parent = parent or answer.log_id
            escalate = must_escalate(verdict, lowered=lowered, unverified=self.config.unverified)
            kept_local = None
            if escalate and not live:
                current = repair(request, verdict, answer.text)
                policy, kept_local = self._private_repair(current, policy, tried)
            if not escalate or live or kept_local:
                result = Verified(answer, verdict, attempts, skipped_cheap=skipped,
                                  stays=stays if escalate or not verdict.ok else None, kept_local=kept_local)
                if not live:
                    yield Decided(answer.decision, result.note(), live=False, verdict=verdict)
                    yield Chunk(content=answer.text)
                yield Finished(result)
                return
            nxt = self.ladder(policy, tried)[0]
            why = verdict.summary() if not verdict.ok else "nothing could be run against its code"
            yield Progress(f"✗ {answer.model}: {why} → escalating to {nxt}")
            target = decide(Score(decision.score, "", decision.router), replace(policy, pin=nxt))
            decision = replace(target, reason=f"verify: {answer.model}'s answer failed ({why}); escalated to "
                                             f"{target.model}", pinned=False)
            lowered = False
            number += 1

    def _private_repair(self, repaired: ChatRequest, policy: Policy, tried: list[str]) -> tuple[Policy, str | None]:
        """A repair prompt carries what the failing code printed and raised: it gets the same secret
        scan as a request, and one that holds a secret goes only to private models. Returns the
        policy for the escalation and, when no private model is stronger, why the answer stays."""
        if policy.private_reason:
            return policy, None
        from .privacy import describe, scan_messages

        found = scan_messages(self.rm.settings, repaired.messages)
        if not found:
            return policy, None
        policy = replace(policy, private_reason=f"{describe(found)}, in the repair prompt's failure report")
        if self.ladder(policy, tried):
            return policy, None
        kinds = ", ".join(dict.fromkeys(f.kind for f in found))
        return policy, (f"its failure report holds a secret ({kinds}), so the repair prompt may only go to a "
                        f"private model, and none is stronger")

    async def _verify(self, asked: str, text: str, entry: str) -> Verdict:
        c = self.config
        return await asyncio.to_thread(verify, asked, text, tests=self.tests, default_language=c.language,
                                       timeout=c.timeout, memory_mb=c.memory_mb, own_examples=c.own_examples,
                                       strict=entry == "http" and not c.allow_weak_sandbox)

    def _log(self, answer: Answer, verdict: Verdict, parent: int | None, number: int,
             fallbacks: list[dict[str, Any]]) -> None:
        if answer.log_id is None:
            return
        from .privacy import redact_for_log

        report = verdict.to_dict()
        for check in report["checks"]:   # details can quote the request: never log a secret from it
            check["detail"] = redact_for_log(self.rm.settings, check["detail"])
        report["summary"] = redact_for_log(self.rm.settings, report["summary"])
        meta: dict[str, Any] = {"verify": report}
        if fallbacks:
            meta["attempts"] = fallbacks
        try:
            self.store.update(answer.log_id, parent_id=parent, attempt=number, meta=meta)
        except Exception:  # the answer matters more than its log row
            pass

