"""Which sampling defaults should the embedded coder models use? Pass rate on MBPP prompts per setting.

    python bench/sampling.py [--weights qwen2.5-coder-0.5b] [--data ../shared/data/routing/routerbench-mbpp.jsonl]
                             [--split train] [--limit 80] [--json]

MBPP is the tuning set (HumanEval is kept for reporting). Each prompt (zero-shot, as a user would write it)
goes to the embedded engine through routemate's backend with each setting below; the answer's Python is
graded in the sandbox against the row's hidden MBPP asserts (a grader may read them; the model never sees
them). The asserts name MBPP's function, which the prompt does not: an answer that names it otherwise is
graded through the last function it defines (helpers come first). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

SETTINGS = {
    "t0.2 rp1.1 (routemate's defaults)": {"temperature": 0.2, "top_p": 0.9, "repeat_penalty": 1.1},
    "t0.2 rp1.0": {"temperature": 0.2, "top_p": 0.9, "repeat_penalty": 1.0},
    "t0 rp1.0 (greedy)": {"temperature": 0.0, "repeat_penalty": 1.0},
}


def grade(answer: str, tests: dict, timeout: float) -> bool:
    from routemate.verify.extract import python_answer
    from routemate.verify.sandbox import run_python

    parsed = python_answer(answer)
    if parsed is None or not parsed.names:
        return False
    entry = tests.get("entry_point")
    code = parsed.definitions
    if entry and entry not in parsed.names:
        code += f"\n{entry} = {parsed.names[-1]}\n"       # helpers come first, the function asked for last
    script = "\n".join([*(tests.get("test_imports") or []), code, *tests["test_list"]]) + "\n"
    return run_python(script, timeout=timeout, memory_mb=512).ok


async def main_async(args: argparse.Namespace) -> dict:
    from routemate.backends.embedded import EmbeddedBackend
    from routemate.chat import ChatRequest
    from routemate.config import load_settings
    from routemate.eval.outcomes import load

    rows = [r for r in load(args.data, split=args.split) if r.hidden_tests()][: args.limit]
    env = {**os.environ, "ROUTEMATE_WEIGHTS": args.weights}
    env.pop("ROUTEMATE_CONFIG", None)
    settings = load_settings(env)
    backend = EmbeddedBackend(settings.models["local"], settings)
    results = {}
    for name, params in SETTINGS.items():
        passed, tokens, started = 0, 0, time.perf_counter()
        for row in rows:
            done = await backend.chat(ChatRequest([{"role": "user", "content": row.prompt}],
                                                  {**params, "max_tokens": args.max_tokens, "seed": 1}))
            ok = await asyncio.to_thread(grade, done.text, row.hidden_tests(), args.timeout)
            passed += ok
            tokens += done.usage.completion_tokens if done.usage else 0
        results[name] = {"params": params, "passed": passed, "n": len(rows), "pass_rate": round(passed / len(rows), 3),
                         "mean_tokens": round(tokens / len(rows), 1),
                         "seconds": round(time.perf_counter() - started)}
        if not args.json:
            r = results[name]
            print(f"{name:45} {r['passed']:>3}/{r['n']} = {r['pass_rate']:.1%}  "
                  f"{r['mean_tokens']} tokens/answer  {r['seconds']} s", flush=True)
    return {"weights": args.weights, "data": Path(args.data).name, "split": args.split, "results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="qwen2.5-coder-0.5b")
    default = Path(os.environ.get("ROUTEMATE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--data", default=str(default / "routing" / "routerbench-mbpp.jsonl"))
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="only print the JSON line")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
