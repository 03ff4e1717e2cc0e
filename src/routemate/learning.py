"""Learning from your own traffic: labels in, router versions out (see ``routing/online.py``).

- A checked answer becomes a label of the model that gave it (passed: good enough; failed and
  escalated: fell short); so does a user's rating (``labels.add_feedback``).
- Every ``[learning] retrain_every`` new labels of local answers, a new router version is proposed
  from the most recent ``max_labels`` ones, in a separate process (``routemate router retrain``),
  so no request waits on it. It replaces the version in use only if it ranks the held-back recent
  labels better (``routing.learner.propose``); every version is kept (``routemate router history``,
  ``routemate router use VERSION``).
- The router in use is the base learned router (shipped, or ``routing.model``) with the promoted
  correction; its name, and so every reason line, says which version decided (``learned v3``).

Nothing leaves the machine: labels, versions and the learner live in the request log's database.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any

from . import labels as store_labels
from .routing.learned import LearnedRouter
from .routing.online import Example, OnlineRouter, example

log = logging.getLogger("routemate.learning")


def base_of(router: Any) -> LearnedRouter | None:
    """The learned router under ``router`` (None for routers that do not learn, e.g. rules)."""
    if isinstance(router, OnlineRouter):
        return router.base
    return router if isinstance(router, LearnedRouter) else None


def router_in_use(base: LearnedRouter, store: Any) -> OnlineRouter:
    """The version the log says is in use, on top of ``base`` (the base alone when none is)."""
    version = store_labels.current_version(store)
    data = store_labels.artifact(store, version) if version else None
    if data is None:
        return OnlineRouter(base)
    if data.get("base") != base.source:
        # learned as a correction of another base router (routing.model changed): it does not apply
        log.warning("router version %s corrects %s, not %s; using the base router", version, data.get("base"),
                    base.source)
        return OnlineRouter(base)
    try:
        return OnlineRouter.from_json(base, data)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("router version %s is unusable (%s); using the base router", version, exc)
        return OnlineRouter(base)


def features_example(rm: Any, features: Any) -> dict[str, Any] | None:
    """What a label may keep of a request (its ``Features``): named features and the base score,
    plus the hashed words only when the log keeps prompt text."""
    base = base_of(rm.router)
    if base is None or features is None:
        return None
    return example(base, features, text=rm.settings.log.prompts == "text").to_json()


def label_checked(rm: Any, store: Any, answer: Any, verdict: Any) -> bool:
    """A checked answer as a label of its model: passed (and something ran) 1, failed 0. An answer
    nothing could be run against teaches nothing. True if a label was recorded."""
    if not rm.settings.learning.enabled or answer.log_id is None:
        return False
    if verdict.ok and not verdict.ran:
        return False
    store_labels.add_label(store, answer.log_id, answer.decision.model, answer.decision.tier,
                           1.0 if verdict.ok else 0.0, "verify", features_example(rm, answer.features))
    return True


def learn_from_check(rm: Any, store: Any, answer: Any, verdict: Any) -> None:
    """The hook verify-then-escalate calls after logging a verdict: label, then retrain when due.
    Learning is a bonus: it never fails the answer."""
    try:
        if label_checked(rm, store, answer, verdict):
            after_label(rm, store)
    except Exception:
        log.warning("could not record a label", exc_info=True)


def due(settings: Any, store: Any) -> bool:
    """Whether enough new labels of local answers arrived since the last proposal."""
    cfg = settings.learning
    if not cfg.enabled:
        return False
    rows = store.query("SELECT MAX(labels) AS n FROM router_versions")
    done = max(int(rows[0]["n"] or 0) if rows else 0, store_labels.state(store, "tried_at_labels"))
    return store_labels.label_count(store) >= done + cfg.retrain_every


_children: list[subprocess.Popen[bytes]] = []     # retraining processes this process started


def retrain_in_background(settings: Any) -> None:
    """Start ``routemate router retrain --if-due`` detached: the caller never waits on learning.
    One at a time per process (the command's lock file keeps it to one per home across processes)."""
    _children[:] = [p for p in _children if p.poll() is None]
    if _children:
        return
    env = {**os.environ, "ROUTEMATE_HOME": str(settings.home)}
    if settings.config_file:
        env["ROUTEMATE_CONFIG"] = str(settings.config_file)
    if settings.log_url:
        env["ROUTEMATE_LOG_URL"] = settings.log_url
    try:
        _children.append(subprocess.Popen(
            [sys.executable, "-m", "routemate", "router", "retrain", "--if-due", "--quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env))
    except OSError as exc:   # learning is a bonus: never fail a request over it
        log.warning("could not start retraining: %s", exc)


def after_label(rm: Any, store: Any) -> None:
    """Called after new labels: retrain in the background when enough have arrived."""
    try:
        if due(rm.settings, store):
            retrain_in_background(rm.settings)
    except Exception:
        log.warning("could not check whether to retrain", exc_info=True)


def retrain(settings: Any, store: Any, base: LearnedRouter) -> dict[str, Any]:
    """Propose a version from the most recent labels, store it, promote it if it earns it."""
    from .routing.learner import Label, propose

    cfg = settings.learning
    rows = store_labels.labels(store, limit=cfg.max_labels)
    usable = [Label(Example.from_json(r["example"]), 1.0 - float(r["outcome"])) for r in rows if r["example"]]
    current = router_in_use(base, store)
    version = store_labels.next_version(store)
    started = time.perf_counter()
    proposal = propose(base, current, usable, version=version, holdout=cfg.holdout)
    count = store_labels.label_count(store)
    if proposal.quality is None and proposal.baseline is None:   # too few labels to judge: no version to keep
        store_labels.set_state(store, "tried_at_labels", count)
        return {"version": current.version, "promoted": False, "why": proposal.why, "labels": len(rows),
                "usable": len(usable), "quality": None, "baseline": None,
                "seconds": round(time.perf_counter() - started, 2), "in_use": current.name}
    store_labels.add_version(store, version=version, labels=count,
                             quality=proposal.quality, baseline=proposal.baseline, promoted=proposal.promoted,
                             why=proposal.why, artifact=proposal.router.to_json() if proposal.promoted else None)
    return {"version": version if proposal.promoted else current.version, "promoted": proposal.promoted,
            "why": proposal.why, "labels": len(rows), "usable": len(usable), "quality": proposal.quality,
            "baseline": proposal.baseline, "seconds": round(time.perf_counter() - started, 2),
            "in_use": proposal.router.name if proposal.promoted else current.name}
