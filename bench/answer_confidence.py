"""Does the local model's confidence in the start of its own answer tell where it fails?

    python bench/answer_confidence.py collect --set mbpp|humaneval --out FILE [--every N] [--threads 1]
    python bench/answer_confidence.py report FILE [--router PATH.json]
    python bench/answer_confidence.py online FILE --router PATH.json [--strong FILE|perfect]
                                      [--tokens K] [--measure mean|entropy|low] [--batch 10] [--seeds 0,1,2]

``collect`` asks the default local model (Qwen2.5-Coder-0.5B, greedy, one engine thread) each
task's prompt (RouterBench MBPP train split with one assert shown, or HumanEval), grades the answer
on the hidden tests in the sandbox and keeps every generated token with its log-probability and the
top 5 alternatives. ``report`` measures how well "peeks" at the first K tokens of the function's
body (after its signature and docstring) rank the answers that failed (AUROC), for several K and
measures: the mean log-probability of the chosen tokens, the mean entropy over the top 5, the share
of tokens chosen with probability below one half. ``online`` replays the file as traffic the way
``routemate eval online`` does (shuffled, ``--batch`` at a time, each batch scored before its
outcomes are seen): the starting router alone, and a logistic model of [starting router's log-odds,
peek] refitted on the outcomes seen so far before each batch. APGR against a strong model's
outcome file (``routemate bench humaneval`` rows, matched by id) or a strong model that always
passes.

Grading reads the hidden tests; the peeks never do. Needs scikit-learn (`pip install -e
'.[train]'`). The last line of ``report`` and ``online`` is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

MEASURES = ("mean", "entropy", "low")
FENCE = re.compile(r"```[A-Za-z0-9_+-]*\n")
DEF = re.compile(r"^[ \t]*def .*?:[ \t]*(#.*)?\n", re.M)
DOC = re.compile(r"[ \t]*(\"\"\"|''')")


def tasks(which: str, every: int, data: Path) -> tuple[list[Any], int]:
    from routemate.eval import bench, humaneval
    from routemate.eval.outcomes import load

    if which == "mbpp":
        rows = load(data / "routerbench-mbpp.jsonl", split="train")
        return bench.tasks_from(rows, show_tests=1)[::every], 384
    return [humaneval.task(p) for p in humaneval.problems()][::every], 512


def collect(args: argparse.Namespace) -> None:
    from routemate.backends.embedded import _Engine
    from routemate.catalog import CATALOG
    from routemate.config import load_settings
    from routemate.eval import bench
    from routemate.weights import ensure

    todo, max_tokens = tasks(args.set, args.every, Path(args.data))
    out = Path(args.out)
    done = {json.loads(line)["id"] for line in out.open()} if out.exists() else set()
    path = ensure(CATALOG[args.weights], load_settings().models_dir)
    server = _Engine(path, 4096, args.threads, 1, 0).server      # one slot; no prompt comes back
    started = time.perf_counter()
    with out.open("a") as f:
        for i, task in enumerate(todo, 1):
            if task.id in done:
                continue
            t0 = time.perf_counter()
            r = server.handle_chat_completions({"messages": [{"role": "user", "content": task.prompt}],
                                                "max_tokens": max_tokens, "temperature": 0,
                                                "logprobs": True, "top_logprobs": 5})
            if "error" in r:
                raise SystemExit(f"engine error: {r['error']}")
            choice = r["choices"][0]
            answer = choice["message"]["content"]
            grade = bench.grade(task, answer)
            tokens = [[c["token"], c["logprob"], [x["logprob"] for x in c["top_logprobs"]]]
                      for c in choice["logprobs"]["content"]]
            row = {"id": task.id, "prompt": task.prompt, "passed": grade.passed, "why": grade.why,
                   "answer": answer, "tokens": tokens, "seconds": round(time.perf_counter() - t0, 2)}
            f.write(json.dumps(row) + "\n")
            f.flush()
            print(f"{i}/{len(todo)} {task.id} {'passed' if grade.passed else grade.why} "
                  f"{len(tokens)} tokens {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def body_start(tokens: list[list[Any]]) -> int | None:
    """Index of the first token of the first function's body: after its ``def`` line and docstring."""
    text, offsets = "", []
    for tok in tokens:
        offsets.append(len(text))
        text += tok[0]
    fence = FENCE.search(text)
    d = DEF.search(text, fence.end() if fence else 0)
    if not d:
        return None
    pos = d.end()
    doc = DOC.match(text, pos)
    if doc:
        end = text.find(doc.group(1), doc.end())
        if end < 0:
            return None
        newline = text.find("\n", end + 3)
        pos = newline + 1 if newline >= 0 else len(text)
    return next((i for i, o in enumerate(offsets) if o >= pos), None)


def peek(tokens: list[list[Any]], k: int) -> dict[str, float] | None:
    """Confidence measures over the first ``k`` body tokens (fewer when the code block ends first)."""
    start = body_start(tokens)
    if start is None:
        return None
    seg = []
    for tok in tokens[start:start + k]:
        if "```" in tok[0]:
            break
        seg.append(tok)
    if not seg:
        return None
    lps = [lp for _, lp, _ in seg]
    entropy = 0.0
    for _, _, top in seg:
        ps = [math.exp(x) for x in top]
        rest = max(1e-9, 1.0 - sum(ps))
        entropy += -sum(q * math.log(q) for q in ps if q > 0) - rest * math.log(rest)
    # higher = less sure, for every measure
    return {"mean": -sum(lps) / len(lps), "entropy": entropy / len(seg),
            "low": sum(lp < math.log(0.5) for lp in lps) / len(lps)}


def load_rows(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in open(path)]


def base_logits(rows: list[dict[str, Any]], router: str) -> list[float]:
    from routemate.routing import extract
    from routemate.routing.learned import LearnedRouter

    base = LearnedRouter.from_path(router)
    return [base.logit(extract([{"role": "user", "content": r["prompt"]}]))[0] for r in rows]


def report(args: argparse.Namespace) -> None:
    from sklearn.metrics import roc_auc_score

    rows = load_rows(args.file)
    fail = [0 if r["passed"] else 1 for r in rows]
    out: dict[str, Any] = {"n": len(rows), "failed": sum(fail)}
    print(f"{len(rows)} answers, {sum(fail)} failed")
    if args.router:
        out["router_auroc"] = round(roc_auc_score(fail, base_logits(rows, args.router)), 3)
        print(f"starting router: AUROC {out['router_auroc']}")
    lengths = [len(r["tokens"]) for r in rows]
    out["answer_length_auroc"] = round(roc_auc_score(fail, lengths), 3)
    print(f"whole answer's length (not known at a peek): AUROC {out['answer_length_auroc']}")
    for k in (16, 32, 48, 64):
        peeks = [peek(r["tokens"], k) for r in rows]
        keep = [i for i, p in enumerate(peeks) if p]
        ys = [fail[i] for i in keep]
        line = {m: round(roc_auc_score(ys, [peeks[i][m] for i in keep]), 3) for m in MEASURES}
        out[f"k{k}"] = {**line, "n": len(keep)}
        print(f"first {k} body tokens ({len(keep)} answers): "
              + ", ".join(f"{m} {v}" for m, v in line.items()))
    print(json.dumps(out))


def online(args: argparse.Namespace) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from routemate.eval.online import _apgr

    rows = load_rows(args.file)
    if args.strong == "perfect":
        strong_of = {r["id"]: 1.0 for r in rows}
    else:
        from routemate.eval.outcomes import load

        strong_rows = load(args.strong)
        names = sorted({m for r in strong_rows for m in r.scores})
        strong_of = {r.id: r.scores[names[0]] for r in strong_rows}
    rows = [r for r in rows if r["id"] in strong_of]
    z_all = base_logits(rows, args.router)
    peeks = [peek(r["tokens"], args.tokens) for r in rows]
    mean_peek = float(np.mean([p[args.measure] for p in peeks if p]))
    x_all = [p[args.measure] if p else mean_peek for p in peeks]      # no body found: the mean
    result: dict[str, Any] = {"n": len(rows), "tokens": args.tokens, "measure": args.measure,
                              "batch": args.batch, "strong": args.strong, "runs": []}
    for seed in args.seeds:
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        z = [z_all[i] for i in order]
        x = [x_all[i] for i in order]
        weak = [1.0 if rows[i]["passed"] else 0.0 for i in order]
        strong = [strong_of[rows[i]["id"]] for i in order]
        scores: dict[str, list[float]] = {"router + peek": [], "peek alone": []}
        for start in range(0, len(order), args.batch):
            idx = range(start, min(len(order), start + args.batch))
            y = [1 - w for w in weak[:start]]
            for name, cols in (("router + peek", lambda i: [z[i], x[i]]), ("peek alone", lambda i: [x[i]])):
                if start >= args.batch and len(set(y)) == 2:
                    model = LogisticRegression(C=args.c).fit([cols(i) for i in range(start)], y)
                    scores[name] += list(model.decision_function([cols(i) for i in idx]))
                else:   # nothing learned yet: the starting router (the peek alone: no order)
                    scores[name] += [z[i] if name == "router + peek" else 0.0 for i in idx]
        run = {"seed": seed, "static_apgr": round(_apgr(z, weak, strong), 3),
               **{f"{k} online_apgr": round(_apgr(v, weak, strong), 3) for k, v in scores.items()},
               "peek_alone_static_apgr": round(_apgr(x, weak, strong), 3)}
        result["runs"].append(run)
        print(" · ".join(f"{k} {v}" for k, v in run.items()))
    for key in result["runs"][0]:
        if key != "seed":
            result[f"mean {key}"] = round(sum(r[key] for r in result["runs"]) / len(result["runs"]), 3)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--set", choices=("mbpp", "humaneval"), required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--every", type=int, default=1)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--weights", default="qwen2.5-coder-0.5b")
    c.add_argument("--data", default="../shared/data/routing", help="folder with routerbench-mbpp.jsonl")
    r = sub.add_parser("report")
    r.add_argument("file")
    r.add_argument("--router")
    o = sub.add_parser("online")
    o.add_argument("file")
    o.add_argument("--router", required=True)
    o.add_argument("--strong", default="perfect")
    o.add_argument("--tokens", type=int, default=32)
    o.add_argument("--measure", choices=MEASURES, default="mean")
    o.add_argument("--batch", type=int, default=10)
    o.add_argument("--c", type=float, default=1.0)
    o.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    args = parser.parse_args()
    {"collect": collect, "report": report, "online": online}[args.cmd](args)


if __name__ == "__main__":
    main()
