"""A real PostgreSQL server for tests: a temp cluster made with initdb, started with pg_ctl on a unix
socket in its own directory (as the ``postgres`` user when running as root), stopped at the end.

``ROUTEMATE_TEST_POSTGRES_URL`` points the tests at a server already running instead (CI starts one).
Each test gets its own database on it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def server_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, or Debian's versioned directory."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="routemate-pg-"))
        self.data = self.dir / "data"
        self.port = 5432        # only names the socket file, which lives in our own directory
        self.user = "postgres" if os.geteuid() == 0 else None    # initdb refuses to run as root
        self.fsync = False      # tests need no durability; benchmarks turn it back on

    def _run(self, *args: str) -> None:
        out = subprocess.run([str(self.bindir / args[0]), *args[1:]], user=self.user, capture_output=True,
                             text=True, timeout=120, cwd=self.dir)
        if out.returncode != 0:
            log = (self.dir / "server.log").read_text() if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"{args[0]} failed: {out.stderr or out.stdout}\n{log[-2000:]}")

    def start(self) -> "PostgresServer":
        if self.user:
            shutil.chown(self.dir, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        options = (f"-k {self.dir} -c listen_addresses='' -p {self.port} -c max_connections=200"
                   + ("" if self.fsync else " -c fsync=off"))
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options, "-w", "start")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.dir}&port={self.port}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _with_db(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server's maintenance database."""
    if os.environ.get("ROUTEMATE_TEST_POSTGRES_URL"):
        yield os.environ["ROUTEMATE_TEST_POSTGRES_URL"]
        return
    bindir = server_binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    server = PostgresServer(bindir).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    import psycopg

    name = f"routemate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield _with_db(postgres_server, name)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def log_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A factory of log stores on one log, run once with SQLite and once with a fresh PostgreSQL database."""
    from routemate.store import Store
    from routemate.store_postgres import PostgresStore

    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    opened: list[Any] = []

    def make(**kw: Any) -> Any:
        opened.append(PostgresStore(url, **kw) if url else Store(tmp_path / "log.db", **kw))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


if __name__ == "__main__":      # `python tests/postgres_server.py`: start one, print its URL, stop on Enter
    found = server_binaries()
    if found is None:
        sys.exit("no PostgreSQL server binaries found")
    srv = PostgresServer(found).start()
    print(srv.url, flush=True)
    try:
        sys.stdin.readline()
    finally:
        srv.stop()
