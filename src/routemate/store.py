"""The request log: one row per answered (or failed, or cancelled) request, in SQLite or PostgreSQL.

``open_store(settings)`` picks the store: SQLite at ``<home>/log.db`` by default, PostgreSQL when
``[log] url`` / ``ROUTEMATE_LOG_URL`` is a ``postgresql://`` URL (``store_postgres.py``), so several
gateway replicas can share one log, key budgets and rate limits.

Migrations are append-only and shared by both stores: each has a name recorded in ``_migrations``
once applied, so an old log opens with a newer routemate and nothing is rewritten. Never edit a
migration; add one. Write them in the portable subset both databases run:

- column types ``INTEGER``, ``REAL``, ``TEXT`` (PostgreSQL gets ``BIGINT`` and ``DOUBLE PRECISION``),
  and ``INTEGER PRIMARY KEY AUTOINCREMENT`` for a row id (an identity column there);
- ``?`` placeholders in queries (``LogStore.query`` / ``execute`` / ``insert`` translate them);
- standard SQL only: ``CASE WHEN`` rather than summing booleans, ``INSERT ... ON CONFLICT ... DO
  UPDATE``, ``RETURNING``; no SQLite pragmas or functions, no PostgreSQL reserved words as names.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings

MIGRATIONS: list[tuple[str, str]] = [
    ("001_requests", """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            entry TEXT NOT NULL,
            requested TEXT,
            prompt TEXT,
            prompt_sha256 TEXT,
            model TEXT,
            tier TEXT,
            reason TEXT,
            score REAL,
            threshold REAL,
            router TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            saved_usd REAL NOT NULL DEFAULT 0,
            latency_ms REAL,
            ttft_ms REAL,
            status TEXT NOT NULL,
            error TEXT,
            meta TEXT
        );
        CREATE INDEX requests_ts ON requests(ts);
    """),
    ("002_attempts", """
        ALTER TABLE requests ADD COLUMN parent_id INTEGER REFERENCES requests(id);
        ALTER TABLE requests ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    """),
    ("003_keys", """
        ALTER TABLE requests ADD COLUMN key_name TEXT;
        CREATE INDEX requests_key_ts ON requests(key_name, ts);
        CREATE TABLE key_minutes (
            key_name TEXT NOT NULL,
            minute INTEGER NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key_name, minute)
        );
    """),
    ("004_responses", """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            ts REAL NOT NULL,
            key_name TEXT,
            conversation TEXT NOT NULL
        );
        CREATE INDEX responses_ts ON responses(ts);
    """),
    ("005_learning", """
        ALTER TABLE requests ADD COLUMN response_id TEXT;
        CREATE INDEX requests_response ON requests(response_id);
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id INTEGER NOT NULL,
            ts REAL NOT NULL,
            rating TEXT NOT NULL,
            note TEXT,
            via TEXT
        );
        CREATE INDEX feedback_request ON feedback(request_id);
        CREATE TABLE labels (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id INTEGER,
            ts REAL NOT NULL,
            model TEXT NOT NULL,
            tier TEXT,
            outcome REAL NOT NULL,
            source TEXT NOT NULL,
            example TEXT
        );
        CREATE INDEX labels_tier ON labels(tier, id);
        CREATE TABLE router_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            version INTEGER NOT NULL,
            labels INTEGER NOT NULL,
            quality REAL,
            baseline REAL,
            promoted INTEGER NOT NULL,
            why TEXT,
            artifact TEXT
        );
        CREATE TABLE router_state (
            name TEXT PRIMARY KEY,
            value TEXT
        );
    """),
    # spend per key and UTC day, kept beside the rows (same transaction): a budget check reads a few
    # of these instead of summing a month of requests
    ("006_key_days", """
        CREATE TABLE key_days (
            key_name TEXT NOT NULL,
            day INTEGER NOT NULL,
            usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (key_name, day)
        );
        INSERT INTO key_days (key_name, day, usd)
            SELECT key_name, CAST(ts AS INTEGER) / 86400, SUM(cost_usd) FROM requests
            WHERE key_name IS NOT NULL GROUP BY key_name, CAST(ts AS INTEGER) / 86400
    """),
]
DAY = 86400
ADD_SPEND = ("INSERT INTO key_days (key_name, day, usd) VALUES (?, ?, ?) "
             "ON CONFLICT (key_name, day) DO UPDATE SET usd = key_days.usd + excluded.usd")


@dataclass(slots=True)
class Record:
    entry: str                       # cli, chat, http, python
    status: str                      # ok, error, cancelled
    prompt: str | None = None
    requested: str | None = None     # what the caller asked for: auto, a model, a tier
    model: str | None = None
    tier: str | None = None
    reason: str | None = None
    score: float | None = None
    threshold: float | None = None
    router: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    attempt: int = 1
    key_name: str | None = None      # the gateway key's name (never the key)
    response_id: str | None = None   # the id the client got (chat completion id, x-routemate-request-id)
    ts: float = field(default_factory=time.time)


# Columns of ``requests`` a Record fills, in insert order (the prompt becomes prompt + prompt_sha256).
_NAMES = tuple(f.name for f in fields(Record) if f.name not in ("prompt", "meta"))
REQUEST_COLUMNS = (*_NAMES, "prompt_sha256", "prompt", "meta")
INSERT_REQUEST = f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"


class LogStore:
    """The log's operations, written once in portable SQL over a few primitives each store provides
    (``_fetch``, ``_execute``, ``_insert``, ``_insert_many``, ``_apply``). Thread-safe: the gateway
    logs from worker threads, the CLI from its main thread."""

    kind = "?"
    prompts = "text"

    # -- what a store implements ---------------------------------------------------------------------
    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _insert(self, sql: str, args: Sequence[Any]) -> int:
        """Run one INSERT into a table with an ``id`` column; the new row's id."""
        raise NotImplementedError

    def _insert_many(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
                     then: Sequence[tuple[str, Sequence[Any]]] = ()) -> None:
        """Insert ``rows`` (values in ``columns`` order) into ``table``, then run the statements ``then``,
        all in one transaction (one commit)."""
        raise NotImplementedError

    def _applied(self) -> set[str]:
        raise NotImplementedError

    def _apply(self, name: str, sql: str) -> bool:
        """Apply one migration under the database's write lock, unless another process just did."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the log lives, safe to print (no password)."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        done = self._applied()
        return [name for name, sql in MIGRATIONS if name not in done and self._apply(name, sql)]

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a portable query (``?`` placeholders) as dicts."""
        return self._fetch(sql, args)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._execute(sql, args)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row into ``table`` (which has an ``id`` column); its id."""
        cols = ", ".join(row)
        return self._insert(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                            tuple(row.values()))

    def _values(self, record: Record) -> tuple[Any, ...]:
        # plain attribute reads: dataclasses.asdict deep-copies and costs more than the insert
        prompt = record.prompt
        return (*(getattr(record, n) for n in _NAMES),
                hashlib.sha256(prompt.encode()).hexdigest() if prompt is not None else None,
                prompt if self.prompts == "text" else None,
                json.dumps(record.meta) if record.meta else None)

    def log(self, record: Record) -> int:
        row_id = self._insert(INSERT_REQUEST, self._values(record))
        for sql, args in _spending([record]):
            self._execute(sql, args)
        return row_id

    def log_many(self, records: list[Record]) -> None:
        """Insert several records in one transaction (one commit instead of one per row)."""
        if records:
            self._insert_many("requests", REQUEST_COLUMNS, [self._values(r) for r in records], _spending(records))

    def update(self, row_id: int, **values: Any) -> None:
        allowed = {f.name for f in fields(Record)} - {"prompt"}
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"unknown columns: {sorted(bad)}")
        if "meta" in values:
            values["meta"] = json.dumps(values["meta"]) if values["meta"] else None
        sets = ", ".join(f"{k}=?" for k in values)
        self._execute(f"UPDATE requests SET {sets} WHERE id=?", (*values.values(), row_id))

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        rows = self._fetch("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (n,))
        for d in rows:
            d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
        return rows

    def stats(self, since: float | None = None) -> dict[str, Any]:
        where, args = ("WHERE ts >= ?", (since,)) if since else ("", ())
        total = self._fetch(
            f"SELECT COUNT(*) AS n, COALESCE(SUM(cost_usd),0) AS cost, COALESCE(SUM(saved_usd),0) AS saved, "
            f"COALESCE(SUM(prompt_tokens),0) AS pt, COALESCE(SUM(completion_tokens),0) AS ct, "
            f"SUM(CASE WHEN status='ok' THEN 1 ELSE 0 END) AS ok, "
            f"SUM(CASE WHEN status='error' THEN 1 ELSE 0 END) AS errors, "
            f"SUM(CASE WHEN status='cancelled' THEN 1 ELSE 0 END) AS cancelled FROM requests {where}", args)[0]
        per_model = self._fetch(
            f"SELECT COALESCE(model,'-') AS model, COALESCE(tier,'-') AS tier, COUNT(*) AS requests, "
            f"SUM(cost_usd) AS cost_usd, SUM(saved_usd) AS saved_usd, AVG(latency_ms) AS avg_latency_ms "
            f"FROM requests {where} GROUP BY COALESCE(model,'-'), COALESCE(tier,'-') ORDER BY requests DESC", args)
        n = int(total["n"])
        cost, saved = float(total["cost"]), float(total["saved"])
        return {
            "requests": n,
            "ok": int(total["ok"] or 0), "errors": int(total["errors"] or 0),
            "cancelled": int(total["cancelled"] or 0),
            "cost_usd": round(cost, 8), "saved_usd": round(saved, 8),
            # what the same tokens would have cost on the frontier model, and the share saved
            "frontier_usd": round(cost + saved, 8),
            "saved_share": (saved / (cost + saved)) if cost + saved > 0 else 0.0,
            "prompt_tokens": int(total["pt"]), "completion_tokens": int(total["ct"]),
            "models": [{**r, "requests": int(r["requests"]), "share": (int(r["requests"]) / n if n else 0.0)}
                       for r in per_model],
        }

    # -- keys: spend and request counts, shared by every replica on the same store -------------------
    def spend(self, since: float, names: Iterable[str] | None = None) -> dict[str, float]:
        """USD spent per key name since the UTC day of ``since`` (epoch seconds)."""
        names = list(names) if names is not None else None
        if names == []:
            return {}
        where, args = "day >= ?", [int(since // DAY)]     # periods start at midnight UTC
        if names is not None:
            where += f" AND key_name IN ({', '.join('?' * len(names))})"
            args += names
        rows = self._fetch(f"SELECT key_name, SUM(usd) AS usd FROM key_days WHERE {where} GROUP BY key_name", args)
        return {r["key_name"]: float(r["usd"]) for r in rows}

    def key_usage(self, since: float | None = None) -> list[dict[str, Any]]:
        """Requests, tokens and spend per key name (``routemate keys``)."""
        where, args = ("AND ts >= ?", (since,)) if since else ("", ())
        rows = self._fetch(
            "SELECT key_name, COUNT(*) AS requests, COALESCE(SUM(cost_usd),0) AS cost_usd, "
            "COALESCE(SUM(prompt_tokens + completion_tokens),0) AS tokens, MAX(ts) AS last_ts "
            f"FROM requests WHERE key_name IS NOT NULL {where} GROUP BY key_name ORDER BY key_name", args)
        return [{**r, "requests": int(r["requests"]), "cost_usd": float(r["cost_usd"]), "tokens": int(r["tokens"])}
                for r in rows]

    def count_request(self, key_name: str, minute: int) -> int:
        """Count one request of ``key_name`` in the clock minute ``minute``; how many it has made in it."""
        rows = self._fetch(
            "INSERT INTO key_minutes (key_name, minute, requests) VALUES (?, ?, 1) "
            "ON CONFLICT (key_name, minute) DO UPDATE SET requests = key_minutes.requests + 1 RETURNING requests",
            (key_name, minute))
        if minute % 10 == 0:      # now and then forget old minutes; nothing reads them
            self._execute("DELETE FROM key_minutes WHERE minute < ?", (minute - 60,))
        return int(rows[0]["requests"])

    # -- stored Responses-API conversations (previous_response_id) -------------------------------------
    def save_response(self, response_id: str, key_name: str | None, conversation: list[dict[str, Any]]) -> None:
        self._execute("INSERT INTO responses (id, ts, key_name, conversation) VALUES (?, ?, ?, ?)",
                      (response_id, time.time(), key_name, json.dumps(conversation)))

    def load_response(self, response_id: str, key_name: str | None) -> list[dict[str, Any]] | None:
        """A stored conversation, if it exists and was made with the same key (or both without one)."""
        rows = self._fetch("SELECT key_name, conversation FROM responses WHERE id = ?", (response_id,))
        if not rows or rows[0]["key_name"] != key_name:
            return None
        return json.loads(rows[0]["conversation"])


def _spending(records: list[Record]) -> list[tuple[str, tuple[Any, ...]]]:
    """The key_days increments a batch of records amounts to."""
    days: dict[tuple[str, int], float] = {}
    for r in records:
        if r.key_name is not None and r.cost_usd:
            slot = (r.key_name, int(r.ts // DAY))
            days[slot] = days.get(slot, 0.0) + r.cost_usd
    return [(ADD_SPEND, (name, day, usd)) for (name, day), usd in days.items()]


def _private(path: Path) -> None:
    """The log holds prompts and answers: only its owner may read it. A new file is created 0600
    (SQLite gives its -wal and -shm files the same mode); one an older version left readable by
    others is tightened."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = part.stat()
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                part.chmod(0o600)
        except OSError:
            pass


class Store(LogStore):
    """The SQLite log (the default): one file, WAL mode, safe for several processes on one machine."""

    kind = "sqlite"

    def __init__(self, path: Path | str, *, prompts: str = "text") -> None:
        self.path = Path(path)
        self.prompts = prompts
        if str(path) != ":memory:":
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _private(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self.migrate()

    def describe(self) -> str:
        return str(self.path)

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, tuple(args)).fetchall()]

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self._lock:
            self._db.execute(sql, tuple(args))

    def _insert(self, sql: str, args: Sequence[Any]) -> int:
        with self._lock:
            return int(self._db.execute(sql, tuple(args)).lastrowid or 0)

    def _insert_many(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
                     then: Sequence[tuple[str, Sequence[Any]]] = ()) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, rows)
                for statement, args in then:
                    self._db.execute(statement, tuple(args))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _applied(self) -> set[str]:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
            return {r[0] for r in self._db.execute("SELECT name FROM _migrations")}

    def _apply(self, name: str, sql: str) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # re-check under the write lock: another process may have just applied it
                if self._db.execute("SELECT 1 FROM _migrations WHERE name=?", (name,)).fetchone():
                    self._db.execute("COMMIT")
                    return False
                for statement in filter(str.strip, sql.split(";")):
                    self._db.execute(statement)
                self._db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return True

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(settings: "Settings") -> LogStore:
    """The request log the settings name: PostgreSQL for a ``postgresql://`` URL, else SQLite."""
    url = settings.log_url
    if url:
        from .store_postgres import PostgresStore

        return PostgresStore(url, prompts=settings.log.prompts)
    return Store(settings.log_path, prompts=settings.log.prompts)


class LogWriter:
    """Writes the request log from a background thread, in batches, so no request waits on the database.

    Drop-in for a ``LogStore`` where the caller does not need the row id back (``log`` returns None).
    Reads (``recent``, ``stats``, ...) first wait for every queued record to be written.
    """

    def __init__(self, store: LogStore, *, max_batch: int = 512, linger: float = 0.02) -> None:
        self.store = store
        self.max_batch = max_batch
        # group commit: after the first record, wait up to ``linger`` seconds for more, so a steady
        # stream of requests costs one commit per batch instead of one per request. A read,
        # flush() or close() ends the wait at once; a crash loses at most that much of the log.
        self.linger = linger
        self.dropped = 0            # records that could not be written (counted, never raised)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="routemate-log", daemon=True)
        self._thread.start()

    def log(self, record: Record) -> None:
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is written; False on timeout."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, stop the thread, close the database."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(10)
            self.store.close()

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self.store, name)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            deadline = time.monotonic() + self.linger
            batch: list[Record] = []
            markers: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    batch.append(item)
                if stop or markers or len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            try:
                self.store.log_many(batch)
            except Exception:  # a full disk must not take the gateway down; the count shows it
                self.dropped += len(batch)
            for marker in markers:
                marker.set()
            if stop:
                return
