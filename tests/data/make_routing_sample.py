"""Writes the small outcome samples in tests/data/routing/ from the full routing sets.

Run from the repository root with the full sets at hand:
``python tests/data/make_routing_sample.py [PATH/TO/shared/data/routing]`` (default: ``../shared/data/routing``
beside the repository, or ``$ROUTEMATE_SHARED_DATA/routing``). Deterministic: the same rows every time.

What is kept, so the files stay small (a few dozen rows) but are real outcomes:
- routerbench-mbpp: 16 train and 16 test rows (every 9th/8th row of each split, in file order), every model's
  score and cost, the answers of the weak/strong pair the tests replay, the hidden tests;
- evalperf: 16 rows (three HumanEval tasks the verifier tests name, then every 8th row), scores of every run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEP_RESPONSES = ("meta/llama-2-70b-chat", "gpt-4-1106-preview")
EVALPERF_NAMED = ("HumanEval/0", "HumanEval/120", "HumanEval/121")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(rows: list[dict], path: Path) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{path.relative_to(HERE.parent.parent)}: {len(rows)} rows, {path.stat().st_size:,} bytes")


def routerbench(full: list[dict]) -> list[dict]:
    picked = [r for r in full if r["split"] == "train"][::9][:16] + [r for r in full if r["split"] == "test"][::8][:16]
    return [{**r, "responses": {m: r["responses"][m] for m in KEEP_RESPONSES if m in r.get("responses", {})}}
            for r in picked]


def evalperf(full: list[dict]) -> list[dict]:
    named = [r for r in full if r["id"] in EVALPERF_NAMED]
    rest = [r for r in full if r["id"] not in EVALPERF_NAMED][::8]
    return (named + rest)[:16]


def main() -> None:
    default = Path(os.environ["ROUTEMATE_SHARED_DATA"]) / "routing" if os.environ.get("ROUTEMATE_SHARED_DATA") \
        else HERE.parents[2] / "shared" / "data" / "routing"
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out = HERE / "routing"
    out.mkdir(exist_ok=True)
    _write(routerbench(_rows(source / "routerbench-mbpp.jsonl")), out / "routerbench-mbpp-sample.jsonl")
    _write(evalperf(_rows(source / "evalperf.jsonl")), out / "evalperf-sample.jsonl")


if __name__ == "__main__":
    main()
