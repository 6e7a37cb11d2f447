"""Several clients at once: writers, readers and a long query side by side."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np

WRITERS = 4
BATCHES = 20
BATCH_ROWS = 5_000


def test_concurrent_writers_readers_and_a_long_query_lose_nothing(new_client):
    table = f"conc_{uuid.uuid4().hex[:10]}"
    setup = new_client()
    setup.command(f"CREATE TABLE {table} (id UInt64, writer UInt8) ENGINE = MergeTree ORDER BY id")

    errors: list[BaseException] = []
    counts_by_reader: list[list[int]] = [[], []]
    short_done_at: list[float] = []
    long_window: dict[str, float] = {}
    writers_done = threading.Event()

    def guarded(function):
        def run():
            try:
                function()
            except BaseException as error:  # collected and asserted below
                errors.append(error)

        return run

    def writer(index: int):
        client = new_client()
        for batch in range(BATCHES):
            start = (index * BATCHES + batch) * BATCH_ROWS
            ids = np.arange(start, start + BATCH_ROWS, dtype=np.uint64)
            client.insert(
                table,
                [ids, np.full(BATCH_ROWS, index, dtype=np.uint8)],
                column_names=["id", "writer"],
                column_oriented=True,
            )

    def reader(seen: list[int]):
        client = new_client()
        while not writers_done.is_set():
            seen.append(client.command(f"SELECT count() FROM {table}"))
            short_done_at.append(time.monotonic())

    def long_query():
        client = new_client()
        long_window["start"] = time.monotonic()
        client.query("SELECT sleepEachRow(0.5) FROM numbers(6)")
        long_window["end"] = time.monotonic()

    threads = [threading.Thread(target=guarded(long_query))]
    threads += [
        threading.Thread(target=guarded(lambda s=seen: reader(s))) for seen in counts_by_reader
    ]
    write_threads = [
        threading.Thread(target=guarded(lambda i=i: writer(i))) for i in range(WRITERS)
    ]
    for thread in threads + write_threads:
        thread.start()
    for thread in write_threads:
        thread.join()
    writers_done.set()
    for thread in threads:
        thread.join()

    assert errors == []
    total = WRITERS * BATCHES * BATCH_ROWS
    count, id_sum = setup.query(f"SELECT count(), sum(id) FROM {table}").result_rows[0]
    per_writer = dict(
        setup.query(f"SELECT writer, count() FROM {table} GROUP BY writer").result_rows
    )
    assert count == total
    assert id_sum == total * (total - 1) // 2
    assert per_writer == dict.fromkeys(range(WRITERS), BATCHES * BATCH_ROWS)
    # Each insert is all-or-nothing and counts never go backwards.
    for seen in counts_by_reader:
        assert seen, "a reader got no answer while the writers ran"
        assert all(c % BATCH_ROWS == 0 for c in seen)
        assert seen == sorted(seen)
    # Short queries kept being answered while the long one ran.
    assert any(long_window["start"] < t < long_window["end"] for t in short_done_at)
    setup.command(f"DROP TABLE {table}")
