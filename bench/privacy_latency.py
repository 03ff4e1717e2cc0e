"""How long secret detection and language detection add to every request, and how well secrets are found.

    python bench/privacy_latency.py [--repeat 20] [--json]

Times ``Detector.scan`` (the [privacy] defaults) and ``lang.detect`` on: the development corpus
(short prompts, one by one), a 2 KB prompt with a pasted file, and a 100 KB prompt (a large file
pasted into the request). Scores each part of the corpus: the development part the detector was
tuned on and the two held-out parts (recall, false alarms on look-alikes, and whether every found
secret is redacted whole). Prints per-call median/p95 in milliseconds; the last line is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from routemate.config import PrivacyConfig
from routemate.lang import detect
from routemate.privacy.detect import Detector

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CORPUS = DATA / "privacy_corpus.jsonl"
PARTS = {"development": "privacy_corpus.jsonl", "held_out_1": "privacy_heldout.jsonl",
         "held_out_2": "privacy_heldout2.jsonl"}
# a fixed, realistic code file (the standard library's argparse, ~100 KB): routemate's own sources
# change from commit to commit, and with them how many secret-ish words the scan meets
SOURCE = Path(argparse.__file__)


def timed(fn, arg, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {"median_ms": round(statistics.median(samples), 3), "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3)}


def score(detector: Detector, path: Path) -> dict[str, object]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    secrets = [r for r in rows if r["secret"]]
    lookalikes = [r for r in rows if not r["secret"]]
    found = [r for r in secrets if detector.scan(r["text"])]
    whole = [r for r in found if r["value"] not in detector.redact(r["text"])]
    alarms = sum(1 for r in lookalikes if detector.scan(r["text"]))
    return {"secrets": len(secrets), "look_alikes": len(lookalikes), "recall": round(len(found) / len(secrets), 4),
            "false_alarms": round(alarms / len(lookalikes), 4), "redacted_whole": round(len(whole) / len(secrets), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    started = time.perf_counter()
    detector = Detector(PrivacyConfig())
    detector.scan("warm up")
    build_ms = (time.perf_counter() - started) * 1000
    detect("Écris une fonction")   # loads the language model once, as the first non-English request would

    code = SOURCE.read_text(encoding="utf-8")
    medium = "Why does this raise a KeyError?\n```python\n" + code[:2000] + "\n```"
    large = "Review this file:\n```python\n" + (code * (100_000 // len(code) + 1))[:100_000] + "\n```"

    figures: dict[str, object] = {
        **{name: score(detector, DATA / file) for name, file in PARTS.items()},
        "detector_build_ms": round(build_ms, 1),
        # _scan: the scan itself; scan() remembers results by digest, which the repeats would measure
        "scan_short": summary([t for r in rows for t in timed(detector._scan, r["text"], max(1, args.repeat // 10))]),
        "scan_2kb": summary(timed(detector._scan, medium, args.repeat)),
        "scan_100kb": summary(timed(detector._scan, large, max(3, args.repeat // 4))),
        "scan_100kb_seen_before": summary(timed(detector.scan, large, args.repeat)),
        "lang_short_en": summary(timed(detect, "Write a function to reverse a list of numbers", args.repeat)),
        "lang_short_fr": summary(timed(detect, "Écris une fonction qui inverse une liste de nombres", args.repeat)),
        "lang_2kb": summary(timed(detect, medium, args.repeat)),
    }
    if not args.json:
        for key, value in figures.items():
            print(f"{key:18s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
