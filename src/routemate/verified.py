"""Checked answers for code: ask → check → escalate, the part of the service both faces call.

The cheap (local) model answers first, ``[verify] samples`` times in one batched call; every sample
runs in the sandbox on the request's examples and the same generated inputs, the samples are grouped
by behaviour and one is picked with a confidence (``routemate.verify.agreement``). Only a pick the
checks do not trust (it fails an example or a test, or its confidence is below the threshold) costs
a call to a stronger model, whose request carries the evidence (a repair prompt). ``Cascade(rm).stream(request)`` yields what a face renders, in order:

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

from .chat import ChatRequest, Choice, Chunk, Completion, Usage, estimate_tokens, text_of
from .config import VerifyConfig
from .errors import BackendError
from .routing import Decision, Policy, Score, decide
from .routing.features import of_request
from .service import Answer, Run
from .verify.agreement import Agreement, Confidence, agree, fewest_to_settle, judge, settled
from .verify.checks import NOTHING_STATED, Verdict
from .verify.extract import block_end, block_start, copied_head, gives_stub, opening_fence, request_head
from .verify.spec import asks_for_code, read_request

TIER_RANK = {"local": 0, "frontier": 1}
CODE_TASKS = frozenset({"generate", "fix", "refactor", "test"})
CODE_WORDS = re.compile(r"\b(functions?|methods?|class(es)?|script|program|code|implement\w*|algorithm|regex|"
                        r"unit tests?|def|lambda|api|endpoint|parser|decorator|module)\b", re.I)

REPAIR = """{request}

---
An earlier answer to this request was checked by running its code, and it is not trusted:
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


def repair(request: ChatRequest, agreement: Agreement, failed: str) -> ChatRequest:
    """The original conversation with its last user turn extended by the evidence: what failed,
    or where the samples disagree and what each returned."""
    verdict = agreement.verdict
    code = verdict.code or failed
    report = agreement.evidence() or "- its code could not be checked against anything in the request"
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
    """How the answer shown came to be: a cheap try skipped, earlier answers not trusted."""
    parts = [f"{a.answer.model} {a.why} → escalated" for a in attempts if a.agreement is not None]
    return ["cheap try skipped (router is confident this needs the frontier)", *parts] if skipped else parts


@dataclass
class Attempt:
    answer: Answer                   # for sampled answers: the one picked
    agreement: Agreement | None
    accepted: bool = True
    why: str = ""                    # why it was escalated ("failed (...)", "low confidence 0.41 (...)")
    threshold: float | None = None   # the confidence it had to reach (local answers only)
    early: bool = False              # one of several samples settled it: no more were drawn
    settled_by: int = 1              # which one (1: the first answer)

    @property
    def verdict(self) -> Verdict | None:
        return self.agreement.verdict if self.agreement else None

    def line(self) -> str:
        """How this answer reads once checked: ``✓ verified: 3 of 4 samples agree on 9 inputs; ...``."""
        a = self.agreement
        if a is None:
            return "not checked"
        v = a.verdict
        low = self.threshold is not None and not a.hard_fail and a.confidence < self.threshold
        if self.early and a.k > 1:      # settled: enough of the samples drawn one at a time agree
            return f"✓ verified: {a.summary()} · settled by {a.agreeing} agreeing samples" + v.sandbox_note()
        if self.early:       # settled: its examples or tests held and its confidence cleared the threshold
            which = "the first sample" if self.settled_by == 1 else f"sample {self.settled_by}"
            return f"✓ verified: {v.summary()} · settled by {which}{v.sandbox_note()}"
        if a.k == 1:
            return v.line() + (f" · low confidence {a.confidence:.2f}" if low else "")
        if a.hard_fail:
            line = f"✗ not verified: {v.summary()} · {a.summary()}"
        elif not a.ran:
            return f"{v.line()} · {a.k} samples"
        elif low:
            line = f"✗ low confidence {a.confidence:.2f}: {a.summary()}"
        elif not v.ok:      # its own examples fail, yet the samples' agreement kept it
            kept = f" ≥ {self.threshold:.2f}" if self.threshold is not None else ""
            line = f"✗ not verified: {v.summary()} · {a.summary()} · kept: confidence {a.confidence:.2f}{kept}"
        elif not v.ran:     # the samples agree with each other, but nothing said what they should give
            line = f"○ {a.summary()}; not checked: {NOTHING_STATED} · confidence {a.confidence:.2f}"
        else:
            line = f"✓ verified: {a.summary()} · confidence {a.confidence:.2f}"
        return line + v.sandbox_note()

    @property
    def state(self) -> str:
        """``pass``, ``fail``, ``not-checked`` (it ran, or its samples were compared, but nothing
        stated an expected result) or ``not-run``: what the faces show as the verdict's state."""
        a = self.agreement
        if a is None:
            return "not-checked"
        if a.hard_fail:
            return "fail"
        state = a.verdict.state      # the pick's own; samples compared on inputs did run, though unchecked
        return "not-checked" if state == "not-run" and a.ran else state

    def to_json(self) -> dict[str, Any]:
        a = self.agreement
        return {"model": self.answer.model, "tier": self.answer.decision.tier,
                "cost_usd": round(self.answer.cost_usd, 8), "log_id": self.answer.log_id,
                "verified": a.verdict.to_dict() if a else None, "accepted": self.accepted,
                "samples": a.k if a else None, "confidence": round(a.confidence, 4) if a else None}


@dataclass
class Verified:
    """The answer to return, how it was checked, and every attempt that led to it."""

    answer: Answer                   # the last attempt's answer
    attempts: list[Attempt] = field(default_factory=list)
    skipped_cheap: bool = False
    stays: str | None = None         # why an untrusted answer was not escalated (None: it was, or it passed)
    kept_local: str | None = None    # why it was not escalated: its repair prompt holds a secret

    @property
    def verdict(self) -> Verdict | None:
        return self.attempts[-1].verdict if self.attempts else None

    @property
    def agreement(self) -> Agreement | None:
        return self.attempts[-1].agreement if self.attempts else None

    @property
    def escalated(self) -> bool:
        return len(self.attempts) > 1

    @property
    def cost_usd(self) -> float:
        return sum(a.answer.cost_usd for a in self.attempts) or self.answer.cost_usd

    @property
    def ok(self) -> bool:
        return self.verdict is not None and self.verdict.ok

    @property
    def state(self) -> str:
        """The state of the answer shown (``Attempt.state``)."""
        return self.attempts[-1].state if self.attempts else "not-checked"

    def note(self) -> str:
        """The line shown with the answer, e.g. ``✓ verified: 3 of 4 samples agree on 9 inputs; ...``."""
        last = self.attempts[-1].line() if self.attempts else "not checked"
        if self.kept_local:
            last += f" · not escalated: {self.kept_local}"
        return " · ".join([*history(self.attempts[:-1], self.skipped_cheap), last])

    def to_json(self) -> dict[str, Any]:
        out = self.answer.to_json()
        out["cost_usd"] = round(self.cost_usd, 8)
        out["verified"] = self.verdict.to_dict() if self.verdict else None
        a = self.agreement
        out["agreement"] = {k: v for k, v in a.to_dict().items() if k != "verdicts"} if a else None
        out["verification"] = self.note()
        out["attempts"] = [x.to_json() for x in self.attempts]
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
    state: str = "pending"             # Attempt.state once checked; "pending" when live


@dataclass(frozen=True)
class Finished:
    result: Verified


Event = Progress | Decided | Chunk | Finished


class Cascade:
    """Answer a request with sample → check → escalate (see module doc)."""

    def __init__(self, rm: Any, *, tests: str | None = None, config: VerifyConfig | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.rm = rm
        self.tests = tests
        self.config = config or rm.settings.verify
        self.progress = progress
        self.runs: list[Run] = []        # every Run this cascade made (for gateway metrics)
        self.verdicts: dict[Any, Any] = {}   # each sample's run in the sandbox, reused by later comparisons

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

    def threshold(self) -> float:
        """``[verify] threshold``, or the one ``target_quality`` / ``frontier_share`` calls for on
        the shipped confidence model's calibration data."""
        c = self.config
        if c.target_quality is None and c.frontier_share is None:
            return c.threshold
        model = Confidence.default()
        if not model.curve:
            from .errors import ConfigError

            raise ConfigError("the shipped confidence model has no calibration data", field="verify.target_quality",
                              hint="set verify.threshold instead")
        if c.frontier_share is not None:
            return model.threshold_for_share(c.frontier_share)
        return model.threshold_for_quality(c.target_quality or 1.0)

    def ladder(self, policy: Policy, tried: list[str]) -> list[str]:
        """Models stronger than the last one tried, weakest first (private ones only when the
        request must stay private)."""
        cands = [c for c in policy.candidates if c.available and (c.private or not policy.private_reason)]
        cands.sort(key=lambda c: (TIER_RANK.get(c.tier, 1), c.price))
        names = [c.name for c in cands]
        last = tried[-1]
        after = names[names.index(last) + 1:] if last in names else names
        return [n for n in after if n not in tried]

    def one_by_one(self, model: str) -> bool:
        """Whether ``model``'s later samples come one at a time (``[verify] one_by_one``; unset: on
        the embedded engine, where a batch costs more than its samples one by one)."""
        if self.config.one_by_one is not None:
            return self.config.one_by_one
        return self.rm.settings.model(model).backend == "embedded"

    def can_escalate(self, request: ChatRequest) -> bool:
        return self.why_not_escalated(request) is None

    def worth_checking(self, request: ChatRequest) -> bool:
        """Whether checks can change the answer: an untrusted one could be escalated, or the local
        model answers with several samples to pick from."""
        decision, policy, _, _ = self.first(request)
        return self._stays(decision, policy, [decision.model], 1) is None or \
            (self.config.samples > 1 and decision.tier == "local")

    def why_not_escalated(self, request: ChatRequest) -> str | None:
        """Why an untrusted answer to ``request`` would stay as it is (None: it would be escalated)."""
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
        threshold = self.threshold()
        attempts: list[Attempt] = []
        parent: int | None = None
        current = request
        number = 1
        while True:
            tried = [a.answer.model for a in attempts] + [decision.model]
            stays = self._stays(decision, policy, tried, number)
            local = decision.tier == "local"
            k = self.config.samples if local and number == 1 else 1
            live = stays is not None and k == 1      # nothing could replace it: stream it as it comes
            shown = False
            texts: list[str] | None = None
            agreement: Agreement | None = None
            early = False
            settled_by = 1               # which sample settled it (early)
            held: _Held | None = None
            ended: list[bool] = []       # per text: it stops where its code block closes; the prose can follow
            # the fewest samples that could settle it: 1 (the first answer alone), 2 (samples that agree,
            # drawn one at a time), 0 (none: every sample is drawn)
            fewest = fewest_to_settle(asked, self.tests) if k > 1 and self.config.early else 0
            one_by_one = fewest > 0 and self.one_by_one(decision.model)
            settle = fewest == 1 or one_by_one
            resumable = k > 1 and can_continue(self.rm, current, decision.model)
            continues = resumable and self.config.continue_stub
            # a stub to complete: one answer first, the others going on from the stub it copied
            stub = continues and not settle and gives_stub(asked)
            if settle or stub:
                # one answer first; the other samples only when it does not settle the request, going on
                # from the stub it copied where the backend can continue it
                held, mark = _Held(), len(self.runs)
                try:
                    yield Progress(f"asking {decision.model}…")
                    # from the stub the request gives to complete, as if the answer had copied it (not
                    # where it asks for tests of that code: the answer is tests, not its body)
                    start = request_head(asked) if continues and self.config.first_from_stub else ""
                    start = "" if start and read_request(asked).wants_tests else start
                    if start:
                        answer, texts = await self._continued(start, continuing(current, start), decision,
                                                              policy, entry, 1, held, first=True)
                        ended = [True]
                    else:
                        until = block_end if resumable and self.config.code_first else None
                        answer, texts = await self._sample(current, decision, policy, entry, 1, held,
                                                           first=True, until=until)
                        ended = [self.runs[-1].cut]
                    if fewest == 1:
                        yield Progress(f"checking {answer.model}'s code…")
                        agreement = await self._agree(asked, texts, decision.score, entry)
                        early = settled(agreement, threshold)
                    if not early:
                        head = later_head(asked, texts[0]) if continues else ""
                        copied = head.count("\n") > 1           # more than a fence line: the stub it copied
                        yield Progress((f"the first answer did not settle it ({agreement.verdict.summary()}): "
                                        if agreement else "") + f"asking {decision.model} for {k - 1} more samples"
                                       + (" one at a time" if one_by_one else "")
                                       + (" from the stub it copied…" if copied else
                                          ", their code only…" if head else "…"))
                        going_on = continuing(current, head, answer)
                        try:
                            for _ in range(k - 1 if one_by_one else 1):
                                more, extra = await self._continued(head, going_on, decision, policy, entry,
                                                                    1 if one_by_one else k - 1, held)
                                answer, texts, agreement = _joined(answer, more), texts + extra, None
                                ended += [bool(opening_fence(head))] * len(extra)
                                if not one_by_one:
                                    break
                                yield Progress(f"checking sample {len(texts)} of {k}…")
                                if fewest == 1:
                                    alone = await self._agree(asked, extra, decision.score, entry)
                                    if settled(alone, threshold):      # as the first answer could have
                                        agreement, settled_by = alone, len(texts)
                                        texts, ended, early = extra, ended[-1:], True
                                        break
                                # all drawn so far, together: kept as the final comparison after the last
                                agreement = await self._agree(asked, texts, decision.score, entry)
                                if settled(agreement, threshold):      # enough of them agree
                                    settled_by, early = len(texts), True
                                    break
                        except BackendError:
                            pass      # the answers so far stand, judged together (the first alone: as one answer)
                        if not early and len(texts) > 1 and agreement is None:
                            yield Progress(f"running {len(texts)} samples of {answer.model} on the same inputs…")
                except BackendError as exc:
                    if stays is not None:
                        raise
                    failed, why, texts = decision.model, f"call failed ({exc})", None
                finally:
                    log_id = held.write(self.store)
                    for r in self.runs[mark:]:       # each call behind the row names it (the gateway's response id)
                        if r.answer is not None:
                            r.answer.log_id = log_id
                if texts is not None:
                    answer.log_id = log_id
            elif k > 1:
                yield Progress(f"asking {decision.model} for {k} samples…")
                try:
                    answer, texts = await self._sample(current, decision, policy, entry, k)
                except BackendError as exc:
                    if stays is not None:
                        raise
                    failed, why = decision.model, f"call failed ({exc})"     # escalates with the same request
                else:
                    yield Progress(f"running {len(texts)} samples of {answer.model} on the same inputs…")
            else:
                run = Run(self.rm, current, decision, policy, entry)
                run.log_to = self.store
                self.runs.append(run)
                yield Progress(f"asking {decision.model}…")
                async for chunk in run:
                    if live and chunk.content:
                        if not shown:
                            yield Decided(run.decision, " · ".join(history(attempts, skipped)), live=True)
                            shown = True
                        yield Chunk(content=chunk.content)
                assert run.answer is not None
                answer, texts = run.answer, [run.answer.text]
                if live and not shown:
                    yield Decided(run.decision, " · ".join(history(attempts, skipped)), live=True)
                yield Progress(f"checking {answer.model}'s code…")
            if texts is not None:
                if agreement is None:
                    agreement = await self._agree(asked, texts, decision.score, entry)
                answer = _picked(answer, texts[agreement.pick]) if k > 1 else answer
                escalate, why = judge(agreement, threshold if local else None, lowered=lowered,
                                      unverified=self.config.unverified)
                attempt = Attempt(answer, agreement, not escalate, why, threshold if local else None, early=early,
                                  settled_by=settled_by)
                attempts.append(attempt)
                self._log(answer, attempt, parent, number)
                parent = parent or answer.log_id
                kept_local = None
                if escalate and stays is None:
                    current = repair(request, agreement, answer.text)
                    policy, kept_local = self._private_repair(current, policy, tried)
                if not escalate or stays is not None or kept_local:
                    result = Verified(answer, attempts, skipped_cheap=skipped, kept_local=kept_local,
                                      stays=stays if escalate or not agreement.verdict.ok else None)
                    if not live:
                        yield Decided(answer.decision, result.note(), live=False, verdict=agreement.verdict,
                                      state=result.state)
                        yield Chunk(content=answer.text)
                    if ended and ended[agreement.pick if k > 1 else 0] and held is not None:
                        # the code was checked as soon as its block closed: the prose after it comes now
                        explained = Explained(self.rm, current, answer, policy, entry)
                        self.runs.append(explained.run)
                        async for piece in explained:
                            yield Chunk(content=piece)
                        answer = explained.whole(held, self.store)
                        attempt.answer = result.answer = answer
                    yield Finished(result)
                    return
                failed, why = answer.model, f"answer {why}"
            nxt = self.ladder(policy, tried)[0]
            yield Progress(f"✗ {failed}: {why} → escalating to {nxt}")
            chosen = decide(Score(decision.score, "", decision.router), replace(policy, pin=nxt))
            decision = replace(chosen, reason=f"verify: {failed}'s {why}; escalated to {chosen.model}", pinned=False)
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

    async def _sample(self, request: ChatRequest, decision: Decision, policy: Policy, entry: str,
                      k: int, log_to: Any = None, *, first: bool = False,
                      until: Callable[[str], int | None] | None = None) -> tuple[Answer, list[str]]:
        # the first answer of an early-stopping cascade is the one an unchecked request gets, greedy
        # unless the request sets a temperature; the others are drawn for diversity
        temperature = request.params.get("temperature", 0.0) if first else self.config.temperature
        answer, texts, run = await sample(self.rm, request, decision, policy, k, temperature,
                                          entry=entry, log_to=log_to or self.store, until=until)
        self.runs.append(run)
        return answer, texts

    async def _continued(self, head: str, going_on: ChatRequest, decision: Decision, policy: Policy,
                         entry: str, k: int, log_to: Any = None, *,
                         first: bool = False) -> tuple[Answer, list[str]]:
        """``_sample`` of ``going_on`` (``continuing`` from ``head``), the samples whole: ``head`` and
        what the model wrote after it (``continued``)."""
        answer, texts = await self._sample(going_on, decision, policy, entry, k, log_to, first=first)
        return _prefixed(answer, head), [continued(head, t) for t in texts]

    async def _agree(self, asked: str, texts: list[str], router_score: float, entry: str) -> Agreement:
        c = self.config
        return await asyncio.to_thread(agree, asked, texts, tests=self.tests, default_language=c.language,
                                       timeout=c.timeout, memory_mb=c.memory_mb, own_examples=c.own_examples,
                                       router_score=router_score, limit=c.inputs,
                                       strict=entry == "http" and not c.allow_weak_sandbox,
                                       seen=self.verdicts)

    def _log(self, answer: Answer, attempt: Attempt, parent: int | None, number: int) -> None:
        """The verdict on the attempt's log row (``meta.verify``), the agreement behind it
        (``meta.agreement``) and the decision (``meta.decision``): the outcome data a learner reads.
        Details can quote the request, so they pass the log's secret redaction first."""
        if answer.log_id is None:
            return
        from .privacy import redact_for_log

        settings = self.rm.settings
        a = attempt.agreement
        assert a is not None
        report = a.verdict.to_dict()
        for check in report["checks"]:   # type: ignore[union-attr]
            check["detail"] = redact_for_log(settings, check["detail"])
        report["summary"] = redact_for_log(settings, report["summary"])
        agreement = {k: v for k, v in a.to_dict().items() if k != "verdicts"}
        agreement["summary"] = redact_for_log(settings, agreement["summary"])
        agreement["sample_verdicts"] = [{"ok": v.ok, "ran": v.ran} for v in a.verdicts]
        meta: dict[str, Any] = {"verify": report, "agreement": agreement,
                                "decision": {"accepted": attempt.accepted, "why": redact_for_log(settings, attempt.why),
                                             "confidence": round(a.confidence, 4),
                                             "threshold": attempt.threshold, "tier": answer.decision.tier}}
        if answer.attempts:
            meta["attempts"] = answer.attempts
        try:
            self.store.update(answer.log_id, parent_id=parent, attempt=number, meta=meta)
        except Exception:  # the answer matters more than its log row
            pass
        from .learning import learn_from_check

        # the checked answer labels its model: trusted (and something ran) 1, distrusted 0
        learn_from_check(self.rm, self.store, answer, Outcome(attempt.accepted and a.verdict.ok, a.ran))


@dataclass(frozen=True)
class Outcome:
    """What a checked answer teaches the router (``learning.label_checked`` reads ``ok`` and ``ran``)."""

    ok: bool
    ran: bool


class _Held:
    """A log sink that keeps the rows of the calls behind one attempt (the first answer, then the
    samples drawn after it) and writes them as one row: one attempt, one row, every token counted."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.row: Any = None
        self.row_id: int | None = None

    def log(self, record: Any) -> None:
        self.records.append(record)

    def write(self, store: Any) -> int | None:
        if not self.records:
            return None
        row = self.records[0]
        for r in self.records[1:]:
            row = _summed(row, r)
        self.records, self.row = [], row
        try:
            self.row_id = store.log(row)
        except Exception:  # the answer matters more than its log row
            self.row_id = None
        return self.row_id

    def extend(self, store: Any, records: list[Any]) -> None:
        """Add ``records`` (calls made after ``write``: the prose of a checked answer) to the row written."""
        if self.row is None or not records:
            return
        for r in records:     # the answer shown stands: a failed call for its words adds only its cost
            self.row = replace(_summed(self.row, r), status=self.row.status, error=self.row.error)
        if self.row_id is None:
            return
        row = self.row
        try:
            store.update(self.row_id, prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
                         cost_usd=row.cost_usd, saved_usd=row.saved_usd, latency_ms=row.latency_ms)
        except Exception:  # the answer matters more than its log row
            pass


def _summed(row: Any, more: Any) -> Any:
    """One log row for two calls behind one answer: tokens, cost and time added up."""
    return replace(row, prompt_tokens=row.prompt_tokens + more.prompt_tokens,
                   completion_tokens=row.completion_tokens + more.completion_tokens,
                   cost_usd=row.cost_usd + more.cost_usd, saved_usd=row.saved_usd + more.saved_usd,
                   latency_ms=row.latency_ms + more.latency_ms,
                   status=more.status if row.status == "ok" else row.status, error=row.error or more.error)


class Explained:
    """The prose after a checked answer's code. The answer stopped where its code block closed, so
    the code could be checked at once; once it is chosen, the model goes on from it, and its words
    stream after the decision. Iterate it for the text; ``whole`` is the answer with them, the call
    behind them added to the attempt's log row."""

    def __init__(self, rm: Any, request: ChatRequest, answer: Answer, policy: Policy, entry: str) -> None:
        going_on = continuing(request, answer.text)      # its block is closed: no stop is added
        going_on.params.pop("n", None)
        # at the first answer's temperature, as it was written
        going_on.params["temperature"] = request.params.get("temperature", 0.0)
        self.answer, self.log = answer, _Held()
        self.run = Run(rm, going_on, answer.decision, policy, entry)
        self.run.log_to, self.run.fallback = self.log, False
        self.failed: BackendError | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for chunk in self.run:
                if chunk.content:
                    yield chunk.content
        except BackendError as exc:      # the checked code stands without its explanation
            self.failed = exc

    def whole(self, held: _Held, store: Any) -> Answer:
        """The answer with its prose; the call behind the prose joins ``held``'s row in ``store``."""
        held.extend(store, self.log.records)
        more = self.run.answer
        if more is None:
            return self.answer
        more.log_id = self.answer.log_id
        if self.failed is not None or not more.text:
            return self.answer
        text = self.answer.text + more.text
        finish = more.completion.choices[0].finish_reason if more.completion.choices else "stop"
        usage = Usage(self.answer.usage.prompt_tokens + more.usage.prompt_tokens,
                      self.answer.usage.completion_tokens + more.usage.completion_tokens)
        choice = Choice({"role": "assistant", "content": text}, finish, 0)
        return replace(self.answer, text=text, completion=Completion([choice], usage), usage=usage,
                       cost_usd=self.answer.cost_usd + more.cost_usd, saved_usd=self.answer.saved_usd + more.saved_usd,
                       latency_ms=self.answer.latency_ms + more.latency_ms)


def _joined(first: Answer, more: Answer) -> Answer:
    """The first answer and the samples drawn after it, as one sampled answer (the pick narrows it)."""
    usage = Usage(first.usage.prompt_tokens + more.usage.prompt_tokens,
                  first.usage.completion_tokens + more.usage.completion_tokens)
    shift = len(first.completion.choices)
    choices = list(first.completion.choices) + [replace(c, index=c.index + shift) for c in more.completion.choices]
    return replace(first, completion=Completion(choices, usage), usage=usage,
                   cost_usd=first.cost_usd + more.cost_usd, saved_usd=first.saved_usd + more.saved_usd,
                   latency_ms=first.latency_ms + more.latency_ms)


def can_continue(rm: Any, request: ChatRequest, model: str) -> bool:
    """Whether further samples of ``request`` may go on from the stub a first answer copied (fence,
    imports, signature, docstring) instead of decoding it again, which costs every sample the same
    tokens, often half its time: ``model``'s backend continues an assistant message, and the client
    did not begin the answer itself (its own prefill)."""
    return not request.prefilled and bool(getattr(rm.backend(model), "continues_assistant", False))


def later_head(asked: str, first: str) -> str:
    """Where the samples after a ``first`` answer to ``asked`` start: the stub it copied
    (``copied_head``), else the line that opens its code block (``block_start``), else nowhere."""
    return copied_head(asked, first) or block_start(first)


def continuing(request: ChatRequest, head: str, first: Answer | None = None) -> ChatRequest:
    """The request with ``head`` as the start of the assistant's answer, for the model to continue.
    A head that opens a code block also stops at the line that closes it: a further sample is wanted
    for its code, and the prose a model writes after the block is often as long as the code. The
    client's token cap counts the head's tokens (its share of the ``first`` answer's, else an
    estimate): a whole answer stays within it."""
    if not head:
        return request
    params = dict(request.params)
    used = (first.usage.completion_tokens * len(head) // max(1, len(first.text)) if first
            else estimate_tokens(head))
    for cap in ("max_tokens", "max_completion_tokens"):
        if isinstance(params.get(cap), int) and used:
            params[cap] = max(1, params[cap] - used)
    fence = opening_fence(head)
    if fence:
        stop = params.get("stop")
        params["stop"] = [*([stop] if isinstance(stop, str) else stop or []), "\n" + fence]
    going_on = ChatRequest([*request.messages, {"role": "assistant", "content": head}], params, request.model)
    going_on.memo.update(request.memo)
    return going_on


def continued(head: str, text: str) -> str:
    """A sample that went on from ``head``, whole: the head, what the model wrote, and the closing
    fence its stop sequence left out."""
    whole = head + text
    fence = opening_fence(whole)
    return whole.rstrip("\n") + "\n" + fence + "\n" if fence else whole


def _prefixed(answer: Answer, head: str) -> Answer:
    """Samples that continued ``head``, as whole answers."""
    if not head:
        return answer
    choices = [replace(c, message={**c.message, "content": continued(head, c.message.get("content") or "")})
               for c in answer.completion.choices]
    return replace(answer, text=continued(head, answer.text), completion=replace(answer.completion, choices=choices))


async def _drain(run: Run) -> None:
    async for _ in run:
        pass


def _picked(answer: Answer, text: str) -> Answer:
    """The sampled call's answer, narrowed to the sample picked (usage and cost stay the call's)."""
    choice = Choice({"role": "assistant", "content": text}, "stop", 0)
    return replace(answer, text=text, completion=Completion([choice], answer.usage))


async def sample(rm: Any, request: ChatRequest, decision: Decision, policy: Policy, k: int, temperature: float,
                 *, entry: str = "python", log_to: Any = None,
                 until: Callable[[str], int | None] | None = None) -> tuple[Answer, list[str], Run]:
    """``k`` answers from one model in one call with ``n = k`` at ``temperature`` (the embedded
    engine decodes them together on its parallel slots; an OpenAI-compatible server that ignores
    ``n`` gets the missing ones as extra calls from its backend). No fallback: a failing model raises
    (the caller decides where to go next). Returns the call's answer (usage and cost of every
    sample), the texts, and the Run."""
    params = {**request.params, "n": k, "temperature": temperature}
    asked = ChatRequest(request.messages, params, request.model)
    asked.memo.update(request.memo)          # what routing computed (features) stays with the request
    run = Run(rm, asked, decision, policy, entry)
    run.log_to, run.fallback, run.until = log_to, False, until
    await _drain(run)
    assert run.answer is not None
    return run.answer, [c.message.get("content") or "" for c in run.answer.completion.choices][:k], run
