"""Checks on a code answer, cheapest first: it has code in the right language, it parses, it
defines what the request names, then (one sandbox run) it imports, passes the examples written in
the request, the user's tests, and its own asserts and claimed outputs.

``verify(request, answer)`` sees only the request text, the answer and tests the *user* gave:
never hidden grading tests, never scores.
"""

from __future__ import annotations

import ast
import doctest
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..routing.features import normalise_language
from .extract import PythonAnswer, check_syntax, find_blocks, python_answer
from .sandbox import run_python

Status = Literal["pass", "fail", "skip"]
_HARNESS = Path(__file__).with_name("_harness.py").read_text(encoding="utf-8")

BUILTINS = {"print", "len", "sorted", "sum", "max", "min", "list", "set", "dict", "tuple", "str", "int", "float",
            "abs", "range", "round", "map", "filter", "any", "all", "isinstance", "type", "repr", "bool", "zip",
            "enumerate", "reversed", "assert", "math", "np", "os", "sys", "re", "self", "super", "open", "input"}
ARROW = re.compile(r"^\s*(?:[-*•]\s*|\d+[.)]\s*|(?:e\.g\.|example|for example|input)\s*:?\s*)?`?"
                   r"(?P<call>[A-Za-z_][\w.]*\(.*\))`?\s*"
                   r"(?:->|==>|=>|➞|→|==|⇒|returns|should return|must return|will return|should be|should give|gives|"
                   r"outputs?|evaluates to|is)\s*:?\s*`?(?P<want>.+?)`?\s*[.,;]?\s*$", re.I)
NAMED = re.compile(r"\b(?:function|method|class)\s+(?:called|named)\s+`?([A-Za-z_]\w*)`?|"
                   r"`([A-Za-z_]\w*)\([^`]*\)`|\b(?:function|method)\s+`([A-Za-z_]\w*)`", re.I)
SIGNATURE_IN_PROSE = re.compile(r"\b(?:function|method)\s+([A-Za-z_]\w*)\(([\w\s,=*]*)\)", re.I)
DEF_LINE = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\((.*?)\)\s*(?:->[^:]*)?:", re.M)
WANTS_FUNCTION = re.compile(r"\b(function|method|def |class|implement|procedure|routine)\b", re.I)
CLAIM = re.compile(r"^#+\s*(?P<label>(?:expected\s+)?(?:output|outputs|prints?|returns?|result|expected|answer|"
                   r"should (?:print|return|be))\s*(?:is|will be|would be)?\s*[:=]?|=>|->|→|➞|==)?\s*(?P<want>.+?)\s*$",
                   re.I)
NAMED_LANGUAGES = {"python", "javascript", "typescript", "rust", "go", "java", "cpp", "c", "bash", "sql", "csharp",
                   "ruby", "kotlin", "swift", "php"}


@dataclass(frozen=True)
class Example:
    kind: Literal["doctest", "assert", "arrow"]
    source: str
    want: str = ""

    @property
    def text(self) -> str:
        if self.kind == "assert":
            return self.source
        return f"{self.source} -> {self.want}" if self.want else self.source


@dataclass(frozen=True)
class Spec:
    """What the request itself says the code must do."""

    names: tuple[str, ...] = ()
    params: dict[str, int] = field(default_factory=dict)   # name -> parameter count in the request's def
    examples: tuple[Example, ...] = ()
    wants_function: bool = False
    language: str | None = None


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    passed: int = 0
    total: int = 0
    detail: str = ""        # what failed, for the repair prompt and the log
    label: str = ""         # how it reads in the summary line


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]
    language: str | None = None
    code: str = ""

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks) and bool(self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def ran(self) -> bool:
        """Whether any check ran the code (examples, tests, or its own example code), not just parsed it."""
        return any(c.status == "pass" and c.name in ("examples", "tests", "own") for c in self.checks)

    def summary(self) -> str:
        """One line: ``parses, defines f(a, b), 3/3 examples from the prompt pass``."""
        if self.ok:
            return ", ".join(c.label for c in self.checks if c.status != "fail" and c.label)
        return "; ".join(c.label for c in self.failed)

    def report(self) -> str:
        """The failures, in full, for a repair prompt."""
        return "\n".join(f"- {c.label}: {c.detail}" if c.detail else f"- {c.label}" for c in self.failed)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "summary": self.summary(), "language": self.language,
                "checks": [{"name": c.name, "status": c.status, "passed": c.passed, "total": c.total,
                            "detail": c.detail} for c in self.checks]}


# -- what the request asks for ------------------------------------------------------------------------

def read_request(prompt: str) -> Spec:
    """Names, signatures, examples and language from the request text (no model, no I/O)."""
    params: dict[str, int] = {}
    names: dict[str, None] = {}
    for name, arglist in DEF_LINE.findall(prompt):
        names[name] = None
        params[name] = _param_count(arglist)
    examples = _examples(prompt)
    for ex in examples:
        callee = _called_name(ex)
        if callee and callee not in BUILTINS:
            names[callee] = None
    for groups in NAMED.findall(prompt):
        name = next((g for g in groups if g), "")
        if name and name not in BUILTINS:
            names.setdefault(name, None)
    for name, arglist in SIGNATURE_IN_PROSE.findall(prompt):    # "a function is_even(n) that ..."
        if name not in BUILTINS and name not in params:
            names.setdefault(name, None)
            count = _param_count(arglist)
            if count >= 0:
                params[name] = count
    if len(params) == 1:
        examples += _input_output_examples(prompt, next(iter(params)), {e.source for e in examples})
    return Spec(names=tuple(names), params=params, examples=tuple(examples),
                wants_function=bool(WANTS_FUNCTION.search(prompt)) or bool(names),
                language=request_language(prompt))


def request_language(prompt: str) -> str | None:
    """The programming language a request names (in prose, else a fence tag), if exactly one."""
    prose = re.sub(r"```.*?(```|\Z)", " ", prompt, flags=re.S)
    found = [lang for lang, pattern in LANGUAGE_WORDS if pattern.search(prose)]
    if not found:
        tags = {normalise_language(m.group(1)) for m in re.finditer(r"```[ \t]*([\w+#.-]+)", prompt)}
        found = [t for t in tags if t in NAMED_LANGUAGES]
    if not found and DEF_LINE.search(prompt):
        found.append("python")
    return found[0] if len(found) == 1 else None


LANGUAGE_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("python", re.compile(r"\bpython\d?\b", re.I)),
    ("javascript", re.compile(r"\b(javascript|node\.?js)\b|\bJS\b", re.I)),
    ("typescript", re.compile(r"\btypescript\b", re.I)),
    ("rust", re.compile(r"\brust\b", re.I)),
    ("go", re.compile(r"\bgolang\b|\bGo\b(?= (function|program|code|struct|module|package|routine))|\bin Go\b")),
    ("java", re.compile(r"\bjava\b(?!script)", re.I)),
    ("cpp", re.compile(r"\bc\+\+|\bcpp\b", re.I)),
    ("c", re.compile(r"\b(in|using|a) C\b(?![+#])|\bC (function|program|code)\b")),
    ("csharp", re.compile(r"\bc#|\bcsharp\b", re.I)),
    ("bash", re.compile(r"\b(bash|shell script)\b", re.I)),
    ("sql", re.compile(r"\bsql\b(?! injection)", re.I)),
    ("ruby", re.compile(r"\bruby\b", re.I)),
    ("kotlin", re.compile(r"\bkotlin\b", re.I)),
    ("swift", re.compile(r"\bswift\b(?=.*\b(function|code|struct|class|program)\b)", re.I)),
    ("php", re.compile(r"\bphp\b", re.I)),
]


def _param_count(arglist: str) -> int:
    try:
        node = ast.parse(f"def _f({arglist}): pass").body[0]
    except SyntaxError:
        return -1
    assert isinstance(node, ast.FunctionDef)
    args = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
    return len(args)


def _examples(prompt: str) -> list[Example]:
    out: list[Example] = []
    seen: set[str] = set()
    try:
        for ex in doctest.DocTestParser().get_examples(prompt):
            source = ex.source.strip()
            if source and source not in seen and _compiles(source, "exec"):
                seen.add(source)
                out.append(Example("doctest", source, _want(ex.want)))
    except ValueError:   # inconsistent indentation inside a docstring: fall back to lines below
        pass
    for line in prompt.splitlines():
        stripped = line.strip().strip("`").strip()
        if stripped.startswith("assert ") and _compiles(stripped, "exec") and stripped not in seen:
            seen.add(stripped)
            out.append(Example("assert", stripped))
            continue
        if stripped.startswith((">>>", "def ", "#")):
            continue
        m = ARROW.match(stripped)
        if m and _compiles(m.group("call"), "eval") and _is_literalish(m.group("want")):
            call = m.group("call")
            if call not in seen and isinstance(ast.parse(call, mode="eval").body, ast.Call):
                seen.add(call)
                out.append(Example("arrow", call, m.group("want")))
    return out


INPUT_OUTPUT = re.compile(r"^\s*Input\s*:\s*(?P<args>.+?)\s*\n\s*(?:Output|Return|Returns)\s*:\s*(?P<want>.+?)\s*$",
                          re.I | re.M)


def _input_output_examples(prompt: str, function: str, seen: set[str]) -> list[Example]:
    """LeetCode-style ``Input: arr = [1, 2], k = 1`` / ``Output: [2]`` pairs, as calls of the one
    function the request defines."""
    out = []
    for m in INPUT_OUTPUT.finditer(prompt):
        call = f"{function}({m.group('args').rstrip('.,;')})"
        want = m.group("want").rstrip(".,;")
        if call in seen or not _compiles(call, "eval") or not _is_literalish(want):
            continue
        node = ast.parse(call, mode="eval").body
        if isinstance(node, ast.Call) and all(isinstance(a, ast.Constant) or _is_literalish(ast.unparse(a))
                                              for a in [*node.args, *(k.value for k in node.keywords)]):
            seen.add(call)
            out.append(Example("arrow", call, want))
    return out


def _want(text: str) -> str:
    """Doctest output, without a docstring's closing quotes that the parser takes for output."""
    lines = []
    for line in text.splitlines():
        if line.strip() in ('"""', "'''"):
            break
        lines.append(line)
    return "\n".join(lines).rstrip()


def _compiles(source: str, mode: str) -> bool:
    try:
        compile(source, "<request>", mode)
        return True
    except (SyntaxError, ValueError):
        return False


def _is_literalish(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
        return True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _called_name(ex: Example) -> str | None:
    try:
        tree = ast.parse(ex.source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id
    return None


# -- the checks ---------------------------------------------------------------------------------------

def verify(request: str, answer: str, *, tests: str | None = None, default_language: str | None = "python",
           timeout: float = 10.0, memory_mb: int = 512, own_examples: bool = True, strict: bool = False) -> Verdict:
    """Check ``answer`` against what ``request`` asks for (and the user's ``tests``). ``strict``:
    the code came from a remote client (or a model it prompted), so it runs only in a sandbox with
    every layer in place; otherwise it is not run and the verdict says why."""
    spec = read_request(request)
    wanted = spec.language or default_language
    py = python_answer(answer)
    blocks = [b for b in find_blocks(answer) if b.language]
    if py is None or (not py.source.strip() and not py.errors):
        other = [b for b in blocks if b.language != "python"]
        if not other:
            return Verdict((Check("code", "fail", detail="the answer contains no code", label="no code in the answer"),))
        lang = other[0].language
        if wanted and lang != wanted:
            return Verdict((Check("language", "fail", detail=f"the code is {lang}; the request needs {wanted}",
                                  label=f"answered in {lang}, not {wanted}"),), lang)
        return _verify_other(other, lang)
    if wanted and wanted != "python":
        return Verdict((Check("language", "fail", detail=f"the code is Python; the request needs {wanted}",
                              label=f"answered in Python, not {wanted}"),), "python", py.source)
    return _verify_python(spec, py, tests, timeout, memory_mb, own_examples, strict)


def _verify_other(blocks: list, language: str | None) -> Verdict:  # type: ignore[type-arg]
    checks: list[Check] = []
    for block in blocks:
        syntax = check_syntax(block.code, block.language)
        if syntax.ok is False:
            return Verdict((Check("parses", "fail", detail=syntax.message, label=f"does not parse ({syntax.message})"),),
                           language, block.code)
        if syntax.ok is None:
            checks.append(Check("parses", "skip", detail=syntax.message))
    if not checks:
        checks.append(Check("parses", "pass", label="parses"))
    return Verdict(tuple(checks), language, "\n".join(b.code for b in blocks))


def _verify_python(spec: Spec, py: PythonAnswer, tests: str | None, timeout: float, memory_mb: int,
                   own_examples: bool, strict: bool = False) -> Verdict:
    checks: list[Check] = []
    if not py.source.strip():
        error = py.errors[0] if py.errors else "no Python code"
        return Verdict((Check("parses", "fail", detail=error, label=f"does not parse ({error})"),), "python")
    checks.append(Check("parses", "pass", label="parses"))
    defines = _check_defines(spec, py)
    checks.append(defines)
    if defines.status == "fail":
        return Verdict(tuple(checks), "python", py.source)

    usage, claims = _instrument(py.usage) if own_examples else ("", 0)
    if own_examples:
        # ``>>>`` sessions in the answer run after its example code, in the same namespace
        shown = [e for t in py.transcripts for e in _transcript_examples(t)]
        usage += "".join(f"__rm_expect({e.source}, {e.want!r}, 0)\n" if _compiles(e.source, "eval")
                         else e.source + "\n" for e in shown)
        claims += sum(1 for e in shown if _compiles(e.source, "eval"))
    examples = list(spec.examples)
    payload = {"examples": [e.__dict__ for e in examples], "tests": tests or "", "usage": usage,
               "per_check_s": min(5.0, timeout / 2)}
    result = run_python(_HARNESS, timeout=timeout, memory_mb=memory_mb, strict=strict,
                        files={"solution.py": py.definitions, "spec.json": json.dumps(payload)})
    if result.limit == "unavailable":    # nothing ran: the answer is unverified, not wrong
        missing = result.layers.get("missing") if strict else None
        label = f"not run: the sandbox lacks {', '.join(missing)}" if missing else "not run: no sandbox"
        checks.append(Check("run", "skip", detail=result.stderr, label=label))
        return Verdict(tuple(checks), "python", py.source)
    # split on "\n" only: str.splitlines() would also split on the \x1e marker itself
    events = [json.loads(line[1:]) for line in result.stdout.split("\n") if line.startswith("\x1e")]
    stopped = (f"stopped: {result.limit} limit" if result.limit else
               (result.stderr.strip().splitlines() or ["the checks crashed"])[-1])

    imported = next((e for e in events if e["stage"] == "import"), None)
    if imported is None or not imported["ok"]:
        error = imported["error"] if imported else stopped
        if imported and imported.get("environment"):
            checks.append(Check("imports", "skip", detail=error))
            return Verdict(tuple(checks), "python", py.source)
        checks.append(Check("imports", "fail", detail=error, label=f"importing it fails: {error}"))
        return Verdict(tuple(checks), "python", py.source)

    n_req = len(spec.examples)
    if n_req:
        got = [e for e in events if e["stage"] == "example" and e["i"] < n_req]
        checks.append(_tally("examples", "examples from the prompt", spec.examples, got, n_req, stopped))
    if tests:
        checks.append(_tests_check(events, stopped))
    if own_examples:
        own = _own_check(events, py, usage, claims, stopped)
        if own is not None:
            checks.append(own)
    return Verdict(tuple(checks), "python", py.source)


def _check_defines(spec: Spec, py: PythonAnswer) -> Check:
    defined = set(py.names)
    try:
        for node in ast.walk(ast.parse(py.source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
    except SyntaxError:
        pass
    missing = [n for n in spec.names if n not in defined]
    if missing:
        have = ", ".join(py.names) or "nothing"
        return Check("defines", "fail", detail=f"the request names {', '.join(missing)}; the answer defines {have}",
                     label=f"does not define {', '.join(missing)}")
    for name, count in spec.params.items():
        args = py.signatures.get(name)
        if args is None or count < 0:
            continue
        positional = [a for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
        required = len(positional) - len(args.defaults)
        if not (required <= count <= len(positional) or (args.vararg and required <= count)):
            return Check("defines", "fail",
                         detail=f"{name} takes {len(positional)} parameters; the request's signature has {count}",
                         label=f"{name} has the wrong signature")
    if spec.names:
        shown = ", ".join(_signature(n, py) for n in spec.names)
        return Check("defines", "pass", label=f"defines {shown}")
    if spec.wants_function and not py.names:
        return Check("defines", "fail", detail="the request asks for a function; the answer defines none",
                     label="defines no function")
    return Check("defines", "pass", label="")


def _signature(name: str, py: PythonAnswer) -> str:
    args = py.signatures.get(name)
    if args is None:
        return name
    return f"{name}({', '.join(a.arg for a in args.posonlyargs + args.args)})"


def _tally(name: str, label: str, examples: list[Example] | tuple[Example, ...], got: list[dict], total: int,
           stopped: str) -> Check:
    by_index = {e["i"]: e for e in got}
    passed = sum(1 for e in got if e["ok"])
    problems = []
    for i in range(total):
        e = by_index.get(i)
        text = examples[i].text if i < len(examples) else f"example {i + 1}"
        if e is None:
            problems.append(f"{text}: not reached ({stopped})")
        elif not e["ok"]:
            problems.append(f"{text}: " + (e["error"] if "error" in e else f"got {e['got']}, expected {e['want']}"))
    if problems:
        return Check(name, "fail", passed, total, "\n  ".join(problems[:8]),
                     label=f"{total - passed}/{total} {label} fail")
    return Check(name, "pass", passed, total, label=f"{passed}/{total} {label} pass")


def _tests_check(events: list[dict], stopped: str) -> Check:
    module = next((e for e in events if e["stage"] == "tests-module"), None)
    if module is None:
        return Check("tests", "fail", detail=stopped, label="your tests did not run")
    if not module["ok"]:
        return Check("tests", "fail", detail=module["error"], label="your tests fail")
    results = [e for e in events if e["stage"] == "test"]
    failed = [e for e in results if not e["ok"]]
    total = max(1, len(results))
    passed = total - len(failed) if results else 1
    if failed:
        detail = "\n  ".join(f"{e['name']}: {e['error']}" for e in failed[:8])
        return Check("tests", "fail", passed, total, detail, label=f"{len(failed)}/{total} of your tests fail")
    return Check("tests", "pass", passed, total, label=f"{passed}/{total} of your tests pass")


def _own_check(events: list[dict], py: PythonAnswer, code: str, claims: int, stopped: str) -> Check | None:
    checks = py.asserts + claims
    usage = next((e for e in events if e["stage"] == "usage"), None)
    problems: list[str] = []
    shown = py.usage.splitlines()
    for e in events:
        if e["stage"] == "claim" and not e["ok"]:
            # name the example by its code (`print(f(3))`), not by a line number of an extracted snippet
            line = shown[e["line"] - 1] if 0 < e["line"] <= len(shown) else ""
            call = _without_comment(line)
            where = f"`{call}` claims" if call else "its example shows"
            problems.append(f"{where} {e['want']} but the code gives {e['got']}")
    if usage is not None and usage["ok"] and py.outputs:
        checks += len(py.outputs)
        printed = [_norm(line) for line in usage.get("printed", "").splitlines() if line.strip()]
        for block in py.outputs:
            missing = [line.strip() for line in block.splitlines() if line.strip() and _norm(line) not in printed]
            if missing and printed:
                shown = " | ".join(line.strip() for line in usage["printed"].strip().splitlines()[:6])
                problems.append(f"it says its example prints {' | '.join(missing[:3])} but it prints {shown}")
    if code.strip():
        if usage is None:
            problems.append(f"its example code did not finish ({stopped})")
        elif not usage["ok"]:
            if usage.get("environment"):
                return Check("own", "skip", detail=usage["error"])
            problems.append(f"its example code raises {usage['error']}")
    if problems:
        return Check("own", "fail", detail="\n  ".join(problems[:8]), label="its own examples fail")
    if not checks and not py.usage.strip():
        return None
    if checks:
        return Check("own", "pass", checks, checks, label=f"its own {checks} check{'s' * (checks > 1)} pass")
    return Check("own", "pass", label="its example runs")


def _without_comment(line: str) -> str:
    """``print(f(3))  # 7`` → ``print(f(3))`` (a ``#`` inside a string literal stays)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip()).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return line.split("#", 1)[0].strip()
    cut = next((t.start[1] for t in tokens if t.type == tokenize.COMMENT), None)
    return (line.strip() if cut is None else line.strip()[:cut]).strip()


def _norm(line: str) -> str:
    """An output line compared loosely: spacing and quote style do not matter."""
    text = " ".join(line.strip().split())
    try:
        return repr(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text.replace('"', "'")


def _instrument(usage: str) -> tuple[str, int]:
    """Turn ``print(x)  # [1, 2]`` lines into checks of the claimed output."""
    if not usage.strip():
        return "", 0
    try:
        tree = ast.parse(usage)
        comments = {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(usage).readline)
                    if tok.type == tokenize.COMMENT}
    except (SyntaxError, tokenize.TokenError):
        return usage, 0
    lines = usage.splitlines()
    claims = 0
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "print"
                and len(node.value.args) == 1 and not node.value.keywords and node.lineno == node.end_lineno):
            continue
        comment = comments.get(node.lineno)
        want = _claimed(comment) if comment else None
        if want is None:
            continue
        line = lines[node.lineno - 1]
        arg = ast.get_source_segment(usage, node.value.args[0])
        if arg is None:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines[node.lineno - 1] = f"{indent}__rm_expect({arg}, {want!r}, {node.lineno})"
        claims += 1
    return "\n".join(lines) + "\n", claims


def _claimed(comment: str) -> str | None:
    m = CLAIM.match(comment.strip())
    if not m:
        return None
    want = m.group("want").strip().rstrip(".")
    if _is_literalish(want):
        return want
    # plain text counts only after an explicit label and when it is short (not a remark)
    if m.group("label") and len(want.split()) <= 3 and not want.endswith(":"):
        return want.strip("'\"`")
    return None


def _transcript_examples(text: str) -> list[Example]:
    try:
        return [Example("doctest", e.source.strip(), _want(e.want))
                for e in doctest.DocTestParser().get_examples(text) if e.want.strip()]
    except ValueError:
        return []
