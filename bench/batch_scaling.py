"""Does this machine decode several samples for the price of one? Time per decode step against the
number of samples decoded together, per thread count, and with n-gram speculative decoding.

    python bench/batch_scaling.py [--weights qwen2.5-coder-0.5b] [--threads 1,2] [--samples 1,2,4]
                                  [--tokens 128] [--problems 3] [--json]

A checked answer draws K samples in one call (llama.cpp's parallel slots decode them in one batch).
That is cheap where one sequence's decode leaves the hardware idle (a GPU, or a CPU waiting on memory)
and costs K answers' time where one sequence already keeps the arithmetic units busy. This measures
which case a machine is in: for each thread count, the first --problems HumanEval prompts are
answered with n = 1, 2, 4 ... samples of exactly --tokens tokens each (end of text ignored, temperature
0.8), and the time of one decode step (all n sequences advance by one token) is compared with n = 1's.
A ratio near n means no gain from batching; near 1 means samples are nearly free. The last row per
thread count is one answer with n-gram speculative decoding (drafts from the request's own text,
which a completed function largely repeats), against the same answer without it.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def one(path: str, threads: int, samples: list[int], tokens: int, problems: int) -> dict:
    """Runs in a child process, so each thread count gets a fresh engine."""
    import xllamacpp

    from routemate.eval.humaneval import INSTRUCTION, problems as humaneval

    def engine(spec: bool) -> object:
        p = xllamacpp.CommonParams()
        p.model.path = path
        p.n_parallel = max(samples)
        p.n_ctx = 2048 * max(samples)
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.verbosity = -1
        p.warmup = False
        if spec:
            p.speculative.types = [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        return xllamacpp.Server(p)

    prompts = [[{"role": "user", "content": INSTRUCTION.format(prompt=p.prompt)}] for p in humaneval(problems)]

    def step_ms(server: object, n: int, **extra: object) -> tuple[float, dict]:
        total, steps, timings = 0.0, 0, {}
        for messages in prompts:
            body = {"messages": messages, "max_tokens": tokens, "temperature": 0.8, "seed": 1, "n": n,
                    "ignore_eos": True, **extra}
            server.handle_chat_completions({**body, "max_tokens": 1})       # the prompt, cached for the timed call
            started = time.perf_counter()
            out = server.handle_chat_completions(body)
            total += time.perf_counter() - started
            # with n > 1 every sequence runs to --tokens (end of text ignored); one answer may stop early
            steps += out["usage"]["completion_tokens"] if n == 1 else tokens
            timings = out.get("timings") or {}
        return 1000 * total / steps, timings

    rows = []
    server = engine(spec=False)
    base = None
    for n in samples:
        ms, _ = step_ms(server, n)
        base = base or ms
        rows.append({"threads": threads, "samples": n, "step_ms": round(ms, 2), "ratio": round(ms / base, 2)})
    # speculative decoding: greedy (drafts are checked against the most likely token), one answer
    plain, _ = step_ms(server, 1, temperature=0.0, ignore_eos=False)
    del server
    spec_server = engine(spec=True)
    spec, timings = step_ms(spec_server, 1, temperature=0.0, ignore_eos=False)
    drafted, accepted = timings.get("draft_n"), timings.get("draft_n_accepted")
    rows.append({"threads": threads, "samples": 1, "speculative": "ngram_simple", "step_ms": round(spec, 2),
                 "plain_step_ms": round(plain, 2), "ratio": round(spec / plain, 2),
                 "accepted": round(accepted / drafted, 2) if drafted else None})
    return {"rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=None, help="a catalog model (default: routemate's default)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--samples", default="1,2,4")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--problems", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", nargs=2, metavar=("PATH", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    samples = [int(x) for x in args.samples.split(",")]
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), samples, args.tokens, args.problems)))
        return

    import os
    import subprocess

    from routemate.catalog import CATALOG, DEFAULT_MODEL
    from routemate.config import load_settings
    from routemate.weights import ensure

    name = args.weights or DEFAULT_MODEL
    path = str(ensure(CATALOG[name], load_settings().models_dir))
    rows = []
    for threads in [int(x) for x in args.threads.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--one", path, str(threads), "--samples", args.samples,
                              "--tokens", str(args.tokens), "--problems", str(args.problems)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-2000:])
        for row in json.loads(out.stdout.strip().splitlines()[-1])["rows"]:
            row["load_1min"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            if not args.json:
                if "speculative" in row:
                    print(f"threads {threads}  one answer, n-gram speculative: {row['step_ms']} ms per token against "
                          f"{row['plain_step_ms']} without ({row['ratio']}×; {row['accepted']} of drafts accepted)")
                else:
                    print(f"threads {threads}  {row['samples']} sample(s): {row['step_ms']} ms per step "
                          f"= {row['ratio']}× one sample's")
    print(json.dumps({"weights": name, "tokens": args.tokens, "problems": args.problems, "rows": rows}))


if __name__ == "__main__":
    main()
