"""Explanations of detected clusters and cases: DISARM technique tags (:mod:`.disarm`), who the accounts
are (:mod:`.authenticity`) and what they push (:mod:`.narratives`)."""
from __future__ import annotations

from ..store.conn import transaction
from ..store.db import Store


def replace_rows(store: Store, table: str, delete_where: str, params: list, rows: list[tuple]) -> int:
    """In one transaction, delete ``table`` rows matching ``delete_where`` (with ``params``) and insert ``rows``.

    Returns ``len(rows)``; on any error nothing changes (the transaction is rolled back).
    """
    con = store.con
    with transaction(con):
        con.execute(f"DELETE FROM {table} WHERE {delete_where}", params)
        if rows:
            con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    return len(rows)
