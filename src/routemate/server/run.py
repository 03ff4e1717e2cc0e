"""Running the gateway with uvicorn (uvloop and httptools when installed)."""

from __future__ import annotations

import copy
import errno
import socket
from typing import Any, Callable

from ..config import Settings, load_settings
from ..errors import RoutemateError


def uvicorn_config(app: Any, host: str, port: int, **overrides: Any) -> Any:
    import uvicorn

    try:
        import uvloop  # noqa: F401
        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401
        http = "httptools"
    except ImportError:
        http = "h11"
    # uvicorn's access log goes to stdout by default; routemate's logs (and its docs) use stderr
    logging = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging["handlers"]["access"]["stream"] = "ext://sys.stderr"
    options: dict[str, Any] = dict(host=host, port=port, loop=loop, http=http, ws="none", lifespan="on",
                                   access_log=False, log_level="warning", server_header=False, log_config=logging,
                                   timeout_keep_alive=30, timeout_graceful_shutdown=10)
    options.update(overrides)
    return uvicorn.Config(app, **options)


def check_port(host: str, port: int) -> None:
    """Fail with one clear line before uvicorn logs a bind traceback."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RoutemateError(f"port {port} on {host} is already in use",
                                     hint="pass --port, or stop the other server") from None
            raise RoutemateError(f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                                 hint="check --host") from None


def run(settings: Settings | None = None, *, host: str | None = None, port: int | None = None,
        warmup: bool = True, ready: Callable[[str, int], None] | None = None, access_log: bool = False) -> None:
    import uvicorn

    from .app import create_app

    settings = settings or load_settings()
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    check_port(host, port)
    app = create_app(settings, warmup=warmup)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if ready is not None and self.started:
                bound = self.servers[0].sockets[0].getsockname() if self.servers else (host, port)
                ready(host, int(bound[1]))

    overrides = {"access_log": True, "log_level": "info"} if access_log else {}
    Server(uvicorn_config(app, host, port, **overrides)).run()
