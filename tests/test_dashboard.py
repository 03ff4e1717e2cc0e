"""The dashboard in a real headless Chromium: charts drawn from /v1/stats, no console errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from gateway_fixtures import RunningGateway

from routemate import labels
from routemate.learning import retrain
from routemate.routing import extract
from routemate.routing.learned import LearnedRouter
from routemate.routing.online import example
from routemate.store import Record

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000"]


def chromium(tmp_path, url, *extra):
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True,
                          text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
            or "Refused to" in line]


def traffic(gw):
    """A few days of a team's use: routed answers, escalations, checks, feedback, router versions."""
    for i in range(6):
        r = gw.post("/v1/chat/completions", {"model": "gpt4o" if i % 3 else "local", "max_tokens": 8,
                                             "messages": [{"role": "user", "content": f"Say hello {i}"}]})
        assert r.status == 200
        if i % 2:
            assert gw.post("/v1/feedback", {"id": r.json()["id"], "rating": "good" if i % 3 else "bad",
                                            "note": "too short" if i == 3 else None}).status == 200
    store = gw.rm.store
    now = time.time()
    base = LearnedRouter()
    for day in range(5):
        for k in range(8):
            ts = now - (4 - day) * 86400 - k * 600
            ok = (k + day) % 3 != 0
            first = store.store.log(Record(entry="http", status="ok", model="local", tier="local", ts=ts,
                                           prompt_tokens=200, completion_tokens=150, saved_usd=0.002,
                                           meta={"verify": {"ok": ok, "summary": "examples"}}))
            if not ok:
                store.store.log(Record(entry="http", status="ok", model="gpt4o", tier="frontier", ts=ts + 5,
                                       parent_id=first, attempt=2, cost_usd=0.002, prompt_tokens=200,
                                       completion_tokens=150, meta={"verify": {"ok": True}},
                                       reason=f"verify: local's answer failed ({1 + k % 2}/3 examples from the "
                                              f"prompt fail); escalated to gpt4o"))
    for k in range(80):
        hard = k % 5 in (1, 3)       # this local model trips on list jobs, which the base router calls easy
        f = extract([{"role": "user", "content": f"Write code for the {'list' if hard else 'regex'} job {k}."}])
        labels.add_label(store, None, "local", "local", 0.0 if hard else 1.0, "verify", example(base, f).to_json())
    assert retrain(gw.rm.settings, store, base)["promoted"]


@needs_chromium
def test_dashboard_draws_every_chart_without_console_errors(hybrid, env, tmp_path):
    gw = RunningGateway(env).start()
    try:
        traffic(gw)
        stats = gw.request("GET", "/v1/stats").json()
        assert stats["requests"] >= 46 and stats["escalations"]["count"] >= 10 and stats["router"]["in_use"] == 1
        page = f"http://127.0.0.1:{gw.port}/dashboard"
        dom = chromium(tmp_path, page, "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert 'data-ready="1"' in dom.stdout, dom.stderr[-2000:]
        assert console_errors(dom.stderr) == []
        for chart in ("requests", "spend", "escalations", "verification", "feedback", "versions"):
            start = dom.stdout.index(f'id="{chart}"')
            assert "<svg" in dom.stdout[start:start + 400], f"{chart} drew no chart"
        assert "learned v1" in dom.stdout and "examples from the prompt fail" in dom.stdout
        shot = tmp_path / "dashboard.png"
        r = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1400,1100")
        assert r.returncode == 0 and shot.stat().st_size > 20_000, r.stderr[-2000:]
        assert console_errors(r.stderr) == []
        import matplotlib.image as mpimg

        pixels = (mpimg.imread(str(shot))[:, :, :3] * 255).round().astype(int).reshape(-1, 3).tolist()
        seen = {tuple(p) for p in pixels[::7]}
        for color in ((0x3b, 0x6f, 0xd4), (0x2e, 0x8b, 0x57), (0xe0, 0x8a, 0x2c)):   # bars, lines, reasons
            assert any(sum(abs(a - b) for a, b in zip(color, p)) < 12 for p in seen), f"no {color} on the page"
        if os.environ.get("ROUTEMATE_DASHBOARD_SHOT"):
            shutil.copy(shot, os.environ["ROUTEMATE_DASHBOARD_SHOT"])
    finally:
        gw.stop()


def test_stats_json_is_the_same_object_over_http_and_the_cli(hybrid, env):
    import sys

    gw = RunningGateway(env).start()
    try:
        assert gw.post("/v1/chat/completions", {"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]}
                       ).status == 200
        over_http = gw.request("GET", "/v1/stats?days=7").json()
        cli = subprocess.run([sys.executable, "-m", "routemate", "stats", "--json", "--days", "7"],
                             capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        from_cli = json.loads(cli.stdout)
        for body in (over_http, from_cli):
            body.pop("window")
        assert from_cli == over_http and over_http["requests"] == 1
        bad = gw.request("GET", "/v1/stats?days=abc")
        assert bad.status == 400 and bad.json()["error"]["param"] == "days"
        page = gw.request("GET", "/dashboard")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert b"http://" not in page.body and b"https://" not in page.body    # nothing from another origin
    finally:
        gw.stop()


def test_the_data_needs_a_key_when_keys_are_set(hybrid, env):
    gw = RunningGateway({**env, "ROUTEMATE_API_KEYS": "k-team"}).start()
    try:
        assert gw.request("GET", "/v1/stats").status == 401
        assert gw.request("GET", "/v1/stats", headers={"authorization": "Bearer k-team"}).status == 200
        assert gw.request("GET", "/dashboard").status == 200     # the page holds no data; it asks for the key
    finally:
        gw.stop()
