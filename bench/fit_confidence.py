"""Fit the checks' confidence model on outcome data with several samples per prompt, and write it
with a calibration curve (what `[verify] target_quality` / `frontier_share` turn into a threshold).

    python bench/fit_confidence.py --data mbpp-local-samples.jsonl --weak local --strong gpt-4-1106-preview \
        --samples 1,4,10 --out src/routemate/data/confidence.json

For every prompt and every K, the first K recorded samples go through exactly the live checks
(``verify.agreement.agree``: run on the same inputs, grouped, picked); the label is the hidden grade
of the sample picked (``sample_scores``: read here, by the fitter, never by the checks). A logistic
regression over ``agreement.FEATURES`` (rows of every K pooled, so one model serves any
``[verify] samples``) is fitted; its cross-validated AUROC (folds by prompt) is reported beside the
in-sample one. The calibration curve uses the ``--calibrate-k`` rows (default 4): for each threshold,
the share of prompts escalated and the quality reached as a share of the strong model's.
Fit on MBPP-derived data only: HumanEval is the evaluation set.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from routemate.eval.cascade import _auroc  # noqa: E402
from routemate.eval.outcomes import file_digest, load  # noqa: E402
from routemate.verify.agreement import FEATURES, Confidence, agree  # noqa: E402


def rows_for(path: Path, weak: str, strong: str, ks: list[int], workers: int, cache: Path | None) -> list[dict]:
    data = [r for r in load(path) if r.samples.get(weak) and strong in r.scores]
    done: dict[str, dict] = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            if set(FEATURES) <= set(rec["features"]):     # rows cached before a feature was added are redone
                done[f"{rec['id']}/{rec['k']}"] = rec
    jobs = [(r, k) for r in data for k in ks if f"{r.id}/{k}" not in done]
    out = list(done.values())
    sink = cache.open("a") if cache is not None else None
    started = time.perf_counter()

    def one(job: tuple) -> dict:
        row, k = job
        a = agree(row.prompt, row.samples[weak][:k], workers=1)
        grades = row.hidden_sample_scores(weak)[:k]
        return {"id": row.id, "k": k, "features": a.features, "hard_fail": a.hard_fail, "ran": a.ran,
                "picked": grades[a.pick], "first": grades[0], "mean": sum(grades) / len(grades),
                "strong": row.scores[strong], "agreeing": a.agreeing}

    with ThreadPoolExecutor(workers) as pool:
        for i, rec in enumerate(pool.map(one, jobs), 1):
            out.append(rec)
            if sink is not None:
                sink.write(json.dumps(rec) + "\n")
                sink.flush()
            if i % 25 == 0:
                print(f"  {i}/{len(jobs)} checked · {time.perf_counter() - started:.0f}s", file=sys.stderr)
    if sink is not None:
        sink.close()
    return out


def fit(rows: list[dict], seed: int = 0) -> tuple[dict[str, float], float, float, float]:
    """Weights, bias, in-sample AUROC, cross-validated AUROC (5 folds by prompt) on rows that did
    not fail outright (a hard failure always escalates: the model never sees it)."""
    from sklearn.linear_model import LogisticRegression

    usable = [r for r in rows if not r["hard_fail"]]
    X = [[r["features"][f] for f in FEATURES] for r in usable]
    y = [int(r["picked"] >= 0.5) for r in usable]
    model = LogisticRegression(C=1.0, max_iter=2000).fit(X, y)
    scores = model.predict_proba(X)[:, 1]
    ids = sorted({r["id"] for r in usable})
    random.Random(seed).shuffle(ids)
    fold = {pid: i % 5 for i, pid in enumerate(ids)}
    held: list[float] = [0.0] * len(usable)
    for f in range(5):
        train = [i for i, r in enumerate(usable) if fold[r["id"]] != f]
        test = [i for i, r in enumerate(usable) if fold[r["id"]] == f]
        labels = [y[i] for i in train]
        if len(set(labels)) < 2:          # a fold too small to hold both outcomes: its base rate
            for i in test:
                held[i] = float(labels[0]) if labels else 0.5
            continue
        m = LogisticRegression(C=1.0, max_iter=2000).fit([X[i] for i in train], labels)
        for i, p in zip(test, m.predict_proba([X[i] for i in test])[:, 1]):
            held[i] = float(p)
    weights = {f: round(float(w), 4) for f, w in zip(FEATURES, model.coef_[0])}
    return weights, round(float(model.intercept_[0]), 4), _auroc(list(scores), [bool(v) for v in y]) or 0.0, \
        _auroc(held, [bool(v) for v in y]) or 0.0


def curve(rows: list[dict], conf: Confidence) -> list[tuple[float, float, float]]:
    """(threshold, share escalated, quality / strong quality) for every distinct confidence."""
    scored = [(0.0 if r["hard_fail"] else conf.score(r["features"]), r["picked"], r["strong"]) for r in rows]
    strong = sum(s for _, _, s in scored) or 1.0
    points = []
    for t in sorted({c for c, _, _ in scored} | {0.0, 1.0 + 1e-9}):
        up = [c < t for c, _, _ in scored]
        quality = sum(s if u else p for u, (_, p, s) in zip(up, scored))
        points.append((round(t, 4), round(sum(up) / len(up), 4), round(quality / strong, 4)))
    return points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weak", required=True)
    ap.add_argument("--strong", required=True)
    ap.add_argument("--samples", default="1,4,10", help="Ks to pool, comma-separated")
    ap.add_argument("--calibrate-k", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, help="JSON Lines of checked rows, reused by later runs")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    ks = [int(k) for k in args.samples.split(",")]
    rows = rows_for(args.data, args.weak, args.strong, ks, args.workers, args.cache)
    weights, bias, auroc_in, auroc_cv = fit(rows)
    conf = Confidence(weights, bias)
    report = {"rows": len(rows), "prompts": len({r["id"] for r in rows}), "weights": weights, "bias": bias,
              "auroc_in_sample": round(auroc_in, 4), "auroc_cv": round(auroc_cv, 4)}
    for k in ks:
        at = [r for r in rows if r["k"] == k]
        if not at:
            continue
        report[f"k{k}"] = {"picked": round(sum(r["picked"] for r in at) / len(at), 4),
                           "first": round(sum(r["first"] for r in at) / len(at), 4),
                           "sample_mean": round(sum(r["mean"] for r in at) / len(at), 4),
                           "strong": round(sum(r["strong"] for r in at) / len(at), 4),
                           "auroc": _auroc([0.0 if r["hard_fail"] else conf.score(r["features"]) for r in at],
                                           [r["picked"] >= 0.5 for r in at])}
    print(json.dumps(report, indent=1))
    if args.out:
        cal = [r for r in rows if r["k"] == args.calibrate_k] or rows
        shipped = Confidence(weights, bias, tuple(curve(cal, conf)), provenance={
            "data": {args.data.name: {"sha256": file_digest(args.data), "prompts": report["prompts"]}},
            "weak": args.weak, "strong": args.strong, "samples": ks, "calibrated_on_k": args.calibrate_k,
            "auroc_cv": report["auroc_cv"], "fitted": time.strftime("%Y-%m-%d")})
        args.out.write_text(json.dumps(shipped.to_json(), indent=1) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
