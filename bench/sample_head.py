"""Extra samples that start from the first answer's copied head: how much faster, and as good?

    python bench/sample_head.py --data routerbench-mbpp.jsonl [--split train] [--problems 40]
                                [--samples 3] [--max-tokens 384] [--style instruction|natural|task] [--json]

When a first answer does not settle a request, the cascade draws more samples. For a request that
gives a stub (a signature and a docstring to complete), every answer starts by writing the stub out
again: the fence, the imports, the ``def`` line, the docstring. ``verify.extract.copied_head`` finds
that part of the first answer, and the extra samples can continue it (an assistant prefill, which the
embedded engine finds already in its prompt cache) instead of decoding it again.

This measures both sides on MBPP rows turned into stubs like a HumanEval prompt: the function's
signature (taken from a recorded answer that defines the tested function), the task as its
docstring, and the first two hidden asserts as doctest examples, asked as HumanEval asks (``--style
instruction``: "reply with the complete function in one code block") or as a user would
(``--style natural``: "Complete this Python function:", and the model explains its code around it),
or with no stub at all (``--style task``: the task and the two asserts, as MBPP asks; the samples
then start at the first answer's opening fence).
Per row, with the default model on one engine thread: the greedy first answer, then ``--samples``
samples at temperature 0.8 drawn plainly and continuing the head as the cascade does
(``verified.continuing``: from the copied head, stopping where its code block ends), same seed, order
alternating, each graded on all hidden tests.
Reports the time of the extra samples both ways and the share of samples that pass.
With ``--first`` it measures the greedy first answer instead, asked plainly against going on from
the request's own stub (``verify.extract.request_head``, ``[verify] first_from_stub``), each read up
to the end of its code block (the plain answer's time prorated by the characters up to there).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def stub(row) -> str | None:  # type: ignore[no-untyped-def]
    """A HumanEval-style stub for an MBPP row, or None when no recorded answer shows its signature."""
    tests = row.hidden_tests() or {}
    entry = tests.get("entry_point")
    asserts = tests.get("test_list") or []
    if not entry or len(asserts) < 2:
        return None
    signature = None
    for text in row.responses.values():
        m = re.search(rf"^def {re.escape(entry)}\(.*?\).*?:\s*$", text or "", re.M)
        if m:
            signature = m.group(0).strip()
            break
    if signature is None:
        return None
    examples = []
    for line in asserts[:2]:
        try:
            node = ast.parse(line).body[0]
        except SyntaxError:
            return None
        test = getattr(node, "test", None)
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            return None
        examples.append(f"    >>> {ast.unparse(test.left)}\n    {ast.unparse(test.comparators[0])}")
    text = " ".join(row.prompt.split())
    return f'{signature}\n    """ {text}\n' + "\n".join(examples) + '\n    """\n'


NATURAL = "Complete this Python function:\n\n```python\n{prompt}```"
TASK = "{task} Your code should pass these tests:\n\n{tests}"


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="an outcome file with MBPP prompts and tests")
    ap.add_argument("--split", default="train")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--samples", type=int, default=3, help="extra samples drawn after the first answer")
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--weights", default="qwen2.5-coder-0.5b")
    ap.add_argument("--style", choices=("instruction", "natural", "task"), default="instruction",
                    help="ask for one code block (as HumanEval does), plainly as a user would, or with no stub: "
                         "the task and two asserts, as MBPP asks")
    ap.add_argument("--first", action="store_true",
                    help="time the greedy first answer plainly and from the request's stub instead")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import xllamacpp

    from routemate.catalog import CATALOG
    from routemate.chat import ChatRequest
    from routemate.config import load_settings
    from routemate.eval.bench import Task, grade
    from routemate.eval.humaneval import INSTRUCTION
    from routemate.eval.outcomes import load
    from routemate.verified import continued, continuing, later_head
    from routemate.weights import ensure

    asked = INSTRUCTION if args.style == "instruction" else NATURAL

    settings = load_settings()
    path = ensure(CATALOG[args.weights], settings.models_dir)
    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.n_parallel = max(2, args.samples)
    p.n_ctx = 2048 * p.n_parallel
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
    p.verbosity = -1
    p.warmup = False
    server = xllamacpp.Server(p)

    rows = [r for r in load(args.data, split=args.split)]
    tasks = []
    for row in rows:
        s = stub(row)
        if s is not None and args.style == "task":      # the same rows, asked without a stub
            shown = "\n".join((row.hidden_tests() or {}).get("test_list", [])[:2])
            tasks.append(Task(row.id, TASK.format(task=" ".join(row.prompt.split()), tests=shown),
                              row.hidden_tests(), preamble=""))
        elif s is not None:
            tasks.append(Task(row.id, asked.format(prompt=s), row.hidden_tests(), preamble=""))
        if len(tasks) == args.problems:
            break

    def ask(messages: list, **extra: object) -> tuple[list[str], float]:
        started = time.perf_counter()
        out = server.handle_chat_completions({"messages": messages, "max_tokens": args.max_tokens, **extra})
        seconds = time.perf_counter() - started
        if "error" in out:
            raise SystemExit(f"engine error: {out['error']}")
        return [c["message"]["content"] or "" for c in out["choices"]], seconds

    if args.first:
        return first_answers(tasks, ask)

    results = []
    for i, task in enumerate(tasks):
        messages = [{"role": "user", "content": task.prompt}]
        [first], first_s = ask(messages, temperature=0.0)
        head = later_head(task.prompt, first)      # as the cascade starts them
        row = {"id": task.id, "first_s": round(first_s, 2), "first_pass": grade(task, first).passed,
               "head_share": round(len(head) / max(1, len(first)), 3)}
        if head:
            sampled = {"temperature": 0.8, "seed": 1000 + i, "n": args.samples}
            for kind in (("plain", "head") if i % 2 == 0 else ("head", "plain")):
                if kind == "plain":
                    texts, seconds = ask(messages, **sampled)
                else:
                    going_on = continuing(ChatRequest(messages, {}), head)
                    texts, seconds = ask(going_on.messages, **going_on.params, **sampled)
                    # the engine's own answers repeat the prefill; the cascade's backend cuts it off
                    texts = [continued(head, t[len(head):] if t.startswith(head) else t) for t in texts]
                row[f"{kind}_s"] = round(seconds, 2)
                row[f"{kind}_pass"] = sum(grade(task, t).passed for t in texts)
        results.append(row)
        print(f"{i + 1}/{len(tasks)} {task.id}: head {row['head_share']:.0%} of the first answer; "
              + (f"plain {row['plain_s']:.1f} s, {row['plain_pass']}/{args.samples} pass; "
                 f"from the head {row['head_s']:.1f} s, {row['head_pass']}/{args.samples} pass" if head else
                 "no copied head"), file=sys.stderr, flush=True)

    both = [r for r in results if "head_s" in r]
    n = len(both) * args.samples
    summary = {
        "rows": len(results), "with_head": len(both), "samples": args.samples, "style": args.style,
        "head_share_median": statistics.median(r["head_share"] for r in both) if both else None,
        "first_s": round(sum(r["first_s"] for r in both), 1),
        "plain_s": round(sum(r["plain_s"] for r in both), 1),
        "head_s": round(sum(r["head_s"] for r in both), 1),
        "speedup_median": round(statistics.median(r["plain_s"] / r["head_s"] for r in both), 2) if both else None,
        "plain_pass_rate": round(sum(r["plain_pass"] for r in both) / n, 3) if n else None,
        "head_pass_rate": round(sum(r["head_pass"] for r in both) / n, 3) if n else None,
        "first_pass_rate": round(sum(r["first_pass"] for r in both) / len(both), 3) if both else None,
        "rows_detail": results,
    }
    if not args.json:
        print(f"{len(both)} of {len(results)} rows had a head to start from (median "
              f"{summary['head_share_median']:.0%} of the first answer)" if both else "no row had a head")
        if both:
            print(f"{args.samples} extra samples: plain {summary['plain_s']} s, from the head {summary['head_s']} s "
                  f"(median speed-up {summary['speedup_median']}×; first answers {summary['first_s']} s)")
            print(f"samples passing the hidden tests: plain {summary['plain_pass_rate']:.1%}, from the head "
                  f"{summary['head_pass_rate']:.1%} (greedy first answer {summary['first_pass_rate']:.1%})")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows_detail"} if not args.json else summary))
    return summary


def first_answers(tasks: list, ask) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The greedy first answer asked plainly, and going on from the request's own stub."""
    from routemate.chat import ChatRequest
    from routemate.eval.bench import grade
    from routemate.verified import continued, continuing
    from routemate.verify.extract import block_end, request_head

    rows = []
    for i, task in enumerate(tasks):
        messages = [{"role": "user", "content": task.prompt}]
        head = request_head(task.prompt)
        row = {"id": task.id}
        for kind in (("plain", "stub") if i % 2 == 0 else ("stub", "plain")):
            if kind == "plain":
                [text], seconds = ask(messages, temperature=0.0)
                end = block_end(text) or len(text)       # the cascade reads it up to there
                code, seconds = text[:end], seconds * end / max(1, len(text))
            else:
                going_on = continuing(ChatRequest(messages, {}), head)
                [text], seconds = ask(going_on.messages, **going_on.params, temperature=0.0)
                code = continued(head, text[len(head):] if text.startswith(head) else text)
            row[f"{kind}_s"], row[f"{kind}_pass"] = round(seconds, 2), grade(task, code).passed
        rows.append(row)
        print(f"{i + 1}/{len(tasks)} {task.id}: plain {row['plain_s']:.1f} s ({row['plain_pass']}), from the "
              f"stub {row['stub_s']:.1f} s ({row['stub_pass']})", file=sys.stderr, flush=True)
    summary = {"rows": len(rows), "plain_s": round(sum(r["plain_s"] for r in rows), 1),
               "stub_s": round(sum(r["stub_s"] for r in rows), 1),
               "speedup_median": round(statistics.median(r["plain_s"] / r["stub_s"] for r in rows), 2),
               "plain_passed": sum(r["plain_pass"] for r in rows),
               "stub_passed": sum(r["stub_pass"] for r in rows)}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
