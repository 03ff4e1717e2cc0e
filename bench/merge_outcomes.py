"""Join outcome files by prompt id, for replays that need several runs in one file:

    python bench/merge_outcomes.py -o he-early.jsonl he-s10.jsonl he-q05.jsonl he-q15.jsonl

The first file gives the rows; each later file adds, per model, what it records (`scores`, `costs`,
`responses`, `samples`, `sample_scores`), replacing what an earlier file said about the same model
and field. So the line above keeps the 10 samples of `he-s10.jsonl`, takes the greedy run's answer
and score as q05's first answer (`responses`: what `eval cascade --early` checks first), and adds
the 1.5B coder's answers as the strong side. A row missing from any later file is left out, and the
count says so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIELDS = ("scores", "costs", "responses", "samples", "sample_scores")


def read(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8") as fh:
        return {row["id"]: row for row in map(json.loads, filter(str.strip, fh))}


def merge(first: dict[str, dict], others: list[dict[str, dict]]) -> list[dict]:
    out = []
    for rid, row in first.items():
        if not all(rid in other for other in others):
            continue
        merged = {**row, **{f: dict(row.get(f) or {}) for f in FIELDS}}
        for other in others:
            for f in FIELDS:
                merged[f].update(other[rid].get(f) or {})
        out.append({k: v for k, v in merged.items() if v != {} or k == "scores"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", type=Path, nargs="+", help="outcome files; the first gives the rows")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    first, *rest = (read(p) for p in args.files)
    rows = merge(first, rest)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    print(f"{len(rows)} rows written to {args.out}" + (f" ({len(first) - len(rows)} left out: missing from a "
                                                      f"later file)" if len(rows) < len(first) else ""))


if __name__ == "__main__":
    main()
