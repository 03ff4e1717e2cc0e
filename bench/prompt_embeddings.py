"""Does the local model's own reading of a prompt tell where a weak model fails?

    python bench/prompt_embeddings.py --dir ../shared/data/routing [--weights qwen2.5-coder-0.5b]
                                      [--cache emb.npz] [--json]

Embeds every prompt of RouterBench MBPP and EvalPerf with the local coder model (llama.cpp
embeddings, mean-pooled hidden states, one engine thread) and fits routers on them: a logistic
model of "the weak model fails" (several strengths, with and without 32 principal components)
and a ridge model of the weak model's shortfall. Reports APGR

- within each set, 5-fold cross-validation over three shuffles;
- across sets: trained on one file, scored on the other (RouterBench MBPP llama-2-70b-chat →
  gpt-4-1106-preview; EvalPerf Meta-Llama-3-8B-Instruct → gpt-4o-2024-08-06).

Compare with the word routers of docs/routing.md. Needs numpy and scikit-learn (`pip install -e
'.[train]'`). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PAIRS = {"routerbench-mbpp.jsonl": ("meta/llama-2-70b-chat", "gpt-4-1106-preview"),
         "evalperf.jsonl": ("meta-llama/Meta-Llama-3-8B-Instruct", "gpt-4o-2024-08-06")}


def embed(files: list[Path], weights: str) -> tuple[list[str], list[list[float]]]:
    import xllamacpp

    from routemate.catalog import CATALOG
    from routemate.config import load_settings
    from routemate.weights import ensure

    p = xllamacpp.CommonParams()
    p.model.path = str(ensure(CATALOG[weights], load_settings().models_dir))
    p.embedding = True
    p.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    p.n_ctx = p.n_batch = p.n_ubatch = 4096
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
    p.verbosity = -1
    p.warmup = False
    server = xllamacpp.Server(p)
    keys, vectors, started = [], [], time.perf_counter()
    for f in files:
        for line in f.open():
            row = json.loads(line)
            out = server.handle_embeddings({"input": row["prompt"], "model": weights})
            if "error" in out:
                raise SystemExit(f"engine error: {out['error']}")
            keys.append(f"{f.name}::{row['id']}")
            vectors.append(out["data"][0]["embedding"])
            if len(keys) % 100 == 0:
                print(f"{len(keys)} prompts embedded, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"{len(keys)} prompts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return keys, vectors


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="the folder with routerbench-mbpp.jsonl and evalperf.jsonl")
    ap.add_argument("--weights", default="qwen2.5-coder-0.5b")
    ap.add_argument("--cache", help="an .npz to keep the embeddings in (reused when it exists)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from routemate.routing.metrics import apgr, curve

    files = [Path(args.dir) / name for name in PAIRS]
    if args.cache and Path(args.cache).exists():
        z = np.load(args.cache)
        keys, vectors = list(z["keys"]), z["X"]
    else:
        keys, vectors = embed(files, args.weights)
        if args.cache:
            np.savez(args.cache, keys=np.array(keys), X=np.array(vectors, dtype=np.float32))
    by_key = dict(zip(keys, vectors))

    sets = {}
    for f in files:
        weak, strong = PAIRS[f.name]
        rows = [json.loads(line) for line in f.open()]
        rows = [r for r in rows if weak in r["scores"] and strong in r["scores"]]
        sets[f.name] = (np.array([by_key[f"{f.name}::{r['id']}"] for r in rows]),
                        np.array([r["scores"][weak] for r in rows]), np.array([r["scores"][strong] for r in rows]))

    def model(kind: str, c: float):  # type: ignore[no-untyped-def]
        if kind == "ridge":
            return make_pipeline(StandardScaler(), Ridge(alpha=c))
        return make_pipeline(StandardScaler(), PCA(32) if kind == "logistic+pca" else "passthrough",
                             LogisticRegression(C=c, max_iter=2000))

    def scores(kind: str, c: float, x, weak, x_test):  # type: ignore[no-untyped-def]
        m = model(kind, c)
        if kind == "ridge":
            m.fit(x, 1 - weak)
            return m.predict(x_test)
        m.fit(x, (weak < 0.5).astype(int))
        return m.predict_proba(x_test)[:, 1]

    settings = [("logistic", 0.001), ("logistic", 0.01), ("logistic", 0.1), ("logistic+pca", 0.01),
                ("logistic+pca", 0.1), ("ridge", 100.0), ("ridge", 1000.0), ("ridge", 10000.0)]
    results: list[dict] = []
    for kind, c in settings:
        row: dict = {"model": kind, "c": c}
        for name, (x, weak, strong) in sets.items():
            cv = []
            for seed in range(3):
                s = np.zeros(len(weak))
                for train, test in KFold(5, shuffle=True, random_state=seed).split(x):
                    s[test] = scores(kind, c, x[train], weak[train], x[test])
                cv.append(apgr(curve(list(s), list(weak), list(strong))))
            row[f"cv {name}"] = round(float(np.mean(cv)), 3)
        for train_name, test_name in (tuple(sets), tuple(reversed(list(sets)))):
            x, weak, _ = sets[train_name]
            xt, wt, st = sets[test_name]
            row[f"{train_name} -> {test_name}"] = round(apgr(curve(list(scores(kind, c, x, weak, xt)),
                                                                    list(wt), list(st))), 3)
        results.append(row)
        if not args.json:
            print("  ".join(f"{k} {v}" for k, v in row.items()), file=sys.stderr)
    out = {"weights": args.weights, "prompts": len(keys), "results": results}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
