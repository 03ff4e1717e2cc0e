"""Feedback over the CLI and HTTP: a rating names an answer by its id, shows in the log, becomes a label."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gateway_fixtures import RunningGateway, gateway  # noqa: F401  (fixture)

from routemate import labels
from routemate.store import Record, Store

HELLO = [{"role": "user", "content": "Say hello"}]


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "routemate", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_feedback_over_http_by_completion_id_and_by_header(gateway):
    r = gateway.post("/v1/chat/completions", {"model": "gpt4o", "messages": HELLO})
    assert r.status == 200
    answer_id = r.json()["id"]
    assert answer_id.startswith("chatcmpl-") and r.headers["x-routemate-request-id"] == answer_id
    fb = gateway.post("/v1/feedback", {"id": answer_id, "rating": "bad", "note": "it did not say hello"})
    assert fb.status == 200, fb.body
    row = gateway.log_rows()[-1]
    assert fb.json() == {"object": "feedback", "id": answer_id, "request_id": row["id"], "rating": "bad",
                         "model": "gpt4o"}

    s = gateway.post("/v1/chat/completions", {"model": "gpt4o", "messages": HELLO, "stream": True})
    streamed = s.events()[0]["id"]
    assert s.headers["x-routemate-request-id"] == streamed != answer_id
    assert gateway.post("/v1/feedback", {"id": streamed, "rating": "good"}).status == 200
    rated = labels.feedback_for(gateway.rm.store, [row["id"], row["id"] + 1])
    assert [f["rating"] for f in rated[row["id"]]] == ["bad"] and rated[row["id"]][0]["via"] == "http"
    assert [f["rating"] for f in rated[row["id"] + 1]] == ["good"]
    # a rating is also a label of the model that answered
    got = gateway.rm.store.query("SELECT model, tier, outcome, source FROM labels ORDER BY id")
    assert got == [{"model": "gpt4o", "tier": "frontier", "outcome": 0.0, "source": "feedback"},
                   {"model": "gpt4o", "tier": "frontier", "outcome": 1.0, "source": "feedback"}]


def test_bad_feedback_gets_an_openai_shaped_error_and_records_nothing(gateway):
    unknown = gateway.post("/v1/feedback", {"id": "chatcmpl-nope", "rating": "good"})
    assert unknown.status == 404
    err = unknown.json()["error"]
    assert err["code"] == "request_not_found" and err["param"] == "id" and "chatcmpl-nope" in err["message"]
    for body, param in [({"rating": "good"}, "id"), ({"id": "1", "rating": "meh"}, "rating"),
                        ({"id": "1", "rating": "good", "note": 5}, "note"),
                        ({"id": "1", "rating": "good", "stars": 5}, "stars")]:
        r = gateway.post("/v1/feedback", body)
        assert r.status == 400 and r.json()["error"]["param"] == param, (body, r.body)
    assert gateway.post("/v1/feedback", b"{not json").status == 400
    assert gateway.request("GET", "/v1/feedback").status == 405
    assert gateway.rm.store.query("SELECT COUNT(*) AS n FROM feedback") == [{"n": 0}]


def test_feedback_needs_a_key_when_keys_are_set(hybrid, env):
    env = {**env, "ROUTEMATE_API_KEYS": "k-team"}
    gw = RunningGateway(env).start()
    try:
        assert gw.post("/v1/feedback", {"id": "1", "rating": "good"}).status == 401
        ok = gw.post("/v1/feedback", {"id": "1", "rating": "good"}, headers={"authorization": "Bearer k-team"})
        assert ok.status == 404     # past the key check: the log is empty
    finally:
        gw.stop()


def test_feedback_from_the_cli_shows_in_logs(env, tmp_path):
    from routemate.config import load_settings

    store = Store(load_settings(env).log_path)
    first = store.log(Record(entry="cli", status="ok", prompt="Write a function", model="local", tier="local"))
    store.log(Record(entry="cli", status="ok", prompt="Say hi", model="local", tier="local"))
    store.close()
    r = cli(env, "feedback", str(first), "bad", "--note", "off by one")
    assert r.returncode == 0, r.stderr
    assert f"request {first} (local) rated bad" in r.stdout
    rows = {row["id"]: row for row in json.loads(cli(env, "logs", "--json").stdout)}
    assert rows[first]["feedback"][0]["rating"] == "bad" and rows[first]["feedback"][0]["note"] == "off by one"
    assert rows[first + 1]["feedback"] == []
    table = cli({**env, "COLUMNS": "160"}, "logs").stdout.splitlines()
    assert any("rated" in li and "reason" in li for li in table)
    line = next(li for li in table if li.strip().startswith(f"{first} "))
    other = next(li for li in table if li.strip().startswith(f"{first + 1} "))
    assert " bad " in line and " bad " not in other


def test_cli_errors_are_one_line(env):
    r = cli(env, "feedback", "999", "good")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no logged request has id '999'" in r.stderr
    r = cli(env, "feedback", "1", "great")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "rating must be good or bad" in r.stderr


def test_feedback_on_an_escalated_answer_rates_the_answer_the_user_saw(log_store):
    store = log_store()
    first = store.log(Record(entry="http", status="ok", model="local", tier="local", response_id="chatcmpl-x"))
    last = store.log(Record(entry="http", status="ok", model="gpt4o", tier="frontier", parent_id=first, attempt=2,
                            response_id="chatcmpl-x"))
    for ref in (first, str(first), "chatcmpl-x", last):
        assert labels.find_request(store, ref)["id"] == last
    fb = labels.add_feedback(store, "chatcmpl-x", "good", via="http")
    assert (fb.request_id, fb.model) == (last, "gpt4o")


def test_labels_and_versions_on_every_log_store(log_store):
    store, other = log_store(), log_store()      # two processes (or replicas) on one log
    row = store.log(Record(entry="http", status="ok", model="local", tier="local"))
    labels.add_label(store, row, "local", "local", 0.0, "verify", {"p": 0.5, "d": [1.0], "t": [[3, 1.0]]})
    labels.add_feedback(store, row, "good")       # borrows the features its request's check recorded
    got = labels.labels(other)
    assert [(r["outcome"], r["source"]) for r in got] == [(0.0, "verify"), (1.0, "feedback")]
    assert got[1]["example"] == {"p": 0.5, "d": [1.0], "t": [[3, 1.0]]} and labels.label_count(other) == 2
    assert labels.next_version(store) == 1 and labels.current_version(other) == 0
    labels.add_version(store, version=1, labels=2, quality=0.7, baseline=0.6, promoted=True, why="promoted",
                       artifact={"format": "x", "version": 1})
    labels.add_version(store, version=2, labels=3, quality=0.5, baseline=0.7, promoted=False, why="kept", artifact=None)
    assert labels.current_version(other) == 1 and labels.artifact(other, 1) == {"format": "x", "version": 1}
    assert [(v["version"], v["promoted"], v["in_use"]) for v in labels.versions(other)] == \
        [(2, False, False), (1, True, True)]
    labels.use_version(other, 0)
    assert labels.current_version(store) == 0
    with pytest.raises(labels.UnknownRequest):
        labels.find_request(other, "chatcmpl-missing")
    with pytest.raises(Exception, match="no router version 2"):
        labels.use_version(store, 2)


def test_a_checked_answer_is_rated_by_its_id_too(gateway, hybrid):
    hybrid.reply = "```python\ndef add(a, b):\n    return a + b\n```"
    body = {"model": "gpt4o", "messages": [{"role": "user", "content": "Write a Python function add(a, b).\n"
                                                                       ">>> add(2, 3)\n5"}]}
    r = gateway.post("/v1/chat/completions", body, headers={"x-routemate-verify": "on"})
    assert r.status == 200 and "x-routemate-verify" in r.headers
    answer_id = r.json()["id"]
    assert r.headers["x-routemate-request-id"] == answer_id
    fb = gateway.post("/v1/feedback", {"id": answer_id, "rating": "good"})
    assert fb.status == 200 and fb.json()["model"] == "gpt4o"
    assert fb.json()["request_id"] == gateway.log_rows()[-1]["id"]


def test_a_local_answer_drawn_in_two_calls_is_rated_by_its_id(gateway):
    # two examples: the first answer is checked alone, more samples come when it does not settle
    # the request; the one log row of that attempt must carry the id the client got
    body = {"model": "local", "max_tokens": 48,
            "messages": [{"role": "user", "content": "Write a Python function add(a, b).\n>>> add(2, 3)\n5\n"
                                                     ">>> add(1, 1)\n2"}]}
    r = gateway.post("/v1/chat/completions", body, headers={"x-routemate-verify": "on"})
    assert r.status == 200, r.body
    answer_id = r.json()["id"]
    fb = gateway.post("/v1/feedback", {"id": answer_id, "rating": "bad"})
    assert fb.status == 200, fb.body
    assert fb.json()["model"] == "local" and fb.json()["request_id"] == gateway.log_rows()[-1]["id"]
