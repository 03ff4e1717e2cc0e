"""Errors a user can act on.

Every error routemate raises on purpose carries a one-line message that says what went wrong and
what to do next. The CLI prints it without a traceback; the gateway turns it into an OpenAI-shaped
error body with the matching HTTP status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .keys import Allowance


class RoutemateError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    status = 500
    type = "server_error"
    code: str | None = None
    param: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None) -> None:
        self.message = message
        self.hint = hint
        if param is not None:
            self.param = param
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_openai(self) -> dict:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class ConfigError(RoutemateError):
    """The config file or environment is invalid; names the file, the field and the fix."""

    status = 500
    code = "config_error"

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 hint: str | None = None) -> None:
        where = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file = file
        self.field = field


class InvalidRequest(RoutemateError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class ModelNotFound(RoutemateError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"
    param = "model"


class NoModelAvailable(RoutemateError):
    """Nothing configured can answer (no key, engine missing, every upstream down)."""

    status = 503
    type = "server_error"
    code = "no_model_available"


class PrivacyRefusal(RoutemateError):
    """The request carries something that must stay local and no local model can serve it."""

    status = 403
    type = "invalid_request_error"
    code = "privacy_refused"


class BackendError(RoutemateError):
    """An upstream or the embedded engine failed; ``retryable`` says whether trying again may help."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.upstream_status = status
        self.retry_after = retry_after


class QuotaExceeded(RoutemateError):
    """A gateway key has spent its budget for the period (OpenAI's own shape for an exhausted quota)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class RateLimited(RoutemateError):
    """A gateway key is over its requests per minute; ``retry_after`` says when to try again."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None,
                 allowance: "Allowance | None" = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
        self.allowance = allowance        # the key's limit and window, for the rate-limit headers


class ModelForbidden(RoutemateError):
    """A gateway key asked for a model it may not use."""

    status = 403
    type = "invalid_request_error"
    code = "model_not_allowed"
    param = "model"


class StoreUnavailable(RoutemateError):
    """The request log's database cannot be reached for something that needs an answer now."""

    status = 503
    type = "server_error"
    code = "log_unavailable"
