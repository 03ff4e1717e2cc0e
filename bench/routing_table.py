"""The routing table of docs/routing.md: each set scored by a router trained without it.

    python bench/routing_table.py [--data-dir ../shared/data/routing] [--out bench/out]

For each evaluation set the learned router is retrained with the shipped recipe (grouped-CV model
choice included) on the other data, with every prompt of the evaluated set removed from training;
the rules router and random / oracle routing are scored alongside. Prints a Markdown table and
writes the reports (JSON) and curves (PNG) to --out. Needs the training extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from routemate.routing import metrics
from routemate.eval.outcomes import load, prompts_of, require_models, training_rows
from routemate.eval.routing import evaluate, plot
from routemate.routing import RulesRouter
from routemate.routing.learned import LearnedRouter
from routemate.routing.train import train

RB, EP = "routerbench-mbpp.jsonl", "evalperf.jsonl"
RB_PAIR = ("meta/llama-2-70b-chat", "gpt-4-1106-preview")
EP_PAIR = ("meta-llama/Meta-Llama-3-8B-Instruct", "gpt-4o-2024-08-06")
WEAK = [RB_PAIR[0], EP_PAIR[0]]
STRONG = [RB_PAIR[1], EP_PAIR[1]]

# (label, evaluated file, split, pair, training files, training split, exclude split)
SCENARIOS = [
    ("routerbench-mbpp test", RB, "test", RB_PAIR, [RB, EP], "train", "test"),
    ("evalperf", EP, None, EP_PAIR, [RB], None, None),
    ("routerbench-mbpp test, trained on evalperf only", RB, "test", RB_PAIR, [EP], None, "test"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/routing")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| evaluated on (weak → strong) | trained on | n | router | APGR | CPT(80%) | cost saved at CPT(80%) |"
             " random APGR / CPT(80%) | oracle APGR / CPT(80%) |", "|---|---|---|---|---|---|---|---|---|"]
    budgets = ["", "Budgets set from the training distribution, applied to the held-out set:", "",
               "| evaluated on | budget | threshold | strong share | quality | PGR |", "|---|---|---|---|---|---|"]
    for label, file, split, (weak, strong), train_files, train_split, exclude_split in SCENARIOS:
        started = time.perf_counter()
        rows, info = training_rows([args.data_dir / f for f in train_files], WEAK, STRONG, split=train_split,
                                   exclude=prompts_of([args.data_dir / file], exclude_split))
        artifact, report = train(rows, info, excluded=[file + (f" ({exclude_split} split)" if exclude_split else "")],
                                 command="bench/routing_table.py")
        slug = label.split(",")[0].replace(" ", "-") + ("-cross" if "only" in label else "")
        (args.out / f"router-without-{slug}.json").write_text(json.dumps(artifact))
        trained_on = " + ".join(f"{f.removesuffix('.jsonl')}{f' ({train_split})' if train_split and f == RB else ''}"
                                for f in train_files) + f" ({report.rows} prompts)"
        for name, router in (("learned", LearnedRouter(artifact)), ("rules", RulesRouter())):
            r = evaluate(args.data_dir / file, weak, strong, router, split=split, router_name=name)
            (args.out / f"eval-{slug}-{name}.json").write_text(json.dumps(r, indent=1))
            if name == "learned":
                plot(r, args.out / f"curve-{slug}.png")
            o = r["oracle"]
            saved = f"{r['cost']['saving_at_cpt80']:.0%}" if r.get("cost") else "—"
            lines.append(f"| {label} ({weak.split('/')[-1]} → {strong}) | {trained_on if name == 'learned' else '—'} "
                         f"| {r['n']} | {name} | **{r['apgr']:.3f}** | **{r['cpt']['80']:.1%}** | {saved} "
                         "| 0.500 / 80.0% | "
                         f"{o['apgr']:.3f} / {o['cpt']['80']:.1%} |")
        learned = LearnedRouter(artifact)
        for budget in ({"frontier_share": 0.3}, {"target_quality": 0.95}):
            c = evaluate(args.data_dir / file, weak, strong, learned, split=split, **budget)["calibrated"]
            (key, value), = budget.items()
            budgets.append(f"| {label} | {key} = {value} | {c['threshold']:.3f} | {c['strong_share']:.1%} | "
                           f"{c['quality']:.3f} ({c['quality'] / r['strong_quality']:.1%} of strong) | {c['pgr']:.2f} |")
        print(f"{label}: chose {report.chosen} in {time.perf_counter() - started:.0f}s", flush=True)
    lines += budgets
    lines += ["", "Reference orderings (they read the scores, so no router can use them):", "",
              "| set | APGR, perfect mean score of the other models | APGR, knowing exactly whether weak fails |",
              "|---|---|---|"]
    for label, file, split, (weak, strong), *_ in SCENARIOS[:2]:
        rows = require_models(load(args.data_dir / file, split=split), weak, strong)
        w, s = [r.scores[weak] for r in rows], [r.scores[strong] for r in rows]
        others = [-sum(v for m, v in r.scores.items() if m not in (weak, strong)) for r in rows]
        fails = [1 - x for x in w]
        lines.append(f"| {label} | {metrics.apgr(metrics.curve(others, w, s)):.3f} | "
                     f"{metrics.apgr(metrics.curve(fails, w, s)):.3f} |")
    print("\n".join(lines))
    (args.out / "routing_table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
