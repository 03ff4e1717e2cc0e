"""Routing: conversation → features → a router's score → a pure decision.

A router is anything with a ``name`` and ``score(features) -> Score``. Register new ones in
``ROUTERS``; the decision itself (``decide``) applies pins, privacy and fallbacks the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..errors import ConfigError
from .decision import Candidate, Decision, Policy, Score, decide, fall_back
from .features import Features, extract
from .rules import RulesRouter


class Router(Protocol):
    name: str

    def score(self, features: Features) -> Score: ...


ROUTERS: dict[str, Callable[[], Router]] = {"rules": RulesRouter}


def get_router(name: str) -> Router:
    if name not in ROUTERS:
        raise ConfigError(f"unknown router {name!r}", field="routing.router",
                          hint=f"choose one of: {', '.join(sorted(ROUTERS))}")
    return ROUTERS[name]()


__all__ = ["Candidate", "Decision", "Features", "Policy", "Router", "RulesRouter", "Score", "decide",
           "extract", "fall_back", "get_router"]
