"""What the request log learns from: feedback, labels and router versions, in the log's own database.

- **feedback**: a user's rating of one answer (``routemate feedback ID good|bad``, ``POST /v1/feedback``);
- **labels**: whether a model's answer was good enough (1) or fell short (0), from its checks
  (verify-then-escalate) or from feedback, with what the learner may keep of the request
  (``routing.online.Example``: no prompt text);
- **router versions**: every router the learner proposed, its measured quality, whether it was
  promoted, and which one is in use.

Every statement is portable SQL over the store's ``query`` / ``execute`` / ``insert``, so the same
code runs on each log store.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest

RATINGS = {"good": 1.0, "bad": 0.0}
MAX_NOTE = 2000


class UnknownRequest(InvalidRequest):
    """Feedback for an id the log does not know: a 404 over HTTP."""

    status = 404
    code = "request_not_found"


@dataclass(frozen=True)
class Feedback:
    request_id: int
    rating: str
    note: str | None
    model: str | None
    ts: float


def find_request(store: Any, ref: str | int) -> dict[str, Any]:
    """The log row an id names: a log id (``routemate logs``), or the ``id`` of a chat completion /
    the ``x-routemate-request-id`` header. For an answer made of several attempts (a checked answer
    escalated), the attempt that was returned."""
    text = str(ref).strip()
    rows: list[dict[str, Any]] = []
    if text.isdigit():
        rows = store.query("SELECT id, model, tier, response_id, parent_id FROM requests WHERE id = ?", (int(text),))
    elif text:
        rows = store.query("SELECT id, model, tier, response_id, parent_id FROM requests WHERE response_id = ? "
                           "ORDER BY id DESC LIMIT 1", (text,))
    if not rows:
        raise UnknownRequest(f"no logged request has id {text!r}", param="id",
                             hint="use an id from `routemate logs`, a chat completion's id, or the "
                                  "x-routemate-request-id header of the answer")
    row = rows[0]
    # a checked answer's later attempts point at the first: the last attempt is what the user saw
    head = row["parent_id"] or row["id"]
    last = store.query("SELECT id, model, tier, response_id FROM requests WHERE id = ? OR parent_id = ? "
                       "ORDER BY id DESC LIMIT 1", (head, head))
    return last[0] if last else row


def add_feedback(store: Any, ref: str | int, rating: str, note: str | None = None, *, via: str = "cli") -> Feedback:
    """Record a rating; it also becomes a label of the model that answered."""
    if rating not in RATINGS:
        raise InvalidRequest(f"rating must be good or bad, not {rating!r}", param="rating")
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidRequest(f"note is over {MAX_NOTE} characters", param="note")
    row = find_request(store, ref)
    now = time.time()
    store.insert("feedback", {"request_id": row["id"], "ts": now, "rating": rating, "note": note, "via": via})
    add_label(store, row["id"], row["model"], row["tier"], RATINGS[rating], "feedback", None)
    return Feedback(int(row["id"]), rating, note, row["model"], now)


def feedback_for(store: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Feedback on each of these log rows (newest last)."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    out: dict[int, list[dict[str, Any]]] = {}
    for r in store.query(f"SELECT request_id, ts, rating, note, via FROM feedback WHERE request_id IN ({marks}) "
                         "ORDER BY id", tuple(ids)):
        out.setdefault(int(r["request_id"]), []).append(
            {"rating": r["rating"], "note": r["note"], "ts": r["ts"], "via": r["via"]})
    return out


def add_label(store: Any, request_id: int | None, model: str | None, tier: str | None, outcome: float, source: str,
              example: dict[str, Any] | None) -> None:
    """``outcome`` 1: the model's answer was good enough; 0: it fell short."""
    if model is None:
        return
    store.insert("labels", {"request_id": request_id, "ts": time.time(), "model": model, "tier": tier,
                            "outcome": float(outcome), "source": source,
                            "example": json.dumps(example, separators=(",", ":")) if example else None})


def labels(store: Any, *, tier: str = "local", limit: int = 5000) -> list[dict[str, Any]]:
    """The most recent labels of models in ``tier``, oldest first. A label without an example of its
    own (feedback) borrows the one its request got from its checks, if any."""
    rows = store.query("SELECT id, request_id, ts, model, outcome, source, example FROM labels WHERE tier = ? "
                       "ORDER BY id DESC LIMIT ?", (tier, limit))
    rows.reverse()
    known = {r["request_id"]: r["example"] for r in rows if r["example"] and r["request_id"] is not None}
    for r in rows:
        text = r["example"] or known.get(r["request_id"])
        r["example"] = json.loads(text) if text else None
    return rows


def label_count(store: Any, *, tier: str = "local") -> int:
    return int(store.query("SELECT COUNT(*) AS n FROM labels WHERE tier = ?", (tier,))[0]["n"])


# -- router versions ---------------------------------------------------------------------------------
def add_version(store: Any, *, version: int, labels: int, quality: float | None, baseline: float | None,
                promoted: bool, why: str, artifact: dict[str, Any] | None) -> None:
    store.insert("router_versions", {
        "ts": time.time(), "version": version, "labels": labels, "quality": quality, "baseline": baseline,
        "promoted": 1 if promoted else 0, "why": why,
        "artifact": json.dumps(artifact, separators=(",", ":")) if artifact else None})
    if promoted:
        use_version(store, version)


def versions(store: Any, limit: int = 100) -> list[dict[str, Any]]:
    """Every promoted version (and the candidates that were not), newest first, and which is in use."""
    current = current_version(store)
    rows = store.query("SELECT ts, version, labels, quality, baseline, promoted, why FROM router_versions "
                       "ORDER BY id DESC LIMIT ?", (limit,))
    for r in rows:
        r["promoted"] = bool(r["promoted"])
        r["in_use"] = r["promoted"] and r["version"] == current
    return rows


def next_version(store: Any) -> int:
    rows = store.query("SELECT MAX(version) AS v FROM router_versions WHERE promoted = 1")
    return int(rows[0]["v"] or 0) + 1


def artifact(store: Any, version: int) -> dict[str, Any] | None:
    rows = store.query("SELECT artifact FROM router_versions WHERE version = ? AND promoted = 1 "
                       "ORDER BY id DESC LIMIT 1", (version,))
    return json.loads(rows[0]["artifact"]) if rows and rows[0]["artifact"] else None


def state(store: Any, name: str) -> int:
    rows = store.query("SELECT value FROM router_state WHERE name = ?", (name,))
    return int(rows[0]["value"]) if rows else 0


def set_state(store: Any, name: str, value: int) -> None:
    store.execute("DELETE FROM router_state WHERE name = ?", (name,))
    store.execute("INSERT INTO router_state (name, value) VALUES (?, ?)", (name, str(value)))


def current_version(store: Any) -> int:
    """The version in use: 0 is the base router (nothing learned, or rolled back to it)."""
    return state(store, "version")


def use_version(store: Any, version: int) -> None:
    """Make ``version`` the one in use (0: the base router). Raises for a version never promoted."""
    if version and artifact(store, version) is None:
        known = [r["version"] for r in versions(store) if r["promoted"]]
        raise InvalidRequest(f"there is no router version {version}",
                             hint=f"versions: {', '.join(f'v{v}' for v in known) or 'none yet'}; 0 is the base router")
    set_state(store, "version", version)
