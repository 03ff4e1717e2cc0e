"""What routemate did for you, from the request log: the object `routemate stats --json` prints and
the dashboard's ``GET /v1/stats`` serves (one function, so the two never disagree).

All-time totals (requests, spend, what the frontier model alone would have cost, saved) and, over
the last ``days``: requests and spend per time bucket and model, escalations and their reasons,
verification pass rates per model, feedback, and the router versions with their measured quality.
Rows are read with portable SQL and aggregated here, so every log store gives the same figures.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from typing import Any

from . import labels

MAX_ROWS = 200_000            # the most recent rows a window reads: bounded work for a busy log
ESCALATED = re.compile(r"verify: .*?'s answer failed \((?P<why>.*)\); escalated to")
DIGITS = re.compile(r"\d+")


def _bucket(span: float) -> int:
    return 3600 if span <= 2 * 86400 else 86400


def _why(reason: str) -> str:
    """An escalation's reason without its particulars, so equal causes count together."""
    m = ESCALATED.search(reason or "")
    text = m.group("why") if m else (reason or "unknown")
    return DIGITS.sub("N", text.split(":")[0]).strip()[:80] or "unknown"


def overview(store: Any, *, days: float = 30.0, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    since = now - days * 86400
    out = dict(store.stats())
    rows = store.query("SELECT id, ts, model, tier, status, cost_usd, saved_usd, attempt, parent_id, reason, meta "
                       "FROM requests WHERE ts >= ? ORDER BY id DESC LIMIT ?", (since, MAX_ROWS))
    rows.reverse()
    first = min((r["ts"] for r in rows), default=now)
    size = _bucket(now - first)
    buckets: dict[int, dict[str, Any]] = {}
    if rows:     # every bucket from the first request to now, so time runs evenly along the charts
        for t in range(int(first // size * size), int(now // size * size) + 1, size):
            buckets[t] = _empty(t)
    reasons: Counter[str] = Counter()
    checked: dict[str, Counter[str]] = defaultdict(Counter)
    escalated = 0
    for r in rows:
        t = int(r["ts"] // size * size)
        b = buckets.get(t) or buckets.setdefault(t, _empty(t))
        model = r["model"] or "-"
        b["requests"] += 1
        b["models"][model] = b["models"].get(model, 0) + 1
        cost, saved = float(r["cost_usd"] or 0), float(r["saved_usd"] or 0)
        b["cost_usd"] += cost
        b["frontier_usd"] += cost + saved
        if (r["attempt"] or 1) > 1:
            escalated += 1
            b["escalations"] += 1
            reasons[_why(r["reason"])] += 1
        meta = json.loads(r["meta"]) if r["meta"] else {}
        for attempt in meta.get("attempts") or ():
            reasons[f"fallback: {attempt.get('model', '?')} failed"] += 1
        verdict = meta.get("verify")
        if isinstance(verdict, dict):
            checked[model]["passed" if verdict.get("ok") else "failed"] += 1
    timeline = [buckets[t] for t in sorted(buckets)]
    for b in timeline:
        b["cost_usd"], b["frontier_usd"] = round(b["cost_usd"], 8), round(b["frontier_usd"], 8)
    out.update({
        "window": {"since": since, "days": days, "bucket_s": size, "requests": len(rows)},
        "timeline": timeline,
        "escalations": {"count": escalated, "share": escalated / len(rows) if rows else 0.0,
                        "reasons": [{"reason": k, "count": v} for k, v in reasons.most_common(10)]},
        "verification": sorted(({"model": m, "checked": c["passed"] + c["failed"], "passed": c["passed"],
                                 "failed": c["failed"], "pass_rate": c["passed"] / (c["passed"] + c["failed"])}
                                for m, c in checked.items()), key=lambda v: -v["checked"]),
        "feedback": _feedback(store, since),
        "router": {"in_use": labels.current_version(store), "labels": labels.label_count(store),
                   "versions": labels.versions(store, 50)},
    })
    return out


def _empty(t: int) -> dict[str, Any]:
    return {"t": t, "requests": 0, "models": {}, "cost_usd": 0.0, "frontier_usd": 0.0, "escalations": 0}


def _feedback(store: Any, since: float) -> dict[str, Any]:
    rows = store.query("SELECT f.request_id, f.ts, f.rating, f.note, r.model FROM feedback f "
                       "LEFT JOIN requests r ON r.id = f.request_id WHERE f.ts >= ? ORDER BY f.id", (since,))
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        per[r["model"] or "-"][r["rating"]] += 1
    return {"good": sum(c["good"] for c in per.values()), "bad": sum(c["bad"] for c in per.values()),
            "by_model": [{"model": m, "good": c["good"], "bad": c["bad"]} for m, c in sorted(per.items())],
            "recent": [{k: r[k] for k in ("request_id", "ts", "rating", "note", "model")} for r in rows[-10:][::-1]]}
