"""The table in docs/verify.md: the cascade replayed on recorded samples, for K = 1, 4, 10.

    python bench/verify_table.py --data humaneval-s10.jsonl --weak local --perfect-strong
    python bench/verify_table.py --data mbpp-s10.jsonl --weak local --strong gpt-4-1106-preview

For each K, the first K recorded samples of every prompt go through the live checks
(``eval.cascade.replay``) with the shipped confidence model and ``[verify] threshold``; printed: one
unchecked sample's quality (sample 1, and the mean over samples), the picked answer's, the cascade's
at the threshold (escalation rate, share of the gap recovered), the confidence's AUROC, the area
under the escalation curve, and the best points of that curve at ≤ 50% and ≤ 55% escalation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from routemate.config import VerifyConfig  # noqa: E402
from routemate.eval.cascade import PERFECT, replay  # noqa: E402
from routemate.eval.outcomes import load  # noqa: E402


def best_at(curve: list[dict], rate: float) -> dict | None:
    points = [p for p in curve if p["escalation_rate"] <= rate + 1e-9 and p["gap_recovered"] is not None]
    return max(points, key=lambda p: p["gap_recovered"]) if points else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weak", required=True)
    ap.add_argument("--strong")
    ap.add_argument("--perfect-strong", action="store_true")
    ap.add_argument("--samples", default="1,4,10")
    ap.add_argument("--confidence", type=float, default=VerifyConfig().threshold)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = load(args.data)
    strong = PERFECT if args.perfect_strong else args.strong
    out = []
    for k in [int(x) for x in args.samples.split(",")]:
        report, _ = replay(rows, args.weak, strong, samples=k, confidence=args.confidence, workers=args.workers,
                           file=str(args.data))
        r = report.to_json()
        r["best_at_50"], r["best_at_55"] = best_at(r["curve"], 0.50), best_at(r["curve"], 0.55)
        out.append(r)
        print(f"K={k}: done in {report.seconds:.0f}s", file=sys.stderr)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "curve"} for r in out], indent=1))
        return
    print(f"{out[0]['n']} prompts of {args.data.name}, weak {args.weak} → strong {out[0]['strong']} "
          f"(quality {out[0]['strong_quality']:.3f}); confidence threshold {args.confidence}")
    print("| samples | one sample (1st / mean) | picked | cascade quality | escalated | gap recovered | AUROC "
          "| curve area | best ≤ 50% | best ≤ 55% |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def pt(p: dict | None) -> str:
        return "n/a" if p is None else f"{p['gap_recovered']:.1%} at {p['escalation_rate']:.1%}"

    for r in out:
        gap = "n/a" if r["gap_recovered"] is None else f"{r['gap_recovered']:.1%}"
        area = "n/a" if r["curve_area"] is None else f"{r['curve_area']:.1%}"
        print(f"| {r['samples']} | {r['weak_quality']:.3f} / {r['sample_quality']:.3f} | {r['local_quality']:.3f} | "
              f"{r['quality']:.3f} | {r['escalation_rate']:.1%} | {gap} | {r['auroc']} | {area} | "
              f"{pt(r['best_at_50'])} | {pt(r['best_at_55'])} |")


if __name__ == "__main__":
    main()
