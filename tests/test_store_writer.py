import threading

from routemate.store import LogWriter, Record, Store


def test_background_writer_lands_every_record_with_hashes_and_meta(log_store):
    writer = LogWriter(log_store(prompts="hash"), max_batch=7)

    def burst(k):
        for i in range(50):
            writer.log(Record(entry="http", status="ok", prompt=f"p{k}-{i}", model="local", meta={"i": i}))

    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = writer.recent(500)           # reads wait for the queue to drain
    assert len(rows) == 200 and writer.dropped == 0
    assert all(r["prompt"] is None and len(r["prompt_sha256"]) == 64 for r in rows)
    assert sorted(r["meta"]["i"] for r in rows if r["prompt_sha256"]) [:2] == [0, 0]
    assert writer.stats()["requests"] == 200
    writer.close()
    writer.close()                      # idempotent


def test_log_many_matches_log_row_for_row(log_store):
    store = log_store()
    record = Record(entry="cli", status="error", prompt="x", model="m", error="boom", meta={"attempts": [1]},
                    cost_usd=0.5, key_name="ci")
    store.log(record)
    store.log_many([record])
    one, many = store.recent(2)
    assert {k: v for k, v in one.items() if k != "id"} == {k: v for k, v in many.items() if k != "id"}


def test_records_arriving_together_share_one_commit_and_a_read_does_not_wait_for_more(tmp_path):
    store = Store(tmp_path / "log.db")
    batches = []
    original = store.log_many
    store.log_many = lambda records: (batches.append(len(records)), original(records))[1]
    # a long linger: only a read (or flush/close) can end the wait before it runs out
    writer = LogWriter(store, linger=30.0)
    for i in range(20):
        writer.log(Record(entry="http", status="ok", prompt=f"p{i}", model="local"))
    assert writer.flush(timeout=10), "a flush must end the linger, not wait 30 s for more records"
    assert batches == [20] and len(writer.recent(50)) == 20
    writer.log(Record(entry="http", status="ok", prompt="last", model="local"))
    writer.close()                      # close writes what is queued, without waiting either
    assert Store(tmp_path / "log.db").stats()["requests"] == 21
