"""Outcome files: one JSON object per prompt with each model's score (and optionally cost, answer).

Format (JSON Lines): ``id``, ``source``, ``split`` (train/test/all), ``prompt``, ``scores``
{model: 0..1}, optional ``costs`` {model: USD}, ``responses`` {model: text}, ``tests``, and for
several answers of one model to the same prompt ``samples`` {model: [text, ...]} (sample 1 is
``responses[model]``) with ``sample_scores`` {model: [0..1, ...]}, the grader's verdict on each.
``tests`` and ``sample_scores`` are for graders only: routers and verifiers must never see them, so
``Outcome`` keeps them out of reach (``hidden_tests`` and ``hidden_sample_scores`` exist only for
graders, by name).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from ..routing.train import Row, TrainingError, norm_prompt


def file_digest(path: Path | str) -> str:
    """The short sha256 that identifies an outcome file in a router's provenance."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Outcome:
    id: str
    source: str
    split: str
    prompt: str
    scores: dict[str, float]
    costs: dict[str, float] = field(default_factory=dict)
    responses: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    _tests: Any = field(default=None, repr=False, compare=False)
    _sample_scores: dict[str, list[float]] = field(default_factory=dict, repr=False, compare=False)

    def hidden_tests(self) -> Any:
        """For graders only (e.g. `routemate bench`): never pass this to a router or verifier."""
        return self._tests

    def hidden_sample_scores(self, model: str) -> list[float]:
        """For scorers only (``eval cascade`` grading a pick): never pass this to a verifier."""
        return self._sample_scores.get(model, [])

    def answers(self, model: str) -> list[str]:
        """Every recorded answer of ``model``: its samples, else its one response."""
        if self.samples.get(model):
            return self.samples[model]
        return [self.responses[model]] if model in self.responses else []

    def first_and_rest(self, model: str) -> list[str]:
        """Its first answer, then the samples drawn after it: the order an early-stopping cascade
        sees them in. The first is the recorded ``responses`` entry (a greedy answer, as the live
        cascade's first sample is); the samples follow, without a copy of the first at their head."""
        first = self.responses.get(model)
        rest = list(self.samples.get(model) or [])[self._after_first(model):]
        return rest if first is None else [first] + rest

    def hidden_first_and_rest_scores(self, model: str) -> list[float]:
        """For scorers only: the grades of ``first_and_rest(model)``, in that order."""
        first = [self.scores[model]] if model in self.responses else []
        return first + self.hidden_sample_scores(model)[self._after_first(model):]

    def _after_first(self, model: str) -> int:
        """Where the samples drawn after the first answer start: past a copy of it at their head."""
        first, rest = self.responses.get(model), self.samples.get(model) or []
        return 1 if first is not None and rest[:1] == [first] else 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "source": self.source, "split": self.split, "prompt": self.prompt,
                               "scores": self.scores}
        if self.costs:
            out["costs"] = self.costs
        if self.responses:
            out["responses"] = self.responses
        if self.samples:
            out["samples"] = self.samples
        if self._sample_scores:
            out["sample_scores"] = self._sample_scores
        if self._tests is not None:
            out["tests"] = self._tests
        return out


def parse(row: dict[str, Any], where: str = "") -> Outcome:
    try:
        scores = {str(k): float(v) for k, v in row["scores"].items()}
        return Outcome(id=str(row.get("id", where)), source=str(row.get("source", "")),
                       split=str(row.get("split", "all")), prompt=str(row["prompt"]), scores=scores,
                       costs={str(k): float(v) for k, v in (row.get("costs") or {}).items()},
                       responses={str(k): str(v) for k, v in (row.get("responses") or {}).items()},
                       samples={str(k): [str(x) for x in v] for k, v in (row.get("samples") or {}).items()},
                       _tests=row.get("tests"),
                       _sample_scores={str(k): [float(x) for x in v]
                                       for k, v in (row.get("sample_scores") or {}).items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidRequest(f"{where}: not an outcome row ({type(exc).__name__}: {exc})",
                             hint="each line needs at least prompt and scores {model: 0..1}") from None


def load(path: Path | str, *, split: str | None = None) -> list[Outcome]:
    """Read an outcome file; ``split`` keeps only rows of that split (``all`` rows always kept)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequest(f"cannot read outcome file {path}: {exc.strerror or exc}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise InvalidRequest(f"{path}:{n}: not JSON ({exc})") from None
        rows.append(parse(raw, f"{path}:{n}"))
    if split is not None:
        rows = [r for r in rows if r.split in (split, "all")]
    return rows


def models_in(rows: Iterable[Outcome]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for m in r.scores:
            seen[m] = None
    return list(seen)


def require_models(rows: list[Outcome], *models: str) -> list[Outcome]:
    """Rows scored for every named model; a clear error naming what exists when a name is wrong."""
    known = models_in(rows)
    for m in models:
        if m not in known:
            raise InvalidRequest(f"model {m!r} is not in the outcome file",
                                 hint=f"models present: {', '.join(known[:12])}{'…' if len(known) > 12 else ''}")
    return [r for r in rows if all(m in r.scores for m in models)]


def dump(rows: Iterable[Outcome], path: Path | str) -> int:
    n = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def pick(names: Sequence[str], present: Iterable[str], role: str, where: str) -> str:
    """The first of ``names`` that the file scores (names are data: any model, any file)."""
    have = list(present)
    for n in names:
        if n in have:
            return n
    raise TrainingError(f"{where} scores none of the {role} models {', '.join(names)}",
                        hint=f"models present: {', '.join(have[:12])}{'…' if len(have) > 12 else ''}")


def training_rows(files: Sequence[Path], weak: Sequence[str], strong: Sequence[str], *, split: str | None = None,
                  exclude: Iterable[str] = ()) -> tuple[list[Row], dict[str, dict[str, Any]]]:
    """Training rows from every file, each labelled with that file's weak/strong pair (the first
    name of each list the file scores), without the ``exclude`` prompts; and per file, what was used."""
    banned = {norm_prompt(p) for p in exclude}
    rows: list[Row] = []
    info: dict[str, dict[str, Any]] = {}
    for path in files:
        outcomes = load(path, split=split)
        if not outcomes:
            raise TrainingError(f"{path} has no rows{f' in split {split!r}' if split else ''}")
        w = pick(weak, models_in(outcomes), "weak", str(path))
        s = pick(strong, models_in(outcomes), "strong", str(path))
        kept = [o for o in outcomes if w in o.scores and s in o.scores and norm_prompt(o.prompt) not in banned]
        rows += [Row(o.prompt, o.source or Path(path).stem, o.scores[w], o.scores[s], o.split) for o in kept]
        info[Path(path).name] = {"sha256": file_digest(path),
                                 "rows": len(kept), "excluded": len(outcomes) - len(kept), "weak": w, "strong": s,
                                 "split": split or "all"}
    return rows, info


def prompts_of(files: Iterable[Path], split: str | None = None) -> list[str]:
    return [o.prompt for f in files for o in load(f, split=split)]
