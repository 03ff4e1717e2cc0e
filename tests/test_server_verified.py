"""Verify-then-escalate behind the OpenAI-compatible gateway, over real HTTP (and the real openai client)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_upstream import FakeUpstream
from gateway_fixtures import RunningGateway, close_clients, gateway, opened  # noqa: F401  (fixtures)
from test_verified import BAD, GOOD, PRINTS_ONLY, PROMPT, REVERSE, local_fake, two_fakes  # noqa: F401  (fixtures)

MESSAGES = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def gw(two_fakes: Any, env: dict[str, str]) -> Iterator[RunningGateway]:
    g = RunningGateway().start()
    try:
        yield g
    finally:
        g.stop()


def test_failing_cheap_answer_is_escalated_and_only_the_checked_one_is_sent(gw: RunningGateway,
                                                                            two_fakes: Any) -> None:
    local, frontier = two_fakes
    r = gw.post("/v1/chat/completions", {"model": "auto", "messages": MESSAGES})
    assert r.status == 200, r.body
    body = r.json()
    assert body["choices"][0]["message"]["content"] == GOOD and body["model"] == "gpt4o"
    assert r.headers["x-routemate-verify"] == ("pass; llama failed (2/2 examples from the prompt fail) -> escalated; "
                                               "verified: parses, defines zork(n), 2/2 examples from the prompt pass")
    assert r.headers["x-routemate-attempts"] == "llama,gpt4o"
    assert float(r.headers["x-routemate-cost-usd"]) > 0
    rows = gw.log_rows()[-2:]
    assert [(x["model"], x["attempt"], x["entry"]) for x in rows] == [("llama", 1, "http"), ("gpt4o", 2, "http")]
    assert rows[1]["parent_id"] == rows[0]["id"]


def test_stream_is_sent_after_the_checks(gw: RunningGateway, two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = GOOD
    r = gw.post("/v1/chat/completions", {"model": "auto", "messages": MESSAGES, "stream": True,
                                         "stream_options": {"include_usage": True}})
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = r.events()
    assert events[-1] == "[DONE]" and events[-2]["choices"] == [] and events[-2]["usage"]["completion_tokens"] > 0
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-2])
    assert text == GOOD and r.headers["x-routemate-model"] == "llama"
    assert r.headers["x-routemate-verify"] == ("pass; verified: parses, defines zork(n), 2/2 examples from the "
                                               "prompt pass; settled by the first sample")


def test_opt_out_by_header_or_body_field(gw: RunningGateway, two_fakes: Any) -> None:
    local, frontier = two_fakes
    r = gw.post("/v1/chat/completions", {"messages": MESSAGES}, headers={"x-routemate-verify": "off"})
    assert r.json()["choices"][0]["message"]["content"] == BAD and "x-routemate-verify" not in r.headers
    r = gw.post("/v1/chat/completions", {"messages": MESSAGES, "routemate": {"verify": False}})
    assert r.json()["choices"][0]["message"]["content"] == BAD
    assert frontier.requests == []


def test_user_tests_travel_in_the_extension_field(gw: RunningGateway, two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = "```python\ndef double(x):\n    return x * 2\n```"
    tests = "from solution import double\n\ndef test_it():\n    assert double(4) == 8\n"
    r = gw.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "Write double(x) in Python."}],
                                         "routemate": {"tests": tests}})
    assert r.status == 200 and "1/1 of your tests pass" in r.headers["x-routemate-verify"]
    assert frontier.requests == []


def test_a_clients_code_does_not_run_in_a_weaker_sandbox_unless_the_config_accepts_it(
        two_fakes: Any, env: dict[str, str], write_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel without seccomp (the layer is turned off to stand for one): a remote client's code
    is not run, and the header says which layer is missing; ``allow_weak_sandbox`` accepts it."""
    from functools import partial

    import routemate.verify.checks as checks
    from routemate.verify.sandbox import _run

    monkeypatch.setattr(checks, "run_python", partial(_run, seccomp=False))
    local, frontier = two_fakes
    local.reply = "```python\ndef double(x):\n    return x * 2\n```"
    body = {"messages": [{"role": "user", "content": "Write double(x) in Python."}],
            "routemate": {"tests": "from solution import double\n\ndef test_it():\n    assert double(4) == 8\n"}}
    g = RunningGateway().start()
    try:
        r = g.post("/v1/chat/completions", body)
        assert r.status == 200, r.body
        header = r.headers["x-routemate-verify"]
        refused = ("not run: the sandbox lacks seccomp, so code from a remote client is not run; "
                   "set [verify] allow_weak_sandbox = true to accept the weaker sandbox")
        assert header.startswith("not-run; ") and refused in header, header
        assert "of your tests" not in header
        checks_logged = g.log_rows()[-1]["meta"]["verify"]["checks"]
        assert any(c["name"] == "run" and "allow_weak_sandbox" in c["detail"] for c in checks_logged)
    finally:
        g.stop()
    config = Path(env["ROUTEMATE_CONFIG"])
    config.write_text(config.read_text() + "\n[verify]\nallow_weak_sandbox = true\n")
    g = RunningGateway().start()
    try:
        r = g.post("/v1/chat/completions", body)
        assert r.status == 200 and "1/1 of your tests pass" in r.headers["x-routemate-verify"], r.headers
        assert r.headers["x-routemate-verify"].endswith("; weaker sandbox: lacks seccomp")
        assert g.log_rows()[-1]["meta"]["verify"]["sandbox_missing"] == {"seccomp": "turned off"}
    finally:
        g.stop()


def test_no_secret_leaves_through_the_verify_header_or_a_repair_prompt(gw: RunningGateway, two_fakes: Any) -> None:
    """Code that fails with a key in its error (built at run time, so not in the answer's text):
    the header names the kind, not the key, and the repair prompt does not go to the frontier."""
    local, frontier = two_fakes
    local.reply = ("```python\nclass Config:\n    raise ValueError('bad key ' + 'AKIA' + 'Z3MSJV6HQ7PLRX2D')\n\n"
                   "def zork(n):\n    return n\n```")
    r = gw.post("/v1/chat/completions", {"model": "auto", "messages": MESSAGES})
    assert r.status == 200, r.body
    header = r.headers["x-routemate-verify"]
    assert header.startswith("fail; ") and "[REDACTED:aws-key]" in header and "AKIAZ3MSJV6HQ7PLRX2D" not in header
    assert "not escalated: its failure report holds a secret" in header
    assert frontier.requests == []


@pytest.mark.parametrize("extra, headers, words", [
    ({"routemate": "yes"}, {}, "'routemate' must be an object"),
    ({"routemate": {"verify": "no"}}, {}, "'routemate.verify' must be a boolean"),
    ({"routemate": {"tests": "def (:"}}, {}, "'routemate.tests' is not valid Python"),
    ({"routemate": {"tests": "assert 1", "verify": False}}, {}, "needs verification"),
    ({}, {"x-routemate-verify": "maybe"}, "x-routemate-verify must be on or off"),
])
def test_bad_extension_fields_get_openai_shaped_400s(gw: RunningGateway, extra: dict, headers: dict,
                                                    words: str) -> None:
    r = gw.post("/v1/chat/completions", {"messages": MESSAGES, **extra}, headers=headers)
    assert r.status == 400
    err = r.json()["error"]
    assert words in err["message"] and err["type"] == "invalid_request_error"


def test_non_code_requests_stream_as_before(gw: RunningGateway, two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = "Hello there"
    r = gw.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "Say hello."}]})
    assert r.json()["choices"][0]["message"]["content"] == "Hello there" and "x-routemate-verify" not in r.headers


def test_real_openai_client_with_extra_body(gw: RunningGateway, two_fakes: Any) -> None:
    import openai

    client = openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES,
                                                           extra_body={"routemate": {"verify": True}})
    completion = raw.parse()
    assert completion.choices[0].message.content == GOOD
    assert raw.headers["x-routemate-attempts"] == "llama,gpt4o"
    client.close()


def test_the_last_model_streams_live_and_its_verdict_follows_the_stream(gw: RunningGateway, two_fakes: Any) -> None:
    local, frontier = two_fakes
    r = gw.post("/v1/chat/completions", {"model": "auto", "messages": MESSAGES, "stream": True})
    assert r.status == 200 and r.headers["x-routemate-model"] == "gpt4o"
    assert r.headers["x-routemate-verify"].startswith("pending; llama failed (2/2 examples from the prompt fail")
    events = r.events()
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"])
    assert text == GOOD and events[-1] == "[DONE]"
    assert b": routemate verify=pass; llama failed" in r.body


def test_a_local_only_setup_still_picks_among_samples(gw: RunningGateway, two_fakes: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    local, frontier = two_fakes
    gw.rm.settings.models.pop("gpt4o")
    gw.rm._candidates = None
    local.replies = [BAD, GOOD, GOOD, BAD]
    r = gw.post("/v1/chat/completions", {"model": "auto", "messages": MESSAGES})
    assert r.status == 200 and r.json()["choices"][0]["message"]["content"] == GOOD
    assert r.headers["x-routemate-verify"].startswith("pass; verified: 2 of 4 samples agree")


def reverse_messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": REVERSE}]


def test_an_example_that_only_prints_is_not_checked_in_the_header(gw: RunningGateway, two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = PRINTS_ONLY
    r = gw.post("/v1/chat/completions", {"model": "auto", "messages": reverse_messages()})
    assert r.status == 200 and r.json()["choices"][0]["message"]["content"] == PRINTS_ONLY
    header = r.headers["x-routemate-verify"]
    assert header.startswith("not-checked; 4 of 4 samples agree on ")
    assert "; not checked: no example states an expected result; confidence " in header
    assert "verified" not in header and frontier.requests == []


def test_a_single_answer_streamed_live_gets_a_not_checked_verdict(two_fakes: Any, env: dict[str, str]) -> None:
    local, frontier = two_fakes
    local.reply = PRINTS_ONLY
    config = Path(env["ROUTEMATE_CONFIG"])
    config.write_text(config.read_text() + "\n[verify]\nsamples = 1\n")
    g = RunningGateway().start()
    try:
        r = g.post("/v1/chat/completions", {"model": "llama", "messages": reverse_messages(), "stream": True},
                   headers={"x-routemate-verify": "on"})
        assert r.status == 200 and r.headers["x-routemate-verify"].startswith("pending; ")
        assert (b": routemate verify=not-checked; ran its example without error and on " in r.body
                and b"; not checked: no example states an expected result" in r.body), r.body[-400:]
        r = g.post("/v1/chat/completions", {"model": "auto", "messages": reverse_messages()})
        assert r.headers["x-routemate-verify"].startswith("not-checked; ran its example without error and on ")
        local.reply = PRINTS_ONLY + "\nOutput: `olleh`"      # it prints hello: its own example fails
        frontier.reply = ("```python\ndef reverse_string(s):\n    return s[::-1]\n\nprint(reverse_string('hello'))"
                          "  # Output: olleh\n```")
        r = g.post("/v1/chat/completions", {"model": "auto", "messages": reverse_messages()})
        assert r.headers["x-routemate-verify"] == ("pass; llama failed (its own examples fail) -> escalated; "
                                                   "verified: parses, its own 1 check passes")
    finally:
        g.stop()


def test_a_checked_answer_streams_its_words_after_the_code_was_checked(gateway: RunningGateway,
                                                                     close_clients: None) -> None:
    # the embedded model: its first answer is checked once its code block closes, and the words it
    # writes after the code reach the client behind the decision, as in a plain answer
    import openai

    client = opened(openai.OpenAI(base_url=gateway.url, api_key="unused", max_retries=0))
    asked = dict(model="local", max_tokens=160, extra_headers={"x-routemate-verify": "on"},
                 messages=[{"role": "user", "content": "Write a Python function add(a, b) that adds two numbers.\n"
                                                       ">>> add(2, 3)\n5\n>>> add(1, 1)\n2"}])
    for stream in (False, True):
        raw = client.chat.completions.with_raw_response.create(stream=stream, **asked)
        assert raw.headers["x-routemate-verify"].startswith("pass; ") and "settled by the first sample" in \
            raw.headers["x-routemate-verify"]
        if stream:
            deltas = [c.choices[0].delta.content for c in raw.parse() if c.choices and c.choices[0].delta.content]
            whole = "".join(deltas)
            assert deltas[0].endswith("```\n") and len(deltas) > 1      # the checked code at once, then word by word
        else:
            whole = raw.parse().choices[0].message.content
        code, _, words = whole.partition("```\n")
        assert code.startswith("```python\ndef add(") and words.strip()     # the code, then what it says of it
    rows = gateway.log_rows()
    assert len(rows) == 2 and all(r["status"] == "ok" and r["completion_tokens"] > 0 for r in rows)
