"""``ast.parse`` that is safe to call from several threads at once.

CPython 3.11's AST constructor counts its recursion depth per interpreter, not per thread, so two
threads building syntax trees at the same moment can fail with ``SystemError: AST constructor
recursion depth mismatch`` (python/cpython#106905). The samples of one request are checked in a
thread pool and the gateway checks several requests at once, so every parse in the checking process
goes through one lock. A parse takes microseconds to a few milliseconds; the sandboxed programs do
not share this process and parse freely.
"""

from __future__ import annotations

import ast
import threading

_lock = threading.Lock()


def parse(source: str, mode: str = "exec") -> ast.AST:
    with _lock:
        return ast.parse(source, mode=mode)


def literal_eval(text: str) -> object:
    """``ast.literal_eval`` of a string, parsed under the same lock (it parses, then evaluates)."""
    return ast.literal_eval(parse(text.lstrip(" \t"), mode="eval"))


__all__ = ["literal_eval", "parse"]
