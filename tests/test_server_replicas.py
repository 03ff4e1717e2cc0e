"""Several gateway replicas on one PostgreSQL log (a real server): one row per request, shared budgets."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import psycopg
import pytest

from conftest import hybrid_config
from gateway_fixtures import RunningGateway

TEAM = "sk-team-replicas-0123456789"
KEYS = f"""
[keys.team]
key = "{TEAM}"
budget_usd = 0.000001
period = "month"

[keys.app]
key = "sk-app-replicas-0123456789"
"""

APP = {"authorization": "Bearer sk-app-replicas-0123456789"}


@pytest.fixture
def replicas(hybrid, write_config, env, pg_url, monkeypatch):
    monkeypatch.setenv("ROUTEMATE_LOG_URL", pg_url)
    env["ROUTEMATE_LOG_URL"] = pg_url
    write_config(hybrid_config(hybrid) + KEYS)
    gws = [RunningGateway(env).start(), RunningGateway(env).start()]
    yield gws
    for gw in gws:
        gw.stop()


def rows(pg_url):
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT prompt, model, status, key_name FROM requests ORDER BY id").fetchall()


def test_every_request_through_either_replica_is_logged_once(replicas, pg_url, env):
    prompts = [f"request number {i}: say hi" for i in range(24)]

    statuses = []

    def send(i):
        gw = replicas[i % 2]
        body = {"model": "gpt4o", "messages": [{"role": "user", "content": prompts[i]}], "stream": i % 3 == 0}
        statuses.append(gw.post("/v1/chat/completions", body, headers=APP).status)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(prompts)
    for gw in replicas:
        gw.stop()                 # writes what each replica still had queued
    logged = [r[0] for r in rows(pg_url)]
    assert sorted(logged) == sorted(f"user: {p}" for p in prompts)
    # the CLI reads the same log
    out = subprocess.run([sys.executable, "-m", "routemate", "stats", "--json"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["requests"] == len(prompts)
    logs = subprocess.run([sys.executable, "-m", "routemate", "logs", "-n", "3", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert [r["model"] for r in json.loads(logs.stdout)] == ["gpt4o"] * 3


def test_a_budget_spent_on_one_replica_is_refused_on_the_other(replicas, pg_url):
    a, b = replicas
    body = {"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {TEAM}"}
    assert a.post("/v1/chat/completions", body, headers=auth).status == 200
    a.rm.store.flush()              # the group commit lands (at most ~20 ms later on its own)
    refused = b.post("/v1/chat/completions", body, headers=auth)
    assert refused.status == 429 and refused.json()["error"]["code"] == "insufficient_quota"
    assert a.post("/v1/chat/completions", body, headers=auth).status == 429
    b.rm.store.flush()
    assert [r[3] for r in rows(pg_url)] == ["team"]
    assert all(TEAM not in str(r) for r in rows(pg_url))     # refusals are not answers: one row, one spend
