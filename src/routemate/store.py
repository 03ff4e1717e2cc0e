"""The request log: one SQLite row per answered (or failed, or cancelled) request.

Migrations are append-only: each has a name recorded in ``_migrations`` once applied, so an old
log opens with a newer routemate and nothing is rewritten. Never edit a migration; add one.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

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
]


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
    ts: float = field(default_factory=time.time)


class Store:
    """Thread-safe: the gateway logs from worker threads, the CLI from its main thread."""

    def __init__(self, path: Path | str, *, prompts: str = "text") -> None:
        self.path = Path(path)
        self.prompts = prompts
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self.migrate()

    def migrate(self) -> list[str]:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
            done = {r[0] for r in self._db.execute("SELECT name FROM _migrations")}
            applied = []
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # re-check under the write lock: another process may have just applied it
                    if self._db.execute("SELECT 1 FROM _migrations WHERE name=?", (name,)).fetchone():
                        self._db.execute("COMMIT")
                        continue
                    for statement in filter(str.strip, sql.split(";")):
                        self._db.execute(statement)
                    self._db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                applied.append(name)
            return applied

    def log(self, record: Record) -> int:
        row = asdict(record)
        prompt = row.pop("prompt")
        row["prompt_sha256"] = hashlib.sha256(prompt.encode()).hexdigest() if prompt is not None else None
        row["prompt"] = prompt if self.prompts == "text" else None
        row["meta"] = json.dumps(row["meta"]) if row["meta"] else None
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self._lock:
            cur = self._db.execute(f"INSERT INTO requests ({cols}) VALUES ({marks})", tuple(row.values()))
            return int(cur.lastrowid or 0)

    def log_many(self, records: list[Record]) -> None:
        """Insert several records in one transaction (one WAL commit instead of one per row)."""
        if not records:
            return
        # plain attribute reads: dataclasses.asdict deep-copies and costs more than the insert
        names = [f.name for f in fields(Record) if f.name not in ("prompt", "meta")]
        rows = []
        for record in records:
            prompt = record.prompt
            rows.append((*(getattr(record, n) for n in names),
                         hashlib.sha256(prompt.encode()).hexdigest() if prompt is not None else None,
                         prompt if self.prompts == "text" else None,
                         json.dumps(record.meta) if record.meta else None))
        cols = ", ".join([*names, "prompt_sha256", "prompt", "meta"])
        marks = ", ".join("?" * (len(names) + 3))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(f"INSERT INTO requests ({cols}) VALUES ({marks})", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def update(self, row_id: int, **values: Any) -> None:
        allowed = {f.name for f in fields(Record)} - {"prompt"}
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"unknown columns: {sorted(bad)}")
        if "meta" in values:
            values["meta"] = json.dumps(values["meta"]) if values["meta"] else None
        sets = ", ".join(f"{k}=?" for k in values)
        with self._lock:
            self._db.execute(f"UPDATE requests SET {sets} WHERE id=?", (*values.values(), row_id))

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (n,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
            out.append(d)
        return out

    def stats(self, since: float | None = None) -> dict[str, Any]:
        where, args = ("WHERE ts >= ?", (since,)) if since else ("", ())
        with self._lock:
            total = self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(cost_usd),0), COALESCE(SUM(saved_usd),0), "
                f"COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0), "
                f"SUM(status='ok'), SUM(status='error'), SUM(status='cancelled') FROM requests {where}", args,
            ).fetchone()
            per_model = self._db.execute(
                f"SELECT COALESCE(model,'-') AS model, COALESCE(tier,'-') AS tier, COUNT(*) AS requests, "
                f"SUM(cost_usd) AS cost_usd, SUM(saved_usd) AS saved_usd, AVG(latency_ms) AS avg_latency_ms "
                f"FROM requests {where} GROUP BY model, tier ORDER BY requests DESC", args,
            ).fetchall()
        n = total[0]
        return {
            "requests": n,
            "ok": total[5] or 0, "errors": total[6] or 0, "cancelled": total[7] or 0,
            "cost_usd": round(total[1], 8), "saved_usd": round(total[2], 8),
            # what the same tokens would have cost on the frontier model, and the share saved
            "frontier_usd": round(total[1] + total[2], 8),
            "saved_share": (total[2] / (total[1] + total[2])) if total[1] + total[2] > 0 else 0.0,
            "prompt_tokens": total[3], "completion_tokens": total[4],
            "models": [{**dict(r), "share": (r["requests"] / n if n else 0.0)} for r in per_model],
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


class LogWriter:
    """Writes the request log from a background thread, in batches, so no request waits on SQLite.

    Drop-in for ``Store`` where the caller does not need the row id back (``log`` returns None).
    Reads (``recent``, ``stats``, ...) first wait for every queued record to be written.
    """

    def __init__(self, store: Store, *, max_batch: int = 512, linger: float = 0.02) -> None:
        self.store = store
        self.max_batch = max_batch
        # group commit: after the first record, wait up to ``linger`` seconds for more, so a steady
        # stream of requests costs one SQLite commit per batch instead of one per request. A read,
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
