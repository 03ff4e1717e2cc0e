"""Verify-then-escalate through the real pipeline: real HTTP to fake upstreams, the embedded model,
the sandbox, and the SQLite request log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fake_upstream import FakeUpstream
from routemate.chat import ChatRequest, Chunk
from routemate.config import VerifyConfig, load_settings
from routemate.service import Routemate
from routemate.verified import Cascade, Decided, Progress, is_code_request

PROMPT = "Write a Python function zork(n) that returns the secret code.\nassert zork(3) == 'qx7'\n" \
         "assert zork(4) == 'qx8'"
GOOD = "Here you go:\n```python\ndef zork(n):\n    return 'qx' + str(n + 4)\n```"
BAD = "Here you go:\n```python\ndef zork(n):\n    return 'qx' + str(n)\n```"


@pytest.fixture
def local_fake() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(reply=BAD, model="fake-llama").start()
    fake.honour_n = True          # a server that answers n choices in one call (vLLM, llama.cpp server)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def two_fakes(write_config: Any, upstream: FakeUpstream, local_fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch,
              env: dict[str, str]) -> tuple[FakeUpstream, FakeUpstream]:
    """A local model and a frontier model, both OpenAI-compatible fakes (deterministic answers)."""
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test")
    # the cascade's policy is under test, so scores come from the transparent rules router
    write_config(f"""
[routing]
router = "rules"

[models.llama]
backend = "openai"
base_url = "{local_fake.url}"
tier = "local"
max_retries = 0

[models.gpt4o]
backend = "openai"
base_url = "{upstream.url}"
api_key_env = "FAKE_OPENAI_KEY"
tier = "frontier"
price_in = 2.5
price_out = 10.0
max_retries = 0
""")
    upstream.reply = GOOD
    return local_fake, upstream


def req(text: str = PROMPT, model: str = "auto") -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], {"max_tokens": 64, "temperature": 0}, model)


async def ask(text: str = PROMPT, model: str = "auto", **kw: Any) -> tuple[Any, Routemate]:
    rm = Routemate(load_settings())
    try:
        return await Cascade(rm, **kw).ask(req(text, model)), rm
    finally:
        await rm.aclose()


async def test_passing_cheap_answer_is_returned_without_a_frontier_call(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = GOOD
    result, rm = await ask(config=VerifyConfig(early=False))      # every sample at once ([verify] early: below)
    assert result.answer.model == "llama" and not result.escalated
    assert result.verdict.ok and result.note().startswith("✓ verified: 4 of 4 samples agree on ")
    assert "inputs; 2 examples pass · confidence " in result.note()
    assert frontier.requests == []
    assert result.cost_usd == 0
    # the samples come from one batched call at the sampling temperature
    assert [(r["body"]["n"], r["body"]["temperature"]) for r in local.requests] == [(4, 0.8)]


async def test_failing_cheap_answer_escalates_with_a_repair_prompt(two_fakes: Any) -> None:
    local, frontier = two_fakes
    result, rm = await ask()
    assert [a.answer.model for a in result.attempts] == ["llama", "gpt4o"]
    assert result.answer.text == GOOD and result.verdict.ok
    assert result.note().startswith("llama failed (2/2 examples from the prompt fail) → escalated · ✓ verified")
    assert "escalated to gpt4o" in result.answer.decision.reason
    sent = frontier.requests[0]["body"]["messages"][-1]["content"]
    assert sent.startswith(PROMPT)                               # the request
    assert "return 'qx' + str(n)" in sent                        # the failed code
    assert "zork(3) == 'qx7': got 'qx3', expected 'qx7'" in sent   # the failure output
    assert result.cost_usd == pytest.approx(result.attempts[1].answer.cost_usd) and result.cost_usd > 0


async def test_both_attempts_are_logged_and_linked(two_fakes: Any) -> None:
    result, rm = await ask()
    rows = {r["id"]: r for r in rm.store.recent(5)}
    first, second = (rows[a.answer.log_id] for a in result.attempts)
    assert (first["model"], first["attempt"], first["parent_id"]) == ("llama", 1, None)
    assert (second["model"], second["attempt"], second["parent_id"]) == ("gpt4o", 2, first["id"])
    assert first["meta"]["verify"]["ok"] is False and second["meta"]["verify"]["ok"] is True
    assert second["cost_usd"] > 0 and first["cost_usd"] == 0


# the answer builds an AWS key at run time: the answer's text has no key, its failure report has one
LEAKY = "```python\ndef zork(n):\n    return 'AKIA' + 'Z3MSJV6HQ7PLRX2D'\n```"


async def test_a_repair_prompt_carrying_a_secret_stays_local(two_fakes: Any) -> None:
    """The failure report quotes what the code returned; it goes through the request's secret scan,
    and with no stronger private model the failing answer is kept rather than sent out."""
    local, frontier = two_fakes
    local.reply = LEAKY
    result, rm = await ask()
    assert frontier.requests == [] and len(result.attempts) == 1 and not result.verdict.ok
    assert "not escalated: its failure report holds a secret (aws-key)" in result.note()
    assert "AKIAZ3MSJV6HQ7PLRX2D" not in result.note()


async def test_a_repair_prompt_with_a_secret_goes_to_a_stronger_private_model(
        two_fakes: Any, write_config: Any, env: dict[str, str], upstream: FakeUpstream) -> None:
    local, frontier = two_fakes
    local.reply = LEAKY
    second = FakeUpstream(reply=GOOD, model="fake-big").start()
    try:
        path = __import__("pathlib").Path(env["ROUTEMATE_CONFIG"])
        path.write_text(path.read_text() + f"""
[models.biglocal]
backend = "openai"
base_url = "{second.url}"
tier = "local"
price_in = 0.1
max_retries = 0
""")
        result, rm = await ask()
    finally:
        second.stop()
    assert [a.answer.model for a in result.attempts] == ["llama", "biglocal"] and result.verdict.ok
    assert frontier.requests == [] and "AKIAZ3MSJV6HQ7PLRX2D" in second.requests[0]["body"]["messages"][-1]["content"]
    logged = rm.store.recent(5)
    assert not any("AKIAZ3MSJV6HQ7PLRX2D" in (r.get("prompt") or "") for r in logged)


async def test_escalation_budget_is_respected(two_fakes: Any, write_config: Any) -> None:
    local, frontier = two_fakes
    settings = load_settings()
    rm = Routemate(settings)
    config = settings.verify.model_copy(update={"max_escalations": 0})
    try:
        result = await Cascade(rm, config=config).ask(req())
    finally:
        await rm.aclose()
    assert len(result.attempts) == 1 and frontier.requests == []
    assert result.note().startswith("✗ not verified: 2/2 examples from the prompt fail · 4 of 4 samples agree on ")


async def test_frontier_failing_too_returns_its_answer_marked_unverified(two_fakes: Any) -> None:
    local, frontier = two_fakes
    frontier.reply = BAD
    result, _ = await ask()
    assert len(result.attempts) == 2 and not result.verdict.ok
    assert result.note().endswith("✗ not verified: 2/2 examples from the prompt fail")


async def test_pinned_model_is_checked_but_never_escalated(two_fakes: Any) -> None:
    local, frontier = two_fakes
    result, _ = await ask(model="llama")
    assert len(result.attempts) == 1 and not result.verdict.ok and frontier.requests == []


async def test_users_tests_decide(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = "```python\ndef double(x):\n    return x + x\n```"
    tests = "from solution import double\n\ndef test_double():\n    assert double(21) == 42\n"
    result, _ = await ask("Write a Python function double(x).", tests=tests)
    assert result.verdict.ok and "1/1 of your tests pass" in result.note() and frontier.requests == []


async def test_router_confident_it_needs_the_frontier_skips_the_cheap_try(two_fakes: Any) -> None:
    local, frontier = two_fakes
    hard = ("Implement a lock-free, thread-safe concurrent queue in Python; prove the invariants, analyse the "
            "complexity and memory leak risks, and handle every edge case without using locks.")
    settings = load_settings()
    rm = Routemate(settings)
    decision, _ = rm.route(req(hard))
    assert decision.tier == "frontier" and decision.score >= 0.7
    try:
        result = await Cascade(rm, config=settings.verify.model_copy(update={"skip_above": 0.7})).ask(req(hard))
    finally:
        await rm.aclose()
    assert result.skipped_cheap and result.attempts[0].answer.model == "gpt4o"
    assert local.requests == []
    assert "cheap try skipped" in result.note()


async def test_borderline_request_tries_the_cheap_model_first(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = GOOD
    borderline = PROMPT + "\nMind the edge cases and the complexity."
    rm = Routemate(load_settings())
    decision, _ = rm.route(req(borderline))
    assert decision.tier == "frontier" and decision.score < 0.85     # the router alone would pay
    result, _ = await ask(borderline)
    assert result.answer.model == "llama" and not result.escalated and frontier.requests == []
    assert "verify-first: llama tries first" in result.answer.decision.reason


async def test_borderline_request_escalates_when_nothing_could_be_run(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = "```python\ndef schedule(jobs):\n    return sorted(jobs)\n```"
    borderline = "Write a Python function schedule(jobs); mind the edge cases and the complexity of the algorithm."
    result, _ = await ask(borderline)
    assert [a.answer.model for a in result.attempts] == ["llama", "gpt4o"]


async def test_embedded_model_answer_is_checked_and_escalated(hybrid: FakeUpstream) -> None:
    hybrid.reply = GOOD
    result, rm = await ask()
    assert result.attempts[0].answer.model == "local"          # the real embedded model tried first
    assert result.attempts[0].verdict is not None and not result.attempts[0].verdict.ok
    assert result.answer.model == "gpt4o" and result.verdict.ok



async def test_embedded_model_is_checked_when_its_code_closes_and_its_words_follow(hybrid: FakeUpstream) -> None:
    rm = Routemate(load_settings())
    prompt = "Write a Python function add(a, b) that adds two numbers.\n>>> add(2, 3)\n5\n>>> add(1, 1)\n2"
    cascade = Cascade(rm)
    try:
        events = [e async for e in cascade.stream(req(prompt, model="local"))]
    finally:
        await rm.aclose()
    decided = next(i for i, e in enumerate(events) if isinstance(e, Decided))
    shown = [e.content for e in events[decided:] if isinstance(e, Chunk)]
    result = events[-1].result
    assert result.verdict.ok and result.note().endswith("settled by the first sample")
    first, prose = cascade.runs
    assert first.cut and shown[0] == first.answer.text and shown[0].endswith("```\n")   # checked: the code
    assert prose.request.messages[-1] == {"role": "assistant", "content": shown[0]} and len(shown) > 1
    assert "".join(shown) == result.answer.text == shown[0] + prose.answer.text
    row = next(r for r in rm.store.recent(3) if r["id"] == result.answer.log_id)
    assert len(rm.store.recent(5)) == 1            # both calls are the attempt's one row
    assert row["completion_tokens"] == result.answer.usage.completion_tokens > prose.answer.usage.completion_tokens



async def test_embedded_model_draws_later_samples_one_at_a_time_by_default(hybrid: FakeUpstream) -> None:
    assert VerifyConfig().one_by_one is None          # unset: the embedded engine's samples come one by one
    rm = Routemate(load_settings())
    cascade = Cascade(rm)
    try:
        result = await cascade.ask(req(PROMPT, model="local"))     # pinned: checked, never escalated
    finally:
        await rm.aclose()
    assert not result.verdict.ok            # the small test model cannot know the secret code
    drawn = [r for r in cascade.runs if "n" in r.request.params]     # not the words after the answer shown
    assert len(drawn) == 4 and all(r.request.params["n"] == 1 for r in drawn)
    assert result.agreement.k == 4 and [r.request.params["temperature"] for r in drawn] == [0, 0.8, 0.8, 0.8]


def test_code_requests_are_recognised() -> None:
    assert is_code_request(req("Write a Python function that adds two numbers."))
    assert is_code_request(req("Fix this:\n```python\ndef f(:\n```"))
    assert not is_code_request(req("Write a very long story about a ship."))
    assert not is_code_request(req("Explain what a closure is."))


def test_code_requests_in_other_languages_are_recognised() -> None:
    assert is_code_request(req("Écris une fonction Python qui renvoie le carré d'un nombre.\nassert carre(3) == 9"))
    assert is_code_request(req("Schrijf een Python-functie die een lijst omdraait."))
    assert is_code_request(req("Schreibe eine Funktion, die zwei Zahlen addiert."))
    assert not is_code_request(req("Écris une lettre à ma grand-mère."))


SECOND = ("Write a Python function second_largest(xs: list[int]) -> int that returns the second largest "
          "distinct value of xs.")
RIGHT = "```python\ndef second_largest(xs):\n    return sorted(set(xs))[-2]\n```"


async def test_the_pick_comes_from_the_largest_group_that_passes_the_examples(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.replies = [BAD, GOOD, "```python\ndef zork(n):\n    return 'qx' + str(4 + n)\n```", BAD]
    result, _ = await ask()
    assert result.answer.text == GOOD and not result.escalated and frontier.requests == []
    agreement = result.agreement
    assert [list(g.members) for g in agreement.groups] == [[1, 2], [0, 3]] and agreement.pick == 1
    assert result.note().startswith("✓ verified: 2 of 4 samples agree on ")


async def test_samples_that_disagree_escalate_with_the_inputs_they_disagree_on(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.replies = [RIGHT, "```python\ndef second_largest(xs):\n    return sorted(xs)[-2]\n```",
                     "```python\ndef second_largest(xs):\n    return max(xs)\n```",
                     "```python\ndef second_largest(xs):\n    return sorted(xs)[1]\n```"]
    frontier.reply = RIGHT
    result, _ = await ask(SECOND)
    assert [a.answer.model for a in result.attempts] == ["llama", "gpt4o"]
    first = result.attempts[0]
    assert first.agreement.agreeing == 1 and first.agreement.confidence < 0.5 and not first.accepted
    assert result.note().startswith("llama has low confidence ")
    sent = frontier.requests[0]["body"]["messages"][-1]["content"]
    assert "samples of the earlier answer disagree on these inputs" in sent
    assert "second_largest([3, 1, 2]): " in sent and "raises IndexError" in sent


async def test_a_server_that_ignores_n_still_gives_every_sample(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.honour_n = False
    local.replies = [GOOD]
    result, rm = await ask(config=VerifyConfig(early=False))
    assert result.agreement.k == 4 and not result.escalated
    assert local.requests[0]["body"]["n"] == 4 and len(local.requests) == 4     # the backend asked for the rest
    assert result.answer.usage.completion_tokens > 4 * 10 and len(rm.store.recent(5)) == 1


async def test_the_log_row_holds_the_agreement_and_the_decision(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.replies = [GOOD, GOOD, BAD, GOOD]
    result, rm = await ask(config=VerifyConfig(early=False))
    meta = next(r for r in rm.store.recent(3) if r["id"] == result.answer.log_id)["meta"]
    assert meta["agreement"]["samples"] == 4 and meta["agreement"]["agreeing"] == 3
    assert meta["agreement"]["groups"] == [[0, 1, 3], [2]] and meta["agreement"]["examples_passed"] == 2
    assert meta["decision"]["accepted"] is True and meta["decision"]["threshold"] == 0.5
    assert 0.5 <= meta["decision"]["confidence"] <= 1
    assert meta["agreement"]["sample_verdicts"][2] == {"ok": False, "ran": False}


async def test_a_local_model_that_cannot_answer_escalates_without_paying_for_samples(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.default = "500"
    result, _ = await ask()
    assert [a.answer.model for a in result.attempts] == ["gpt4o"] and result.verdict.ok
    assert "verify: llama's call failed (" in result.answer.decision.reason
    assert "n" not in frontier.requests[0]["body"]          # the frontier is asked once, not for samples


# -- an example that states no expected result checks nothing ------------------------------------------

REVERSE = "Write a Python function that reverses a string"
PRINTS_ONLY = ("Here's a function:\n```python\ndef reverse_string(s):\n    out = []\n    for c in s:\n"
               "        out.append(c)\n    return ''.join(out)\n\nprint(reverse_string('hello'))\n```")   # wrong


async def ask_with(text: str, **update: Any) -> Any:
    settings = load_settings()
    rm = Routemate(settings)
    try:
        return await Cascade(rm, config=settings.verify.model_copy(update=update)).ask(req(text))
    finally:
        await rm.aclose()


async def test_samples_whose_example_only_prints_are_shown_as_not_checked(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = PRINTS_ONLY
    result = await ask_with(REVERSE)
    assert result.answer.model == "llama" and frontier.requests == []
    note = result.note()
    assert note.startswith("○ 4 of 4 samples agree on ") and "inputs; not checked: no example states an expected " \
        "result · confidence " in note
    assert "verified" not in note and "✓" not in note and result.state == "not-checked"


async def test_a_single_answer_whose_example_only_prints_is_not_checked_and_stricter_settings_escalate_it(
        two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = PRINTS_ONLY
    result = await ask_with(REVERSE, samples=1)
    assert not result.escalated and result.state == "not-checked" and not result.verdict.ran
    assert result.note().startswith("○ ran its example without error and on ")
    assert "; not checked: no example states an expected result" in result.note()
    strict = await ask_with(REVERSE, samples=1, unverified="escalate")
    assert [a.answer.model for a in strict.attempts] == ["llama", "gpt4o"]
    assert strict.attempts[0].why.startswith("failed (not checked: it ran its example without error")


@pytest.mark.parametrize("text", [
    "Écris une fonction Python zork(n) qui renvoie le code secret.\nassert zork(3) == 'qx7'",
    "Schreibe eine Python-Funktion zork(n), die den geheimen Code zurückgibt.\nassert zork(3) == 'qx7'",
    "Schrijf een Python-functie zork(n) die de geheime code teruggeeft.\nassert zork(3) == 'qx7'",
    "Schreibe eine Funktion zork(n): zork(3) sollte 'qx7' zurückgeben.",
    "Schrijf een functie zork(n); zork(3) moet 'qx7' teruggeven.",
])
async def test_requests_in_other_languages_are_checked_against_their_examples(two_fakes: Any, text: str) -> None:
    # the cheap model's answer fails the request's example: it is caught and escalated, whatever the language
    local, frontier = two_fakes
    result, _ = await ask(text)
    assert [a.answer.model for a in result.attempts] == ["llama", "gpt4o"]
    assert result.attempts[0].verdict.check("examples").status == "fail" and result.verdict.ran


# -- [verify] early: the first answer alone when the request's examples settle it ---------------------

async def test_early_a_first_answer_that_passes_the_examples_is_the_only_sample(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = GOOD
    result, rm = await ask(config=VerifyConfig(early=True))
    assert result.answer.text == GOOD and not result.escalated and frontier.requests == []
    assert result.note() == "✓ verified: parses, defines zork(n), 2/2 examples from the prompt pass · " \
                            "settled by the first sample"
    # one call, greedy (the request's own temperature), no samples asked for
    assert [(r["body"].get("n", 1), r["body"]["temperature"]) for r in local.requests] == [(1, 0)]
    row = next(r for r in rm.store.recent(3) if r["id"] == result.answer.log_id)
    assert row["meta"]["agreement"]["samples"] == 1 and row["meta"]["decision"]["accepted"] is True


async def test_early_a_first_answer_that_fails_draws_the_rest_and_picks_among_all(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.replies = [BAD, GOOD, GOOD, BAD]     # the first fails its examples; two of the three more are right
    said: list[str] = []
    result, rm = await ask(config=VerifyConfig(early=True), progress=said.append)
    assert "the first answer did not settle it (2/2 examples from the prompt fail): asking llama for 3 more " \
           "samples…" in said
    assert result.answer.text == GOOD and not result.escalated and frontier.requests == []
    assert [(r["body"].get("n", 1), r["body"]["temperature"]) for r in local.requests] == [(1, 0), (3, 0.8)]
    assert result.agreement.k == 4 and "settled" not in result.note()
    assert result.note().startswith("✓ verified: 2 of 4 samples agree on ")
    # the two calls behind the attempt are one log row, with every token of both
    rows = [r for r in rm.store.recent(10) if r["model"] == "llama"]
    assert len(rows) == 1 and rows[0]["id"] == result.answer.log_id
    one_prompt = sum(len(str(m.get("content") or "")) // 4 + 1 for m in local.requests[0]["body"]["messages"])
    assert rows[0]["prompt_tokens"] == 2 * one_prompt           # the fake's count, once per call
    assert rows[0]["completion_tokens"] == result.answer.usage.completion_tokens > 0


async def test_early_further_samples_of_a_request_without_a_stub_write_their_code_only(
        two_fakes: Any) -> None:
    local, frontier = two_fakes
    good = "def zork(n):\n    return 'qx' + str(n + 4)\n"       # what a server that continues sends back
    local.replies = [BAD + "\n\nIt joins 'qx' and n.", good, good, good, "\nIt adds four to n."]
    said: list[str] = []
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True), progress=said.append).ask(req())
    finally:
        await rm.aclose()
    more = local.requests[1]["body"]
    assert more["messages"][-1] == {"role": "assistant", "content": "```python\n"}    # not "Here you go:"
    assert more["stop"] == ["\n```"] and more["n"] == 3
    assert any(line.endswith("asking llama for 3 more samples, their code only…") for line in said)
    assert result.verdict.ok and not result.escalated and frontier.requests == []
    # the sample picked is code only; once chosen, the model writes the words after it
    picked = "```python\n" + good + "```\n"
    assert result.answer.text == picked + "\nIt adds four to n."
    prose = local.requests[2]["body"]
    assert prose["messages"][-1] == {"role": "assistant", "content": picked} and prose.get("n", 1) == 1
    assert prose["temperature"] == 0 and "stop" not in prose


def continuing_rm() -> Routemate:
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True          # as the embedded engine and llama.cpp servers do
    return rm


async def test_a_first_answer_is_checked_when_its_code_closes_and_its_words_follow_the_decision(
        two_fakes: Any) -> None:
    local, frontier = two_fakes
    words = "It adds four to n and joins it to 'qx'."
    # the server sends its whole answer; the cascade reads it only up to where the code block closes
    local.replies = [GOOD + "\n\nWords the first call never gets to say.", "\n" + words]
    rm = continuing_rm()
    try:
        events = [e async for e in Cascade(rm, config=VerifyConfig(early=True)).stream(req())]
    finally:
        await rm.aclose()
    decided = next(i for i, e in enumerate(events) if isinstance(e, Decided))
    assert any(isinstance(e, Progress) and e.message == "checking llama's code…" for e in events[:decided])
    shown = [e.content for e in events[decided:] if isinstance(e, Chunk)]
    assert shown[0] == GOOD + "\n" and "".join(shown[1:]) == "\n" + words       # the code, then its words
    result = events[-1].result
    assert result.answer.text == GOOD + "\n\n" + words and "Never" not in result.answer.text
    assert result.note().endswith("settled by the first sample") and frontier.requests == []
    first, prose = (r["body"] for r in local.requests)
    assert prose["messages"] == first["messages"] + [{"role": "assistant", "content": GOOD + "\n"}]
    assert prose["temperature"] == 0 and prose.get("n", 1) == 1 and prose["max_tokens"] < first["max_tokens"]
    rows = [r for r in rm.store.recent(5) if r["model"] == "llama"]
    assert len(rows) == 1 and rows[0]["completion_tokens"] == result.answer.usage.completion_tokens
    assert rows[0]["meta"]["decision"]["accepted"] is True


async def test_when_the_words_after_the_code_cannot_be_had_the_checked_code_stands(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.replies = [GOOD + "\n\nIt adds four."]
    local.script.extend(["ok", "500"])          # the first answer, then the call for its words fails
    rm = continuing_rm()
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True)).ask(req())
    finally:
        await rm.aclose()
    assert result.answer.text == GOOD + "\n" and result.verdict.ok and frontier.requests == []
    assert len(local.requests) == 2
    rows = [r for r in rm.store.recent(5) if r["model"] == "llama"]
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["error"] is None


async def test_the_words_of_an_answer_that_is_escalated_are_never_written(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.replies = [BAD + "\n\nIt joins 'qx' and n.", BAD, BAD, BAD]
    rm = continuing_rm()
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True)).ask(req())
    finally:
        await rm.aclose()
    assert result.answer.model == "gpt4o" and result.answer.text == GOOD
    # the first answer (read up to where its code closes) and the samples: nothing more is asked of it
    assert [r["body"].get("n", 1) for r in local.requests] == [1, 3]


async def test_code_first_off_reads_the_whole_first_answer(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.replies = [GOOD + "\n\nIt adds four."]
    rm = continuing_rm()
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True, code_first=False)).ask(req())
    finally:
        await rm.aclose()
    assert result.answer.text == GOOD + "\n\nIt adds four." and len(local.requests) == 1


async def test_one_by_one_the_first_later_sample_that_settles_the_request_is_the_answer(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.replies = [BAD, BAD, GOOD, BAD]      # the first and second fail their examples; the third passes both
    said: list[str] = []
    rm = Routemate(load_settings())
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True, one_by_one=True), progress=said.append).ask(req())
    finally:
        await rm.aclose()
    # one call per sample, and none after the one that settled it
    assert [(r["body"].get("n", 1), r["body"]["temperature"]) for r in local.requests] == [(1, 0), (1, 0.8), (1, 0.8)]
    assert "the first answer did not settle it (2/2 examples from the prompt fail): asking llama for 3 more " \
           "samples one at a time…" in said and "checking sample 3 of 4…" in said
    assert result.answer.text == GOOD and not result.escalated and frontier.requests == []
    assert result.note() == "✓ verified: parses, defines zork(n), 2/2 examples from the prompt pass · " \
                            "settled by sample 3"
    rows = [r for r in rm.store.recent(10) if r["model"] == "llama"]
    assert len(rows) == 1 and rows[0]["completion_tokens"] == result.answer.usage.completion_tokens


async def test_one_by_one_compares_them_all_when_none_settles_it(two_fakes: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import routemate.verify.agreement as agreement

    ran: list[str] = []
    real = agreement.verify
    monkeypatch.setattr(agreement, "verify",
                        lambda request, answer, **kw: ran.append(request) or real(request, answer, **kw))
    local, frontier = two_fakes
    local.replies = [BAD]
    result, _ = await ask(config=VerifyConfig(early=True, one_by_one=True))
    assert [r["body"].get("n", 1) for r in local.requests] == [1, 1, 1, 1]
    assert result.attempts[0].agreement.k == 4 and result.answer.model == "gpt4o" and result.escalated
    # compared after each sample (alone, then with those before it), yet each sample ran once at most
    assert 1 <= len([r for r in ran if r == ran[0]]) <= 4


ONE_EXAMPLE = "Write a Python function zork(n) that returns the secret code.\nassert zork(3) == 'qx7'"
# passes the example like GOOD, but differs from it on every other input
LUCKY = "Here you go:\n```python\ndef zork(n):\n    return 'qx7'\n```"


async def test_one_by_one_two_samples_that_agree_settle_a_request_with_one_example(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = GOOD
    said: list[str] = []
    rm = Routemate(load_settings())
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True, one_by_one=True),
                               progress=said.append).ask(req(ONE_EXAMPLE))
    finally:
        await rm.aclose()
    # one example cannot settle it alone: no check of the first answer alone, and no sample after the second
    assert [r["body"].get("n", 1) for r in local.requests] == [1, 1]
    assert "checking llama's code…" not in said and "checking sample 2 of 4…" in said
    assert result.answer.text == GOOD and not result.escalated and frontier.requests == []
    assert result.attempts[0].agreement.k == 2 and result.attempts[0].settled_by == 2
    note = result.note()
    assert note.startswith("✓ verified: 2 of 2 samples agree on ") and note.endswith(
        "inputs; 1 example passes · settled by 2 agreeing samples")


async def test_one_by_one_samples_that_pass_the_example_but_disagree_draw_on(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.replies = [GOOD, LUCKY, GOOD, LUCKY]
    result, _ = await ask(ONE_EXAMPLE, config=VerifyConfig(early=True, one_by_one=True))
    # 1 and 2 differ; of three, two agree: a majority that holds the example settles it
    assert [r["body"].get("n", 1) for r in local.requests] == [1, 1, 1]
    assert result.attempts[0].agreement.k == 3 and result.answer.text == GOOD
    assert "settled by 2 agreeing samples" in result.note()


async def test_early_without_examples_nothing_could_settle_so_every_sample_comes_in_one_call(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = GOOD
    result, _ = await ask("Write a Python function zork(n) that returns the secret code.",
                          config=VerifyConfig(early=True))
    assert [(r["body"]["n"], r["body"]["temperature"]) for r in local.requests] == [(4, 0.8)]
    assert result.agreement.k == 4


async def test_early_one_passing_example_is_too_little_to_stop_at_one_sample(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = GOOD
    result, _ = await ask("Write a Python function zork(n) that returns the secret code.\nassert zork(3) == 'qx7'",
                          config=VerifyConfig(early=True))
    assert [r["body"]["n"] for r in local.requests] == [4] and result.agreement.k == 4
    assert result.verdict.ok and "settled" not in result.note()


STUB = ("Complete this function:\n```python\ndef zork(n):\n    \"\"\"Return the secret code.\n    >>> zork(3)\n"
        "    'qx7'\n    >>> zork(4)\n    'qx8'\n    \"\"\"\n```")
STUB_HEAD = ("```python\ndef zork(n):\n    \"\"\"Return the secret code.\n    >>> zork(3)\n    'qx7'\n"
             "    >>> zork(4)\n    'qx8'\n    \"\"\"\n")


async def test_early_further_samples_continue_the_stub_the_first_answer_copied(two_fakes: Any) -> None:
    local, frontier = two_fakes
    good, bad = "    return 'qx' + str(n + 4)\n```", "    return 'qx' + str(n)\n```"
    # a server that continues: the samples are bodies only; then the words after the one picked
    local.replies = [STUB_HEAD + bad, good, good, bad, "\nIt adds four."]
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True          # as the embedded engine and llama.cpp servers do
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True, first_from_stub=False)).ask(req(STUB))
    finally:
        await rm.aclose()
    first, more, prose = (r["body"]["messages"] for r in local.requests)
    assert first[-1]["role"] == "user"
    assert more[:-1] == first and more[-1] == {"role": "assistant", "content": STUB_HEAD}
    assert prose[:-1] == first and prose[-1] == {"role": "assistant", "content": STUB_HEAD + good}
    assert result.answer.text == STUB_HEAD + good + "\nIt adds four." and not result.escalated
    assert frontier.requests == []
    assert result.agreement.k == 4 and result.note().startswith("✓ verified: 2 of 4 samples agree on ")


async def test_further_samples_start_at_the_copied_block_and_stop_where_it_ends(
        two_fakes: Any) -> None:
    local, frontier = two_fakes
    intro = "To complete `zork`, add four to `n`:\n\n"
    good, bad = "    return 'qx' + str(n + 4)\n", "    return 'qx' + str(n)\n"
    # the first answer explains itself after the block; the samples stop where the block ends (the
    # server leaves the stop sequence out, as llama.cpp and OpenAI do)
    local.replies = [intro + STUB_HEAD + bad + "```\n\n### Explanation\nIt builds the code.", good, good, bad,
                     "\nIt adds four."]
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True
    try:
        request = ChatRequest([{"role": "user", "content": STUB}], {"max_tokens": 64, "temperature": 0,
                                                                     "stop": ["\nEND"]}, "auto")
        result = await Cascade(rm, config=VerifyConfig(early=True, first_from_stub=False)).ask(request)
    finally:
        await rm.aclose()
    more = local.requests[1]["body"]
    assert more["messages"][-1] == {"role": "assistant", "content": STUB_HEAD}     # not the prose
    assert more["stop"] == ["\nEND", "\n```"]                     # the client's own stop is kept
    # the client's cap is for the whole answer: the head's tokens count against it
    assert 0 < more["max_tokens"] < local.requests[0]["body"]["max_tokens"] == 64
    assert local.requests[0]["body"].get("stop") == ["\nEND"]
    assert result.answer.text == STUB_HEAD + good + "```\n" + "\nIt adds four."   # the block closed again
    # the words after the code go on from the answer picked, within what is left of the client's cap
    prose = local.requests[2]["body"]
    assert prose["messages"][-1]["content"] == STUB_HEAD + good + "```\n" and prose["stop"] == ["\nEND"]
    assert 0 < prose["max_tokens"] < 64
    assert not result.escalated and frontier.requests == [] and result.agreement.k == 4


async def test_the_first_answer_starts_at_the_stub_the_request_gives_to_complete(two_fakes: Any) -> None:
    local, frontier = two_fakes
    good = "    return 'qx' + str(n + 4)\n"
    # the server continues: the first answer is the body alone, its block closed by the stop sequence
    local.replies = [good, "\nIt adds four."]
    said: list[str] = []
    rm = continuing_rm()
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True), progress=said.append).ask(req(STUB))
    finally:
        await rm.aclose()
    first, prose = (r["body"] for r in local.requests)
    assert first["messages"][-1] == {"role": "assistant", "content": STUB_HEAD} and first["stop"] == ["\n```"]
    assert first["temperature"] == 0 and 0 < first["max_tokens"] < 64     # the head counts against the cap
    # settled by it (two examples hold), then its words after the code
    assert prose["messages"][-1] == {"role": "assistant", "content": STUB_HEAD + good + "```\n"}
    assert result.answer.text == STUB_HEAD + good + "```\n" + "\nIt adds four." and not result.escalated
    assert result.note().endswith("settled by the first sample") and frontier.requests == []


@pytest.mark.parametrize("asked, reply", [
    # code with a body to rework: the model writes it out as it sees fit
    (STUB.replace("Complete this function:", "Fix this function:")
     .replace('    """\n```', '    """\n    return n\n```'), STUB_HEAD + "    return 'qx' + str(n + 4)\n```"),
    # tests of the stub: the answer is tests, not its body
    (STUB.replace("Complete this function:", "Write pytest tests for this function:"),
     "```python\ndef test_zork():\n    assert zork(3) == 'qx7'\n```"),
], ids=["body-to-rework", "tests-of-it"])
async def test_a_first_answer_is_not_started_at_a_stub_it_is_not_asked_to_complete(
        two_fakes: Any, asked: str, reply: str) -> None:
    local, _ = two_fakes
    local.replies = [reply, "\nIt adds four."]
    rm = continuing_rm()
    try:
        await Cascade(rm, config=VerifyConfig(early=True)).ask(req(asked))
    finally:
        await rm.aclose()
    assert local.requests[0]["body"]["messages"][-1]["role"] == "user"


async def test_early_a_backend_that_answers_anew_gets_the_request_unchanged(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.replies = [STUB_HEAD + "    return 'qx' + str(n)\n```"]
    await ask(STUB, config=VerifyConfig(early=True))
    assert [r["body"]["messages"][-1]["role"] for r in local.requests] == ["user", "user"]


async def test_early_continue_stub_off_draws_whole_samples_even_where_the_backend_could_continue(
        two_fakes: Any) -> None:
    local, _ = two_fakes
    local.replies = [STUB_HEAD + "    return 'qx' + str(n)\n```"]
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True
    try:
        await Cascade(rm, config=VerifyConfig(early=True, continue_stub=False)).ask(req(STUB))
    finally:
        await rm.aclose()
    assert [r["body"]["messages"][-1]["role"] for r in local.requests] == ["user", "user"]


ONE_EXAMPLE_STUB = ("Complete this function:\n```python\ndef zork(n):\n    \"\"\"Return the secret code.\n"
                    "    >>> zork(3)\n    'qx7'\n    \"\"\"\n```")
ONE_EXAMPLE_HEAD = ("```python\ndef zork(n):\n    \"\"\"Return the secret code.\n    >>> zork(3)\n"
                    "    'qx7'\n    \"\"\"\n")


async def test_a_stub_one_example_cannot_settle_still_gets_one_answer_first_and_the_rest_from_its_head(
        two_fakes: Any) -> None:
    local, _ = two_fakes
    good = "    return 'qx' + str(n + 4)\n```"
    local.replies = [ONE_EXAMPLE_HEAD + good, good, good, good]
    said: list[str] = []
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True
    try:
        result = await Cascade(rm, config=VerifyConfig(early=True, one_by_one=False, first_from_stub=False),
                               progress=said.append).ask(req(ONE_EXAMPLE_STUB))
    finally:
        await rm.aclose()
    assert [(r["body"].get("n", 1), r["body"]["temperature"]) for r in local.requests] == [(1, 0), (3, 0.8)]
    assert local.requests[1]["body"]["messages"][-1] == {"role": "assistant", "content": ONE_EXAMPLE_HEAD}
    # one example could never settle it, so the first answer is not checked on its own
    assert said.index("asking llama for 3 more samples from the stub it copied…") < \
        min(i for i, line in enumerate(said) if line.startswith("checking") or line.startswith("running"))
    assert result.agreement.k == 4 and result.answer.text == ONE_EXAMPLE_HEAD + good


async def test_a_stub_on_a_backend_that_answers_anew_draws_every_sample_in_one_call(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = ONE_EXAMPLE_HEAD + "    return 'qx' + str(n + 4)\n```"
    result, _ = await ask(ONE_EXAMPLE_STUB, config=VerifyConfig(early=True))
    assert [r["body"]["n"] for r in local.requests] == [4] and result.agreement.k == 4


async def test_a_client_prefill_is_never_stacked_with_a_copied_stub(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.replies = [STUB_HEAD + "    return 'qx' + str(n)\n```"]
    rm = Routemate(load_settings())
    rm.backend("llama").continues_assistant = True
    own = ChatRequest([{"role": "user", "content": STUB}, {"role": "assistant", "content": "```python\n"}],
                      {"max_tokens": 64, "temperature": 0}, "auto")
    try:
        await Cascade(rm, config=VerifyConfig(early=True)).ask(own)
    finally:
        await rm.aclose()
    assert own.prefilled and local.requests
    assert all(r["body"]["messages"] == own.messages for r in local.requests)
