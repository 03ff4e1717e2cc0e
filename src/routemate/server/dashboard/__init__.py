"""``/dashboard``: a static page (shipped in this folder, no CDN) that draws ``GET /v1/stats``.

The page and its assets hold no data, so they are served without a key; the data endpoint checks
the gateway's keys, and the page asks for one when it gets a 401 (kept in the tab's sessionStorage).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ASSETS = {"index.html": "text/html; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8",
          "dashboard.css": "text/css; charset=utf-8"}
# the page only talks to this gateway: no inline script, no other origin
HEADERS = {"content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                      "base-uri 'none'; form-action 'none'",
           "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-cache"}


@lru_cache(maxsize=None)
def _asset(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


def _serve(name: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)

    return handler


def routes() -> list[Route]:
    return [Route("/dashboard", _serve("index.html"), methods=["GET"]),
            *(Route(f"/dashboard/{name}", _serve(name), methods=["GET"]) for name in ASSETS if name != "index.html")]
