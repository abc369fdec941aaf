"""Read one row with DuckDB 2.0, whose ``fetchone()`` leaves the result open.

DuckDB 2.0 refuses new work on a connection while an ``execute()`` result is
unfinished, and ``fetchone()`` on a one-row result does not finish it; reading
with ``fetchall()`` does.
"""
from __future__ import annotations

from typing import Any

import duckdb


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of ``sql`` (None when there is none); the result is read to the end."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None
