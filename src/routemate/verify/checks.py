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
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from .examples import Example, claimed, compiles, doctest_want
from .extract import PythonAnswer, check_syntax, find_blocks, python_answer
from .sandbox import refusal, run_python
from .spec import Spec, read_request
from . import pyast

Status = Literal["pass", "fail", "skip"]
Weaker = tuple[tuple[str, str], ...]     # sandbox layers a run lacked: (layer, what the kernel said)
NOTHING_STATED = "no example states an expected result"
_HARNESS = Path(__file__).with_name("_harness.py").read_text(encoding="utf-8")


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
    outputs: tuple[str, ...] = ()    # what the entry function did on each generated input (see agreement)
    entry: str | None = None         # the function those inputs called
    weaker: Weaker = ()              # sandbox layers the code ran without (docs/verify.md)

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks) and bool(self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def ran(self) -> bool:
        """Whether any check ran the code against an expectation (examples, tests, or its own
        examples), not just parsed or imported it. An example that only prints, stating no
        expected result, checks nothing: it is ``executed``, not ``ran``."""
        return any(c.status == "pass" and c.name in ("examples", "tests", "own") for c in self.checks)

    @property
    def inputs_run(self) -> tuple[int, int]:
        """(generated inputs it finished, how many of them raised)."""
        done = [o for o in self.outputs if not o.startswith(("not reached", "not defined", "timeout"))]
        return len(done), sum(o.startswith("raises") for o in done)

    @property
    def executed(self) -> bool:
        """Whether its code ran at all (its example, or generated inputs), checked or not."""
        return self.check("runs") is not None or self.inputs_run[0] > 0

    @property
    def state(self) -> str:
        """``pass`` (something checked what it gives), ``fail``, ``not-checked`` (it ran, but nothing
        stated an expected result) or ``not-run`` (nothing ran)."""
        if not self.ok:
            return "fail"
        if self.ran:
            return "pass"
        return "not-checked" if self.executed else "not-run"

    def what_ran(self) -> str:
        """What ran when nothing checked it: ``its example without error and on 7 generated inputs``."""
        parts = ["its example without error"] if self.check("runs") is not None else []
        n, raised = self.inputs_run
        if n:
            raises = f" ({'all' if raised == n and n > 1 else raised} raise{'s' * (raised == 1)})" if raised else ""
            parts.append(f"on {n} generated input{'s' * (n != 1)}{raises}")
        return " and ".join(parts)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        """One line: ``parses, defines f(a, b), 3/3 examples from the prompt pass``."""
        if self.ok:
            return ", ".join(c.label for c in self.checks if c.status != "fail" and c.label)
        return "; ".join(c.label for c in self.failed)

    def not_run(self) -> str:
        """Why nothing ran against the code (for an answer that passed only static checks)."""
        skipped = [c.detail for c in self.checks if c.status == "skip" and c.detail]
        if skipped:
            return skipped[0]
        if self.language and self.language != "python":
            return f"only Python is run; this is {self.language}"
        return "nothing to run it against (no examples or tests in the request, none in the answer)"

    def line(self) -> str:
        """How the answer reads once checked: verified, not verified, ran but not checked, or not
        run (and why); and the sandbox layers its code ran without, if any."""
        if not self.ok:
            return f"✗ not verified: {self.summary()}" + self.sandbox_note()
        if self.ran:
            return f"✓ verified: {self.summary()}" + self.sandbox_note()
        done = ", ".join(c.label for c in self.checks if c.status == "pass" and c.label and c.name != "runs")
        if self.executed:
            return (f"○ ran {self.what_ran()}; not checked: {NOTHING_STATED}" + (f" · {done}" if done else "")
                    + self.sandbox_note())
        return f"○ not run: {self.not_run()}" + (f" · {done}" if done else "") + self.sandbox_note()

    def sandbox_note(self) -> str:
        """`` · weaker sandbox: lacks seccomp`` when the code ran without a layer ('' otherwise)."""
        return f" · weaker sandbox: lacks {', '.join(name for name, _ in self.weaker)}" if self.weaker else ""

    def report(self) -> str:
        """The failures, in full, for a repair prompt."""
        return "\n".join(f"- {c.label}: {c.detail}" if c.detail else f"- {c.label}" for c in self.failed)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "ran": self.ran, "summary": self.summary(), "language": self.language,
                "checks": [{"name": c.name, "status": c.status, "passed": c.passed, "total": c.total,
                            "detail": c.detail} for c in self.checks],
                "sandbox_missing": dict(self.weaker)}


def must_escalate(verdict: Verdict, *, lowered: bool, unverified: str) -> bool:
    """Whether a checked answer goes up the ladder: it failed, or nothing could be run against it and
    either the router had sent the request higher (``lowered``: the cheap model only tried first) or
    ``unverified = "escalate"``. ``eval cascade`` replays exactly this."""
    return not verdict.ok or (not verdict.ran and (lowered or unverified == "escalate"))


# -- the checks ---------------------------------------------------------------------------------------

def verify(request: str, answer: str, *, tests: str | None = None, default_language: str | None = "python",
           timeout: float = 10.0, memory_mb: int = 512, own_examples: bool = True, spec: Spec | None = None,
           inputs: tuple[str, ...] = (), entry: str | None = None, strict: bool = False) -> Verdict:
    """Check ``answer`` against what ``request`` asks for (and the user's ``tests``). ``strict``:
    the code came from a remote client (or a model it prompted), so it runs only in a sandbox with
    every layer in place; otherwise it is not run and the verdict says why.

    ``inputs`` (argument lists such as ``"[1, 2], 3"``) are calls of ``entry`` (default: the
    function the request is about) whose results land in ``Verdict.outputs``, in order, to compare
    samples; ``spec`` is ``read_request(request)`` when the caller already has it."""
    spec = spec or read_request(request)
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
    if not py.source.strip():
        error = py.errors[0] if py.errors else "no Python code"
        return Verdict((Check("parses", "fail", detail=error, label=f"does not parse ({error})"),), "python")
    if spec.wants_tests:
        return _verify_tests(spec, py, timeout, memory_mb, strict)
    return _verify_python(spec, py, tests, timeout, memory_mb, own_examples, inputs, entry, strict)


def _verify_other(blocks: list, language: str | None) -> Verdict:  # type: ignore[type-arg]
    checks: list[Check] = []
    for block in blocks:
        syntax = check_syntax(block.code, block.language)
        if syntax.ok is False:
            return Verdict((Check("parses", "fail", detail=syntax.message, label=f"does not parse ({syntax.message})"),),
                           language, block.code)
        if syntax.ok is None:
            checks.append(Check("parses", "skip", detail=f"only Python is run, and there is no {language} parser "
                                                         f"here ({syntax.message})"))
    if not checks:
        checks.append(Check("parses", "pass", label="parses"))
    return Verdict(tuple(checks), language, "\n".join(b.code for b in blocks))


def _sandbox(payload: dict[str, object], solution: str, files: dict[str, str], timeout: float,
             memory_mb: int, strict: bool) -> tuple[list[dict], str, Check | None, Weaker]:
    """Run the harness once: its events, what stopped it (for "not reached" details), when nothing
    ran at all the check that says why (None: it ran), and the sandbox layers it ran without."""
    reserved = {"solution.py", "spec.json", "main.py"}
    extra = {name: body for name, body in files.items() if name not in reserved}
    result = run_python(_HARNESS, timeout=timeout, memory_mb=memory_mb, strict=strict,
                        files={**extra, "solution.py": solution, "spec.json": json.dumps(payload)})
    missing = result.layers.get("missing")
    missing = missing if isinstance(missing, dict) else {}
    if result.limit == "unavailable":    # nothing ran: the answer is unverified, not wrong
        if strict and missing:           # the detail says what to do before the kernel's words
            return [], "", Check("run", "skip", detail=refusal(missing),
                                 label=f"not run: the sandbox lacks {', '.join(missing)}"), ()
        return [], "", Check("run", "skip", detail=f"the sandbox could not start ({result.stderr.strip()})",
                             label="not run: no sandbox"), ()
    # split on "\n" only: str.splitlines() would also split on the \x1e marker itself
    events = [json.loads(line[1:]) for line in result.stdout.split("\n") if line.startswith("\x1e")]
    stopped = (f"stopped: {result.limit} limit" if result.limit else
               (result.stderr.strip().splitlines() or ["the checks crashed"])[-1])
    return events, stopped, None, tuple((str(k), str(v)) for k, v in missing.items())


def _imported(events: list[dict], stopped: str) -> Check | None:
    """None when the code loaded; else why not (a failure, or a skip when the environment lacks
    something the code needs)."""
    imported = next((e for e in events if e["stage"] == "import"), None)
    if imported is not None and imported["ok"]:
        return None
    error = imported["error"] if imported else stopped
    if imported and imported.get("environment"):
        return Check("imports", "skip", detail=f"it needs what is not available where checks run ({error})")
    return Check("imports", "fail", detail=error, label=f"importing it fails: {error}")


def _verify_python(spec: Spec, py: PythonAnswer, tests: str | None, timeout: float, memory_mb: int,
                   own_examples: bool, inputs: tuple[str, ...], entry: str | None, strict: bool) -> Verdict:
    checks: list[Check] = [Check("parses", "pass", label="parses")]
    defines = _check_defines(spec, py)
    checks.append(defines)
    if defines.status == "fail":
        return Verdict(tuple(checks), "python", py.source)

    usage, claims = _instrument(py.usage) if own_examples else ("", 0)
    if own_examples:
        # ``>>>`` sessions in the answer run after its example code, in the same namespace
        shown = [e for t in py.transcripts for e in _transcript_examples(t)]
        usage += "".join(f"__rm_expect({e.source}, {e.want!r}, 0)\n" if compiles(e.source, "eval")
                         else e.source + "\n" for e in shown)
        claims += sum(1 for e in shown if compiles(e.source, "eval"))
    entry = entry or spec.entry or main_function(py)
    payload = {"examples": [e.__dict__ for e in spec.examples], "tests": tests or "", "usage": usage,
               "preamble": spec.preamble, "entry": entry, "inputs": list(inputs),
               "per_check_s": min(5.0, timeout / 2), "per_input_s": min(0.5, timeout / 20)}
    events, stopped, unavailable, weaker = _sandbox(payload, py.definitions, spec.files, timeout, memory_mb,
                                                    strict)
    if unavailable:
        return Verdict((*checks, unavailable), "python", py.source)
    loaded = _imported(events, stopped)
    if loaded is not None:
        return Verdict((*checks, loaded), "python", py.source, weaker=weaker)

    n_req = len(spec.examples)
    if n_req:
        got = [e for e in events if e["stage"] == "example" and e["i"] < n_req]
        checks.append(_tally("examples", "examples from the prompt", spec.examples, got, n_req, stopped))
    if tests:
        checks.append(_tests_check(events, stopped, "of your tests"))
    if own_examples:
        own = _own_check(events, py, usage, claims, stopped)
        if own is not None:
            checks.append(own)
    outputs = {e["i"]: e["out"] for e in events if e["stage"] == "input"}
    return Verdict(tuple(checks), "python", py.source,
                   tuple(outputs.get(i, f"not reached ({stopped})") for i in range(len(inputs))), entry,
                   weaker)


def _verify_tests(spec: Spec, py: PythonAnswer, timeout: float, memory_mb: int, strict: bool) -> Verdict:
    """A request for tests of code it supplies: the answer's tests run against that code, and the
    answer passes when they do (it need not define the functions under test)."""
    checks = [Check("parses", "pass", label="parses")]
    under_test = set(spec.names) | _defined(spec.preamble) | {n for body in spec.files.values() for n in _defined(body)}
    tests = _without(py.source, under_test)       # tests, not a rewrite of the user's code
    if not _has_tests(tests):
        checks.append(Check("tests", "fail", detail="the request asks for tests; the answer has no test functions "
                                                    "or asserts", label="writes no tests"))
        return Verdict(tuple(checks), "python", py.source)
    payload = {"tests": tests, "tests_file": "tests.py", "alias_modules": True, "preamble": spec.preamble,
               "per_check_s": min(5.0, timeout / 2)}
    events, stopped, unavailable, weaker = _sandbox(payload, "", spec.files, timeout, memory_mb, strict)
    if unavailable:
        return Verdict((*checks, unavailable), "python", py.source)
    loaded = _imported(events, stopped)
    if loaded is not None:    # the user's own code does not load: nothing the answer did
        return Verdict((*checks, replace(loaded, status="skip", detail=f"your code does not load: {loaded.detail}")),
                       "python", py.source, weaker=weaker)
    checks.append(_tests_check(events, stopped, "of its tests", "on your code"))
    return Verdict(tuple(checks), "python", py.source, weaker=weaker)


def _defined(source: str) -> set[str]:
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _without(source: str, names: set[str]) -> str:
    """``source`` minus its top-level definitions of ``names``."""
    if not names:
        return source
    tree = pyast.parse(source)
    kept = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                                         and n.name in names)]
    if len(kept) == len(tree.body):
        return source
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def _has_tests(source: str) -> bool:
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return False
    return any((isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name.lower().startswith("test"))
               or isinstance(n, ast.Assert) for n in ast.walk(tree))


def main_function(py: PythonAnswer) -> str | None:
    """The function an answer is built around when the request names none: the one its own
    example code calls most, else its last top-level function (helpers usually come first)."""
    functions = [n for n in py.signatures if not n.startswith(("test", "_")) and n != "main"]
    if not functions:
        return None
    calls = Counter(m.group(1) for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", py.usage) if m.group(1) in functions)
    return calls.most_common(1)[0][0] if calls else functions[-1]


def _check_defines(spec: Spec, py: PythonAnswer) -> Check:
    defined = set(py.names)
    try:
        for node in ast.walk(pyast.parse(py.source)):
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


def _tests_check(events: list[dict], stopped: str, whose: str, where: str = "") -> Check:
    """``whose``: "of your tests" / "of its tests"; ``where``: e.g. "on your code"."""
    at = f" {where}" if where else ""
    module = next((e for e in events if e["stage"] == "tests-module"), None)
    if module is None:
        return Check("tests", "fail", detail=stopped, label=f"the tests did not run{at}")
    if not module["ok"]:
        if module.get("environment"):
            return Check("tests", "skip", detail=f"the tests need what is not available where checks run "
                                                  f"({module['error']})")
        return Check("tests", "fail", detail=module["error"], label=f"the tests fail{at}")
    results = [e for e in events if e["stage"] == "test"]
    ran = [e for e in results if e["ok"] is not None]
    failed = [e for e in ran if not e["ok"]]
    if results and not ran:
        return Check("tests", "skip", detail="no test could run: " + "; ".join(f"{e['name']} {e['error']}"
                                                                               for e in results[:3]))
    total = max(1, len(ran))
    passed = total - len(failed) if ran else 1     # module-level asserts only: they all held
    if failed:
        detail = "\n  ".join(f"{e['name']}: {e['error']}" for e in failed[:8])
        return Check("tests", "fail", passed, total, detail, label=f"{len(failed)}/{total} {whose} fail{at}")
    return Check("tests", "pass", passed, total, label=f"{passed}/{total} {whose} pass{at}")


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
            missing = [line.strip() for line in block.splitlines() if line.strip() and not _shown(line, printed)]
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
        return Check("own", "pass", checks, checks, label=f"its own {checks} check{'s pass' if checks > 1 else ' passes'}")
    # it ran without error, and that is all: nothing says what it should have printed or returned
    return Check("runs", "pass", detail=NOTHING_STATED, label="its example runs without error")


def _without_comment(line: str) -> str:
    """``print(f(3))  # 7`` → ``print(f(3))`` (a ``#`` inside a string literal stays)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip()).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return line.split("#", 1)[0].strip()
    cut = next((t.start[1] for t in tokens if t.type == tokenize.COMMENT), None)
    return (line.strip() if cut is None else line.strip()[:cut]).strip()


def _shown(line: str, printed: list[str]) -> bool:
    """Whether an output line the answer claims is among the lines it printed; ``'cba'`` claims
    what ``print`` shows as ``cba``."""
    if _norm(line) in printed:
        return True
    try:
        value = pyast.literal_eval(line.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return isinstance(value, str) and _norm(value) in printed


def _norm(line: str) -> str:
    """An output line compared loosely: spacing and quote style do not matter."""
    text = " ".join(line.strip().split())
    try:
        return repr(pyast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text.replace('"', "'")


def _instrument(usage: str) -> tuple[str, int]:
    """Turn ``print(x)  # [1, 2]`` lines into checks of the claimed output."""
    if not usage.strip():
        return "", 0
    try:
        tree = pyast.parse(usage)
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
        want = claimed(comment) if comment else None
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


def _transcript_examples(text: str) -> list[Example]:
    try:
        return [Example("doctest", e.source.strip(), doctest_want(e.want))
                for e in doctest.DocTestParser().get_examples(text) if e.want.strip()]
    except ValueError:
        return []
