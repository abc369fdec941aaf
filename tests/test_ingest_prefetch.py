"""The reader runs one batch ahead of the store in a thread (ingest/prefetch.py): same batches in the same
order, the reader's errors raised where they happened, and the thread stopped and joined when the consumer
stops early, before the reader's connection is closed."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cibscope.ingest import ingest
from cibscope.ingest.mapped import MappedCsvReader
from cibscope.ingest.prefetch import prefetched
from cibscope.store.db import Store


def test_items_come_in_order_and_the_producer_runs_ahead():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    out = []
    for x in prefetched(items()):
        if x == 0:
            time.sleep(0.2)  # the thread computes the next item meanwhile
            assert produced[-1] >= 1
        out.append(x)
    assert out == list(range(50))


def test_a_reader_error_is_raised_after_the_items_before_it():
    def items():
        yield "a"
        yield "b"
        raise ValueError("line 3: bad record")

    got = []
    with pytest.raises(ValueError, match="line 3"):
        for x in prefetched(items()):
            got.append(x)
    assert got == ["a", "b"]


def test_stopping_early_closes_the_reader_in_its_thread_and_joins_it():
    closed = threading.Event()
    started = []

    def items():
        try:
            for i in range(1000):
                started.append(i)
                yield i
        finally:
            closed.set()

    gen = prefetched(items())
    assert next(gen) == 0
    gen.close()  # what ingest's `finally` does when storing a batch fails
    assert closed.is_set()  # closed, and the thread joined, before close() returned
    assert len(started) <= 3  # depth 1: it ran at most a batch or two ahead, never to the end
    assert not [t for t in threading.enumerate() if t.name == "cibscope-reader"]


def test_an_error_while_storing_keeps_the_batches_before_it_and_stops_the_reader(tmp_path: Path, monkeypatch):
    """A failure in the store's thread on the second batch ends the ingest with that error; the first batch
    stays stored (one transaction each) and the reader thread is gone."""
    src = tmp_path / "p.csv"
    src.write_text("post_id,account_id,created_at,platform,text\n"
                   + "".join(f"{i},acc{i % 7},2022-05-01T10:00:{i % 60:02d}Z,twitter,post {i}\n" for i in range(200)))
    with Store(tmp_path / "s.duckdb") as store:
        real, calls = store.add_batch, []

        def second_fails(**kw):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("disk full")
            return real(**kw)

        monkeypatch.setattr(store, "add_batch", second_fails)
        with pytest.raises(RuntimeError, match="disk full"):
            ingest(store, src, reader=MappedCsvReader(chunk_bytes=2000))  # pieces of about 45 rows
        stored = store.con.execute("SELECT count(*), min(post_id::INT) FROM posts").fetchall()[0]
        assert 0 < stored[0] < 200 and stored[1] == 0  # the first piece, from the top of the file
        assert not [t for t in threading.enumerate() if t.name == "cibscope-reader"]


def test_a_second_interrupt_while_stopping_still_waits_for_the_reader_and_calls_on_stop():
    """Closing the reader's DuckDB connection while its thread is inside a statement aborts the process: the
    consumer's stop waits for the thread even when a second Ctrl-C arrives, and asks it to stop (on_stop)."""
    release = threading.Event()
    stops = []

    def items():
        yield 1
        release.wait(5)  # a long statement of the reader, ended by on_stop (the connection's interrupt)
        yield 2

    def on_stop():
        stops.append(1)
        if len(stops) == 1:
            raise KeyboardInterrupt  # the second signal lands while the first stop is under way
        release.set()

    gen = prefetched(items(), on_stop=on_stop)
    assert next(gen) == 1
    time.sleep(0.1)  # the thread is now waiting inside items()
    gen.close()
    assert len(stops) >= 2 and release.is_set()
    assert not [t for t in threading.enumerate() if t.name == "cibscope-reader"]
