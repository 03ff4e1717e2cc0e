"""Prometheus metrics for the gateway, in the text exposition format (version 0.0.4).

Hand-written rather than prometheus_client: a handful of counters and histograms updated once per
request on the event loop need no locks and no registry machinery. Label values stay
low-cardinality on purpose: ``reason`` is the kind of decision (routed, pinned, fallback), never
the free-text reason, which is in the request log.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(v: float) -> str:
    return repr(float(v)) if v != int(v) else str(int(v))


class Counter:
    kind = "counter"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...] = (), value: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + value

    def get(self, labels: tuple[str, ...] = ()) -> float:
        return self.values.get(labels, 0.0)

    def lines(self) -> Iterable[str]:
        for labels, v in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {_num(v)}"


class Gauge(Counter):
    kind = "gauge"

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self.values[labels] = value


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names, self.buckets = name, help, labels, buckets
        self.values: dict[tuple[str, ...], list[Any]] = {}   # labels -> [bucket counts, sum, count]

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        slot = self.values.get(labels)
        if slot is None:
            slot = self.values[labels] = [[0] * len(self.buckets), 0.0, 0]
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.buckets):
            slot[0][i] += 1
        slot[1] += value
        slot[2] += 1

    def lines(self) -> Iterable[str]:
        for labels, (counts, total, n) in sorted(self.values.items()):
            running = 0
            for bound, c in zip(self.buckets, counts):
                running += c
                le = _labels(self.label_names, labels, 'le="%s"' % bound)
                yield f"{self.name}_bucket{le} {running}"
            le = _labels(self.label_names, labels, 'le="+Inf"')
            yield f"{self.name}_bucket{le} {n}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {_num(total)}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {n}"


class Metrics:
    def __init__(self) -> None:
        self.requests = Counter("routemate_requests_total", "Answered requests by model, kind of routing decision "
                                "and outcome (ok, error, cancelled).", ("endpoint", "model", "reason", "status"))
        self.responses = Counter("routemate_http_responses_total", "HTTP responses by endpoint and status code.",
                                 ("endpoint", "code"))
        self.latency = Histogram("routemate_request_duration_seconds", "Time from request to last byte.",
                                 ("endpoint", "model"))
        self.ttft = Histogram("routemate_time_to_first_token_seconds", "Time from request to first content.",
                              ("endpoint", "model"))
        self.tokens = Counter("routemate_tokens_total", "Tokens by model and direction (prompt, completion).",
                              ("model", "kind"))
        self.cost = Counter("routemate_cost_usd_total", "Spend in USD by model.", ("model",))
        self.saved = Counter("routemate_saved_usd_total", "USD saved against the default frontier model.",
                             ("model",))
        self.fallbacks = Counter("routemate_fallbacks_total", "Requests moved to another model after a failure.",
                                 ("from_model", "to_model"))
        self.stream_errors = Counter("routemate_stream_errors_total", "Streams ended with an in-band error event "
                                     "after content had started.", ("model",))
        self.in_flight = Gauge("routemate_requests_in_flight", "Requests being answered now.")
        self.collectors: list[Callable[[], Iterable[tuple[Gauge | Counter, tuple[str, ...], float]]]] = []

    def render(self) -> str:
        out: list[str] = []
        live: dict[str, Counter | Gauge] = {}
        for collect in self.collectors:   # values owned elsewhere (retries, circuits), read at scrape time
            for metric, labels, value in collect():
                live.setdefault(metric.name, metric).values[labels] = value
        for metric in (self.requests, self.responses, self.latency, self.ttft, self.tokens, self.cost, self.saved,
                       self.fallbacks, self.stream_errors, self.in_flight, *live.values()):
            out.append(f"# HELP {metric.name} {metric.help}")
            out.append(f"# TYPE {metric.name} {metric.kind}")
            out.extend(metric.lines())
        return "\n".join(out) + "\n"


def reason_kind(decision: Any, attempts: int = 0) -> str:
    """A decision's reason as one low-cardinality word."""
    if attempts or getattr(decision, "fallback_from", None):
        return "fallback"
    if any(n.startswith("kept local") for n in getattr(decision, "notes", ())):
        return "privacy"
    if getattr(decision, "pinned", False):
        return "pinned"
    return "routed"


__all__ = ["Counter", "Gauge", "Histogram", "Metrics", "reason_kind"]
