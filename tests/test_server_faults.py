"""Faults between the gateway and its upstreams: retries, fallback, circuit breaking, cut streams,
client disconnects. The frontier is the fake upstream; the local model is the real embedded engine."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway_fixtures import RunningGateway

HELLO = [{"role": "user", "content": "Say hello"}]
SECRET = "sk-test-upstream-secret"


def config(upstream, *, timeout=10, retries=2, fallback=True, frontier_only=False, server=""):
    local = "" if frontier_only else '[models.local]\nbackend = "embedded"\ntier = "local"\n\n'
    return (f'{local}[models.gpt4o]\nbackend = "openai"\nbase_url = "{upstream.url}"\nmodel = "gpt-4o"\n'
            f'api_key_env = "FAKE_OPENAI_KEY"\ntier = "frontier"\nprice_in = 2.5\nprice_out = 10.0\n'
            f"max_retries = {retries}\ntimeout = {timeout}\n\n[routing]\nfallback = {str(fallback).lower()}\n"
            f"{server}")


@pytest.fixture
def start(write_config, upstream, monkeypatch, env):
    monkeypatch.setenv("FAKE_OPENAI_KEY", SECRET)
    env["FAKE_OPENAI_KEY"] = SECRET
    running = []

    def start(**kw):
        write_config(config(upstream, **kw))
        gw = RunningGateway(env).start()
        running.append(gw)
        return gw

    yield start
    for gw in running:
        gw.stop()


def ask(gw, stream=False, model="gpt4o", **extra):
    return gw.post("/v1/chat/completions", {"model": model, "messages": HELLO, "stream": stream, "max_tokens": 6,
                                            **extra})


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_upstream_500_is_retried_and_counted(start, upstream):
    gw = start()
    upstream.script.extend(["500", "429"])
    r = ask(gw)
    assert r.status == 200 and r.headers["x-routemate-model"] == "gpt4o"
    assert len(upstream.requests) == 3
    assert 'routemate_upstream_retries_total{model="gpt4o"} 2' in gw.request("GET", "/metrics").body.decode()


def test_persistent_500s_fall_back_to_the_local_model(start, upstream):
    gw = start(retries=1)
    upstream.default = "500"
    r = ask(gw)
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"
    assert "gpt4o failed" in r.headers["x-routemate-reason"]
    failed, row = gw.log_rows()[-2:]
    assert row["model"] == "local" and row["meta"]["attempts"][0]["model"] == "gpt4o"
    # the model whose retries ran out before the first byte has an error row of its own
    assert (failed["model"], failed["status"], failed["meta"]["fell_back_to"]) == ("gpt4o", "error", "local")
    assert "500" in failed["error"] and SECRET not in failed["error"]
    metrics = gw.request("GET", "/metrics").body.decode()
    assert 'routemate_fallbacks_total{from_model="gpt4o",to_model="local"} 1' in metrics
    errors = [line for line in metrics.splitlines() if line.startswith("routemate_requests_total{")
              and 'model="gpt4o"' in line and 'status="error"' in line]
    assert len(errors) == 1 and errors[0].endswith(" 1"), errors


@pytest.mark.parametrize("fault", ["timeout", "reset"])
def test_timeouts_and_resets_fall_back(start, upstream, fault):
    gw = start(timeout=1, retries=0)
    upstream.hang = 3
    upstream.script.append(fault)
    r = ask(gw, stream=True)
    assert r.status == 200 and r.headers["x-routemate-model"] == "local" and r.events()[-1] == "[DONE]"
    assert len(upstream.requests) == 1
    attempt = gw.log_rows()[-1]["meta"]["attempts"][0]
    assert attempt["model"] == "gpt4o" and "cannot reach" in attempt["error"]


def test_a_stream_cut_before_any_content_falls_back_transparently(start, upstream):
    gw = start(retries=0)
    upstream.script.append("cut-early")             # role chunk, then the connection drops
    r = ask(gw, stream=True, stream_options={"include_usage": True})
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"
    events = r.events()
    assert events[-1] == "[DONE]" and not any("error" in e for e in events[:-1])
    assert {e["model"] for e in events[:-1]} == {"local"}
    assert [row["status"] for row in gw.log_rows()] == ["error", "ok"]


@pytest.mark.parametrize("fault", ["cut", "stream-error"])
def test_a_stream_broken_after_content_ends_with_an_in_band_error(start, upstream, fault):
    gw = start(retries=0)
    upstream.script.append(fault)
    r = ask(gw, stream=True)
    assert r.status == 200
    events = r.events()
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_error" and events[-1]["error"]["message"]
    assert r.text()                                 # the content sent before the failure
    row = gw.log_rows()[-1]
    assert row["status"] == "error" and row["model"] == "gpt4o"
    assert 'routemate_stream_errors_total{model="gpt4o"} 1' in gw.request("GET", "/metrics").body.decode()


def test_a_stalled_stream_times_out_into_an_in_band_error(start, upstream):
    gw = start(timeout=1, retries=0)
    upstream.hang = 3
    upstream.script.append("stall")
    r = ask(gw, stream=True)
    assert r.events()[-1]["error"]["message"]


def test_a_non_streaming_request_cut_mid_answer_is_answered_by_the_next_model(start, upstream):
    gw = start(retries=0)
    upstream.script.append("cut")
    r = ask(gw)
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"
    assert r.json()["choices"][0]["message"]["content"]
    assert [row["status"] for row in gw.log_rows()] == ["error", "ok"]


def test_when_no_model_is_left_the_client_gets_a_clean_error(start, upstream):
    gw = start(retries=0, frontier_only=True, server="\n[server]\ncircuit_failures = 2\n")
    upstream.default = "503"
    for stream in (False, True):
        r = ask(gw, stream=stream)
        assert r.status == 503 and r.headers["content-type"] == "application/json"
        err = r.json()["error"]
        assert err["code"] == "no_model_available" and "503" in err["message"]
    third = ask(gw, model="auto")
    assert third.status == 503 and third.headers["retry-after"]      # and the server keeps serving
    # the circuit opened along the way, so the last request was refused at routing: logged all the same
    refused = gw.log_rows()[-1]
    assert refused["status"] == "error" and refused["meta"]["refused"] == "no_model_available"
    assert refused["prompt"] is None and "circuit open" in refused["error"]


def test_fallback_off_surfaces_the_upstream_error(start, upstream):
    gw = start(retries=0, fallback=False)
    upstream.script.append("500")
    r = ask(gw)
    assert r.status == 502 and "500" in r.json()["error"]["message"]


def test_circuit_opens_after_repeated_failures_and_skips_the_model(start, upstream):
    gw = start(retries=0, server="\n[server]\ncircuit_failures = 2\ncircuit_cooldown = 60\n")
    upstream.default = "500"
    for _ in range(2):
        assert ask(gw).headers["x-routemate-model"] == "local"
    calls = len(upstream.requests)
    r = ask(gw)
    assert r.status == 200 and r.headers["x-routemate-model"] == "local"
    assert "circuit open" in r.headers["x-routemate-reason"]
    assert len(upstream.requests) == calls          # not even tried
    metrics = gw.request("GET", "/metrics").body.decode()
    assert 'routemate_circuit_open{model="gpt4o"} 1' in metrics
    assert gw.request("GET", "/readyz").json()["models"]["gpt4o"]["ok"] is False


def test_after_the_cooldown_one_probe_closes_the_circuit(start, upstream):
    gw = start(retries=0, server="\n[server]\ncircuit_failures = 1\ncircuit_cooldown = 60\n")
    upstream.script.append("500")
    assert ask(gw).headers["x-routemate-model"] == "local"
    assert ask(gw).headers["x-routemate-model"] == "local"     # open: skipped
    assert len(upstream.requests) == 1
    breaker = gw.rm.breakers["gpt4o"]
    breaker.clock = lambda: time.monotonic() + 61               # the cooldown is over
    assert ask(gw).headers["x-routemate-model"] == "gpt4o"     # the probe succeeds...
    assert breaker.state == "closed"
    assert ask(gw).headers["x-routemate-model"] == "gpt4o"     # ...and closes the circuit


def _open_stream(gw, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def test_a_client_disconnect_cancels_the_upstream_stream(start, upstream):
    gw = start(retries=0)
    upstream.hang = 3
    upstream.script.append("stall")
    sock = _open_stream(gw, b'{"model": "gpt4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}')
    received = b""
    while b'"content":"Hello ' not in received:
        received += sock.recv(65536)
    sock.close()
    assert wait_for(lambda: [r["status"] for r in gw.log_rows()] == ["cancelled"], timeout=2.0)
    assert wait_for(lambda: upstream.disconnects == 1, timeout=5)     # the upstream call was dropped too
    text = gw.request("GET", "/metrics").body.decode()
    assert 'status="cancelled"' in text and "routemate_requests_in_flight 0" in text


def test_a_client_disconnect_cancels_a_non_streaming_request(start, upstream):
    gw = start(retries=0)
    upstream.hang = 3
    upstream.script.append("timeout")
    sock = _open_stream(gw, b'{"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]}')
    assert wait_for(lambda: len(upstream.requests) == 1)
    sock.close()
    assert wait_for(lambda: [r["status"] for r in gw.log_rows()] == ["cancelled"], timeout=2.0)
    assert wait_for(lambda: upstream.disconnects == 1, timeout=5)


def test_no_request_is_lost_under_concurrent_faults(start, upstream):
    gw = start(retries=1)
    faults = ["500", "reset", "cut", "cut-early", "503", "429", "stream-error", "ok"]
    upstream.script.extend(faults)

    def one(i):
        return ask(gw, stream=False)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(one, range(len(faults))))
    assert [r.status for r in replies] == [200] * len(faults)
    assert all(r.json()["choices"][0]["message"]["content"] for r in replies)
    assert gw.request("GET", "/healthz").status == 200
