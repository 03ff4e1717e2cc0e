"""Structured features of a whole conversation. Pure and fast: no I/O, no model, no network.

Every router sees the same ``Features``; the rules router reads the named fields, a learned router
can also hash ``text``. Nothing here reads a message's grading tests or any score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..chat import Message, text_of

FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+at [\w.$]+\(|panicked at|"
                       r"\b(?:Error|Exception):\s|segmentation fault|undefined reference", re.M | re.I)
TEST_MARKERS = re.compile(r"^\s*(?:assert\s|>>> |def test_|it\(|describe\(|#\[test\])", re.M)

# Task verbs, checked in this order against the last user turn: the first that matches wins.
TASKS: list[tuple[str, re.Pattern[str]]] = [
    ("design", re.compile(r"\b(design|architect(?:ure)?|system design|scal(?:e|able|ability)|trade-?offs?|"
                          r"high[- ]availability|distributed|microservices?)\b", re.I)),
    ("fix", re.compile(r"\b(fix|bug|broken|crash(?:es|ing)?|error|exception|fails?|failing|doesn'?t work|"
                       r"not working|traceback|debug|wrong output)\b", re.I)),
    ("test", re.compile(r"\b(unit tests?|write tests?|test cases?|pytest|jest|coverage|add tests?)\b", re.I)),
    ("refactor", re.compile(r"\b(refactor|clean ?up|simplif(?:y|ies)|restructure|rename|modernize|"
                            r"make (?:it|this) (?:more )?(?:readable|idiomatic|faster))\b", re.I)),
    ("review", re.compile(r"\b(review|audit|critique|security issues?|code smells?)\b", re.I)),
    ("explain", re.compile(r"\b(explain|what does|what is|what's|why does|why is|how does|meaning of|"
                           r"difference between|describe|tell me about)\b", re.I)),
    ("generate", re.compile(r"\b(write|implement|create|generate|build|make|code|function|script|class|"
                            r"program|add)\b", re.I)),
]

REASONING = re.compile(
    r"\b(prove|proof|optimi[sz]e|complexity|O\([^)]*\)|concurren(?:t|cy)|race conditions?|deadlocks?|lock-?free|"
    r"thread-?safe|distributed|consensus|invariants?|formal(?:ly)?|step by step|edge cases?|"
    r"performance|memory leak|algorithm|dynamic programming|graph|np-hard|cryptograph\w*|security|"
    r"compiler|parser|kernel|protocol|migration|backwards? compatib\w*|without (?:using|breaking))\b", re.I)
CONSTRAINTS = re.compile(r"\b(must|should not|must not|without|only use|at most|at least|in place|"
                         r"no (?:external|third-party)|constant (?:space|time))\b", re.I)

LANG_ALIASES = {
    "py": "python", "python3": "python", "js": "javascript", "jsx": "javascript", "ts": "typescript",
    "tsx": "typescript", "rs": "rust", "golang": "go", "c++": "cpp", "cc": "cpp", "hpp": "cpp", "cs": "csharp",
    "c#": "csharp", "rb": "ruby", "kt": "kotlin", "sh": "bash", "shell": "bash", "zsh": "bash", "yml": "yaml",
    "psql": "sql", "postgres": "sql",
}
LANG_HINTS: list[tuple[str, re.Pattern[str]]] = [
    ("python", re.compile(r"^\s*(def |import |from \w+ import|class \w+.*:\s*$|print\()|\bpython\b", re.M | re.I)),
    ("javascript", re.compile(r"\b(const|let) \w+ = |=> \{|function \w+\(|console\.log|\b(javascript|node\.?js)\b",
                              re.I)),
    ("typescript", re.compile(r"\binterface \w+ \{|: (string|number|boolean)\b|\btypescript\b", re.I)),
    ("rust", re.compile(r"\bfn \w+\(|\blet mut\b|impl\b.*\{|\brust\b|\bcargo\b")),
    ("go", re.compile(r"\bfunc \w+\(|\bpackage main\b|:= |\bgolang\b")),
    ("java", re.compile(r"\bpublic (static |final )?(class|void|int)\b|System\.out|\bjava\b")),
    ("cpp", re.compile(r"#include\s*<|std::|\bc\+\+")),
    ("c", re.compile(r"#include\s*<stdio|\bmalloc\(|\bprintf\(")),
    ("sql", re.compile(r"\b(SELECT .* FROM|INSERT INTO|CREATE TABLE)\b|\bsql\b", re.I)),
    ("bash", re.compile(r"^\s*(#!/bin/(ba)?sh|sudo |apt-get |export \w+=)|\bbash\b", re.M)),
]
CODE_LINE = re.compile(r"^\s*(def |class |import |from \w+ import|return\b|if .*:|for .*:|while .*:|[{};]\s*$|"
                       r"#include|fn |func |public |private |const |let |var )", re.M)


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


def extract(messages: list[Message], *, tools: int = 0, completion: bool = False) -> Features:
    """Features of a conversation (``completion=True`` for raw autocomplete prompts)."""
    texts = [(m.get("role", "user"), text_of(m)) for m in messages]
    text = "\n".join(f"{role}: {t}" for role, t in texts)
    users = [t for role, t in texts if role == "user"]
    last_user = users[-1] if users else (texts[-1][1] if texts else "")

    code_blocks = code_lines = code_chars = 0
    langs: dict[str, None] = {}
    for _, t in texts:
        for tag, body in FENCE.findall(t):
            code_blocks += 1
            code_lines += body.count("\n") + 1
            code_chars += len(body)
            if tag:
                langs[normalise_language(tag)] = None
    if not code_blocks:   # code pasted without fences still counts
        loose = len(CODE_LINE.findall(last_user))
        if loose >= 2:
            code_lines = loose
            code_chars = len(last_user)
    for lang, pattern in LANG_HINTS:
        if lang not in langs and pattern.search(last_user):
            langs[lang] = None

    if completion:
        task = "autocomplete"
    else:
        prose = FENCE.sub(" ", last_user)
        task = next((name for name, pattern in TASKS if pattern.search(prose)), "chat")

    prose = FENCE.sub(" ", last_user)
    chars = sum(len(t) for _, t in texts)
    return Features(
        task=task, text=text, last_user=last_user, chars=chars, est_tokens=(chars + 3) // 4,
        code_blocks=code_blocks, code_lines=code_lines, code_chars=code_chars, languages=tuple(langs),
        messages=len(messages), turns=len(users), tools=tools,
        tool_calls=sum(len(m.get("tool_calls") or ()) for m in messages),
        reasoning=len({m.lower() for m in REASONING.findall(prose)}),
        constraints=len(CONSTRAINTS.findall(prose)),
        has_tests=bool(TEST_MARKERS.search(last_user)), has_traceback=bool(TRACEBACK.search(text)),
        has_system=any(role == "system" for role, _ in texts),
    )
