"""A transparent rules router: a difficulty score built from named features, each term visible."""

from __future__ import annotations

from .decision import Score
from .features import Features

TASK_BASE = {
    "autocomplete": 0.05, "chat": 0.15, "explain": 0.25, "generate": 0.35, "test": 0.35,
    "fix": 0.40, "refactor": 0.45, "review": 0.50, "design": 0.70,
}


class RulesRouter:
    """Scores how much a request needs the frontier model; every term shows up in the reason."""

    name = "rules"

    def score(self, f: Features) -> Score:
        terms: list[tuple[str, float]] = [(f"task={f.task}", TASK_BASE.get(f.task, 0.3))]
        if f.reasoning:
            terms.append((f"{f.reasoning} reasoning marker{'s' * (f.reasoning > 1)}", min(0.12 * f.reasoning, 0.36)))
        if f.constraints >= 2:
            terms.append((f"{f.constraints} constraints", min(0.04 * f.constraints, 0.16)))
        if f.code_lines > 1000:
            terms.append((f"{f.code_lines} code lines", 0.30))
        elif f.code_lines > 200:
            terms.append((f"{f.code_lines} code lines", 0.15))
        if f.est_tokens > 6000:
            terms.append((f"~{f.est_tokens} tokens", 0.15))
        if len(f.languages) > 2:
            terms.append((f"{len(f.languages)} languages", 0.10))
        if f.turns > 6:
            terms.append((f"{f.turns} turns", 0.10))
        if f.tool_calls:
            terms.append(("agentic tool use", 0.10))
        if f.task == "autocomplete":
            terms = terms[:1]   # latency-bound: never escalate autocomplete on content alone
        value = max(0.0, min(1.0, sum(v for _, v in terms)))
        why = ", ".join(f"{name} (+{v:.2f})" for name, v in terms)
        return Score(value, why, self.name)
