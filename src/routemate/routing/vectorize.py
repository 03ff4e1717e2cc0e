"""Turn a conversation's ``Features`` into the sparse vector the learned router scores.

One function serves training and serving, so the two can never drift apart. Pure Python (no
numpy): importing it costs nothing and one call takes tens of microseconds.

The vector has two parts:
- hashed text: word unigrams and bigrams of the last user turn, plus (at half weight) the words of
  the first user turn when the conversation has several. Hashing (CRC-32, stable across processes
  and machines) means the shipped model stores no vocabulary and no prompt text;
- named numeric features of the whole conversation: size, code (blocks, lines, languages, tests,
  tracebacks, doctest examples, signatures), task verb, reasoning/systems and constraint markers,
  turns and tool use, and how much of the prose is not ASCII (a proxy for non-English requests).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

from .features import TASKS, Features

HASH_BITS = 18
DIM = 1 << HASH_BITS
# Bounded work per request: long pastes are dominated by code, whose tokens say little about
# difficulty beyond the size features, so hash only the first words of each part.
MAX_LAST_TOKENS = 160
MAX_CONTEXT_TOKENS = 96
MAX_SCAN_CHARS = 2048          # the named regex features look at the start of the last turn only

# Named features are standardised with the training mean and spread (at least MIN_SCALE), then
# clipped to ±CLIP, so a request unlike any training prompt cannot swing the score without bound.
MIN_SCALE = 0.25
CLIP = 4.0

TOKEN = re.compile(r"[a-z_][a-z0-9_]*|\d+|[^\sa-z0-9_]")
DOCTEST = re.compile(r"^\s*>>> ", re.M)
SIGNATURE = re.compile(r"^\s*(?:def|fn|func|function|public|private)\s+\w+\s*\(", re.M)
URL = re.compile(r"https?://")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
NON_ASCII = re.compile(r"[^\x00-\x7f]")

TASK_NAMES = ["autocomplete", "chat", *(name for name, _ in TASKS)]


def _log(x: float) -> float:
    return math.log1p(max(0.0, x))


def dense(f: Features) -> dict[str, float]:
    """The named numeric features, unscaled (the model stores each one's mean and spread)."""
    last = f.last_user[:MAX_SCAN_CHARS]
    words = max(1, last.count(" ") + 1)
    out = {
        "log_chars": _log(f.chars),
        "log_last_chars": _log(len(f.last_user)),
        "log_last_words": _log(words),
        "code_blocks": min(f.code_blocks, 10),
        "log_code_lines": _log(f.code_lines),
        "code_share": f.code_chars / f.chars if f.chars else 0.0,
        "languages": len(f.languages),
        "messages": min(f.messages, 50),
        "log_turns": _log(f.turns),
        "tools": min(f.tools, 20),
        "tool_calls": min(f.tool_calls, 20),
        "reasoning": f.reasoning,
        "constraints": min(f.constraints, 10),
        "has_tests": float(f.has_tests),
        "has_traceback": float(f.has_traceback),
        "has_system": float(f.has_system),
        "doctests": min(len(DOCTEST.findall(last)), 10),
        "signatures": min(len(SIGNATURE.findall(last)), 10),
        "urls": min(len(URL.findall(last)), 5),
        "numbers_per_word": min(len(NUMBER.findall(last)) / words, 2.0),
        "non_ascii": len(NON_ASCII.findall(last)) / len(last) if last else 0.0,
    }
    for task in TASK_NAMES:
        out[f"task={task}"] = float(f.task == task)
    return out


DENSE_NAMES: tuple[str, ...] = tuple(dense(Features(task="chat", text="", last_user="")))

_cache: dict[str, int] = {}


def _bucket(key: str) -> int:
    b = zlib.crc32(key.encode("utf-8", "surrogatepass")) & (DIM - 1)
    if len(_cache) < 200_000:   # the cache only saves time; bound it so it cannot grow forever
        _cache[key] = b
    return b


def _first_tokens(text: str, n: int) -> list[str]:
    """The first ``n`` tokens, tokenising only as much of ``text`` as that takes.

    A token cut by the window's end can only be the window's last one, so once the window holds
    more than ``n`` tokens its first ``n`` are exactly those of the whole text."""
    size = 4 * n
    while True:
        toks = TOKEN.findall(text, 0, size)
        if len(toks) > n or size >= len(text):
            return toks[:n]
        size *= 2


def bucket_counts(f: Features) -> dict[int, float]:
    """Raw hashed word and bigram counts of the conversation's text (before scaling)."""
    toks = _first_tokens(f.last_user[: 8 * MAX_LAST_TOKENS].lower(), MAX_LAST_TOKENS)
    keys = ["u" + t for t in toks]
    keys += [f"b{a} {b}" for a, b in zip(["^", *toks], toks)]
    out: dict[int, float] = {}
    get = _cache.get
    for key, count in Counter(keys).items():     # counted in C; buckets looked up once per distinct key
        b = get(key)
        if b is None:
            b = _bucket(key)
        out[b] = out.get(b, 0.0) + count
    # In a longer conversation the task is usually stated in the first user turn ("now make it
    # faster" says little alone): its words count too, at half weight, with what was learned for them.
    if f.turns > 1:
        start = f.text.find("user: ") + 6
        first = f.text[start: start + 8 * MAX_CONTEXT_TOKENS]
        end = first.find("\nassistant: ")
        for t in _first_tokens((first if end < 0 else first[:end]).lower(), MAX_CONTEXT_TOKENS):
            key = "u" + t
            b = get(key)
            if b is None:
                b = _bucket(key)
            out[b] = out.get(b, 0.0) + 0.5
    return out


def hashed(f: Features) -> dict[int, float]:
    """Hashed word counts (log-scaled, L2-normalised) of the conversation's text."""
    out = {k: 1.0 + math.log(v) for k, v in bucket_counts(f).items()}   # ≥ 0.31 for a lone half-weight word
    if not out:
        return out
    norm = math.sqrt(sum(v * v for v in out.values()))
    return {k: v / norm for k, v in out.items()}


def hashed_dot(f: Features, weights: dict[int, float]) -> float:
    """``sum(weights[k] * hashed(f)[k])`` in one pass, without building the normalised vector
    (the serving path: a few hundred buckets a request)."""
    dot = sq = 0.0
    log, get = math.log, weights.get
    for k, v in bucket_counts(f).items():
        t = 1.0 + log(v)
        sq += t * t
        w = get(k)
        if w is not None:
            dot += w * t
    return dot / math.sqrt(sq) if sq else 0.0
