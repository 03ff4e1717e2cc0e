"""Parsing Python from several threads at once (verify/pyast.py)."""

from __future__ import annotations

import ast
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from routemate.verify import pyast


def test_parses_like_ast_parse():
    tree = pyast.parse("def f(x):\n    return x + 1\n")
    assert isinstance(tree, ast.Module) and isinstance(tree.body[0], ast.FunctionDef)
    assert isinstance(pyast.parse("f(2) == 3", mode="eval").body, ast.Compare)


def test_no_two_threads_build_a_tree_at_once(monkeypatch):
    # CPython 3.11 counts the AST constructor's recursion depth per interpreter, so overlapping
    # parses can raise "SystemError: AST constructor recursion depth mismatch"; they must not overlap
    inside, most = 0, 0
    guard = threading.Lock()
    real = ast.parse

    def slow_parse(source, *args, **kwargs):
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.002)                      # long enough for the other threads to arrive
        try:
            return real(source, *args, **kwargs)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    with ThreadPoolExecutor(8) as pool:
        trees = list(pool.map(lambda i: pyast.parse(f"x = {i}"), range(64)))
    assert len(trees) == 64 and most == 1


def test_a_syntax_error_still_raises_and_releases_the_lock():
    try:
        pyast.parse("def (:")
    except SyntaxError:
        pass
    else:
        raise AssertionError("expected a SyntaxError")
    assert isinstance(pyast.parse("x = 1"), ast.Module)


def test_literal_values_are_read_under_the_same_lock(monkeypatch):
    assert pyast.literal_eval("  [1, 'a', (2.5, None)]") == [1, "a", (2.5, None)]
    calls = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: calls.append(source) or real(source, *a, **k))
    assert pyast.literal_eval("{'k': 3}") == {"k": 3}
    assert calls == ["{'k': 3}"], "parsed through pyast.parse, so under its lock"
