"""Inputs to run every sample on, from what the request shows (and what the samples show).

Sources, in order: the arguments of the request's examples; type-aware mutations of them, one
argument at a time (empty, zero, negative, one more, reversed, duplicated, longer, unicode); values
for the parameter types the request's stub declares (``List[int]``, ``str``, ``Optional[float]``,
...); and the arguments the samples' own example code calls their function with (tests the model
wrote itself), mutated the same way. An input is an argument list as Python source
(``"[1, 2], 3"``), so it crosses into the sandbox as text. No model, no I/O.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .extract import PythonAnswer
from .examples import is_value
from .spec import Spec
from . import pyast

LIMIT = 12

INT = [0, 1, -1, 2, 5, 10, 100]
FLOAT = [0.0, 1.5, -2.25, 3.0, 0.1]
STR = ["", "a", "hello world", "Aba", "racecar", "ünï cödé", "a,b;c"]
LISTS: dict[str, list[Any]] = {
    "int": [[], [1], [3, 1, 2], [-1, 0, 1], [2, 2, 2], [5, 4, 3, 2, 1], list(range(12))],
    "float": [[], [1.0], [1.0, 2.5, -0.5], [0.1, 0.2, 0.3], [2.0, 2.0]],
    "str": [[], ["a"], ["b", "a", "b"], ["hello", "world"], ["", "x"]],
    "bool": [[], [True], [True, False, True]],
}


def generate(spec: Spec, answers: Iterable[PythonAnswer | None], limit: int = LIMIT) -> tuple[str, ...]:
    """Up to ``limit`` distinct argument lists (see the module docstring)."""
    entry = spec.entry
    seeds = [args for args in (_call_args(e.source, entry) for e in spec.examples) if args is not None]
    own = [args for py in answers if py is not None for args in _own_calls(py, entry)]
    out: dict[str, None] = {}

    def take(values: Iterable[tuple[Any, ...]]) -> None:
        for args in values:
            if len(out) >= limit:
                return
            source = _source(args)
            if source is not None:
                out.setdefault(source, None)

    take(seeds)
    take(_mutations(seeds))
    hints = tuple(h or _by_name(n) for h, n in zip(spec.hints, spec.arg_names)) if spec.arg_names else spec.hints
    if not hints and entry is None:        # the request names no function: go by what the samples wrote
        hints = _sample_hints(answers)
    if hints and all(hints):
        take(_from_hints(hints, limit))
    take(own[:4])
    take(_mutations(own[:4]))
    return tuple(out)


# -- arguments an example or a sample's own code passes -------------------------------------------------

def _call_args(source: str, entry: str | None) -> tuple[Any, ...] | None:
    """The positional argument values of the entry's call in an example (keywords: None)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (entry is None or node.func.id == entry):
            if node.keywords:
                return None
            try:
                return tuple(ast.literal_eval(a) for a in node.args)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                return None
    return None


def _own_calls(py: PythonAnswer, entry: str | None) -> list[tuple[Any, ...]]:
    """Literal argument lists a sample's own example code calls its main function with."""
    from .checks import main_function

    name = entry if entry in py.signatures else main_function(py)
    if name is None or not py.usage.strip():
        return []
    found = []
    for m in re.finditer(rf"\b{re.escape(name)}\s*\(", py.usage):
        start = m.end() - 1
        depth, i = 0, start
        while i < len(py.usage):
            depth += {"(": 1, ")": -1}.get(py.usage[i], 0)
            if depth == 0:
                break
            i += 1
        args = _call_args(py.usage[m.start():i + 1], name)
        if args is not None:
            found.append(args)
    return found


# -- mutations ------------------------------------------------------------------------------------------

def _mutations(seeds: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """One argument changed at a time, round-robin over seeds and positions, so a small limit still
    touches every argument."""
    per_seed = [[(*args[:k], v, *args[k + 1:]) for k in range(len(args)) for v in _variants(args[k])]
                for args in seeds]
    for i in range(max((len(p) for p in per_seed), default=0)):
        for options in per_seed:
            if i < len(options):
                yield options[i]


def _variants(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        small = abs(value) < 10_000
        return [0, -value if value else -1, value + 1, value - 1, *([value * 10 + 3] if small else []), 1]
    if isinstance(value, float):
        return [0.0, -value, value + 0.5, value * 2.5]
    if isinstance(value, str):
        return ["", value[:1], value[::-1], value.upper(), value * 2, f" {value} ", value + "é"]
    if isinstance(value, (list, tuple)):
        kind = type(value)
        items = list(value)
        out = [[], items[:1], items[::-1], items + items[:1], items * 3]
        if items and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
            out += [[-x for x in items], sorted(items), [0] * len(items)]
        return [kind(x) for x in out]
    if isinstance(value, dict):
        items = list(value.items())
        return [{}, dict(items[:1]), dict(items[::-1])]
    if isinstance(value, (set, frozenset)):
        return [type(value)(), type(value)(list(value)[:1])]
    return []


# -- values for declared types -----------------------------------------------------------------------------

def _from_hints(hints: tuple[str, ...], limit: int) -> Iterator[tuple[Any, ...]]:
    pools = [_values_for(h) for h in hints]
    if not all(pools):
        return
    for i in range(limit):
        yield tuple(pool[(i + k) % len(pool)] for k, pool in enumerate(pools))


NAME_HINTS = {"int": {"n", "k", "m", "i", "j", "x", "y", "num", "number", "count", "a", "b", "c", "steps", "limit",
                       "size", "length", "base", "year", "day", "month", "index"},
              "str": {"s", "text", "string", "word", "sentence", "name", "line", "txt", "st", "str1", "str2", "s1", "s2",
                      "char", "ch", "pattern", "sub", "substring", "prefix", "suffix"},
              "list[int]": {"arr", "nums", "numbers", "lst", "xs", "l", "list1", "list2", "items", "values", "array",
                            "a_list", "data", "seq", "sequence", "ints"},
              "list[str]": {"words", "strings", "names", "lines", "strs"}}


def _sample_hints(answers: Iterable[PythonAnswer | None]) -> tuple[str, ...]:
    """Parameter types of the function most samples are built around (annotations, else names)."""
    from collections import Counter

    from .checks import main_function

    shapes: Counter[tuple[str, ...]] = Counter()
    for py in answers:
        name = main_function(py) if py is not None else None
        if py is None or name is None:
            continue
        args = py.signatures[name]
        params = [a for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
        shapes[tuple(ast.unparse(a.annotation) if a.annotation else _by_name(a.arg) for a in params)] += 1
    return shapes.most_common(1)[0][0] if shapes else ()


def _by_name(name: str) -> str:
    """A type guessed from a parameter's name, for stubs without annotations (``n``, ``text``, ``nums``)."""
    return next((hint for hint, names in NAME_HINTS.items() if name.lower() in names), "")


def _values_for(hint: str) -> list[Any]:
    h = hint.replace("typing.", "").replace(" ", "")
    optional = re.fullmatch(r"Optional\[(.+)\]|(.+)\|None|None\|(.+)", h)
    if optional:
        inner = next(g for g in optional.groups() if g)
        return [None, *_values_for(inner)]
    scalar = {"int": INT, "float": FLOAT, "str": STR, "bool": [True, False]}
    if h in scalar:
        return list(scalar[h])
    m = re.fullmatch(r"(?:List|list|Sequence|Iterable)\[(\w+)\]", h)
    if m and m.group(1) in LISTS:
        return [list(v) for v in LISTS[m.group(1)]]
    m = re.fullmatch(r"(?:List|list)\[(?:List|list)\[(\w+)\]\]", h)
    if m and m.group(1) in LISTS:
        rows = LISTS[m.group(1)]
        return [[], [rows[1], rows[2]], [rows[3]], [rows[2], rows[2]]]
    m = re.fullmatch(r"(?:Tuple|tuple)\[(\w+),(\w+)\]", h)
    if m and m.group(1) in scalar and m.group(2) in scalar:
        a, b = scalar[m.group(1)], scalar[m.group(2)]
        return [(a[i % len(a)], b[(i + 1) % len(b)]) for i in range(5)]
    m = re.fullmatch(r"(?:Dict|dict)\[(\w+),(\w+)\]", h)
    if m and m.group(1) in scalar and m.group(2) in scalar:
        k, v = scalar[m.group(1)], scalar[m.group(2)]
        return [{}, {k[1]: v[1]}, {k[1]: v[2], k[2]: v[3]}]
    return []


def _source(args: tuple[Any, ...]) -> str | None:
    text = ", ".join(repr(a) for a in args)
    if len(text) > 2000 or not is_value(f"({text},)" if text else "()"):
        return None
    return text

