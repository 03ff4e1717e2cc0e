"""Privacy routing: a request carrying a secret or a configured private marker stays on private
(local) models, even over an explicit frontier pin, and the request log never stores the secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..chat import Message, text_of
from .detect import Detector, Finding

_CACHE: dict[int, tuple[Any, Detector]] = {}


def detector(settings: Any) -> Detector:
    """The detector for these settings (built once per settings object)."""
    cfg = settings.privacy
    hit = _CACHE.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        hit = (cfg, Detector(cfg))
        _CACHE.clear()
        _CACHE[id(cfg)] = hit
    return hit[1]


def scan_messages(settings: Any, messages: Iterable[Message]) -> list[Finding]:
    if not settings.privacy.enabled:
        return []
    d = detector(settings)
    return [f for m in messages for f in d.scan(text_of(m))]


def describe(findings: list[Finding]) -> str | None:
    """The reason routing shows: what was found, never the value."""
    if not findings:
        return None
    kinds = list(dict.fromkeys(f.kind for f in findings))
    secrets = [k for k in kinds if not Finding(k, 0, 0).private_only]
    marked = [k for k in kinds if k not in secrets]
    parts = []
    if secrets:
        parts.append(f"secret in the request ({', '.join(secrets)})")
    if marked:
        parts.append(f"private marker ({', '.join(marked)})")
    return "privacy: " + "; ".join(parts)


def private_reason(settings: Any, messages: Iterable[Message]) -> str | None:
    """Why this request must stay on private models, or None."""
    return describe(scan_messages(settings, messages))


def redact(settings: Any, text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED:kind]``, for anything leaving the
    process other than to a private model (headers, error messages)."""
    return detector(settings).redact(text) if settings.privacy.enabled else text


def redact_for_log(settings: Any, text: str | None) -> str | None:
    """What the request log may store: secrets replaced by ``[REDACTED:kind]``."""
    if text is None or not settings.privacy.redact_log:
        return text
    return detector(settings).redact(text)


__all__ = ["Detector", "Finding", "describe", "detector", "private_reason", "redact", "redact_for_log", "scan_messages"]
