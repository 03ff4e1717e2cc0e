"""The embedded model's speed as a user meets it, in one run:

    python bench/ask_latency.py [--weights qwen2.5-coder-0.5b] [--runs 5] [--tokens 128] [--samples 4] [--json]

1. Cold start: spawns a fresh `routemate ask` process (weights already fetched) and times spawn → first
   byte of the answer on stdout, (a) streamed as it is generated (`--no-verify`): the cold first token,
   goal ≤ 2 s; and (b) as a code request is answered by default: checked first (`[verify] samples`
   samples, run in the sandbox), so its first byte comes once the answer is chosen. Median and worst of
   --runs. Python runs byte-compiled, as an installed package does. The peak memory (max RSS) of those
   processes is the memory one `routemate ask` takes.
2. Decode speed: the same prompt, temperature 0, fixed length, streamed (a) through routemate's pipeline
   (routing, backend, request log) and (b) straight from an xllamacpp Server with the same settings
   (threads, slots, sampling), interleaved a/b/a/b so machine noise hits both alike. Decode tokens/s =
   tokens after the first / time after the first token. Goal: routemate ≥ 95% of the raw engine.
3. k samples: the same request with n=1 and with n=--samples through routemate (temperature 0.8, fixed
   length): wall time and tokens/s of each, and how much faster one n=k call is than k calls of n=1.
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


def cold_start(runs: int, env: dict[str, str], *flags: str) -> tuple[list[float], int]:
    """Seconds to the first answer byte of fresh `routemate ask` processes, and their peak RSS in bytes."""
    times, peak = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "routemate", "ask", PROMPT, "--max-tokens", "8", *flags],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        first = proc.stdout.read(1)
        elapsed = time.perf_counter() - start
        proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if not first or proc.returncode != 0:
            raise SystemExit(f"routemate ask failed (exit {proc.returncode})")
        times.append(elapsed)
        peak = max(peak, usage.ru_maxrss * 1024)
    return times, peak


def raw_engine(path: Path, threads: int, n_ctx: int, parallel: int):
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.n_ctx = n_ctx * parallel
    p.n_parallel = parallel
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.verbosity = -1
    p.warmup = False
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


async def samples(rm, n: int, tokens: int, seed: int) -> tuple[float, int]:
    """Wall seconds and completion tokens of one request for ``n`` samples."""
    from routemate.chat import ChatRequest

    request = ChatRequest([{"role": "user", "content": PROMPT}],
                          {"max_tokens": tokens, "temperature": 0.8, "seed": seed, "n": n, "ignore_eos": True},
                          "local")
    start = time.perf_counter()
    answer = await rm.ask(request, entry="bench")
    assert len(answer.completion.choices) == n
    return time.perf_counter() - start, answer.usage.completion_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="a catalog model (default: routemate's default)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--samples", type=int, default=4, help="k for the n=k measurement")
    ap.add_argument("--json", action="store_true", help="only print the JSON line")
    args = ap.parse_args()

    from routemate.backends.embedded import default_threads
    from routemate.catalog import DEFAULT_MODEL
    from routemate.config import load_settings
    from routemate.service import Routemate
    from routemate.weights import ensure

    weights = args.weights or DEFAULT_MODEL
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ROUTEMATE_HOME": home, "ROUTEMATE_WEIGHTS": weights}
        for var in ("ROUTEMATE_CONFIG", "OPENAI_API_KEY", "PYTHONDONTWRITEBYTECODE"):
            env.pop(var, None)
        settings = load_settings(env)
        cfg = settings.models["local"]
        model_path = ensure(settings.catalog_model(cfg), settings.models_dir)
        cold_start(1, env)             # page cache warm and byte code written, as on any second run
        cold, peak_rss = cold_start(args.runs, env, "--no-verify")
        checked, peak_checked = cold_start(args.runs, env)
        peak_rss = max(peak_rss, peak_checked)

        # ignore_eos (forwarded to the engine) keeps every run the same length
        rm = Routemate(settings)
        threads = cfg.threads or default_threads()
        raw = raw_engine(model_path, threads, cfg.n_ctx, cfg.parallel)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(routemate_stream(rm, 16))   # load routemate's engine before timing
        raw_stream(raw, 16)
        ours, theirs = [], []
        for _ in range(args.runs):
            n, s = loop.run_until_complete(routemate_stream(rm, args.tokens))
            ours.append(n / s)
            n, s = raw_stream(raw, args.tokens)
            theirs.append(n / s)
        del raw
        one, many = [], []
        for run in range(max(1, args.runs // 2)):
            one.append(loop.run_until_complete(samples(rm, 1, args.tokens, seed=100 + run)))
            many.append(loop.run_until_complete(samples(rm, args.samples, args.tokens, seed=200 + run)))
        loop.close()

    one_s = statistics.median(s for s, _ in one)
    many_s = statistics.median(s for s, _ in many)
    k = args.samples
    result = {
        "weights": weights,
        "cold_first_token_s": {"median": round(statistics.median(cold), 3), "max": round(max(cold), 3),
                               "runs": len(cold), "goal_s": 2.0},
        "cold_checked_answer_s": {"median": round(statistics.median(checked), 3), "max": round(max(checked), 3),
                                  "runs": len(checked), "samples": settings.verify.samples},
        "tokens_per_s": {"routemate": round(statistics.median(ours), 1),
                         "raw_xllamacpp": round(statistics.median(theirs), 1),
                         "ratio": round(statistics.median(ours) / statistics.median(theirs), 3), "goal_ratio": 0.95,
                         "tokens": args.tokens, "runs": args.runs},
        "samples": {"k": k, "tokens_each": args.tokens,
                    "n1_wall_s": round(one_s, 2), "n1_tokens_per_s": round(args.tokens / one_s, 1),
                    f"n{k}_wall_s": round(many_s, 2), f"n{k}_tokens_per_s": round(k * args.tokens / many_s, 1),
                    "speedup_vs_k_calls": round(k * one_s / many_s, 2), "runs": len(one)},
        "peak_rss_mb": round(peak_rss / 2**20),
        "threads": threads,
        "load_1min": round(os.getloadavg()[0], 2),
    }
    if not args.json:
        c, t, s = result["cold_first_token_s"], result["tokens_per_s"], result["samples"]
        print(f"{weights}, {threads} thread(s), peak memory of one `routemate ask`: {result['peak_rss_mb']} MB")
        print(f"cold start → first token: median {c['median']:.2f} s, worst {c['max']:.2f} s over {c['runs']} runs "
              f"(goal ≤ 2 s)")
        c = result["cold_checked_answer_s"]
        print(f"cold start → checked answer ({c['samples']} samples, run in the sandbox): median {c['median']:.2f} s, "
              f"worst {c['max']:.2f} s")
        print(f"decode speed: routemate {t['routemate']} tok/s, raw xllamacpp {t['raw_xllamacpp']} tok/s → "
              f"{t['ratio']:.1%} (goal ≥ 95%)")
        print(f"n=1: {s['n1_wall_s']} s ({s['n1_tokens_per_s']} tok/s); n={k}: {s[f'n{k}_wall_s']} s "
              f"({s[f'n{k}_tokens_per_s']} tok/s) → {k} samples in one call are {s['speedup_vs_k_calls']}× "
              f"faster than {k} calls")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
