import hashlib
import sqlite3

from routemate.store import MIGRATIONS, Record, Store


def test_migrations_apply_once_and_are_recorded(tmp_path):
    db = tmp_path / "log.db"
    assert Store(db).migrate() == []            # the constructor already applied them
    names = [r[0] for r in sqlite3.connect(db).execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


def test_an_old_log_is_upgraded_without_losing_rows(tmp_path):
    db = tmp_path / "log.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied REAL)")
    name, sql = MIGRATIONS[0]
    con.executescript(sql)
    con.execute("INSERT INTO _migrations VALUES (?, 0)", (name,))
    con.execute("INSERT INTO requests (ts, entry, status, model) VALUES (1, 'cli', 'ok', 'local')")
    con.commit()
    con.close()
    store = Store(db)
    rows = store.recent()
    assert len(rows) == 1 and rows[0]["model"] == "local" and rows[0]["attempt"] == 1


def test_row_holds_decision_usage_cost_and_status(log_store):
    store = log_store()
    rid = store.log(Record(entry="cli", status="ok", prompt="user: hi", model="local", tier="local",
                           reason="rules: 0.1 < 0.5", score=0.1, threshold=0.5, prompt_tokens=10,
                           completion_tokens=5, cost_usd=0.0, saved_usd=0.00007, latency_ms=12.5,
                           ts=1_767_000_000.123456, meta={"attempts": [{"model": "gpt4o", "error": "500"}]}))
    row = store.recent(1)[0]
    assert row["id"] == rid and row["prompt"] == "user: hi" and row["reason"] == "rules: 0.1 < 0.5"
    assert row["ts"] == 1_767_000_000.123456          # full precision: a 4-byte REAL would round to minutes
    assert row["prompt_sha256"] == hashlib.sha256(b"user: hi").hexdigest()
    assert row["meta"]["attempts"][0]["model"] == "gpt4o"
    store.update(rid, status="cancelled", error="cancelled by the client", meta={"x": 1})
    again = store.recent(1)[0]
    assert again["status"] == "cancelled" and again["meta"] == {"x": 1}


def test_hash_mode_stores_no_prompt_text(tmp_path):
    store = Store(tmp_path / "log.db", prompts="hash")
    store.log(Record(entry="cli", status="ok", prompt="user: my secret plan"))
    row = store.recent(1)[0]
    assert row["prompt"] is None and row["prompt_sha256"] == hashlib.sha256(b"user: my secret plan").hexdigest()
    raw = (tmp_path / "log.db").read_bytes() + (tmp_path / "log.db-wal").read_bytes()
    assert b"secret plan" not in raw


def test_stats_share_spend_and_saved_per_model(log_store):
    store = log_store()
    for model, tier, cost, saved, status in [("local", "local", 0, 0.01, "ok"), ("local", "local", 0, 0.02, "ok"),
                                             ("gpt4o", "frontier", 0.05, 0, "ok"), ("local", "local", 0, 0, "error")]:
        store.log(Record(entry="http", status=status, model=model, tier=tier, cost_usd=cost, saved_usd=saved,
                         prompt_tokens=3, completion_tokens=2))
    s = store.stats()
    assert (s["requests"], s["ok"], s["errors"], s["cancelled"]) == (4, 3, 1, 0)
    assert (s["prompt_tokens"], s["completion_tokens"]) == (12, 8) and isinstance(s["prompt_tokens"], int)
    assert abs(s["saved_usd"] - 0.03) < 1e-9 and abs(s["cost_usd"] - 0.05) < 1e-9
    # all on the frontier would have cost 0.08: 0.03 of it saved
    assert abs(s["frontier_usd"] - 0.08) < 1e-9 and abs(s["saved_share"] - 0.375) < 1e-9
    shares = {m["model"]: m["share"] for m in s["models"]}
    assert shares == {"local": 0.75, "gpt4o": 0.25}


def test_the_log_is_readable_by_its_owner_only(tmp_path):
    """It holds prompts and answers: 0600, its WAL files too, and an old 0644 log is tightened."""
    import stat

    from routemate.store import Record, Store

    path = tmp_path / "home" / "log.db"
    store = Store(path)
    store.log(Record(entry="cli", status="ok", prompt="hello"))
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    assert modes and all(mode == 0o600 for mode in modes.values()), modes
    assert {"log.db", "log.db-wal"} <= set(modes)
    store.close()
    old = tmp_path / "old.db"
    Store(old).close()
    old.chmod(0o644)
    Store(old).close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
