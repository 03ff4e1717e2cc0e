"""What running an answer's code in the sandbox costs, and what the whole check of an answer costs.

    python bench/sandbox_overhead.py [--runs 20] [--json]

1. ``run_python("pass")``: the fixed cost of one contained run (namespaces, limits, Landlock,
   a fresh interpreter), against a bare ``python -c pass`` subprocess measured interleaved.
2. ``verify`` of a HumanEval-style answer with two doctest examples (parse, names, one sandbox run).
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from routemate.verify.checks import verify
from routemate.verify.sandbox import layers, run_python

PROMPT = '''def below_zero(operations: list[int]) -> bool:
    """ True if the running balance ever drops below zero.
    >>> below_zero([1, 2, 3])
    False
    >>> below_zero([1, 2, -4, 5])
    True
    """
'''
ANSWER = "```python\ndef below_zero(operations):\n    total = 0\n    for op in operations:\n        total += op\n" \
         "        if total < 0:\n            return True\n    return False\n```"


def ms(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    found = layers()
    sandbox, bare, check = [], [], []
    for _ in range(args.runs):   # interleaved so machine noise hits all three alike
        sandbox.append(ms(lambda: run_python("pass")))
        bare.append(ms(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)))
        check.append(ms(lambda: verify(PROMPT, ANSWER)))
    figures = {
        "layers": found,
        "sandbox_run_ms": round(statistics.median(sandbox), 1),
        "bare_python_ms": round(statistics.median(bare), 1),
        "sandbox_over_bare": round(statistics.median(sandbox) / statistics.median(bare), 2),
        "verify_answer_ms": round(statistics.median(check), 1),
    }
    if not args.json:
        for key, value in figures.items():
            print(f"{key:18s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
