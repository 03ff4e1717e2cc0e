"""Runs inside the sandbox: imports the answer's code and runs every check on it.

The caller writes ``solution.py`` (the answer's definitions) and ``spec.json`` (examples from the
request, the user's tests, the answer's own usage). Results go to the real stdout as lines that
start with ``\\x1e``; everything the code under test prints is captured per check instead.
Standard library only: this runs in an isolated interpreter.
"""

import ast
import contextlib
import io
import json
import math
import os
import signal
import sys
import traceback

SPEC = json.load(open("spec.json", encoding="utf-8"))
PER_CHECK = SPEC.get("per_check_s", 3.0)
OUT = os.dup(1)


def emit(**fields):
    os.write(OUT, ("\x1e" + json.dumps(fields, default=repr) + "\n").encode())


class CheckTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise CheckTimeout(f"took longer than {PER_CHECK:g}s")


signal.signal(signal.SIGALRM, _alarm)


def short(value, limit=300):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure(exc):
    """The last lines of a traceback, starting at the code under test."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if os.path.basename(f.filename) in ("solution.py", "example", "test_user.py",
                                                                  "usage.py")]
    where = f" (line {frames[-1].lineno} of {os.path.basename(frames[-1].filename)})" if frames else ""
    name = type(exc).__name__
    return f"{name}: {short(str(exc), 400)}{where}" if str(exc) else f"{name}{where}"


def run(fn, capture):
    """Run ``fn`` with a time limit, capturing what it prints; returns (value, printed)."""
    signal.setitimer(signal.ITIMER_REAL, PER_CHECK)
    try:
        with contextlib.redirect_stdout(capture):
            return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def same(got, want):
    """Equality that forgives float rounding and list/tuple spelling, not wrong answers."""
    if isinstance(got, float) or isinstance(want, float):
        try:
            return math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    try:
        return bool(got == want)
    except Exception:
        return False


def literal(text):
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


ENVIRONMENT = ("ModuleNotFoundError", "FileNotFoundError", "EOFError", "ConnectionError", "PermissionError",
               "ConnectionRefusedError", "TimeoutError", "gaierror")


# -- the code itself -----------------------------------------------------------------------------------
sys.path.insert(0, os.getcwd())
try:
    printed = io.StringIO()
    solution = run(lambda: __import__("solution"), printed)
    namespace = dict(vars(solution))
    emit(stage="import", ok=True)
except BaseException as exc:  # noqa: BLE001 - anything the code raises is a finding
    emit(stage="import", ok=False, error=failure(exc), environment=type(exc).__name__ in ENVIRONMENT)
    sys.exit(0)


# -- examples from the request -------------------------------------------------------------------------
def check_example(ex):
    printed = io.StringIO()
    glb = dict(namespace)
    kind, source = ex["kind"], ex["source"]
    if kind == "assert":
        tree = ast.parse(source)
        node = tree.body[0]
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1 \
                and isinstance(node.test.ops[0], ast.Eq):
            got = run(lambda: eval(compile(ast.Expression(node.test.left), "example", "eval"), glb), printed)
            want = eval(compile(ast.Expression(node.test.comparators[0]), "example", "eval"), glb)
            return same(got, want), short(repr(got)), short(repr(want))
        run(lambda: exec(compile(tree, "example", "exec"), glb), printed)
        return True, "", ""
    if kind == "arrow":
        got = run(lambda: eval(compile(source, "example", "eval"), glb), printed)
        ok, want = literal(ex["want"])
        if not ok:
            return str(got).strip() == ex["want"].strip(), short(got), ex["want"]
        return same(got, want), short(repr(got)), short(repr(want))
    # doctest: an expression shows its repr, a statement what it prints
    try:
        code = compile(source, "example", "eval")
        value = run(lambda: eval(code, glb), printed)
        got = printed.getvalue() + (repr(value) + "\n" if value is not None else "")
    except SyntaxError:
        run(lambda: exec(compile(source, "example", "exec"), glb), printed)
        got = printed.getvalue()
        value = None
    want = ex["want"]
    if got.strip() == want.strip() or " ".join(got.split()) == " ".join(want.split()):
        return True, short(got.strip()), want.strip()
    ok, expected = literal(want)
    if ok and value is not None and same(value, expected):
        return True, short(got.strip()), want.strip()
    return False, short(got.strip()), want.strip()


for i, ex in enumerate(SPEC.get("examples", [])):
    try:
        ok, got, want = check_example(ex)
        emit(stage="example", i=i, ok=ok, got=got, want=want)
    except BaseException as exc:  # noqa: BLE001
        if ex["kind"] == "doctest" and ex["want"].startswith("Traceback") and type(exc).__name__ in ex["want"]:
            emit(stage="example", i=i, ok=True, got=type(exc).__name__, want=ex["want"].splitlines()[-1])
        else:
            emit(stage="example", i=i, ok=False, error=failure(exc))


# -- the user's tests ---------------------------------------------------------------------------------
if SPEC.get("tests"):
    glb = dict(namespace)
    glb["__name__"] = "test_user"
    printed = io.StringIO()
    try:
        run(lambda: exec(compile(SPEC["tests"], "test_user.py", "exec"), glb), printed)
        emit(stage="tests-module", ok=True)
    except BaseException as exc:  # noqa: BLE001
        emit(stage="tests-module", ok=False, error=failure(exc), environment=type(exc).__name__ in ENVIRONMENT)
    else:
        for name, fn in list(glb.items()):
            if name.startswith("test") and callable(fn) and getattr(fn, "__module__", None) in (None, "test_user"):
                try:
                    run(fn, printed)
                    emit(stage="test", name=name, ok=True)
                except BaseException as exc:  # noqa: BLE001
                    emit(stage="test", name=name, ok=False, error=failure(exc))


# -- the answer's own examples ---------------------------------------------------------------------------
def expect(value, want, line):
    """Stands in for ``print(x)  # want``: prints as before, records whether ``want`` was right."""
    if value is not None or line:
        print(value)
    ok, expected = literal(want)
    good = (ok and same(value, expected)) or str(value).strip() == want.strip() or repr(value) == want.strip()
    if not good and ok and isinstance(value, (set, frozenset)) and isinstance(expected, (list, tuple)):
        good = same(sorted(value, key=repr), sorted(expected, key=repr))   # order a set never promised
    emit(stage="claim", ok=good, line=line, got=short(repr(value)), want=want)


if SPEC.get("usage"):
    glb = dict(namespace)
    glb["__name__"] = "__main__"
    glb["__rm_expect"] = expect
    printed = io.StringIO()
    try:
        run(lambda: exec(compile(SPEC["usage"], "usage.py", "exec"), glb), printed)
        emit(stage="usage", ok=True, printed=printed.getvalue()[-8000:])
    except BaseException as exc:  # noqa: BLE001
        # a name the example itself never defined is a sloppy example, not a bug in the code
        frames = traceback.extract_tb(exc.__traceback__)
        sloppy = isinstance(exc, NameError) and bool(frames) and frames[-1].filename == "usage.py"
        emit(stage="usage", ok=False, error=failure(exc), environment=sloppy or type(exc).__name__ in ENVIRONMENT)
