"""Fill-in-the-middle prompt templates for code models, by model family.

An autocomplete request with a ``suffix`` goes straight through to a backend that takes ``suffix``
itself (capability ``fim``). Otherwise the prompt is rendered here with the template named by the
model's ``fim_template`` and the family's end-of-middle tokens are added to ``stop``. A prompt that
a client already rendered (Continue does, and sends no suffix) is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FimTemplate:
    name: str
    pattern: str                  # {prefix} then {suffix}, each once
    stop: tuple[str, ...]         # tokens that end the middle; added to the request's stop list

    def render(self, prefix: str, suffix: str) -> str:
        # substitute by position: code may itself contain "{suffix}" or "{prefix}"
        head, rest = self.pattern.split("{prefix}")
        middle, tail = rest.split("{suffix}")
        return head + prefix + middle + suffix + tail


# Prefix-suffix-middle order throughout: every family below was trained on it.
TEMPLATES: dict[str, FimTemplate] = {t.name: t for t in (
    FimTemplate("starcoder", "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
                ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>")),
    FimTemplate("codellama", "<PRE> {prefix} <SUF>{suffix} <MID>", ("<EOT>", "<PRE>", "<SUF>", "<MID>")),
    FimTemplate("deepseek", "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
                ("<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<|EOT|>")),
    FimTemplate("qwen", "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
                ("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
                 "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>")),
    FimTemplate("codegemma", "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
                ("<|file_separator|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<eos>")),
)}


def merge_stop(stop: object, extra: tuple[str, ...]) -> list[str]:
    """The request's own stop sequences first, then the template's, without duplicates."""
    own = [stop] if isinstance(stop, str) else [s for s in (stop or ()) if isinstance(s, str)]  # type: ignore[union-attr]
    return list(dict.fromkeys([*own, *extra]))


def render(template: str, prefix: str, suffix: str, params: dict[str, object]) -> tuple[str, dict[str, object]]:
    """The rendered prompt and the params with the template's stop tokens added."""
    t = TEMPLATES[template]
    return t.render(prefix, suffix), {**params, "stop": merge_stop(params.get("stop"), t.stop)}


__all__ = ["TEMPLATES", "FimTemplate", "merge_stop", "render"]
