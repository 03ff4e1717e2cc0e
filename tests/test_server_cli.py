"""``routemate serve`` as a user runs it, and the overhead benchmark as a smoke run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request

from conftest import REPO, hybrid_config, routemate_without


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_prints_where_it_listens_and_stops_cleanly(hybrid, env):
    port = _free_port()
    with subprocess.Popen([sys.executable, "-m", "routemate", "serve", "--port", str(port), "--no-warmup"],
                          env=env, stderr=subprocess.PIPE, text=True) as proc:
        try:
            banner = proc.stderr.readline()
            assert f"http://127.0.0.1:{port}/v1" in banner and "gpt4o (frontier)" in banner and "keys: off" in banner
            assert banner.rstrip().endswith("· sandbox: full"), banner
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
                assert json.loads(r.read())["data"][0]["id"] == "auto"
        finally:
            proc.terminate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped
        assert proc.wait(15) in (0, -15)
        assert "Traceback" not in proc.stderr.read()


def _start_lines(argv, env):
    """What ``routemate serve`` prints up to and including its banner."""
    lines = []
    with subprocess.Popen([*argv, "serve", "--port", str(_free_port()), "--no-warmup"], env=env,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            while not lines or "routemate gateway on" not in lines[-1]:
                line = proc.stderr.readline()
                assert line, "serve exited before its banner: " + "".join(lines)
                lines.append(line)
        finally:
            proc.terminate()
            proc.wait(15)
    return lines


def test_serve_names_a_missing_sandbox_layer_and_how_to_accept_the_weaker_sandbox(hybrid, env, write_config):
    warning, banner = _start_lines(routemate_without("seccomp"), env)
    assert warning.startswith("routemate: warning: the sandbox lacks seccomp (seccomp: turned off); "
                              "in place: ")
    assert warning.rstrip().endswith("code from gateway clients: not run "
                                     "(set [verify] allow_weak_sandbox = true to accept the weaker sandbox)")
    assert banner.rstrip().endswith("· sandbox: lacks seccomp")
    write_config(hybrid_config(hybrid) + "\n[verify]\nallow_weak_sandbox = true\n")
    warning, banner = _start_lines(routemate_without("seccomp"), env)
    assert warning.rstrip().endswith("code from gateway clients: runs in the weaker sandbox "
                                     "([verify] allow_weak_sandbox = true)")


def test_serve_on_a_busy_port_fails_with_one_line(hybrid, env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "routemate", "serve", "--port", str(port)], env=env,
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"routemate: error: port {port} on 127.0.0.1 is already in use "
                                  "(pass --port, or stop the other server)")


def test_serve_warns_when_exposed_without_keys(hybrid, env):
    with subprocess.Popen([sys.executable, "-m", "routemate", "serve", "--host", "0.0.0.0", "--port",
                           str(_free_port()), "--no-warmup"], env=env, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert "without API keys" in proc.stderr.readline()
        finally:
            proc.terminate()
            proc.wait(15)


def test_serve_with_an_unreachable_postgres_log_fails_with_one_line_and_no_password(env, tmp_path):
    url = f"postgresql://bob:hunter2@/routemate?host={tmp_path}&port=1"
    out = subprocess.run([sys.executable, "-m", "routemate", "serve", "--port", str(_free_port()), "--no-warmup"],
                         env={**env, "ROUTEMATE_LOG_URL": url}, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and "hunter2" not in line
    assert line.startswith("routemate: error: log.url: cannot open the PostgreSQL log at postgresql://bob:***@")
    assert "ROUTEMATE_LOG_URL" in line


def test_overhead_benchmark_runs_and_ends_with_one_json_object(env):
    out = subprocess.run([sys.executable, str(REPO / "bench" / "gateway_overhead.py"), "--json", "--duration", "0.3",
                          "--no-litellm"], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["litellm"] is None
    assert set(result["routemate"]) >= {"added_p50_ms", "added_p99_ms", "rps"}
    assert result["routemate"]["errors"] == 0 and result["routemate"]["rps"] > 0
    assert set(result["levels"]["routemate"]) == {"1", "16", "64"}
    if result["routemate_postgres"] is not None:      # measured where PostgreSQL's binaries are installed
        assert result["routemate_postgres"]["errors"] == 0 and result["routemate_postgres"]["rps"] > 0
        assert result["routemate_pg_keys"]["errors"] == 0
        assert result["ratios"]["postgres_added_p50_over_sqlite"] > 0


def test_access_log_goes_to_stderr_and_stdout_stays_clean(hybrid, env):
    port = _free_port()
    with subprocess.Popen([sys.executable, "-m", "routemate", "serve", "--port", str(port), "--no-warmup",
                           "--access-log"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            while "routemate gateway on" not in proc.stderr.readline():     # up once the banner is out
                pass
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
                assert r.status == 200
        finally:
            proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert out == ""
    assert '"GET /v1/models HTTP/1.1" 200' in err
