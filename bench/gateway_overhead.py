"""What a hop through the routemate gateway costs, against a direct call and a LiteLLM proxy.

All in one run on this machine: a fast fake upstream (bench/fast_upstream.py, its own process),
then the same non-streaming chat request at concurrency 1, 16 and 64 (and a streamed one with
``include_usage`` at 1 and 16) sent

  direct              load generator -> upstream
  routemate           load generator -> `routemate serve` (own process, SQLite request log) -> upstream
  routemate-postgres  the same with the request log in PostgreSQL (a temp server started for the run)
  routemate-pg-keys   the same, and the key is a [keys] entry with a budget and a rate limit (both
                      checked against the shared log on every request)
  litellm             load generator -> `litellm --config ...` proxy (own process)     -> upstream

``added_*`` is the gateway's p50/p99 minus the direct p50/p99 at concurrency 1 (the per-request
cost of the hop); ``rps`` is the best throughput over the levels. LiteLLM runs only when its
``litellm`` command is found (``--litellm-bin`` or on PATH); install it in a separate venv:
``python -m venv /opt/litellm && /opt/litellm/bin/pip install 'litellm[proxy]'``.

    python bench/gateway_overhead.py [--json] [--duration 4] [--stores sqlite,postgres] [--litellm-bin PATH]

The PostgreSQL targets run when ``initdb``/``pg_ctl`` are found (as the ``postgres`` user under root)
and psycopg is installed (``pip install 'routemate[postgres]'``). The last line with --json is one
JSON object: ``{"routemate": {"added_p50_ms", "added_p99_ms", "rps"}, "routemate_postgres": {...},
"litellm": {...} | null, "ratios": {"postgres_added_p50_over_sqlite", ...}, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import loadgen  # noqa: E402

HERE = Path(__file__).resolve().parent
BODY = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hello"}],
                   "max_tokens": 16}).encode()
STREAM_BODY = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hello"}],
                          "max_tokens": 16, "stream": True, "stream_options": {"include_usage": True}}).encode()
LEVELS = (1, 16, 64)
STREAM_LEVELS = (1, 16)
# Both gateways check a key, as any deployment beyond localhost should.
KEY = "sk-bench-5f0c2a9e7d8b4c1fa3e6d9b2c8f1e7a4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def start_upstream() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, str(HERE / "fast_upstream.py")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError("fast upstream did not start")
    return proc, int(line.split()[1])


def start_routemate(upstream: int, tmp: Path, log_url: str | None = None,
                    limits: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    url = f"http://127.0.0.1:{upstream}/v1"
    config = (f'[models.fast-local]\nbackend = "openai"\nbase_url = "{url}"\ntier = "local"\nmax_retries = 0\n\n'
              f'[models.fast-frontier]\nbackend = "openai"\nbase_url = "{url}"\ntier = "frontier"\n'
              f"price_in = 2.5\nprice_out = 10.0\nmax_retries = 0\n")
    tmp.mkdir(parents=True, exist_ok=True)
    if limits:     # generous limits: every request is checked, none refused
        config += f'\n[keys.bench]\nkey = "{KEY}"\nbudget_usd = 1000000\nperiod = "day"\nrpm = 10000000\n'
    (tmp / "config.toml").write_text(config)
    env = {**os.environ, "ROUTEMATE_HOME": str(tmp / "home"), "ROUTEMATE_CONFIG": str(tmp / "config.toml")}
    if not limits:
        env["ROUTEMATE_API_KEYS"] = KEY
    if log_url:
        env["ROUTEMATE_LOG_URL"] = log_url
    proc = subprocess.Popen([sys.executable, "-m", "routemate", "serve", "--port", str(port), "--no-warmup"],
                            env=env, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc)
    return proc, port


def start_litellm(binary: str, upstream: int, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / "litellm.yaml").write_text(json.dumps({"model_list": [{"model_name": "auto", "litellm_params": {
        "model": "openai/bench", "api_base": f"http://127.0.0.1:{upstream}/v1", "api_key": "bench"}}],
        "general_settings": {"master_key": KEY}}))
    # the local cost map keeps LiteLLM from fetching one over the network at start-up
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    proc = subprocess.Popen([binary, "--config", str(tmp / "litellm.yaml"), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180, proc)
    return proc, port


def start_postgres() -> Any:
    """A temp PostgreSQL server (the tests' helper), or None when its binaries or psycopg are missing."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    try:
        import psycopg  # noqa: F401  (the stores need it)
        from postgres_server import PostgresServer, server_binaries
    except ImportError:
        return None
    bindir = server_binaries()
    if bindir is None:
        return None
    server = PostgresServer(bindir)
    server.fsync = True         # a real server's durability, unlike the tests' fsync=off
    return server.start()


def cpu_seconds(pid: int | None) -> float | None:
    """User+system CPU time of a process and its children (Linux /proc), or None elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


async def measure(port: int, path: str, duration: float, pid: int | None = None, *,
                  body: bytes = BODY, levels: tuple[int, ...] = LEVELS) -> dict[int, loadgen.Result]:
    request = loadgen.build_request("127.0.0.1", port, path, body, {"authorization": f"Bearer {KEY}"})
    await loadgen.run("127.0.0.1", port, request, 4, 1.0, warmup=0.2)      # warm up connections and caches
    out = {}
    for c in levels:
        before = cpu_seconds(pid)
        result = await loadgen.run("127.0.0.1", port, request, c, duration, warmup=0.0)
        after = cpu_seconds(pid)
        if before is not None and after is not None and result.latencies:
            result.cpu_ms = (after - before) * 1000 / (len(result.latencies) + result.errors)
        out[c] = result
    return out


def added(target: dict[int, loadgen.Result], direct: dict[int, loadgen.Result]) -> dict[str, float]:
    return {"added_p50_ms": round(target[1].pct(0.5) - direct[1].pct(0.5), 3),
            "added_p99_ms": round(target[1].pct(0.99) - direct[1].pct(0.99), 3),
            "rps": round(max(r.rps for r in target.values()), 1),
            "cpu_ms_per_request": round(min(r.cpu_ms for r in target.values()), 3) if all(
                r.cpu_ms is not None for r in target.values()) else None,
            "errors": sum(r.errors for r in target.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway overhead: direct vs routemate vs LiteLLM, one run.")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds measured per concurrency level")
    parser.add_argument("--litellm-bin", default=os.environ.get("LITELLM_BIN") or shutil.which("litellm"),
                        help="the litellm proxy command (default: $LITELLM_BIN or litellm on PATH)")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM even if it is installed")
    parser.add_argument("--stores", default="sqlite,postgres",
                        help="request-log stores to measure routemate with (sqlite, postgres)")
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except (ImportError, AttributeError):
        runner = asyncio.run

    procs: list[subprocess.Popen[Any]] = []
    servers: list[Any] = []
    results: dict[str, dict[int, loadgen.Result]] = {}
    streams: dict[str, dict[int, loadgen.Result]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="rm-bench-") as tmpdir:
            tmp = Path(tmpdir)
            up, up_port = start_upstream()
            procs.append(up)
            path = "/v1/chat/completions"
            results["direct"] = runner(measure(up_port, path, args.duration))
            streams["direct"] = runner(measure(up_port, path, args.duration, body=STREAM_BODY, levels=STREAM_LEVELS))
            targets: list[tuple[str, str | None, bool]] = []
            stores = args.stores.split(",")
            if "sqlite" in stores:
                targets.append(("routemate", None, False))
            if "postgres" in stores:
                pg = start_postgres()
                if pg is None:
                    print("PostgreSQL targets skipped: no initdb/pg_ctl or no psycopg", file=sys.stderr)
                else:
                    servers.append(pg)
                    targets += [("routemate-postgres", pg.url, False), ("routemate-pg-keys", pg.url, True)]
            for n, (name, log_url, limits) in enumerate(targets):
                rm, rm_port = start_routemate(up_port, tmp / str(n), log_url, limits)
                procs.append(rm)
                results[name] = runner(measure(rm_port, path, args.duration, rm.pid))
                streams[name] = runner(measure(rm_port, path, args.duration, rm.pid, body=STREAM_BODY,
                                               levels=STREAM_LEVELS))
                rm.terminate()
                rm.wait(15)
            if args.litellm_bin and not args.no_litellm:
                ll, ll_port = start_litellm(args.litellm_bin, up_port, tmp)
                procs.append(ll)
                results["litellm"] = runner(measure(ll_port, path, args.duration, ll.pid))
                streams["litellm"] = runner(measure(ll_port, path, args.duration, ll.pid, body=STREAM_BODY,
                                                    levels=STREAM_LEVELS))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        for server in servers:
            server.stop()

    print(f"{'target':<17} {'conc':>4} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'cpu ms/req':>10} {'errors':>6}")
    for kind, table in (("", results), (" stream", streams)):
        for name, levels in table.items():
            for c, r in levels.items():
                cpu = f"{r.cpu_ms:.3f}" if r.cpu_ms is not None else "-"
                label = name + kind
                print(f"{label:<17} {c:>4} {r.pct(0.5):>9.3f} {r.pct(0.99):>9.3f} {r.rps:>9.1f} {cpu:>10} {r.errors:>6}")
    direct = results["direct"]
    out: dict[str, Any] = {"routemate": added(results["routemate"], direct) if "routemate" in results else None,
                           "routemate_postgres": added(results["routemate-postgres"], direct)
                           if "routemate-postgres" in results else None,
                           "routemate_pg_keys": added(results["routemate-pg-keys"], direct)
                           if "routemate-pg-keys" in results else None,
                           "litellm": added(results["litellm"], direct) if "litellm" in results else None,
                           "direct": {"p50_ms": round(direct[1].pct(0.5), 3), "p99_ms": round(direct[1].pct(0.99), 3),
                                      "rps": round(max(r.rps for r in direct.values()), 1)},
                           "levels": {name: {str(c): r.summary() for c, r in levels.items()}
                                      for name, levels in results.items()},
                           "stream": {name: added(levels, streams["direct"]) for name, levels in streams.items()
                                      if name != "direct"},
                           "stream_levels": {name: {str(c): r.summary() for c, r in levels.items()}
                                             for name, levels in streams.items()},
                           "cpus": os.cpu_count(), "duration_s": args.duration}
    if out["routemate"] and out["routemate_postgres"]:
        sq, pg_ = out["routemate"], out["routemate_postgres"]
        out.setdefault("ratios", {})["postgres_added_p50_over_sqlite"] = round(
            pg_["added_p50_ms"] / max(sq["added_p50_ms"], 1e-3), 2)
        print(f"log in PostgreSQL: adds {pg_['added_p50_ms']:.2f} ms p50 vs {sq['added_p50_ms']:.2f} ms with SQLite "
              f"({out['ratios']['postgres_added_p50_over_sqlite']}x); {pg_['rps']:.0f} vs {sq['rps']:.0f} req/s; "
              f"with key budget + rate limit: {out['routemate_pg_keys']['added_p50_ms']:.2f} ms, "
              f"{out['routemate_pg_keys']['rps']:.0f} req/s")
    if out["litellm"] and out["routemate"]:
        rm_, ll_ = out["routemate"], out["litellm"]
        out.setdefault("ratios", {}).update({
            "litellm_added_p50_over_routemate": round(ll_["added_p50_ms"] / max(rm_["added_p50_ms"], 1e-3), 1),
            "routemate_rps_over_litellm": round(rm_["rps"] / max(ll_["rps"], 1e-3), 1)})
        print(f"routemate adds {rm_['added_p50_ms']:.2f} ms p50 vs LiteLLM's {ll_['added_p50_ms']:.2f} ms "
              f"({out['ratios']['litellm_added_p50_over_routemate']}x less); "
              f"{rm_['rps']:.0f} vs {ll_['rps']:.0f} req/s ({out['ratios']['routemate_rps_over_litellm']}x)")
    elif out["routemate"]:
        print(f"routemate adds {out['routemate']['added_p50_ms']:.2f} ms p50; {out['routemate']['rps']:.0f} req/s "
              "(LiteLLM not installed: pass --litellm-bin to compare)")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
