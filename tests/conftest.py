"""Shared test helpers: the fixture folder, the shared data folder, a throw-away store, bad-CSV copies."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cibscope.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"{SHARED} is absent")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def store():
    s = Store(":memory:")
    yield s
    s.close()


def rows(store: Store, sql: str, params=None) -> list[dict]:
    """Query the store and return rows as dicts."""
    cur = store.con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def errors(store: Store) -> dict[int, dict]:
    """The store's ingest errors keyed by line."""
    return {r["line"]: r for r in rows(store, "SELECT * FROM ingest_errors ORDER BY line")}


def with_bad_rows(src: Path, dst: Path, bad: list[bytes]) -> list[int]:
    """Copy CSV ``src`` to ``dst`` with the byte lines ``bad`` appended; returns their line numbers.

    Line numbers count records (header = 1), as DuckDB's CSV rejects do: a
    quoted field spanning lines earlier in the file counts once.
    """
    data = src.read_bytes()
    eol = b"\r\n" if b"\r\n" in data else b"\n"  # keep the file's line ending
    if not data.endswith(b"\n"):
        data += eol
    first = len(list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))) + 1
    dst.write_bytes(data + b"".join(b + eol for b in bad))
    return list(range(first, first + len(bad)))
