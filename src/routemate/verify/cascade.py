"""Verify-then-escalate: the cheap model answers, its code is checked by running it, and only a
failing answer costs a call to a stronger model (with a repair prompt carrying the failure).

``Cascade(rm).ask(request)`` is the entry point the CLI and the gateway share. Every attempt is
its own row in the request log; later attempts point at the first with ``parent_id`` and carry
``attempt`` = 2, 3, ... and the checks' verdict in ``meta["verify"]``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..chat import ChatRequest, text_of
from ..config import VerifyConfig
from ..routing import Decision, Policy, Score, decide
from ..routing.features import of_request
from .checks import Verdict, verify

CODE_TASKS = frozenset({"generate", "fix", "refactor", "test"})
TIER_RANK = {"local": 0, "frontier": 1}

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


CODE_WORDS = re.compile(r"\b(functions?|methods?|class(es)?|script|program|code|implement\w*|algorithm|regex|"
                        r"unit tests?|def|lambda|api|endpoint|parser|decorator|module)\b", re.I)


def must_escalate(verdict: Verdict, *, lowered: bool, unverified: str) -> bool:
    """Whether a checked answer goes up the ladder: it failed, or nothing could be run against it and
    either the router had sent the request higher (``lowered``: the cheap model only tried first) or
    ``unverified = "escalate"``. ``eval cascade`` replays exactly this."""
    return not verdict.ok or (not verdict.ran and (lowered or unverified == "escalate"))


def is_code_request(request: ChatRequest) -> bool:
    """Whether verification applies by default: the request asks for code to be written or changed
    ("write a story" is a generate task too, but has no code to check)."""
    f = of_request(request)
    return f.task in CODE_TASKS and bool(f.languages or f.code_blocks or CODE_WORDS.search(f.last_user))


def request_text(request: ChatRequest) -> str:
    """What the checks read as the request: every user turn (examples may sit in an earlier one)."""
    return "\n\n".join(text_of(m) for m in request.messages if m.get("role") == "user")


@dataclass
class Attempt:
    answer: Any                      # service.Answer
    verdict: Verdict | None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.answer.model, "tier": self.answer.decision.tier,
                "cost_usd": round(self.answer.cost_usd, 8), "log_id": self.answer.log_id,
                "verified": self.verdict.to_dict() if self.verdict else None}


@dataclass
class Verified:
    """The answer to return, how it was checked, and every attempt that led to it."""

    answer: Any                      # service.Answer of the last attempt
    verdict: Verdict | None
    attempts: list[Attempt] = field(default_factory=list)
    skipped_cheap: bool = False
    kept_local: str | None = None    # why a failing answer was not escalated: its repair prompt holds a secret

    @property
    def escalated(self) -> bool:
        return len(self.attempts) > 1

    @property
    def cost_usd(self) -> float:
        return sum(a.answer.cost_usd for a in self.attempts)

    def note(self) -> str:
        """The line shown under the answer's header, e.g. ``✓ verified: parses, 3/3 examples ...``."""
        parts = [f"{a.answer.model} failed ({a.verdict.summary()}) → escalated"
                 for a in self.attempts[:-1] if a.verdict is not None]
        v = self.verdict
        if v is None:
            last = "not checked"
        elif v.ok and v.ran:
            last = f"✓ verified: {v.summary()}"
        elif v.ok:
            unrun = any(c.name == "run" for c in v.checks)      # the sandbox refused: the summary says why
            last = f"✓ checked: {v.summary() or 'parses'}" + ("" if unrun else " (nothing to run it against)")
        else:
            last = f"✗ not verified: {v.summary()}"
        if self.skipped_cheap:
            parts.insert(0, "cheap try skipped (router is confident this needs the frontier)")
        if self.kept_local:
            last += f" · not escalated: {self.kept_local}"
        return " · ".join([*parts, last])

    def to_json(self) -> dict[str, Any]:
        out = self.answer.to_json()
        out["cost_usd"] = round(self.cost_usd, 8)
        out["verified"] = self.verdict.to_dict() if self.verdict else None
        out["verification"] = self.note()
        out["attempts"] = [a.to_json() for a in self.attempts]
        return out


class Cascade:
    """Answer a request with verify-then-escalate (see module doc)."""

    def __init__(self, rm: Any, *, tests: str | None = None, config: VerifyConfig | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.rm = rm
        self.tests = tests
        self.config = config or rm.settings.verify
        self.progress = progress or (lambda _msg: None)
        self.runs: list[Any] = []        # every service.Run this cascade made (for gateway metrics)

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

    @property
    def store(self) -> Any:
        """The log, written synchronously: attempts are linked by row id (the gateway's background
        writer hands no ids back, so rows go to its underlying Store)."""
        store = self.rm.store
        return getattr(store, "store", store)

    def can_escalate(self, request: ChatRequest) -> bool:
        """Whether a failing answer could go anywhere: if not, callers may stream it and check after."""
        return self.why_not_escalated(request) is None

    def why_not_escalated(self, request: ChatRequest) -> str | None:
        """Why a failing answer to ``request`` would stay as it is (None: it would be escalated)."""
        decision, policy, _, _ = self.first(request)
        if decision.pinned:
            return f"the model was pinned ({decision.model}), so a failing answer is not escalated"
        if self.config.max_escalations <= 0:
            return "[verify] max_escalations = 0, so a failing answer is not escalated"
        if not self.ladder(policy, [decision.model]):
            return (f"no model stronger than {decision.model} is available to escalate to: set OPENAI_API_KEY "
                    f"or add a frontier model to the config (routemate init writes an example)")
        return None

    async def check(self, request: ChatRequest, answer: Any) -> Verdict:
        """Check an answer already given (and record the verdict on its log row)."""
        verdict = await asyncio.to_thread(
            verify, request_text(request), answer.text, tests=self.tests, default_language=self.config.language,
            timeout=self.config.timeout, memory_mb=self.config.memory_mb, own_examples=self.config.own_examples)
        self._log(answer, verdict, None, 1, list(answer.attempts))
        return verdict

    async def ask(self, request: ChatRequest, *, entry: str = "python") -> Verified:
        from ..service import Run

        decision, policy, lowered, skipped = self.first(request)
        asked = request_text(request)
        attempts: list[Attempt] = []
        parent: int | None = None
        current = request
        kept_local: str | None = None
        for number in range(1, self.config.max_escalations + 2):
            self.progress(f"asking {decision.model}…")
            run = Run(self.rm, current, decision, policy, entry)
            run.log_to = self.store
            self.runs.append(run)
            async for _ in run:
                pass
            answer = run.answer
            assert answer is not None
            self.progress(f"checking {answer.model}'s code…")
            verdict = await asyncio.to_thread(
                verify, asked, answer.text, tests=self.tests, default_language=self.config.language,
                timeout=self.config.timeout, memory_mb=self.config.memory_mb, own_examples=self.config.own_examples,
                strict=entry == "http" and not self.config.allow_weak_sandbox)
            attempts.append(Attempt(answer, verdict))
            self._log(answer, verdict, parent, number, run.attempts)
            parent = parent or answer.log_id
            if not must_escalate(verdict, lowered=lowered, unverified=self.config.unverified):
                break
            nxt = self.ladder(policy, [a.answer.model for a in attempts])
            if decision.pinned or not nxt or number > self.config.max_escalations:
                break
            why = verdict.summary() if not verdict.ok else "nothing could be run against its code"
            current = self.repair(request, verdict, answer.text)
            policy, nxt, kept_local = self._private_repair(current, policy, attempts, nxt)
            if not nxt:
                break
            self.progress(f"✗ {answer.model}: {why} → escalating to {nxt[0]}")
            target = decide(Score(decision.score, "", decision.router), replace(policy, pin=nxt[0]))
            decision = replace(target, reason=f"verify: {answer.model}'s answer failed ({why}); escalated to "
                                             f"{target.model}", pinned=False)
            lowered = False
        last = attempts[-1]
        return Verified(last.answer, last.verdict, attempts, skipped_cheap=skipped, kept_local=kept_local)

    def _private_repair(self, repair: ChatRequest, policy: Policy, attempts: list[Attempt],
                        nxt: list[str]) -> tuple[Policy, list[str], str | None]:
        """A repair prompt carries what the failing code printed and raised: it gets the same secret
        scan as a request, and one that holds a secret goes only to private models."""
        if policy.private_reason:
            return policy, nxt, None
        from ..privacy import describe, scan_messages

        found = scan_messages(self.rm.settings, repair.messages)
        if not found:
            return policy, nxt, None
        policy = replace(policy, private_reason=f"{describe(found)}, in the repair prompt's failure report")
        nxt = self.ladder(policy, [a.answer.model for a in attempts])
        kinds = ", ".join(dict.fromkeys(f.kind for f in found))
        kept = None if nxt else (f"its failure report holds a secret ({kinds}), so the repair prompt may only go "
                                 f"to a private model, and none is stronger")
        return policy, nxt, kept

    def repair(self, request: ChatRequest, verdict: Verdict, failed: str) -> ChatRequest:
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

    def _log(self, answer: Any, verdict: Verdict, parent: int | None, number: int,
             fallbacks: list[dict[str, Any]]) -> None:
        if answer.log_id is None:
            return
        from ..privacy import redact_for_log

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
        from ..learning import learn_from_check

        learn_from_check(self.rm, self.store, answer, verdict)   # the checked answer labels its model
