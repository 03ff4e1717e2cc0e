"""The request and chunk types every part of routemate speaks.

Messages stay OpenAI-shaped dicts, so tool calls, images and fields routemate does not know pass
through untouched. A backend turns whatever its engine emits into ``Chunk``s; the SSE codec turns
``Chunk``s back into OpenAI stream events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]

# Generation parameters routemate forwards to backends (when they support them).
CHAT_PARAMS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "response_format", "tools", "tool_choice", "parallel_tool_calls", "user",
)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Usage | None":
        if not data:
            return None
        return cls(int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0))


@dataclass(slots=True)
class ChatRequest:
    """A chat request. Treat it as immutable once routed: what routing computes from it (features,
    the decision) is memoised in ``memo`` so that planners and the answer path share one pass."""

    messages: list[Message]
    params: dict[str, Any] = field(default_factory=dict)
    model: str = "auto"               # "auto", a configured model name, or a tier alias
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def with_system(self, prompt: str | None) -> "ChatRequest":
        """A copy with ``prompt`` as the leading system message (merged with one already there)."""
        if not prompt:
            return self
        messages = list(self.messages)
        if messages and messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str):
            messages[0] = {**messages[0], "content": f"{prompt}\n\n{messages[0]['content']}"}
        else:
            messages.insert(0, {"role": "system", "content": prompt})
        return ChatRequest(messages, dict(self.params), self.model)

    @property
    def prefilled(self) -> bool:
        """The last message is the assistant's: the answer is to continue it (a prefill)."""
        return bool(self.messages) and self.messages[-1].get("role") == "assistant"


@dataclass(slots=True)
class CompletionRequest:
    """A legacy ``/v1/completions`` request: plain prompt, or fill-in-the-middle with ``suffix``."""

    prompt: str
    suffix: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model: str = "auto"


@dataclass(slots=True)
class Chunk:
    """One piece of a streamed answer (choice ``index``)."""

    content: str = ""
    role: str | None = None
    tool_calls: list[dict[str, Any]] | None = None   # OpenAI delta.tool_calls entries, with "index"
    finish_reason: str | None = None
    usage: Usage | None = None
    index: int = 0


@dataclass(slots=True)
class Choice:
    message: Message
    finish_reason: str | None = "stop"
    index: int = 0


@dataclass(slots=True)
class Completion:
    choices: list[Choice]
    usage: Usage | None = None

    @property
    def text(self) -> str:
        content = self.choices[0].message.get("content") if self.choices else None
        return content if isinstance(content, str) else ""


def text_of(message: Message) -> str:
    """The plain text of a message, whether ``content`` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (~4 characters per token) for when a backend reports no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


def estimate_prompt_tokens(messages: list[Message]) -> int:
    return sum(estimate_tokens(text_of(m)) + 4 for m in messages)


def accumulate(chunks: list[Chunk]) -> Completion:
    """Fold streamed chunks into the non-streaming answer they amount to."""
    by_index: dict[int, dict[str, Any]] = {}
    usage = None
    for c in chunks:
        if c.usage is not None:
            usage = c.usage
        slot = by_index.setdefault(c.index, {"content": [], "tools": {}, "finish": None})
        if c.content:
            slot["content"].append(c.content)
        for tc in c.tool_calls or ():
            entry = slot["tools"].setdefault(tc.get("index", 0), {"id": None, "type": "function",
                                                                    "function": {"name": "", "arguments": ""}})
            if tc.get("id"):
                entry["id"] = tc["id"]
            fn = tc.get("function") or {}
            entry["function"]["name"] += fn.get("name") or ""
            entry["function"]["arguments"] += fn.get("arguments") or ""
        if c.finish_reason:
            slot["finish"] = c.finish_reason
    choices = []
    for index in sorted(by_index) or [0]:
        slot = by_index.get(index, {"content": [], "tools": {}, "finish": "stop"})
        message: Message = {"role": "assistant", "content": "".join(slot["content"]) or None}
        if slot["tools"]:
            message["tool_calls"] = [slot["tools"][k] for k in sorted(slot["tools"])]
        elif message["content"] is None:
            message["content"] = ""
        choices.append(Choice(message, slot["finish"] or "stop", index))
    return Completion(choices, usage)
