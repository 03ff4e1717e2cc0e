"""The PostgreSQL log against a real server: the same behaviour as SQLite, shared by replicas."""

import hashlib
import threading

import psycopg
import pytest

from routemate.config import build_settings
from routemate.errors import ConfigError
from routemate.store import MIGRATIONS, LogWriter, Record, Store, open_store
from routemate.store_postgres import PostgresStore, ddl, redact_url


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request, tmp_path):
    """A factory of stores on one log: SQLite in a temp dir, or a fresh PostgreSQL database."""
    opened = []
    if request.param == "sqlite":
        def make(**kw):
            opened.append(Store(tmp_path / "log.db", **kw))
            return opened[-1]
    else:
        url = request.getfixturevalue("pg_url")

        def make(**kw):
            opened.append(PostgresStore(url, **kw))
            return opened[-1]
    yield make
    for store in opened:
        store.close()


def test_migrations_are_shared_and_recorded_once(make_store):
    store = make_store()
    assert store.migrate() == []
    names = [r["name"] for r in store.query("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


def test_replicas_starting_together_apply_each_migration_once(pg_url):
    errors, stores = [], []

    def open_one():
        try:
            stores.append(PostgresStore(pg_url))
        except Exception as exc:    # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 4
    rows = stores[0].query("SELECT name FROM _migrations")
    assert sorted(r["name"] for r in rows) == sorted(n for n, _ in MIGRATIONS)
    for s in stores:
        s.close()


def test_row_holds_decision_usage_cost_and_status(make_store):
    store = make_store()
    rid = store.log(Record(entry="cli", status="ok", prompt="user: hi", model="local", tier="local",
                           reason="rules: 0.1 < 0.5", score=0.1, threshold=0.5, prompt_tokens=10,
                           completion_tokens=5, saved_usd=0.00007, latency_ms=12.5, ts=1_767_000_000.123456,
                           meta={"attempts": [{"model": "gpt4o", "error": "500"}]}))
    row = store.recent(1)[0]
    assert row["id"] == rid and row["prompt"] == "user: hi" and row["reason"] == "rules: 0.1 < 0.5"
    assert row["ts"] == 1_767_000_000.123456          # full precision: a 4-byte REAL would round to minutes
    assert row["prompt_sha256"] == hashlib.sha256(b"user: hi").hexdigest()
    assert row["meta"]["attempts"][0]["model"] == "gpt4o"
    store.update(rid, status="cancelled", error="cancelled by the client", meta={"x": 1})
    again = store.recent(1)[0]
    assert again["status"] == "cancelled" and again["meta"] == {"x": 1}


def test_log_many_matches_log_row_for_row(make_store):
    store = make_store()
    record = Record(entry="cli", status="error", prompt="x", model="m", error="boom", meta={"attempts": [1]},
                    cost_usd=0.5, key_name="ci")
    store.log(record)
    store.log_many([record])
    one, many = store.recent(2)
    assert {k: v for k, v in one.items() if k != "id"} == {k: v for k, v in many.items() if k != "id"}


def test_hash_mode_stores_no_prompt_text(pg_url):
    store = PostgresStore(pg_url, prompts="hash")
    store.log(Record(entry="cli", status="ok", prompt="user: my secret plan"))
    store.close()
    with psycopg.connect(pg_url) as conn:
        prompt, digest = conn.execute("SELECT prompt, prompt_sha256 FROM requests").fetchone()
    assert prompt is None and digest == hashlib.sha256(b"user: my secret plan").hexdigest()


def test_stats_share_spend_and_saved_per_model(make_store):
    store = make_store()
    for model, tier, cost, saved, status in [("local", "local", 0, 0.01, "ok"), ("local", "local", 0, 0.02, "ok"),
                                             ("gpt4o", "frontier", 0.05, 0, "ok"), ("local", "local", 0, 0, "error")]:
        store.log(Record(entry="http", status=status, model=model, tier=tier, cost_usd=cost, saved_usd=saved,
                         prompt_tokens=3, completion_tokens=2))
    s = store.stats()
    assert (s["requests"], s["ok"], s["errors"], s["cancelled"]) == (4, 3, 1, 0)
    assert abs(s["saved_usd"] - 0.03) < 1e-9 and abs(s["cost_usd"] - 0.05) < 1e-9
    assert abs(s["frontier_usd"] - 0.08) < 1e-9 and abs(s["saved_share"] - 0.375) < 1e-9
    assert (s["prompt_tokens"], s["completion_tokens"]) == (12, 8)
    assert {m["model"]: m["share"] for m in s["models"]} == {"local": 0.75, "gpt4o": 0.25}
    assert isinstance(s["prompt_tokens"], int)


def test_group_commit_writer_lands_every_record(make_store):
    writer = LogWriter(make_store(prompts="hash"), max_batch=7)

    def burst(k):
        for i in range(50):
            writer.log(Record(entry="http", status="ok", prompt=f"p{k}-{i}", model="local", meta={"i": i}))

    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(writer.recent(500)) == 200 and writer.dropped == 0
    assert writer.stats()["requests"] == 200


def test_key_spend_and_request_counts_are_shared_by_two_stores(make_store):
    a, b = make_store(), make_store()
    a.log(Record(entry="http", status="ok", key_name="team-a", cost_usd=0.25, ts=1000.0))
    b.log(Record(entry="http", status="ok", key_name="team-a", cost_usd=0.5, ts=2000.0))
    b.log(Record(entry="http", status="ok", key_name="team-b", cost_usd=1.0, ts=2000.0))
    b.log(Record(entry="http", status="ok", cost_usd=9.0, ts=2000.0))        # no key: never counted
    assert a.spend(0) == {"team-a": 0.75, "team-b": 1.0}
    assert b.spend(1500, ["team-a"]) == {"team-a": 0.5}
    assert [a.count_request("team-a", 7), b.count_request("team-a", 7), a.count_request("team-a", 8)] == [1, 2, 1]
    usage = {u["key_name"]: u for u in a.key_usage()}
    assert usage["team-a"]["requests"] == 2 and usage["team-b"]["cost_usd"] == 1.0


def test_settings_pick_the_postgres_store(pg_url, tmp_path):
    settings = build_settings({}, {"ROUTEMATE_HOME": str(tmp_path), "ROUTEMATE_LOG_URL": pg_url})
    store = open_store(settings)
    assert isinstance(store, PostgresStore) and store.describe() == pg_url
    store.close()
    sqlite = open_store(build_settings({}, {"ROUTEMATE_HOME": str(tmp_path)}))
    assert isinstance(sqlite, Store) and sqlite.describe() == str(tmp_path / "log.db")


def test_a_wrong_url_is_one_clear_line_without_the_password(postgres_server):
    bad = "postgresql://bob:hunter2@/nope?host=/nonexistent-dir&port=1"
    with pytest.raises(ConfigError) as err:
        PostgresStore(bad, timeout=2)
    text = str(err.value)
    assert "hunter2" not in text and "bob:***@" in text and "\n" not in text and "ROUTEMATE_LOG_URL" in text
    with pytest.raises(ConfigError, match="postgresql://"):
        build_settings({"log": {"url": "mysql://x/y"}}, {"ROUTEMATE_HOME": "/tmp"})
    with pytest.raises(ConfigError, match="ROUTEMATE_LOG_URL"):
        build_settings({}, {"ROUTEMATE_HOME": "/tmp", "ROUTEMATE_LOG_URL": "sqlite:///x"})


def test_migrations_translate_to_postgres_types():
    assert ddl("id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, n INTEGER") == (
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, n BIGINT")
    assert redact_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
