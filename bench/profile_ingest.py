#!/usr/bin/env python3
"""Where an ingest spends its time: wall seconds per SQL statement, summed over the run.

Wraps the store's DuckDB connection and the reader's scratch connection (the one
:func:`cibscope.ingest.ingest` opens) so that every ``execute``/``sql`` is timed, then prints the
statements by total time (first 110 characters of each, and how often it ran). The reader runs in its
own thread (``ingest/prefetch.py``), so statements of the two threads overlap: their sum can exceed the
ingest's wall time, and the longer thread is the one to shorten. Python work between statements (CSV
pieces cut in Python, Arrow conversion) is the ingest's time not in statements.

Usage::

    python bench/profile_ingest.py FILE --format twitter-io [--top 25]

A fresh store is written under a temporary folder and deleted afterwards.
"""
from __future__ import annotations

import argparse
import collections
import re
import tempfile
import threading
import time
import types
from pathlib import Path

import duckdb

import cibscope.ingest as ingest_module
from cibscope.store.db import Store

TOTALS: collections.Counter = collections.Counter()
CALLS: collections.Counter = collections.Counter()
_LOCK = threading.Lock()


class TimedConnection:
    """A DuckDB connection whose ``execute``/``sql``/``query`` calls are timed into :data:`TOTALS`."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def __getattr__(self, name: str):
        attr = getattr(self._con, name)
        if name not in ("execute", "sql", "query"):
            return attr

        def timed(query, *args, **kwargs):
            t = time.perf_counter()
            try:
                return attr(query, *args, **kwargs)
            finally:
                key = re.sub(r"\s+", " ", str(query)).strip()[:110]
                with _LOCK:
                    TOTALS[key] += time.perf_counter() - t
                    CALLS[key] += 1
        return timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path)
    ap.add_argument("--format", required=True)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    # the reader's scratch connection comes from ingest's own `duckdb.connect()`
    ingest_module.duckdb = types.SimpleNamespace(**{k: getattr(duckdb, k) for k in dir(duckdb) if not k.startswith("__")})
    ingest_module.duckdb.connect = lambda *x, **y: TimedConnection(duckdb.connect(*x, **y))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "profile.duckdb")
        store.con = TimedConnection(store.con)
        t = time.perf_counter()
        result = ingest_module.ingest(store, a.input, fmt=a.format)
        wall = time.perf_counter() - t
        store.close()
    print(f"{a.input} ({a.format}): {result.posts_added:,} posts in {wall:.2f} s; "
          f"statements of both threads {sum(TOTALS.values()):.2f} s")
    print("| s (sum) | calls | statement |\n|---:|---:|---|")
    for key, secs in TOTALS.most_common(a.top):
        print(f"| {secs:.2f} | {CALLS[key]} | `{key.replace('|', chr(92) + '|')}` |")


if __name__ == "__main__":
    main()
