"""What `routemate stats --json` and the dashboard show, from a real SQLite log."""

from __future__ import annotations

import time

from routemate import labels
from routemate.overview import overview
from routemate.store import Record


def test_breakdowns_from_the_log(log_store):
    store = log_store()
    now = time.time()
    for day in range(3):
        ts = now - (2 - day) * 86400
        first = store.log(Record(entry="http", status="ok", model="local", tier="local", ts=ts, saved_usd=0.01,
                                 meta={"verify": {"ok": day != 1}}))
        if day == 1:
            store.log(Record(entry="http", status="ok", model="gpt4o", tier="frontier", ts=ts + 1, cost_usd=0.01,
                             parent_id=first, attempt=2, meta={"verify": {"ok": True}},
                             reason="verify: local's answer failed (2/3 examples from the prompt fail); "
                                    "escalated to gpt4o"))
    store.log(Record(entry="cli", status="ok", model="gpt4o", tier="frontier", ts=now, cost_usd=0.02,
                     meta={"attempts": [{"model": "llama", "error": "connection refused"}]}))
    labels.add_feedback(store, 1, "bad", "wrong answer")
    labels.add_feedback(store, 5, "good")
    out = overview(store, days=7, now=now + 1)
    assert out["requests"] == 5 and out["window"]["requests"] == 5 and out["window"]["bucket_s"] == 86400
    # every day from the first request to now, even a day with none
    days = [b["t"] for b in out["timeline"]]
    assert days == sorted(days) and all(b - a == 86400 for a, b in zip(days, days[1:])) and len(days) >= 3
    assert sum(b["requests"] for b in out["timeline"]) == 5
    assert abs(sum(b["frontier_usd"] for b in out["timeline"]) - out["frontier_usd"]) < 1e-9
    assert out["escalations"]["count"] == 1 and out["escalations"]["share"] == 0.2
    assert {r["reason"]: r["count"] for r in out["escalations"]["reasons"]} == {
        "N/N examples from the prompt fail": 1, "fallback: llama failed": 1}
    assert out["verification"] == [
        {"model": "local", "checked": 3, "passed": 2, "failed": 1, "pass_rate": 2 / 3},
        {"model": "gpt4o", "checked": 1, "passed": 1, "failed": 0, "pass_rate": 1.0}]
    fb = out["feedback"]
    assert (fb["good"], fb["bad"]) == (1, 1)
    assert {m["model"]: (m["good"], m["bad"]) for m in fb["by_model"]} == {"local": (0, 1), "gpt4o": (1, 0)}
    assert fb["recent"][-1]["note"] == "wrong answer"
    assert out["router"] == {"in_use": 0, "labels": 1, "versions": []}     # the local answer's bad rating


def test_an_empty_log_has_empty_breakdowns(log_store):
    out = overview(log_store())
    assert out["requests"] == 0 and out["timeline"] == [] and out["escalations"]["share"] == 0.0
    assert out["verification"] == [] and out["feedback"]["by_model"] == []
