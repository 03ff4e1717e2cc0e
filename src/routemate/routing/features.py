"""Structured features of a whole conversation. Pure and fast: no I/O, no model, no network.

Every router sees the same ``Features``; the rules router reads the named fields, a learned router
can also hash ``text``. Nothing here reads a message's grading tests or any score.

Routing runs on every request, so the work per request is bounded whatever is pasted: keyword
features read one tokenisation of the start and end of the last user turn (where the ask is),
matched against word sets and phrases rather than one regex per keyword; line-shaped features
(tests, loose code) scan lines with ``str.startswith``. A 10 kB paste costs about as much as a
3 kB one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..chat import Message, text_of

FENCE_TAG = re.compile(r"[ \t]*([\w+#.-]*)")
# Tokens are runs of [a-z0-9_+#'] in lower-cased text; every keyword is ASCII, so the text is
# tokenised as ASCII bytes (other characters separate tokens): bytes.translate + split does in C,
# at about a nanosecond a character, what a token regex does tens of times more slowly.
_SEPARATORS = bytes(c if (chr(c).isalnum() or chr(c) in "_+#'") else 32 for c in range(256))


def tokens_of(text: str) -> list[str]:
    return text.encode("ascii", "replace").translate(_SEPARATORS).decode("ascii").split()
BIG_O = re.compile(r"\bo\([^)\n]{1,20}\)")
JAVA_FRAME = re.compile(r"^\s+at [\w.$]+\(", re.M)

# Characters of a long turn that keyword features read: the ask is at the start or the end of a
# paste. Every training prompt is shorter than HEAD + TAIL (the longest has 776 characters).
HEAD, TAIL = 1200, 600


@dataclass(frozen=True, slots=True)
class Keywords:
    """Single words (exact tokens) and multi-word phrases, matched on token boundaries."""

    words: frozenset[str]
    # phrases by their first word: (" padded phrase ", phrase), padded to match on token boundaries
    by_first: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def found(self, tokens: frozenset[str], joined: str) -> set[str]:
        hits = set(self.words & tokens)
        # a phrase can only be there if its first word is: only those phrases are looked for
        for first in self.by_first.keys() & tokens:
            hits.update(p for padded, p in self.by_first[first] if padded in joined)
        return hits


def kw(words: str, *phrases: str) -> Keywords:
    by_first: dict[str, tuple[tuple[str, str], ...]] = {}
    for p in phrases:
        first = p.split()[0]
        by_first[first] = (*by_first.get(first, ()), (f" {p} ", p))
    return Keywords(frozenset(words.split()), by_first)


# Task kinds, checked in this order against the last user turn's prose: the first that matches wins.
TASKS: list[tuple[str, Keywords]] = [
    ("design", kw("design architect architecture architectures scale scalable scalability scaling tradeoff "
                  "tradeoffs distributed microservice microservices",
                  "system design", "trade off", "trade offs", "high availability")),
    ("fix", kw("fix bug bugs broken crash crashes crashing error exception fails fail failing traceback debug",
               "doesn't work", "doesnt work", "not working", "wrong output")),
    ("test", kw("pytest jest coverage", "unit test", "unit tests", "write test", "write tests", "test case",
                "test cases", "add test", "add tests")),
    ("refactor", kw("refactor cleanup simplify simplifies restructure rename modernize",
                    "clean up", *(f"make {o} {m}{q}" for o in ("it", "this") for m in ("", "more ")
                                  for q in ("readable", "idiomatic", "faster")))),
    ("review", kw("review audit critique", "security issue", "security issues", "code smell", "code smells")),
    ("explain", kw("explain describe", "what does", "what is", "what's", "why does", "why is", "how does",
                   "meaning of", "difference between", "tell me about")),
    ("generate", kw("write implement create generate build make code function script class program add")),
]

# Reasoning / systems markers: each distinct one counts once (plurals fold into their singular).
REASONING = kw("prove proof optimise optimize complexity concurrent concurrency deadlock deadlocks lockfree "
               "threadsafe distributed consensus invariant invariants formal formally performance algorithm "
               "graph cryptography cryptographic cryptographically security compiler parser kernel protocol "
               "migration",
               "race condition", "race conditions", "lock free", "thread safe", "step by step", "edge case",
               "edge cases", "memory leak", "dynamic programming", "np hard", "backward compatible",
               "backwards compatible", "backward compatibility", "backwards compatibility", "without using",
               "without breaking")
_FOLD = {"deadlocks": "deadlock", "invariants": "invariant", "race conditions": "race condition",
         "edge cases": "edge case", "optimise": "optimize", "lockfree": "lock free", "threadsafe": "thread safe",
         "formally": "formal", "backwards compatible": "backward compatible",
         "backwards compatibility": "backward compatible", "backward compatibility": "backward compatible",
         "cryptographic": "cryptography", "cryptographically": "cryptography"}
# Constraints count every occurrence ("must" twice is two constraints).
CONSTRAINTS = ("must", "without", "should not", "only use", "at most", "at least", "in place", "no external",
               "no third party", "constant space", "constant time")

_CONSTRAINT_KEYS = tuple((c.partition(" ")[0], f" {c} ") for c in CONSTRAINTS)

TEST_PREFIXES = ("assert ", "assert(", ">>> ", "def test_", "it(", "describe(", "#[test]")
CODE_PREFIXES = ("def ", "class ", "import ", "return", "#include", "fn ", "func ", "public ", "private ",
                 "const ", "let ", "var ")
TRACE_MARKERS = ("traceback (most recent call last)", "panicked at", "segmentation fault", "undefined reference",
                 "error: ", "exception: ", "error:\n", "exception:\n")

LANG_ALIASES = {
    "py": "python", "python3": "python", "js": "javascript", "jsx": "javascript", "ts": "typescript",
    "tsx": "typescript", "rs": "rust", "golang": "go", "c++": "cpp", "cc": "cpp", "hpp": "cpp", "cs": "csharp",
    "c#": "csharp", "rb": "ruby", "kt": "kotlin", "sh": "bash", "shell": "bash", "zsh": "bash", "yml": "yaml",
    "psql": "sql", "postgres": "sql",
}
# Language hints in unlabelled text: what a line starts with (after its indentation), or holds,
# and the language's name. One regex finds every line-start hint: it begins with a newline, so the
# regex engine jumps from line to line instead of trying each character.
_LINE_STARTS = {
    "python": r"def |async def |import |elif |print\(|from [\w.]+ import |class \w[^\n]*:[ \t]*(?=\n|$)",
    "javascript": r"function |console\.log|(?:const|let) \w+ = ",
    "typescript": r"interface ",
    "rust": r"fn |pub fn |let mut |impl |use std::",
    "go": r"func |package main",
    "java": r"public (?:class|static|final|void|int)",
    "cpp": r"#include <",
    "c": r"#include <stdio",
    "sql": r"(?i:select |insert into|create table)",
    "bash": r"#!/bin/(?:ba)?sh|sudo |apt-get |export ",
}
LINE_HINT = re.compile(r"\n[ \t]*(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _LINE_STARTS.items()) + ")")
ANYWHERE = (("javascript", "=> {"), ("javascript", "console.log("), ("typescript", ": string"),
            ("typescript", ": number"), ("typescript", ": boolean"), ("go", ":= "), ("java", "System.out"),
            ("cpp", "std::"), ("c", "malloc("), ("c", "printf("))
LANG_NAMES = {"python": "python", "javascript": "javascript", "nodejs": "javascript", "typescript": "typescript",
              "rust": "rust", "cargo": "rust", "golang": "go", "java": "java", "c++": "cpp", "sql": "sql",
              "bash": "bash"}


@dataclass(frozen=True, slots=True)
class Features:
    task: str
    text: str = field(repr=False)      # the whole conversation, role-tagged, for text-based routers
    last_user: str = field(repr=False)
    chars: int = 0
    est_tokens: int = 0
    code_blocks: int = 0
    code_lines: int = 0
    code_chars: int = 0
    languages: tuple[str, ...] = ()
    messages: int = 0
    turns: int = 0                     # user turns
    tools: int = 0                     # tools offered in the request
    tool_calls: int = 0                # tool calls already in the conversation
    reasoning: int = 0                 # distinct reasoning/systems markers in the last user turn
    constraints: int = 0
    has_tests: bool = False
    has_traceback: bool = False
    has_system: bool = False

    def summary(self) -> dict[str, object]:
        return {"task": self.task, "est_tokens": self.est_tokens, "code_lines": self.code_lines,
                "languages": list(self.languages), "turns": self.turns, "tools": self.tools,
                "reasoning": self.reasoning, "constraints": self.constraints}


def normalise_language(tag: str) -> str:
    tag = tag.lower().strip()
    return LANG_ALIASES.get(tag, tag)


def fences(text: str) -> Iterator[tuple[str, int, int, int, int]]:
    """Fenced code blocks as (tag, body start, body end, start, end); an unclosed fence runs to
    the end. Positions rather than bodies: counting lines needs no copy of the code.

    Plain ``str.find`` rather than a lazy ``.*?`` regex: the regex tries the closing fence at
    every character of every body, which dominates on long pastes.
    """
    pos, size = 0, len(text)
    while (start := text.find("```", pos)) >= 0:
        eol = text.find("\n", start + 3)
        if eol < 0:
            return
        info = text[start + 3: eol]
        tag = ""
        if info and not info.isspace():
            tag_match = FENCE_TAG.match(info)
            tag = tag_match.group(1) if tag_match else ""
        close = text.find("```", eol + 1)
        if close < 0:
            yield tag, eol + 1, size, start, size
            return
        yield tag, eol + 1, close, start, close + 3
        pos = close + 3


def _window(text: str) -> str:
    return text if len(text) <= HEAD + TAIL else f"{text[:HEAD]}\n{text[-TAIL:]}"


def _loose_code_lines(text: str) -> int:
    """Lines that look like code in a turn pasted without fences."""
    n = 0
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith(CODE_PREFIXES) or s in ("{", "}", ";") or (s.startswith("from ") and " import " in s) \
                or (s.startswith(("if ", "for ", "while ")) and ":" in s):
            n += 1
    return n


def _has_tests(text: str) -> bool:
    if not any(marker in text for marker in ("assert", ">>>", "test", "it(", "describe(")):
        return False
    return any(line.lstrip().startswith(TEST_PREFIXES) for line in text.splitlines())


def _has_traceback(text: str) -> bool:
    low = _window(text).lower()
    return any(m in low for m in TRACE_MARKERS) or ("  at " in low and bool(JAVA_FRAME.search(low)))


def _languages_in(text: str, vocab: frozenset[str], found: dict[str, None]) -> None:
    """Add languages that unlabelled code or the request's words point to."""
    for word in sorted(vocab & LANG_NAMES.keys()):
        found.setdefault(LANG_NAMES[word], None)
    for m in LINE_HINT.finditer("\n" + text):
        found.setdefault(m.lastgroup or "", None)
    for lang, snippet in ANYWHERE:
        if lang not in found and snippet in text:
            found[lang] = None
    found.pop("", None)


def extract(messages: list[Message], *, tools: int = 0, completion: bool = False) -> Features:
    """Features of a conversation (``completion=True`` for raw autocomplete prompts)."""
    texts = [(m.get("role", "user"), text_of(m)) for m in messages]
    text = "\n".join(f"{role}: {t}" for role, t in texts)
    users = [t for role, t in texts if role == "user"]
    last_user = users[-1] if users else (texts[-1][1] if texts else "")

    code_blocks = code_lines = code_chars = 0
    langs: dict[str, None] = {}
    ask = last_user          # the last user turn without its fenced code: where the request is stated
    for _, t in texts:
        if "```" not in t:
            continue
        prose, pos = [], 0
        for tag, body_start, body_end, start, end in fences(t):
            code_blocks += 1
            code_lines += t.count("\n", body_start, body_end) + 1
            code_chars += body_end - body_start
            if tag:
                langs[normalise_language(tag)] = None
            prose.append(t[pos:start])
            pos = end
        if t is last_user:
            prose.append(t[pos:])
            ask = " ".join(prose)
    if not code_blocks:   # code pasted without fences still counts
        loose = _loose_code_lines(last_user)
        if loose >= 2:
            code_lines = loose
            code_chars = len(last_user)

    # one tokenisation of the ask, joined so that phrases match on word boundaries
    window = _window(ask).lower()
    tokens = tokens_of(window)
    vocab = frozenset(tokens)
    joined = f" {' '.join(tokens)} "
    _languages_in(last_user[:HEAD], vocab, langs)
    if completion:
        task = "autocomplete"
    else:
        task = next((name for name, words in TASKS if words.found(vocab, joined)), "chat")
    markers = {_FOLD.get(m, m) for m in REASONING.found(vocab, joined)}
    if "o(" in window:
        markers.update(BIG_O.findall(window))

    chars = sum(len(t) for _, t in texts)
    return Features(
        task=task, text=text, last_user=last_user, chars=chars, est_tokens=(chars + 3) // 4,
        code_blocks=code_blocks, code_lines=code_lines, code_chars=code_chars, languages=tuple(langs),
        messages=len(messages), turns=len(users), tools=tools,
        tool_calls=sum(len(m.get("tool_calls") or ()) for m in messages),
        reasoning=len(markers),
        constraints=sum(joined.count(padded) for first, padded in _CONSTRAINT_KEYS if first in vocab),
        has_tests=_has_tests(_window(last_user)), has_traceback=_has_traceback(text),
        has_system=any(role == "system" for role, _ in texts),
    )


def of_request(request: Any) -> Features:
    """The features of a ``ChatRequest``, computed once per request object."""
    f = request.memo.get("features")
    if f is None:
        f = request.memo["features"] = extract(request.messages, tools=len(request.params.get("tools") or ()))
    return f
