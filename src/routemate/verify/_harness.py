"""Runs inside the sandbox: loads the answer's code and runs every check on it, in one process.

The caller writes ``solution.py`` (the answer's definitions) and ``spec.json``: the request's
preamble (its imports and helpers, run first in the solution's namespace), examples from the
request, tests (the user's, or the answer's own when the request asked for tests), the answer's own
usage, and generated inputs to call the entry function with. Results go to the real stdout as lines
that start with ``\\x1e``; everything the code under test prints is captured per check instead.
Standard library only: this runs in an isolated interpreter.
"""

import ast
import contextlib
import copy
import importlib.abc
import importlib.util
import io
import json
import math
import os
import re
import signal
import sys
import traceback
import types

SPEC = json.load(open("spec.json", encoding="utf-8"))
PER_CHECK = SPEC.get("per_check_s", 3.0)
OUT = os.dup(1)
sys.setrecursionlimit(3000)


def emit(**fields):
    os.write(OUT, ("\x1e" + json.dumps(fields, default=repr) + "\n").encode())


class CheckTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise CheckTimeout("took longer than the time limit")


signal.signal(signal.SIGALRM, _alarm)


def short(value, limit=300):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure(exc):
    """The last lines of a traceback, starting at the code under test."""
    if isinstance(exc, CheckTimeout):
        return f"took longer than {PER_CHECK:g}s"
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if os.path.basename(f.filename) in ("solution.py", "example", "test_user.py",
                                                                  "usage.py", "tests.py")]
    where = f" (line {frames[-1].lineno} of {os.path.basename(frames[-1].filename)})" if frames else ""
    name = type(exc).__name__
    return f"{name}: {short(str(exc), 400)}{where}" if str(exc) else f"{name}{where}"


def run(fn, capture, limit=None):
    """Run ``fn`` with a time limit, capturing what it prints; returns its value."""
    signal.setitimer(signal.ITIMER_REAL, limit or PER_CHECK)
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
        try:   # float('inf'), set(), 2**10: values the request may write that literal_eval refuses
            return True, eval(text.strip(), {"__builtins__": VALUES})
        except Exception:
            return False, None


VALUES = {"float": float, "int": int, "str": str, "set": set, "frozenset": frozenset, "tuple": tuple,
          "list": list, "dict": dict, "complex": complex, "bytes": bytes, "range": range, "True": True,
          "False": False, "None": None}
ENVIRONMENT = ("ModuleNotFoundError", "FileNotFoundError", "EOFError", "ConnectionError", "PermissionError",
               "ConnectionRefusedError", "TimeoutError", "gaierror")


# -- the code itself: the request's preamble, then the answer -----------------------------------------
sys.path.insert(0, os.getcwd())


def _guarded(preamble):
    """The preamble with each import made optional: a request may import what is not installed here."""
    try:
        tree = ast.parse(preamble)
    except SyntaxError:
        return ""
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            handler = ast.ExceptHandler(type=ast.Name("ImportError", ast.Load()), name=None, body=[ast.Pass()])
            node = ast.Try(body=[node], handlers=[handler], orelse=[], finalbody=[])
        body.append(node)
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=body, type_ignores=[])))


def load_solution():
    module = types.ModuleType("solution")
    module.__file__ = os.path.join(os.getcwd(), "solution.py")
    sys.modules["solution"] = module
    if SPEC.get("preamble"):
        exec(compile(_guarded(SPEC["preamble"]), "request.py", "exec"), module.__dict__)
    with open("solution.py", encoding="utf-8") as fh:
        exec(compile(fh.read(), "solution.py", "exec"), module.__dict__)
    return module


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Tests written for the user's code may import it under any module name: an import nothing
    else can satisfy gets the module that holds that code."""

    def find_spec(self, name, path=None, target=None):
        if path is None and "." not in name:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return sys.modules["solution"]

    def exec_module(self, module):
        pass


try:
    printed = io.StringIO()
    solution = run(load_solution, printed)
    namespace = dict(vars(solution))
    emit(stage="import", ok=True)
except BaseException as exc:  # noqa: BLE001 - anything the code raises is a finding
    emit(stage="import", ok=False, error=failure(exc), environment=type(exc).__name__ in ENVIRONMENT)
    sys.exit(0)
if SPEC.get("alias_modules"):
    sys.meta_path.append(_Alias())


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
    if kind == "print":      # what print(call) shows: anything the call prints, then str() of its value
        value = run(lambda: eval(compile(source, "example", "eval"), glb), printed)
        got = printed.getvalue() + str(value)
        want = ex["want"]
        if got.strip() == want.strip() or " ".join(got.split()) == " ".join(want.split()):
            return True, short(got.strip()), want.strip()
        ok, expected = literal(want)      # "# -> 'cba'" for a print that shows cba
        if ok and not printed.getvalue() and same(value, expected):
            return True, short(got.strip()), want.strip()
        return False, short(got.strip()), want.strip()
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


# -- tests: the user's, or the ones the answer wrote --------------------------------------------------
def _pytest_shim():
    """Enough of pytest for plain test files when pytest is not installed where the code runs."""
    shim = types.ModuleType("pytest")

    class _Raises:
        def __init__(self, kind, match=None):
            self.kind, self.match = kind, match

        def __enter__(self):
            return self

        def __exit__(self, kind, value, tb):
            if kind is None:
                raise AssertionError(f"DID NOT RAISE {self.kind}")
            if not issubclass(kind, self.kind):
                return False
            if self.match and not re.search(self.match, str(value)):
                raise AssertionError(f"{value!r} does not match {self.match!r}")
            self.value = value
            return True

    def approx(expected, rel=1e-6, abs=1e-12):
        class _Approx:
            def __eq__(self, other):
                return same(other, expected) or math.isclose(other, expected, rel_tol=rel, abs_tol=abs)
        return _Approx()

    class _Mark:
        def __getattr__(self, name):
            def mark(*args, **kwargs):
                def deco(fn):
                    fn.pytestmark = [*getattr(fn, "pytestmark", []),
                                     types.SimpleNamespace(name=name, args=args, kwargs=kwargs)]
                    return fn
                return deco
            return mark

    class _Skip(Exception):
        pass

    def skip(reason=""):
        raise _Skip(reason)

    def fail(reason=""):
        raise AssertionError(reason)

    shim.raises = lambda kind, match=None: _Raises(kind, match)
    shim.approx, shim.mark, shim.skip, shim.fail = approx, _Mark(), skip, fail
    shim.fixture = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)
    shim.skip.Exception = _Skip
    return shim


try:
    import pytest  # noqa: F401
except ImportError:
    sys.modules["pytest"] = _pytest_shim()


def _cases(fn):
    """The calls a test function stands for: one, or one per ``parametrize`` row."""
    calls = [{}]
    for mark in getattr(fn, "pytestmark", []) or []:
        if getattr(mark, "name", "") != "parametrize":
            continue
        names, rows = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = [getattr(r, "values", r) for r in rows]
        rows = [r if len(names) > 1 else (r,) for r in rows]
        calls = [{**c, **dict(zip(names, r))} for c in calls for r in rows]
    return calls


def _missing(fn, given):
    try:
        code = fn.__code__
    except AttributeError:
        return []
    wanted = code.co_varnames[:code.co_argcount]
    defaults = len(fn.__defaults__ or ())
    required = wanted[: len(wanted) - defaults] if defaults else wanted
    return [n for n in required if n not in given and n != "self"]


def run_tests(source, filename, alias):
    glb = dict(namespace)
    glb["__name__"] = "test_user"
    printed = io.StringIO()
    try:
        run(lambda: exec(compile(source, filename, "exec"), glb), printed)
        emit(stage="tests-module", ok=True)
    except BaseException as exc:  # noqa: BLE001
        emit(stage="tests-module", ok=False, error=failure(exc), environment=type(exc).__name__ in ENVIRONMENT)
        return
    for name, obj in list(glb.items()):
        if not name.lower().startswith("test"):
            continue
        if isinstance(obj, types.FunctionType) and obj.__module__ in (None, "test_user"):
            _run_case(name, obj, None)
        elif isinstance(obj, type) and obj.__module__ == "test_user":
            for attr in sorted(vars(obj)):
                if attr.startswith("test") and callable(getattr(obj, attr)):
                    _run_case(f"{name}.{attr}", getattr(obj, attr), obj)


def _run_case(name, fn, cls):
    import unittest

    printed = io.StringIO()
    for k, args in enumerate(_cases(fn)):
        label = name if k == 0 and len(_cases(fn)) == 1 else f"{name}[{k}]"
        missing = _missing(fn, args)
        if missing:
            emit(stage="test", name=label, ok=None, error=f"needs the fixture {missing[0]}")
            continue
        try:
            if cls is not None and issubclass(cls, unittest.TestCase):
                result = unittest.TestResult()
                run(lambda: cls(fn.__name__).run(result), printed)
                problems = result.failures + result.errors
                if problems:
                    last = problems[0][1].strip().splitlines()[-1]
                    raise AssertionError(last)
            elif cls is not None:
                instance = cls()
                if hasattr(instance, "setup_method"):
                    instance.setup_method(fn)
                run(lambda: fn(instance, **args), printed)
            else:
                run(lambda: fn(**args), printed)
            emit(stage="test", name=label, ok=True)
        except BaseException as exc:  # noqa: BLE001
            if type(exc).__name__ in ("_Skip", "Skipped", "SkipTest"):
                emit(stage="test", name=label, ok=None, error="skipped")
            else:
                emit(stage="test", name=label, ok=False, error=failure(exc))


if SPEC.get("tests"):
    run_tests(SPEC["tests"], SPEC.get("tests_file", "test_user.py"), SPEC.get("alias_modules"))


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


# -- behaviour on generated inputs (compared across samples) ----------------------------------------------
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def shape(value, depth=0):
    """A canonical text of a value, so that equal results of different samples compare equal."""
    if depth > 20:
        return "…"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        return repr(round(value, 6) + 0.0)
    if isinstance(value, (int, str, bytes)):
        text = repr(value)
        return text if len(text) <= 2000 else text[:2000] + "…"
    if isinstance(value, list):
        return "[" + ", ".join(shape(v, depth + 1) for v in value[:1000]) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(shape(v, depth + 1) for v in value[:1000]) + ",)"
    if isinstance(value, (set, frozenset)):
        return type(value).__name__ + "{" + ", ".join(sorted(shape(v, depth + 1) for v in value)) + "}"
    if isinstance(value, dict):
        items = sorted((shape(k, depth + 1), shape(v, depth + 1)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (types.GeneratorType, map, filter, zip, range, reversed, enumerate)):
        return "iter" + shape(list(value)[:1000], depth + 1)
    return ADDRESS.sub("", short(repr(value), 2000))


def _args(*args, **kwargs):
    return args, kwargs


entry = SPEC.get("entry")
if entry and SPEC.get("inputs"):
    fn = namespace.get(entry)
    timeouts = 0
    for i, source in enumerate(SPEC["inputs"]):
        if not callable(fn):
            emit(stage="input", i=i, out="not defined")
            continue
        if timeouts >= 2:        # a sample this slow on two inputs gets no more of them
            emit(stage="input", i=i, out="timeout")
            continue
        args = None
        try:
            args, kwargs = eval(f"_args({source})", {"__builtins__": VALUES, "_args": _args})
            printed = io.StringIO()
            mine = (copy.deepcopy(args), copy.deepcopy(kwargs))
            value = run(lambda: fn(*mine[0], **mine[1]), printed, SPEC.get("per_input_s", 0.5))
            out = shape(value)
            if value is None and shape(mine) != shape((args, kwargs)):
                out += " | changes its arguments to " + shape(mine)   # it works in place
            if printed.getvalue():
                out += " | prints " + short(printed.getvalue().strip(), 500)
        except CheckTimeout:
            timeouts += 1
            out = "timeout"
        except BaseException as exc:  # noqa: BLE001 - raising is a behaviour too
            out = "raises " + type(exc).__name__
        emit(stage="input", i=i, out=out)
