"""Persistent state of ``cibscope watch``, kept in the store's DuckDB file next to the data.

Tables (created on first use; all keys are the store's string keys, never per-run integers)
-------------------------------------------------------------------------------------------
``watch_meta``       key -> value (JSON): parameters, horizon, the current run, counters
``watch_seen``       post_key of every post whose actions an update has taken into account
``watch_acc``        account_key of the accounts that met ``min_account_actions`` in the last horizon
``watch_pair_obj``   the co-action rows of the last horizon: one per (account pair, signal, object), the
                     string-keyed twin of ``detect``'s ``_pair_obj`` (closest post pair, times in epoch
                     seconds UTC, signed gap in seconds)
``watch_clusters``   wid (the watch cluster id, stable while a cluster grows), the current detect
                     ``cluster_id``, size, flagged, size at the last growth alert
``watch_members``    wid, account_key of the current members
``watch_alerts``     every alert raised: id (deduplication key), sequence, kind, evidence (JSON) and
                     per-output delivery flags

An update changes these tables in one transaction (:mod:`cibscope.watch.incremental`), so a process
killed at any point leaves either the state before or the state after an update.
"""
from __future__ import annotations

import json
from typing import Any

import duckdb

from ..store.conn import one

DDL = """
CREATE TABLE IF NOT EXISTS watch_meta (key VARCHAR PRIMARY KEY, value JSON NOT NULL);
CREATE TABLE IF NOT EXISTS watch_seen (post_key VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS watch_acc (account_key VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS watch_pair_obj (
    account_a VARCHAR NOT NULL, account_b VARCHAR NOT NULL, signal VARCHAR NOT NULL, object VARCHAR NOT NULL,
    n_post_pairs BIGINT NOT NULL, post_a VARCHAR NOT NULL, post_b VARCHAR NOT NULL,
    t_a DOUBLE NOT NULL, t_b DOUBLE NOT NULL, gap_s DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_clusters (
    wid VARCHAR PRIMARY KEY, cluster_id VARCHAR NOT NULL, n_members INTEGER NOT NULL, flagged BOOLEAN NOT NULL,
    alerted_size INTEGER, born_update BIGINT NOT NULL, updated_update BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_members (wid VARCHAR NOT NULL, account_key VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS watch_alerts (
    alert_id VARCHAR PRIMARY KEY, seq BIGINT NOT NULL, raised_at TIMESTAMP NOT NULL,
    data_time TIMESTAMP, kind VARCHAR NOT NULL, wid VARCHAR NOT NULL, payload JSON NOT NULL,
    sent_log BOOLEAN NOT NULL DEFAULT FALSE, sent_webhook BOOLEAN NOT NULL DEFAULT FALSE,
    sent_taxii BOOLEAN NOT NULL DEFAULT FALSE
);
"""

#: Every watch table, for tests and for :func:`reset`.
TABLES = ("watch_meta", "watch_seen", "watch_acc", "watch_pair_obj", "watch_clusters", "watch_members",
          "watch_alerts")


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the watch tables if absent."""
    con.execute(DDL)


def get(con: duckdb.DuckDBPyConnection, key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key`` in ``watch_meta`` (``default`` when absent)."""
    row = one(con, "SELECT value FROM watch_meta WHERE key = ?", [key])
    return default if row is None else json.loads(row[0])


def put(con: duckdb.DuckDBPyConnection, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key`` (call inside the update's transaction)."""
    con.execute("INSERT OR REPLACE INTO watch_meta VALUES (?, ?)", [key, json.dumps(value)])


def reset(con: duckdb.DuckDBPyConnection) -> None:
    """Forget all watch state (the ingested data stays): the next update starts from scratch."""
    for t in TABLES:
        con.execute(f"DROP TABLE IF EXISTS {t}")
    ensure(con)
