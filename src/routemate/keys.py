"""Gateway keys for teams: who is calling, what they may spend, how often, and on which models.

Budgets and rate limits live in the request log's store, so every replica on one PostgreSQL log
enforces the same numbers: spend is the sum of ``cost_usd`` of the key's logged requests in the
period, and requests per minute are counted in ``key_minutes``. Spend is read at most once a
second per key and replica (this replica's own answers count at once), so another replica's
spending is seen within about a second plus the log's group-commit delay.

Keys are compared in constant time and never logged: the log stores the key's name.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ModelForbidden, QuotaExceeded, RateLimited, StoreUnavailable

if TYPE_CHECKING:
    from .config import KeyConfig, Settings
    from .store import LogStore

SPEND_TTL = 1.0      # seconds a key's spend is reused before the store is asked again
PERIOD_WORDS = {"day": "daily", "month": "monthly", "total": "total"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the current request is made for: a named key (with its limits), or an unnamed one."""

    name: str | None = None
    models: frozenset[str] | None = None     # models or tiers; None: every model

    def allows(self, name: str, tier: str) -> bool:
        return self.models is None or name in self.models or tier in self.models


# Set by the gateway for the request it is answering; read by routing (allowed models) and logging.
CALLER: ContextVar[Caller | None] = ContextVar("routemate_caller", default=None)


@dataclass(frozen=True, slots=True)
class Allowance:
    """Where a key with ``rpm`` stands after a request was counted: its limit, what is left in the
    clock minute (never negative) and when that minute ends (epoch seconds)."""

    limit: int
    remaining: int
    resets_at: float

    def reset_in(self, now: float) -> int:
        """Whole seconds until the window resets (0 once it has)."""
        return max(0, math.ceil(self.resets_at - now))


def caller_name() -> str | None:
    caller = CALLER.get()
    return caller.name if caller is not None else None


def period_start(period: str, now: float) -> float:
    """When the current budget period began (UTC calendar day or month; 0 for "total")."""
    if period == "total":
        return 0.0
    t = datetime.fromtimestamp(now, timezone.utc)
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return start.timestamp()


class Keyring:
    """The gateway's keys: ``[keys.NAME]`` tables plus the plain ``server.api_keys`` / ``ROUTEMATE_API_KEYS``."""

    def __init__(self, settings: "Settings", store: "Callable[[], LogStore] | None" = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._store = store
        self.clock = clock
        self.named: dict[str, "KeyConfig"] = dict(settings.keys)
        self._entries: list[tuple[bytes, "KeyConfig | None"]] = []
        for key in settings.keys.values():
            secret = key.secret(settings.env)
            if secret is None:
                raise ConfigError(f"{key.key_env} is not set", field=f"keys.{key.name}.key_env",
                                  hint="export it before starting the gateway, or remove the key")
            self._entries.append((secret.encode(), key))
        self._entries += [(k.encode(), None) for k in settings.gateway_keys()]
        self._spend: dict[str, tuple[float, float, float]] = {}   # name -> (read at, period start, usd)
        self._tier = {m.name: m.tier for m in settings.models.values()}

    @property
    def required(self) -> bool:
        return bool(self._entries)

    def match(self, token: str) -> tuple[bool, "KeyConfig | None"]:
        """Whether ``token`` is a known key, and its ``[keys]`` entry (None for a plain key).
        Every key is compared, in constant time, whatever matches first."""
        given = token.encode()
        found, entry = False, None
        for secret, key in self._entries:
            if hmac.compare_digest(given, secret):
                found, entry = True, key
        return found, entry

    @staticmethod
    def caller(key: "KeyConfig | None") -> Caller:
        if key is None:
            return Caller()
        return Caller(key.name, frozenset(key.models) if key.models is not None else None)

    # -- limits --------------------------------------------------------------------------------------
    def check_model(self, key: "KeyConfig | None", requested: str) -> None:
        """403 for a model (or tier) the key may not use; ``auto`` is routed among the allowed ones."""
        if key is None or key.models is None or requested in ("", "auto"):
            return
        allowed = set(key.models)
        if requested in allowed:
            return
        if requested in ("local", "frontier") and any(self._tier.get(m) == requested for m in allowed):
            return
        if requested in self._tier and self._tier[requested] in allowed:
            return
        raise ModelForbidden(f"key {key.name!r} may not use model {requested!r}",
                             hint=f"use auto or one of: {', '.join(key.models)}")

    async def admit(self, key: "KeyConfig | None", requested: str) -> Allowance | None:
        """Refuse a request the key may not make now: wrong model (403), over budget or rate (429).

        For a key with ``rpm``, the request is counted and its ``Allowance`` returned (the 429 carries
        it too); None for any other key, so only limited keys get rate-limit headers."""
        if key is None:
            return None
        self.check_model(key, requested)
        if key.budget_usd is None and key.rpm is None:
            return None
        now = self.clock()
        if key.budget_usd is not None:
            spent = self._cached_spend(key, now)
            if spent is None:
                spent = await self._ask(self._read_spend, key, now)
            if spent >= key.budget_usd:
                raise QuotaExceeded(f"key {key.name!r} has spent ${spent:.4f} of its ${key.budget_usd:g} "
                                    f"{PERIOD_WORDS[key.period]} budget",
                                    hint=self._budget_hint(key, now))
        if key.rpm is None:
            return None
        minute = int(now // 60)
        used = await self._ask(self.store().count_request, key.name, minute)
        allowance = Allowance(key.rpm, max(0, key.rpm - used), (minute + 1) * 60.0)
        if used > key.rpm:
            wait = max(1, allowance.reset_in(now))
            raise RateLimited(f"key {key.name!r} is over its limit of {key.rpm} requests per minute",
                              retry_after=wait, hint=f"try again in {wait}s", allowance=allowance)
        return allowance

    @staticmethod
    async def _ask(fn: Callable[..., Any], *args: Any) -> Any:
        """A store call off the event loop; a database that is down is a 503 naming the log."""
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as exc:
            raise StoreUnavailable(f"cannot check key limits: the request log is unreachable "
                                   f"({type(exc).__name__})", hint="check the log database ([log] url)") from None

    def spent(self, name: str | None, usd: float) -> None:
        """Count an answer's cost against its key at once (the log catches up in the background)."""
        if name is None or not usd or name not in self._spend:
            return
        read, start, total = self._spend[name]
        self._spend[name] = (read, start, total + usd)

    def store(self) -> "LogStore":
        if self._store is None:
            raise RuntimeError("this keyring has no store for budgets and rate limits")
        return self._store()

    def _cached_spend(self, key: "KeyConfig", now: float) -> float | None:
        hit = self._spend.get(key.name)
        if hit is None or now - hit[0] > SPEND_TTL or hit[1] != period_start(key.period, now):
            return None
        return hit[2]

    def _read_spend(self, key: "KeyConfig", now: float) -> float:
        start = period_start(key.period, now)
        usd = self.store().spend(start, [key.name]).get(key.name, 0.0)
        self._spend[key.name] = (now, start, usd)
        return usd

    @staticmethod
    def _budget_hint(key: "KeyConfig", now: float) -> str:
        if key.period == "total":
            return "raise budget_usd for this key in the gateway's config"
        t = datetime.fromtimestamp(now, timezone.utc)
        if key.period == "day":
            return "the budget renews at 00:00 UTC"
        nxt = (t.replace(day=28) + timedelta(days=4)).replace(day=1)
        return f"the budget renews on {nxt:%Y-%m}-01 00:00 UTC"


__all__ = ["CALLER", "Allowance", "Caller", "Keyring", "caller_name", "period_start"]
