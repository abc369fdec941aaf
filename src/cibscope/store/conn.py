"""Connection helpers for code outside ``Store`` that reads and writes the store in SQL.

* :func:`one` reads one row. DuckDB 2.0 refuses new work on a connection while an
  ``execute()`` result is unfinished, and ``fetchone()`` on a one-row result does
  not finish it; reading with ``fetchall()`` does.
* :func:`transaction` runs a block as one transaction (rolled back on any error).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import duckdb


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of ``sql`` (None when there is none); the result is read to the end."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, temp_tables: tuple[str, ...] = ()) -> Iterator[None]:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` and re-raise; drop ``temp_tables`` afterwards either way."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for t in temp_tables:
            con.execute(f"DROP TABLE IF EXISTS {t}")
