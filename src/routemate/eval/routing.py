"""`routemate eval routing`: how well a router trades strong-model calls for quality on outcomes.

Every router sees each prompt only as a one-turn conversation (never the scores, the responses or
the hidden tests), and any model pair in any outcome file can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest, RoutemateError
from ..routing import Router, extract, get_router
from ..routing.learned import LearnedRouter
from ..routing import metrics
from .outcomes import Outcome, file_digest, load, require_models

PLOT_HINT = "install the training extra for plots: pip install 'routemate[train]'"


def resolve_router(spec: str) -> Router:
    """A registered router name (``learned``, ``rules``) or the path of a trained artifact."""
    if spec.endswith(".json") or "/" in spec or Path(spec).is_file():
        return LearnedRouter.from_path(spec)
    return get_router(spec)


def trained_on(router: Router, path: Path | str, split: str | None) -> str | None:
    """A warning when the router's provenance says it learned from these very prompts (same file,
    overlapping split): its figures then measure fit, not how it does on prompts it never saw."""
    data = (getattr(router, "provenance", None) or {}).get("data") or {}
    if not data:
        return None
    sha = file_digest(path)
    for name, info in data.items():
        seen = str(info.get("split") or "all")
        if info.get("sha256") == sha and (seen == "all" or split is None or seen == split):
            return (f"the router was trained on {name} ({seen} split): on these prompts it measures fit, not "
                    f"generalisation; for a fair figure use one trained without them (routemate train --split "
                    f"train, or --exclude)")
    return None


def router_scores(router: Router, rows: Sequence[Outcome]) -> list[float]:
    return [router.score(extract([{"role": "user", "content": r.prompt}])).value for r in rows]


def at_threshold(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float],
                 threshold: float) -> dict[str, float | None]:
    """What routing at a fixed threshold does on these prompts (score ≥ threshold → strong)."""
    n = len(scores)
    up = [s >= threshold for s in scores]
    quality = sum(st if u else w for u, w, st in zip(up, weak, strong)) / n
    w_q, s_q = sum(weak) / n, sum(strong) / n
    return {"threshold": threshold, "strong_share": sum(up) / n, "quality": quality,
            "pgr": (quality - w_q) / (s_q - w_q) if s_q > w_q else None}


def evaluate(path: Path | str, weak: str, strong: str, router: Router, *, split: str | None = None,
             router_name: str | None = None, frontier_share: float | None = None,
             target_quality: float | None = None) -> dict[str, Any]:
    """The JSON report: headline figures (see ``metrics.summary``) plus the curve and its inputs."""
    if weak == strong:
        raise InvalidRequest("--weak and --strong name the same model", hint="compare two different models")
    rows = require_models(load(path, split=split), weak, strong)
    if not rows:
        raise InvalidRequest(f"no rows score both {weak} and {strong}"
                             f"{f' in split {split!r}' if split else ''}", hint="check --split and the model names")
    w = [r.scores[weak] for r in rows]
    s = [r.scores[strong] for r in rows]
    scores = router_scores(router, rows)
    out = metrics.summary(scores, w, s)
    c = metrics.curve(scores, w, s)
    out.update({
        "data": str(path), "split": split or "all", "weak": weak, "strong": strong,
        "router": router_name or getattr(router, "name", "router"),
        "trained_on_these": trained_on(router, path, split),
        "curve": [[round(a, 5), round(b, 5)] for a, b in zip(c.shares, c.qualities)],
    })
    if frontier_share is not None or target_quality is not None:
        # how a budget set from the router's training distribution carries over to this file
        from types import SimpleNamespace

        from ..routing import threshold_for

        budget = SimpleNamespace(frontier_share=frontier_share, target_quality=target_quality, threshold=0.5)
        out["calibrated"] = {"frontier_share": frontier_share, "target_quality": target_quality,
                             **at_threshold(scores, w, s, threshold_for(router, budget))}
    if all(weak in r.costs and strong in r.costs for r in rows):
        # the same sweep over costs instead of scores: what routing at each share actually spends
        cc = metrics.curve(scores, [r.costs[weak] for r in rows], [r.costs[strong] for r in rows])
        at80 = cc.quality_at(out["cpt"]["80"]) if out["cpt"]["80"] is not None else None
        out["cost"] = {"weak": cc.weak, "strong": cc.strong, "at_cpt80": at80,
                       "saving_at_cpt80": 1 - at80 / cc.strong if at80 is not None and cc.strong else None}
    return out


def plot(report: dict[str, Any], out: Path | str) -> Path:
    """Quality against strong share: the router's curve, random, oracle and both models alone."""
    try:
        import matplotlib
    except ImportError:
        raise RoutemateError("--plot needs matplotlib, which is not installed", hint=PLOT_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weak_q, strong_q = report["weak_quality"], report["strong_quality"]
    xs = [p[0] * 100 for p in report["curve"]]
    ys = [p[1] for p in report["curve"]]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(xs, ys, color="tab:blue", lw=2, label=f"{report['router']} (APGR {report['apgr']:.2f})"
            if report["apgr"] is not None else report["router"])
    ax.plot([0, 100], [weak_q, strong_q], color="grey", ls="--", label="random (APGR 0.50)")
    ax.axhline(weak_q, color="tab:red", lw=1, ls=":", label=f"always {report['weak']}")
    ax.axhline(strong_q, color="tab:green", lw=1, ls=":", label=f"always {report['strong']}")
    ax.scatter([report["oracle_strong_share"] * 100], [report["oracle_quality"]], color="black", zorder=3,
               label="oracle")
    cpt80 = report["cpt"]["80"]
    if cpt80 is not None:
        ax.axvline(cpt80 * 100, color="tab:blue", lw=0.8, ls="-.", label=f"CPT(80%) = {cpt80:.0%}")
    ax.set_xlabel("prompts sent to the strong model (%)")
    ax.set_ylabel("quality (mean score)")
    ax.set_xlim(0, 100)
    ax.set_title(f"{Path(report['data']).name} · {report['split']} · {report['n']} prompts", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def suggest_ladder(scores: Sequence[float], outcomes: dict[str, Sequence[float]], models: Sequence[str], *,
                   bar: float = 0.9) -> dict[str, Any]:
    """Ceilings for a ladder of ``models`` (cheapest first, the last one is the top).

    Each rung, in order, takes the prompts from the previous ceiling up to the highest ceiling at
    which its mean score on the prompts it takes is still at least ``bar`` × the top model's mean
    on those same prompts; the top model takes the rest. Returns the ceilings and what routing
    with them does on these prompts.
    """
    if len(models) < 2:
        raise InvalidRequest("a ladder needs at least two models", hint="--models small,big[,...],top")
    top = outcomes[models[-1]]
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ceilings: dict[str, float] = {}
    start = 0
    for m in models[:-1]:
        own = outcomes[m]
        best_end, s_own, s_top = start, 0.0, 0.0
        end = start
        while end < len(order):
            # grow by one tie group: equal scores cannot be split by a ceiling
            nxt = end
            while nxt < len(order) and scores[order[nxt]] == scores[order[end]]:
                s_own += own[order[nxt]]
                s_top += top[order[nxt]]
                nxt += 1
            end = nxt
            if s_own >= bar * s_top - 1e-12:
                best_end = end
        ceiling = scores[order[best_end]] if best_end < len(order) else 1.0
        ceilings[m] = round(max(ceiling, *ceilings.values()) if ceilings else ceiling, 4)
        start = best_end
    chosen = [next((m for m in models[:-1] if scores[i] < ceilings[m]), models[-1]) for i in range(len(scores))]
    n = len(scores)
    quality = sum(outcomes[m][i] for i, m in enumerate(chosen)) / n
    return {"ceilings": ceilings, "bar": bar, "n": n, "quality": quality,
            "top_quality": sum(top) / n, "shares": {m: chosen.count(m) / n for m in models}}
