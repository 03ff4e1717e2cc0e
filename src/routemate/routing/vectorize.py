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
# difficulty beyond the size features, so hash only the first words of each part. The training
# prompts have a median of 16-18 words and 4 of 545 exceed 96; grouped CV gives the same APGR
# (within 0.001) with 64, 96, 128 or 160 words, and each word costs time on every request.
MAX_LAST_TOKENS = 96
MAX_CONTEXT_TOKENS = 64
MAX_SCAN_CHARS = 2048          # the named regex features look at the start of the last turn only

# Named features are standardised with the training mean and spread (at least MIN_SCALE), then
# clipped to ±CLIP, so a request unlike any training prompt cannot swing the score without bound.
MIN_SCALE = 0.25
CLIP = 4.0

# unanchored: a ``^`` in MULTILINE mode makes the regex engine try every character position
SIGNATURE = re.compile(r"(?:def|fn|func|function|public|private)[ \t]+\w+[ \t]*\(")

# Text is tokenised as ASCII bytes: lower-cased, every byte that is not [a-z0-9_] becomes a space,
# then split — all in C, about a nanosecond a character (a token regex is ~100 times slower, and
# routing runs on every request). Punctuation and non-ASCII characters separate words; how much
# of the prose is not ASCII is a named feature of its own.
_WORD_BYTES = bytes(c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95) else 32 for c in range(256))
_DIGIT_BYTES = bytes(c if 48 <= c <= 57 else 32 for c in range(256))

TASK_NAMES = ["autocomplete", "chat", *(name for name, _ in TASKS)]


_log = math.log1p    # every count here is ≥ 0
_TASK_KEYS = {task: f"task={task}" for task in TASK_NAMES}
_NO_TASK = dict.fromkeys(_TASK_KEYS.values(), 0.0)


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
        "doctests": min(last.count(">>> "), 10),
        "signatures": min(len(SIGNATURE.findall(last)), 10),
        "urls": min(last.count("://"), 5),
        "numbers_per_word": min(len(last.encode("ascii", "replace").translate(_DIGIT_BYTES).split()) / words, 2.0),
        "non_ascii": (len(last) - len(last.encode("ascii", "ignore"))) / len(last) if last else 0.0,
    }
    out.update(_NO_TASK)
    if f.task in _TASK_KEYS:
        out[_TASK_KEYS[f.task]] = 1.0
    return out


DENSE_NAMES: tuple[str, ...] = tuple(dense(Features(task="chat", text="", last_user="")))

# word → (its unigram bucket, its part of a bigram's bucket when it comes first)
_cache: dict[bytes, tuple[int, int]] = {}
_MASK = DIM - 1
_BIGRAM_SALT = 0x2F1A3


def _split(h: int) -> tuple[int, int]:
    # the left part mixes the word's CRC with an odd 32-bit constant, so bigram (a, b) and (b, a)
    # land in different buckets and a bigram does not collide with its words' unigrams
    return h & _MASK, (((h * 0x9E3779B1) >> 11) ^ _BIGRAM_SALT) & _MASK


_START = _split(zlib.crc32(b"^"))[1]   # the "word" before the first one, so the opening word has a bigram


def _parts(word: bytes) -> tuple[int, int]:
    parts = _cache.get(word)
    if parts is None:
        parts = _split(zlib.crc32(word))   # CRC-32: stable across processes and machines
        if len(_cache) < 200_000:   # the cache only saves time; bound it so it cannot grow forever
            _cache[word] = parts
    return parts


def words(text: str, n: int) -> list[bytes]:
    """The first ``n`` words of ``text`` (lower-cased ASCII runs of [a-z0-9_]), read from at most
    ``8 * n`` characters."""
    return text[: 8 * n].encode("ascii", "replace").lower().translate(_WORD_BYTES).split()[:n]


def bucket_counts(f: Features) -> dict[int, float]:
    """Raw hashed word and bigram counts of the conversation's text (before scaling).

    A word's bucket is its CRC-32; a bigram's XORs a mix of the first word's CRC with the second
    word's bucket, so no bigram string is ever built. Unigrams and bigrams share one hash space."""
    get = _cache.get
    ws = words(f.last_user, MAX_LAST_TOKENS)
    parts = [get(w) or _parts(w) for w in ws]
    unis = [u for u, _ in parts]
    keys = unis + [left ^ u for left, u in zip([_START, *(left for _, left in parts)], unis)]
    out: dict[int, float] = dict(Counter(keys))     # counted in C
    # In a longer conversation the task is usually stated in the first user turn ("now make it
    # faster" says little alone): its words count too, at half weight, with what was learned for them.
    if f.turns > 1:
        start = f.text.find("user: ") + 6
        first = f.text[start: start + 8 * MAX_CONTEXT_TOKENS]
        end = first.find("\nassistant: ")
        for w in words(first if end < 0 else first[:end], MAX_CONTEXT_TOKENS):
            b = (get(w) or _parts(w))[0]
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
        t = 1.0 if v == 1.0 else 1.0 + log(v)
        sq += t * t
        w = get(k)
        if w is not None:
            dot += w * t
    return dot / math.sqrt(sq) if sq else 0.0
