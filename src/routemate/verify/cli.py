"""``routemate ask`` with verification: progress on stderr, the checked answer on stdout."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ..chat import ChatRequest
from ..errors import InvalidRequest


def verify_wanted(rm: Any, request: ChatRequest, flag: bool | None, test: Path | None) -> bool:
    """``--verify``/``--no-verify`` win; otherwise ``[verify] enabled`` and a code-writing request."""
    if test is not None and flag is False:
        raise InvalidRequest("--test needs verification", hint="drop --no-verify")
    if flag is not None or test is not None:
        return bool(flag) or test is not None
    from .cascade import is_code_request

    return rm.settings.verify.enabled and is_code_request(request)


def read_tests(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read test file {path}: {getattr(exc, 'strerror', None) or exc}",
                             hint="give a readable Python file to --test") from None
    try:
        compile(text, str(path), "exec")
    except SyntaxError as exc:
        raise InvalidRequest(f"test file {path} is not valid Python (line {exc.lineno}: {exc.msg})",
                             hint="fix the test file; it runs as given") from None
    return text


async def ask_verified(rm: Any, request: ChatRequest, test: Path | None, as_json: bool) -> Any:
    from ..cli import _console, _escape, _footer, _header, _stream_answer
    from .cascade import Cascade, Verified

    started = time.perf_counter()       # what the user waits for: every attempt and every check
    tests = read_tests(test)
    err = _console()
    cascade = Cascade(rm, tests=tests)
    stays = cascade.why_not_escalated(request)
    if not as_json and stays is not None:
        # nowhere to escalate: stream as usual, then say whether the code holds up
        answer = await _stream_answer(rm, request, "cli", show=True)
        verdict = await cascade.check(request, answer)
        result = Verified(answer, verdict, [])
        err.print(f"[{'green' if verdict.ok else 'yellow'}]{_escape(result.note())}[/]")
        explain_failure(err, verdict, stays)
        return result
    status = None if as_json else err.status("asking…", spinner="dots")
    if status is not None:
        status.start()

    def progress(message: str) -> None:
        if status is not None:
            status.update(_escape(message))

    try:
        result = await Cascade(rm, tests=tests, progress=progress).ask(request, entry="cli")
    finally:
        if status is not None:
            status.stop()
        await rm.aclose()
    waited = time.perf_counter() - started
    if as_json:
        # latency_ms is the whole wait; each attempt's own time stays in its log row
        print(json.dumps({**result.to_json(), "latency_ms": round(waited * 1000, 1)}, ensure_ascii=False))
        return result
    answer = result.answer
    err.print(_header(answer.decision))
    ok = result.verdict is not None and result.verdict.ok
    err.print(f"[{'green' if ok else 'yellow'}]{_escape(result.note())}[/]")
    sys.stdout.write(answer.text.rstrip("\n") + "\n")
    sys.stdout.flush()
    footer = _footer(answer, waited)
    if result.escalated:
        footer = footer.replace(f"${answer.cost_usd:.6f}", f"${result.cost_usd:.6f} in {len(result.attempts)} attempts")
    err.print(footer)
    explain_failure(err, result.verdict, None if result.escalated else stays)
    return result


def explain_failure(err: Any, verdict: Any, stays: str | None) -> None:
    """Under a failing verdict: what failed (a few lines) and, if so, why it was not escalated."""
    from ..cli import _escape

    if verdict is None or verdict.ok:
        return
    lines = [line.strip() for c in verdict.failed for line in (c.detail or "").splitlines() if line.strip()]
    for line in lines[:4]:
        err.print(f"[dim]  {_escape(line[:200])}[/]")
    if len(lines) > 4:
        err.print(f"[dim]  … {len(lines) - 4} more (routemate logs --json has them all)[/]")
    if stays:
        err.print(f"[dim]  {_escape(stays)}[/]")
