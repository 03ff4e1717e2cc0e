"""Code from a model's answer: fenced blocks (tagged or not), ``[PYTHON]`` tags, bare code answers.

Python gets a full reading: every Python block is parsed and the answer is split into
*definitions* (imports, functions, classes, constants: safe to import) and *usage* (the
example calls, prints and asserts the answer wrote to show its code working), so checks can
import the code without side effects and still run the answer's own examples. Other languages
get a syntax check with a tree-sitter grammar when one is installed.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache

from ..routing.features import normalise_language
from . import pyast

# ``` or ~~~ fences, indented or not; an unclosed last fence (answer cut at max_tokens) counts.
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<tag>[\w+#.-]*)[^\n]*\n(?P<body>.*?)"
                   r"(?:^[ \t]*(?P=fence)[ \t]*$|\Z)", re.S | re.M)
# Code Llama's instruct format: [PYTHON] ... [/PYTHON], [TESTS] ... [/TESTS]
TAGGED = re.compile(r"\[(?P<tag>PYTHON|TESTS|CODE)\]\s*\n?(?P<body>.*?)(?:\[/(?P=tag)\]|\Z)", re.S)
CODE_START = re.compile(r"^(?:def |async def |class |import |from [\w.]+ import |@\w)")
NOT_CODE_TAGS = {"text", "txt", "output", "console", "shell-session", "plaintext", "markdown", "md", "diff",
                 "json", "yaml", "toml", "ini", "csv", "xml", "html", "log"}
PY_TAGS = {"python", "py", "python3", "py3", "ipython", "pycon", "sage"}
CONSTRUCTORS = {"compile", "namedtuple", "TypeVar", "defaultdict", "frozenset", "set", "dict", "list", "tuple",
                "Enum", "NewType", "dataclass", "field", "deque", "Counter", "OrderedDict", "getLogger",
                "lru_cache", "object", "float", "int", "str", "range", "Decimal", "Fraction"}


@dataclass(frozen=True)
class Block:
    code: str
    language: str | None    # normalised ("python", "javascript", ...); None when unknown
    tag: str = ""           # what followed the fence, as written
    fenced: bool = True
    lead: str = ""          # the last line of prose before the block ("Output:")
    trail: str = ""         # the first line of prose after it ("Output: `cba`")


@dataclass(frozen=True)
class PythonAnswer:
    """What a Python answer amounts to, read without running it."""

    source: str                       # every parseable Python block, in order
    definitions: str                  # imports, defs, classes, constants: importable without side effects
    usage: str                        # the answer's own example code (calls, prints, asserts)
    names: tuple[str, ...]            # top-level functions and classes it defines
    signatures: dict[str, ast.arguments] = field(repr=False, default_factory=dict)
    asserts: int = 0                  # assert statements in the usage and in test functions
    blocks: int = 0                   # Python blocks found
    errors: tuple[str, ...] = ()      # syntax errors of blocks that looked like Python but do not parse
    transcripts: tuple[str, ...] = () # ``>>>`` sessions shown in the answer (doctest text)
    outputs: tuple[str, ...] = ()     # blocks the answer presents as what its example code prints


def find_blocks(text: str) -> list[Block]:
    """Every code block of an answer, in order. An answer with no fences is one block when it
    reads as code (from the first line that starts code to the end of that code)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Block] = []
    for m in TAGGED.finditer(text):
        blocks.append(Block(m.group("body").strip("\n"), "python", m.group("tag").lower()))
    if blocks:
        return blocks
    fences = list(FENCE.finditer(text))
    for i, m in enumerate(fences):
        body = textwrap.dedent(m.group("body"))   # fences indented inside a list item
        tag = m.group("tag")
        lang = normalise_language(tag) if tag else None
        if lang in PY_TAGS:
            lang = "python"
        before = text[:m.start()].rstrip().rsplit("\n", 1)[-1]
        after = text[m.end():fences[i + 1].start() if i + 1 < len(fences) else len(text)].strip()
        blocks.append(Block(body.rstrip() + "\n", lang or guess_language(body), tag, lead=before,
                            trail=after.split("\n", 1)[0]))
    if blocks:
        return blocks
    bare = _bare_code(text)
    return [Block(bare, guess_language(bare), "", fenced=False)] if bare else []


HEAD_LINE = re.compile(r"^(?:(?:async )?def \w|class \w|@\w|#)")
SIGNATURE = re.compile(r"^(?:async def|def|class) \w")
STUB_LINE = re.compile(r"^(?:async def|def|class) \w+\s*[(:]")
IMPORT = re.compile(r"^(?:from \S+ )?import \S")
# a line that opens or closes a fenced block: the fence, then any tag ("```python")
FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*(?:\n|\Z)", re.M)


def gives_stub(request: str) -> bool:
    """Whether ``request`` writes out a function or class for the answer to complete or rework."""
    return any(STUB_LINE.match(line.strip()) for line in request.splitlines())


def copied_head(request: str, answer: str) -> str:
    """The part of ``answer`` that only repeats what ``request`` already wrote: the opening fence,
    imports, and the signatures, docstrings and comments of a stub the request gave, up to the first
    line of new code. Prose the answer opens with ("To complete it, we track the balance:") is left
    out: it often names the approach, and samples that went on from it would follow the first
    answer's. Empty unless it repeats at least one ``def`` or ``class`` line of the request. Further
    samples of the same request can start from it instead of writing it out again: every sample
    would copy the same lines, and decoding them is most of a short function's time."""
    answer = answer.replace("\r\n", "\n")
    fence = FENCE_LINE.search(answer)
    intro = answer[:fence.start()] if fence else ""
    if any(SIGNATURE.match(line.strip()) for line in intro.splitlines()):
        intro = ""                         # code before the block: the samples write their own
    seen = {line.strip() for line in request.replace("\r\n", "\n").splitlines() if line.strip()}
    end = kept = 0
    signature = in_doc = started = False
    for line in answer[len(intro):].split("\n")[:-1]:     # whole lines only
        text = line.strip()
        quotes = text.count('"""') + text.count("'''")
        if text.startswith(("```", "~~~")):
            if started:                    # a closing fence: the samples write their own
                break
        elif text and not in_doc and IMPORT.match(text):
            pass                           # imports it adds (``from typing import *``) are no answer yet
        elif text and (text not in seen or not (in_doc or quotes or HEAD_LINE.match(text))):
            break                          # new code, or a statement of a body the request showed
        started = started or bool(text)
        signature = signature or bool(SIGNATURE.match(text))
        if quotes % 2:
            in_doc = not in_doc
        end += len(line) + 1
        if signature and not in_doc:
            kept = end
    return answer[len(intro):len(intro) + kept]


def request_head(request: str) -> str:
    """The start of an answer that completes the stub ``request`` gives, written from the request
    alone: an opening fence, then the stub's imports, signature and docstring (``copied_head`` of
    the stub block as if an answer had copied it). Empty unless the request shows a Python stub in
    a code block with no body to rework (nothing after the docstring but ``pass`` or ``...``): code
    to fix or change is for the model to write out as it sees fit. A first answer can go on from it
    instead of copying the stub out itself."""
    for block in find_blocks(request):
        if block.fenced and block.language == "python" and gives_stub(block.code):
            head = copied_head(request, "```python\n" + block.code + "```\n")
            rest = block.code[len(head) - len("```python\n"):] if head else block.code
            return head if rest.strip() in ("", "pass", "...") else ""
    return ""


SHELL_TAGS = {"bash", "sh", "shell", "zsh", "console", "powershell", "ps1", "cmd", "bat"}


def block_start(answer: str) -> str:
    """The line that opens ``answer``'s first code block ("```python"), when that block is tagged as
    code (not a shell session, output or data). Further samples that start there write the code
    alone: no prose before it, none after it."""
    m = FENCE_LINE.search(answer.replace("\r\n", "\n"))
    tag = m.group(2).lower() if m and m.group(0).endswith("\n") else ""      # a whole line
    return m.group(0).lstrip(" \t") if tag and tag not in NOT_CODE_TAGS | SHELL_TAGS else ""


def block_end(answer: str) -> int | None:
    """Where ``answer``'s first code block ends: the offset just past the line that closes it (the
    same fence, at least as long, nothing after it), when that block is tagged as code
    (``block_start``) and its closing line is complete. None while it is open, or when the first
    block is not code. Read on a streaming answer, it tells when the code is all there."""
    first = FENCE_LINE.search(answer)
    if first is None or not block_start(answer):
        return None
    fence = first.group(1)
    for m in FENCE_LINE.finditer(answer, first.end()):
        line = m.group(0)
        if line.endswith("\n") and line.strip() and set(line.strip()) == {fence[0]} and \
                len(line.strip()) >= len(fence):
            return m.end()
    return None


def opening_fence(head: str) -> str:
    """The fence (three or more backticks or tildes) of the code block ``head`` opens and leaves
    open, or "" when it opens none."""
    fences = [m.group(1) for m in FENCE_LINE.finditer(head)]
    return fences[-1] if len(fences) % 2 else ""


def _bare_code(text: str) -> str | None:
    """The code of an answer written without fences: all of it if it parses as Python, else the
    run of lines from the first line that starts code, trimmed until it parses."""
    if _parses(text) and CODE_START.search(text.lstrip()):
        return text.strip("\n") + "\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if CODE_START.match(line)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in " \t#@)]}" or CODE_START.match(lines[end])
                                or re.match(r"^[\w.\[\]]+\s*(=|\()|^(if|for|while|with|try|except|else|elif|"
                                            r"finally|return|print|assert|raise)\b", lines[end])):
        end += 1
    for stop in range(end, start, -1):
        chunk = "\n".join(lines[start:stop]).strip("\n")
        if chunk and _parses(chunk):
            return chunk + "\n"
    return None


def _parses(code: str) -> bool:
    try:
        pyast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def guess_language(code: str) -> str | None:
    """A language for an untagged block: Python when it parses and looks like Python, else a
    hint from its keywords."""
    stripped = code.strip()
    if not stripped:
        return None
    if stripped.startswith(">>>"):
        return "python"
    if _parses(code) and (re.search(r"^\s*(def|class|import|from|print|return|for|if|while|assert)\b|^\s*\w+\s*=",
                                    code, re.M)):
        return "python"
    for lang, pattern in _HINTS:
        if pattern.search(code):
            return lang
    return None


_HINTS: list[tuple[str, re.Pattern[str]]] = [
    ("python", re.compile(r"^\s*def \w+\(.*\):\s*$", re.M)),
    ("rust", re.compile(r"\bfn \w+\(|\blet mut\b|\bimpl\b")),
    ("go", re.compile(r"\bfunc \w+\(|\bpackage \w+")),
    ("java", re.compile(r"\bpublic (static )?(class|void|int|String)\b")),
    ("typescript", re.compile(r"\binterface \w+ \{|: (string|number|boolean)\b")),
    ("javascript", re.compile(r"\b(const|let) \w+ = |=> |function \w+\(|console\.log")),
    ("cpp", re.compile(r"#include\s*<(iostream|vector|string)>|std::")),
    ("c", re.compile(r"#include\s*<\w+\.h>")),
    ("bash", re.compile(r"^\s*(#!/bin/(ba)?sh|sudo |apt-get |pip install |npm )", re.M)),
]


# -- Python ------------------------------------------------------------------------------------------

def python_answer(text: str) -> PythonAnswer | None:
    """The Python an answer contains, or None when it has none."""
    defs: list[str] = []
    usage: list[str] = []
    sources: list[str] = []
    names: dict[str, None] = {}
    signatures: dict[str, ast.arguments] = {}
    errors: list[str] = []
    transcripts: list[str] = []
    outputs: list[str] = []
    asserts = 0
    count = 0
    for block in find_blocks(text):
        if block.language != "python" or block.tag.lower() in NOT_CODE_TAGS:
            if usage and OUTPUT_LEAD.search(block.lead) and _plain_output(block.code):
                outputs.append(block.code)
            continue
        count += 1
        if block.code.lstrip().startswith(">>>"):
            transcripts.append(block.code)
            continue
        try:
            tree = pyast.parse(block.code)
        except SyntaxError as exc:
            errors.append(f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg)
            continue
        sources.append(block.code)
        said = _output_in_prose(block.trail)
        if said is not None and re.search(r"^\s*print\s*\(", block.code, re.M):
            outputs.append(said)
        lines = block.code.splitlines()
        for node in tree.body:
            segment = _segment(lines, node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = None
                if not isinstance(node, ast.ClassDef):
                    signatures[node.name] = node.args
                if node.name.startswith("test") and not isinstance(node, ast.ClassDef):
                    asserts += _count_asserts(node)
                    usage.append(segment)   # defined here, called below
                    usage.append(f"{node.name}()")
                    continue
                defs.append(segment)
            elif _is_definition(node):
                defs.append(segment)
            elif _is_main_guard(node):
                assert isinstance(node, ast.If)
                asserts += sum(_count_asserts(n) for n in node.body)
                usage.extend(_segment(lines, n) for n in node.body)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue   # a stray string or docstring
            else:
                asserts += _count_asserts(node)
                usage.append(segment)
    if not count:
        return None
    return PythonAnswer(source="\n\n".join(s.rstrip() for s in sources) + ("\n" if sources else ""),
                        definitions="\n\n".join(defs) + ("\n" if defs else ""),
                        usage="\n".join(usage) + ("\n" if usage else ""), names=tuple(names),
                        signatures=signatures, asserts=asserts, blocks=count, errors=tuple(errors),
                        transcripts=tuple(transcripts), outputs=tuple(outputs))


OUTPUT_LEAD = re.compile(r"(?i)\b(output|outputs|prints?|printed|result|results|returns?|should see|displays?)\b"
                         r"[^\n]*:?\s*$")


# "Output: `cba`", "This will output: cba", "The result is: [1, 2]" on the line after a code block
OUTPUT_IN_PROSE = re.compile(r"^\W*(?:the\s+|this\s+(?:will\s+|should\s+|would\s+)?|it\s+(?:will\s+)?)?"
                             r"(?:expected\s+)?(?:output|outputs|prints?|printed|result|displays?)\b[^:\n]{0,25}:\s*"
                             r"(?P<want>\S.*?)\s*$", re.I)


def _output_in_prose(line: str) -> str | None:
    """The output a line of prose says the code above prints, when it is unmistakably output: a
    value, text in backticks or quotes, or one word."""
    m = OUTPUT_IN_PROSE.match(line)
    if m is None:
        return None
    want = m.group("want").rstrip(".")
    quoted = re.fullmatch(r"`([^`]+)`|\"([^\"]+)\"", want)
    if quoted:
        return next(g for g in quoted.groups() if g is not None)
    try:
        pyast.literal_eval(want)
        return want
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return want if re.fullmatch(r"[^\s`]+", want) else None


def _plain_output(text: str) -> bool:
    """Output text, not code, an error shown on purpose, or an elided sample."""
    body = text.strip()
    return (bool(body) and len(body) < 2000 and "Traceback" not in body and "Error" not in body
            and "..." not in body and "…" not in body
            and not re.search(r"^\s*(def |class |import |print\(|for |while |>>> |\$ )", body, re.M))


def _segment(lines: list[str], node: ast.stmt) -> str:
    start = node.lineno - 1
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
        start = node.decorator_list[0].lineno - 1
    end = node.end_lineno or node.lineno
    return textwrap.dedent("\n".join(lines[start:end]))


def _count_asserts(node: ast.AST) -> int:
    return sum(isinstance(n, ast.Assert) for n in ast.walk(node))


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    return any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts)


def _is_definition(node: ast.stmt) -> bool:
    """Imports and constants: statements safe to run when the code is imported."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        value = node.value
        if value is None:
            return True
        calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)]
        return all(_callee(c) in CONSTRUCTORS for c in calls)
    if isinstance(node, ast.Try):   # try: import x / except ImportError: ...
        return all(isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign, ast.Pass)) for n in node.body)
    return False


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


# -- syntax checks for any language --------------------------------------------------------------------

@dataclass(frozen=True)
class Syntax:
    ok: bool | None          # None: no parser for this language here
    message: str = ""
    parser: str = ""


TREE_SITTER = {
    "javascript": ("tree_sitter_javascript", "language"), "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"), "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"), "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"), "cpp": ("tree_sitter_cpp", "language"),
    "bash": ("tree_sitter_bash", "language"),
}


def check_syntax(code: str, language: str | None) -> Syntax:
    """Does ``code`` parse as ``language``? Python with ``ast``; others with tree-sitter."""
    if language == "python":
        try:
            pyast.parse(code)
            return Syntax(True, parser="ast")
        except SyntaxError as exc:
            return Syntax(False, f"line {exc.lineno}: {exc.msg}", "ast")
    parser = _tree_sitter(language or "")
    if parser is None:
        return Syntax(None, f"no parser for {language or 'this language'}")
    tree = parser.parse(code.encode("utf-8"))
    if not tree.root_node.has_error:
        return Syntax(True, parser="tree-sitter")
    node = _first_error(tree.root_node)
    where = f"line {node.start_point[0] + 1}" if node is not None else "somewhere"
    what = f"missing {node.type}" if node is not None and node.is_missing else "unexpected input"
    return Syntax(False, f"{where}: {what}", "tree-sitter")


@lru_cache(maxsize=None)
def _tree_sitter(language: str):  # type: ignore[no-untyped-def]
    if language not in TREE_SITTER:
        return None
    module_name, attr = TREE_SITTER[language]
    try:
        import importlib

        from tree_sitter import Language, Parser

        grammar = importlib.import_module(module_name)
        return Parser(Language(getattr(grammar, attr)()))
    except (ImportError, AttributeError, ValueError):
        return None


def _first_error(node):  # type: ignore[no-untyped-def]
    if node.is_error or node.is_missing:
        return node
    for child in node.children:
        if child.has_error or child.is_missing:
            found = _first_error(child)
            if found is not None:
                return found
    return None


def parsers() -> list[str]:
    """Languages this installation can syntax-check."""
    return ["python", *(lang for lang in TREE_SITTER if _tree_sitter(lang) is not None)]
