"""Cold start to first token of `routemate ask`, and streaming tokens/s against raw xllamacpp.

    python bench/ask_latency.py [--runs 5] [--tokens 128] [--json]

1. Cold start: spawns a fresh `routemate ask` process (weights already fetched) and times spawn →
   first byte of the answer on stdout. Median and worst of --runs. Goal: ≤ 2 s.
2. Throughput: the same prompt, temperature 0, fixed length, streamed (a) through routemate's
   pipeline (routing, backend, request log) and (b) straight from an xllamacpp Server with the same
   settings, interleaved a/b/a/b so machine noise hits both alike. Decode tokens/s = tokens after
   the first / time after the first token. Goal: routemate ≥ 95% of the raw engine.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import aclosing
from pathlib import Path

PROMPT = "Write a Python function that checks whether a number is prime, with a docstring."


def cold_start(runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "routemate", "ask", PROMPT, "--max-tokens", "8"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        first = proc.stdout.read(1)
        elapsed = time.perf_counter() - start
        proc.communicate(timeout=120)
        if not first or proc.returncode != 0:
            raise SystemExit(f"routemate ask failed (exit {proc.returncode})")
        times.append(elapsed)
    return times


def raw_engine(path: Path, threads: int, n_ctx: int):
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.n_ctx = n_ctx * 2
    p.n_parallel = 2
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.verbosity = -1
    p.api_keys = ["bench-only-key"]
    return xllamacpp.Server(p)


def raw_stream(server, tokens: int) -> tuple[int, float]:
    """Stream from the engine directly; returns (tokens after the first, seconds after the first)."""
    stamps: list[float] = []

    def on_chunk(event: dict) -> bool:
        for choice in event.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                stamps.append(time.perf_counter())
        return False

    done = threading.Event()

    # the sampling routemate sends by default (top_p, repeat_penalty), so only the pipeline differs
    from routemate.backends.embedded import GENERATION_DEFAULTS

    sampling = {k: v for k, v in GENERATION_DEFAULTS.items() if k != "max_tokens"}

    def run() -> None:
        server.handle_chat_completions({**sampling, "messages": [{"role": "user", "content": PROMPT}],
                                        "max_tokens": tokens, "temperature": 0, "ignore_eos": True, "stream": True},
                                       on_chunk)
        done.set()

    threading.Thread(target=run).start()
    done.wait()
    return len(stamps) - 1, stamps[-1] - stamps[0]


async def routemate_stream(rm, tokens: int) -> tuple[int, float]:
    from routemate.chat import ChatRequest

    request = ChatRequest([{"role": "user", "content": PROMPT}],
                          {"max_tokens": tokens, "temperature": 0, "ignore_eos": True}, "local")
    stamps: list[float] = []
    async with aclosing(rm.start(request, entry="bench").stream()) as chunks:
        async for chunk in chunks:
            if chunk.content:
                stamps.append(time.perf_counter())
    return len(stamps) - 1, stamps[-1] - stamps[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--json", action="store_true", help="only print the JSON line")
    args = ap.parse_args()

    from routemate.config import load_settings
    from routemate.service import Routemate
    from routemate.weights import ensure

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ROUTEMATE_HOME": home}
        env.pop("ROUTEMATE_CONFIG", None)
        env.pop("OPENAI_API_KEY", None)
        settings = load_settings(env)
        model_path = ensure(settings.catalog_model(settings.models["local"]), settings.models_dir)
        cold_start(1, env)                       # page cache warm, as on any second run
        cold = cold_start(args.runs, env)

        # ignore_eos (forwarded to the engine) keeps every run the same length
        rm = Routemate(settings)
        cfg = settings.models["local"]
        threads = cfg.threads or os.cpu_count() or 1
        raw = raw_engine(model_path, threads, cfg.n_ctx)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(routemate_stream(rm, 16))   # load routemate's engine before timing
        raw_stream(raw, 16)
        ours, theirs = [], []
        for _ in range(args.runs):
            n, s = loop.run_until_complete(routemate_stream(rm, args.tokens))
            ours.append(n / s)
            n, s = raw_stream(raw, args.tokens)
            theirs.append(n / s)
        loop.close()

    result = {
        "cold_first_token_s": {"median": round(statistics.median(cold), 3), "max": round(max(cold), 3),
                               "runs": len(cold), "goal_s": 2.0},
        "tokens_per_s": {"routemate": round(statistics.median(ours), 1), "raw_xllamacpp": round(statistics.median(theirs), 1),
                         "ratio": round(statistics.median(ours) / statistics.median(theirs), 3), "goal_ratio": 0.95,
                         "tokens": args.tokens, "runs": args.runs},
        "threads": threads,
    }
    if not args.json:
        print(f"cold start → first token: median {result['cold_first_token_s']['median']:.2f} s, "
              f"worst {result['cold_first_token_s']['max']:.2f} s over {len(cold)} runs (goal ≤ 2 s)")
        print(f"decode speed: routemate {result['tokens_per_s']['routemate']} tok/s, raw xllamacpp "
              f"{result['tokens_per_s']['raw_xllamacpp']} tok/s → {result['tokens_per_s']['ratio']:.1%} "
              f"(goal ≥ 95%)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
