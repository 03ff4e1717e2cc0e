"""Routing: conversation → features → a router's score → a pure decision.

A router is anything with a ``name`` and ``score(features) -> Score``. Register new ones in
``ROUTERS``; the decision itself (``decide``) applies pins, privacy and fallbacks the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..errors import ConfigError
from .decision import Candidate, Decision, Policy, Score, decide, fall_back
from .features import Features, extract
from .learned import LearnedRouter
from .rules import RulesRouter


class Router(Protocol):
    name: str

    def score(self, features: Features) -> Score: ...


ROUTERS: dict[str, Callable[[], Router]] = {"rules": RulesRouter, "learned": LearnedRouter}


def get_router(name: str) -> Router:
    if name not in ROUTERS:
        raise ConfigError(f"unknown router {name!r}", field="routing.router",
                          hint=f"choose one of: {', '.join(sorted(ROUTERS))}")
    return ROUTERS[name]()


def build_router(routing: Any) -> Router:
    """The router a ``RoutingConfig`` asks for (``routing.model`` picks a learned router's artifact)."""
    if routing.model and routing.router == "learned":
        return LearnedRouter.from_path(routing.model)
    return get_router(routing.router)


def threshold_for(router: Router, routing: Any) -> float:
    """``routing.threshold``, or the one a budget (frontier share, target quality) calls for."""
    if routing.frontier_share is None and routing.target_quality is None:
        return float(routing.threshold)
    calibration = getattr(router, "calibration", None)
    field = "routing.frontier_share" if routing.frontier_share is not None else "routing.target_quality"
    if calibration is None:
        raise ConfigError(f"the {router.name} router has no training distribution to calibrate from", field=field,
                          hint='use router = "learned", or set routing.threshold instead')
    if routing.frontier_share is not None:
        return calibration.threshold_for_share(routing.frontier_share)
    return calibration.threshold_for_quality(routing.target_quality)


__all__ = ["Candidate", "Decision", "Features", "LearnedRouter", "Policy", "Router", "RulesRouter", "Score",
           "build_router", "decide", "extract", "fall_back", "get_router", "threshold_for"]
