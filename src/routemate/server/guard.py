"""The browser guard: a web page the user visits must not be able to drive the gateway.

A browser sends some cross-site requests without asking the server first (a "simple" request: a
POST whose body is ``text/plain``, a form, or has no type), and it lets a hostile domain resolve to
127.0.0.1 after the page has loaded (DNS rebinding), so the page then talks to the gateway as its
own origin. Three checks on every request, with or without API keys, before anything else runs:

1. a POST body must be ``application/json`` (415 otherwise): a page can only send that cross-site
   after a CORS preflight, which only a listed origin passes;
2. ``Host`` must name the address the connection arrived on, ``localhost``, or an entry of
   ``server.allowed_hosts`` (403): a rebound domain still carries its own name;
3. an ``Origin`` other than the server's own is refused unless ``server.cors_origins`` lists it
   (403); a listed origin gets CORS headers, and its preflight (``OPTIONS``) is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..errors import RoutemateError

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
LOOPBACK = ("localhost", "127.0.0.1", "::1")
ALLOW_METHODS = b"GET, POST, OPTIONS"
PREFLIGHT_MAX_AGE = b"600"


class Forbidden(RoutemateError):
    status = 403
    type = "invalid_request_error"
    code = "forbidden"


class UnsupportedMediaType(RoutemateError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


def _hostname(host: str) -> str:
    """``Example.COM:8080`` -> ``example.com``; ``[::1]:8080`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _origin(value: str) -> str:
    return value.strip().rstrip("/").lower()


class Guard:
    """The three checks for one server config (``check`` costs a few microseconds)."""

    def __init__(self, bound: str, allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = ()) -> None:
        hosts = [h.strip().lower() for h in allowed_hosts if h.strip()]
        self.any_host = "*" in hosts
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))       # "*.corp.example" -> ".corp.example"
        self.hosts = frozenset([*LOOPBACK, _hostname(bound), *(_hostname(h) for h in hosts if not h.startswith("*"))])
        origins = [_origin(o) for o in cors_origins if o.strip()]
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        self._seen: dict[bytes, bool] = {}      # Host values already allowed (clients resend the same one)

    def host_ok(self, raw: bytes, scope: Scope) -> bool:
        if self.any_host or self._seen.get(raw):
            return True
        name = _hostname(raw.decode("latin-1"))
        server = scope.get("server")
        ok = (name in self.hosts or (server is not None and name == str(server[0]).lower())
              or bool(self.suffixes) and name.endswith(self.suffixes))
        if ok and len(self._seen) < 256:
            self._seen[raw] = True
        return ok

    def origin_listed(self, origin: str) -> bool:
        return self.any_origin or _origin(origin) in self.origins

    def check(self, scope: Scope) -> tuple[RoutemateError | None, str | None]:
        """(the error to answer with, or None; the cross-origin ``Origin`` to send CORS headers to)."""
        host = origin = ctype = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"origin":
                origin = value
            elif key == b"content-type":
                ctype = value
        if host is not None and not self.host_ok(host, scope):
            shown = host.decode("latin-1")[:100]
            return Forbidden(f"Host {shown!r} is not one this server answers to (protection against DNS rebinding)",
                             hint="use the address routemate listens on, or add the name to server.allowed_hosts "
                                  "in the config"), None
        cross = None
        if origin is not None:
            text = origin.decode("latin-1")
            same = host is not None and text.partition("://")[2].rstrip("/").lower() == host.decode("latin-1").lower()
            if not same:
                if not self.origin_listed(text):
                    return Forbidden(f"requests from the web page at {text[:100]!r} are not allowed",
                                     hint="a browser app must be listed in server.cors_origins"), None
                cross = text
        if scope["method"] == "POST":
            media = ctype.split(b";", 1)[0].strip().lower() if ctype else b""
            if media != b"application/json":
                shown = media.decode("latin-1")[:60] or "none"
                return UnsupportedMediaType(f"request bodies must be JSON with Content-Type: application/json "
                                            f"(got {shown})",
                                            hint="send the header 'Content-Type: application/json' "
                                                 "(curl: -H 'content-type: application/json')"), cross
        return None, cross


def preflight_headers(scope: Scope, origin: str) -> list[tuple[bytes, bytes]]:
    """The answer to a listed origin's ``OPTIONS`` preflight."""
    asked = next((v for k, v in scope["headers"] if k == b"access-control-request-headers"), b"")
    headers = [*cors_headers(origin), (b"access-control-allow-methods", ALLOW_METHODS),
               (b"access-control-max-age", PREFLIGHT_MAX_AGE), (b"content-length", b"0")]
    if asked:
        headers.append((b"access-control-allow-headers", asked))
    return headers


def cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"),
            (b"access-control-expose-headers", b"*")]


def with_cors(send: Send, origin: str) -> Send:
    """``send`` with CORS headers added to the response start (listed cross-origin requests only)."""
    extra = cors_headers(origin)

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return wrapped


__all__ = ["Forbidden", "Guard", "UnsupportedMediaType", "cors_headers", "preflight_headers", "with_cors"]
