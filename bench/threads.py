"""How many threads should the embedded engine use? Decode speed and prompt speed per setting, on an
idle machine and beside a process that keeps one core busy (a build, a test run, a browser tab).

    python bench/threads.py [--weights qwen2.5-coder-0.5b] [--tokens 64] [--runs 3] [--json]

For each competitor setting (none, one busy process) and each engine setting (threads 1..usable cores,
llama.cpp's spin-waiting thread pool on and off), a fresh process loads the model, then times a
~300-token prompt (prompt tokens/s) and --runs decodes of --tokens tokens (decode tokens/s, median).
A run that takes longer than --timeout seconds is cut and reported as such. routemate's own default
(`threads` and `poll` unset in the config) is marked in the table. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROMPT = "Write a Python function that checks whether a number is prime, with a docstring."
LONG = "Explain what this code does:\n```python\n" + "\n".join(
    f"def step_{i}(values):\n    return [v * {i} + {i % 7} for v in values if v % {i % 5 + 2}]" for i in range(24)) \
    + "\n```"


def one(path: str, threads: int, poll: int, tokens: int, runs: int, timeout: float) -> dict:
    """Runs in a child process: one engine setting, timed."""
    import threading

    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = path
    p.n_ctx = 4096
    p.n_parallel = 1
    p.verbosity = -1
    p.warmup = False
    for cpu in (p.cpuparams, p.cpuparams_batch):
        cpu.n_threads = threads
        cpu.poll = poll
    server = xllamacpp.Server(p)

    def timed(body: dict) -> tuple[list[float], float, dict]:
        stamps: list[float] = []
        final: dict = {}
        stop = threading.Event()
        start = time.perf_counter()

        def on_chunk(event: dict) -> bool:
            for choice in event.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    stamps.append(time.perf_counter())
            if event.get("timings"):
                final.update(event["timings"])
            return stop.is_set() or time.perf_counter() - start > timeout

        server.handle_chat_completions({**body, "stream": True}, on_chunk)
        return stamps, time.perf_counter() - start, final

    timed({"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4})
    _, wall, t = timed({"messages": [{"role": "user", "content": LONG}], "max_tokens": 1})
    prompt_tps = t.get("prompt_per_second") if wall < timeout else None
    speeds, cut = [], False
    for _ in range(runs):
        stamps, wall, _ = timed({"messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens,
                                 "temperature": 0, "ignore_eos": True})
        if wall >= timeout or len(stamps) < tokens:
            cut = True
            speeds.append((len(stamps) - 1) / max(wall, 1e-9))
            break
        speeds.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return {"threads": threads, "poll": poll, "decode_tps": round(statistics.median(speeds), 1),
            "prompt_tps": round(prompt_tps, 1) if prompt_tps else None, "cut": cut}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="qwen2.5-coder-0.5b")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--json", action="store_true", help="only print the JSON line")
    ap.add_argument("--one", nargs=3, type=str, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        path, threads, poll = args.one
        print(json.dumps(one(path, int(threads), int(poll), args.tokens, args.runs, args.timeout)))
        return

    from routemate.backends.cpus import usable_cores
    from routemate.backends.embedded import default_threads
    from routemate.catalog import CATALOG
    from routemate.config import load_settings
    from routemate.weights import ensure

    settings = load_settings()
    path = str(ensure(CATALOG[args.weights], settings.models_dir))
    usable = usable_cores()
    chosen = (default_threads(), 50)           # routemate leaves llama.cpp's polling at its default
    settings_to_try = [(t, poll) for t in range(1, max(usable, 2) + 1) for poll in (50, 0)]
    results = []
    for competitors in (0, 1):
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
        try:
            for threads, poll in settings_to_try:
                out = subprocess.run([sys.executable, __file__, "--one", path, str(threads), str(poll),
                                      "--tokens", str(args.tokens), "--runs", str(args.runs),
                                      "--timeout", str(args.timeout)], capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-2000:])
                row = {**json.loads(out.stdout.strip().splitlines()[-1]), "busy_competitors": competitors,
                       "default": (threads, poll) == chosen, "load_1min": round(os.getloadavg()[0], 2)}
                results.append(row)
                if not args.json:
                    print(f"competitors {competitors}  threads {threads}  poll {poll:>2}: decode "
                          f"{row['decode_tps']:>6} tok/s{' (cut)' if row['cut'] else ''}  prompt "
                          f"{row['prompt_tps']} tok/s  (load {row['load_1min']})"
                          f"{'  ← routemate default' if row['default'] else ''}",
                          flush=True)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    print(json.dumps({"weights": args.weights, "usable_cores": usable, "cpu_count": os.cpu_count(),
                      "default": {"threads": chosen[0], "poll": chosen[1]}, "tokens": args.tokens,
                      "results": results}))


if __name__ == "__main__":
    main()
