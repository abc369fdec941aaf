"""Tabular outputs of a run: ``clusters.csv``, ``edges.parquet`` and ``accounts.csv``.

Each file is written by one DuckDB ``COPY (query) TO`` statement straight from
the store (no Python loop over rows). Timestamps are UTC, written as ISO 8601
with a ``Z`` suffix in the CSV files and as ``TIMESTAMP`` in Parquet.
"""
from __future__ import annotations

from pathlib import Path

from ..store.db import Store, _sql_str
from .query import covered_accounts_sql, run_info, unflagged_reason_sql

#: Columns of ``clusters.csv``, in order.
CLUSTER_COLUMNS = ("cluster_id", "rank", "flagged", "not_flagged_because", "n_accounts", "n_edges", "n_coactions",
                   "expected", "lift", "overlap", "source_share", "n_sources", "top_source", "hour_lift",
                   "scale_s", "score", "p_value", "signals", "first_seen", "last_seen",
                   "summary")
#: Columns of ``accounts.csv``, in order.
ACCOUNT_COLUMNS = ("platform", "account_id", "handle", "cluster_id", "flagged", "score", "label")

_ISO = "'%Y-%m-%dT%H:%M:%SZ'"
_ACCOUNT_ORDER = "flagged DESC, cluster_id IS NULL, score DESC, platform, account_id"


def _copy(store: Store, query: str, path: Path, fmt: str) -> Path:
    opts = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    store.con.execute(f"COPY ({query}) TO '{_sql_str(path)}' ({opts})")
    return path


def write_clusters_csv(store: Store, run_id: int, path: str | Path) -> Path:
    """Write one row per cluster of the run, best rank first.

    Columns: :data:`CLUSTER_COLUMNS`; ``flagged`` is the detector's verdict
    (a candidate operation), ``not_flagged_because`` the rules an unflagged cluster fails
    (:func:`~cibscope.report.query.unflagged_reason_sql`), ``n_accounts`` the cluster's size, ``lift``
    ``n_coactions / expected``, ``source_share``/``n_sources``/``top_source`` where the co-actions at its scale come
    from and ``hour_lift`` its lift against the hourly background (rule 4 of docs/detection.md; empty for
    runs before them, ``hour_lift`` empty unless the source waiver judged the cluster), ``score`` is ``-log10(p_value)`` (capped at 300), ``signals`` the JSON
    object ``{signal: share of the cluster's co-actions}``, ``first_seen``/
    ``last_seen`` the first and last co-action (UTC).
    """
    rid = int(run_id)
    return _copy(store, f"""
        SELECT c.cluster_id, c.rank, c.flagged, {unflagged_reason_sql()} AS not_flagged_because, c.n_accounts,
               c.n_edges, c.n_coactions, c.expected, c.lift, c.overlap, c.source_share,
               c.n_sources, c.top_source, c.hour_lift, c.scale_s, c.score, c.p_value,
               c.signals::VARCHAR AS signals, strftime(c.first_seen, {_ISO}) AS first_seen,
               strftime(c.last_seen, {_ISO}) AS last_seen, c.summary
        FROM clusters c JOIN runs r USING (run_id) WHERE c.run_id = {rid} ORDER BY c.rank, c.cluster_id
    """, Path(path), "csv")


def write_edges_parquet(store: Store, run_id: int, path: str | Path) -> Path:
    """Write the run's edges (every column of ``edges``), most significant first."""
    rid = int(run_id)
    return _copy(store, f"""
        SELECT * FROM edges WHERE run_id = {rid} ORDER BY q_value, p_value, account_a, account_b
    """, Path(path), "parquet")


def member_sql(run_id: int) -> str:
    """SQL with one row per account in any cluster of the run.

    Columns: ``account_key``, ``cluster_id`` (the best-ranked cluster if several), ``flagged`` (member
    of a flagged cluster), ``score`` (max ``cluster_members.score``).
    """
    rid = int(run_id)
    return f"""
        SELECT m.account_key, arg_min(m.cluster_id, c.rank) AS cluster_id, bool_or(c.flagged) AS flagged,
               max(m.score) AS score
        FROM cluster_members m JOIN clusters c USING (run_id, cluster_id)
        WHERE m.run_id = {rid} GROUP BY m.account_key
    """


def accounts_sql(run_id: int, keys_sql: str | None = None) -> str:
    """SQL with one row per account: ``account_key`` plus :data:`ACCOUNT_COLUMNS`.

    ``keys_sql`` selects the accounts (one ``account_key`` column); by default every account seen
    in the data the run covered (:func:`~cibscope.report.query.covered_accounts_sql`). Rows are
    ordered flagged first, then by score, platform and account_id. See :func:`write_accounts_csv`
    for the columns' meaning.
    """
    rid = int(run_id)
    return f"""
        WITH seen AS ({keys_sql or covered_accounts_sql(rid)}),
        member AS ({member_sql(rid)})
        SELECT s.account_key, coalesce(a.platform, split_part(s.account_key, ':', 1)) AS platform,
               coalesce(a.account_id, substr(s.account_key, strpos(s.account_key, ':') + 1)) AS account_id,
               a.handle, m.cluster_id, coalesce(m.flagged, false) AS flagged,
               coalesce(m.score, 0) AS score, a.label
        FROM seen s LEFT JOIN accounts a USING (account_key) LEFT JOIN member m USING (account_key)
        ORDER BY {_ACCOUNT_ORDER}
    """


def write_accounts_csv(store: Store, run_id: int, path: str | Path) -> Path:
    """Write one row per account seen in the data the run covered.

    See :func:`~cibscope.report.query.covered_accounts_sql` for "seen".
    Columns: :data:`ACCOUNT_COLUMNS`. ``cluster_id`` is the account's cluster
    (the best-ranked one if several), empty if none; ``flagged`` is true when
    the account is a member of a cluster the detector flagged as a candidate
    operation (``clusters.flagged``); ``score`` is ``cluster_members.score``
    (max ``-log10(q)`` of its edges) or 0. ``label`` is the known ground truth,
    when ingested.
    Rows: flagged first, then by score, platform and account_id.
    """
    return _copy(store, f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM ({accounts_sql(run_id)}) ORDER BY {_ACCOUNT_ORDER}",
                 Path(path), "csv")


def write_tables(store: Store, run_id: int, out_dir: str | Path) -> dict[str, Path]:
    """Write ``clusters.csv``, ``edges.parquet`` and ``accounts.csv`` into ``out_dir``.

    Returns
    -------
    dict
        ``{"clusters": path, "edges": path, "accounts": path}``.

    Raises
    ------
    ValueError
        ``run_id`` is not in the store.
    """
    run_info(store, run_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "clusters": write_clusters_csv(store, run_id, out / "clusters.csv"),
        "edges": write_edges_parquet(store, run_id, out / "edges.parquet"),
        "accounts": write_accounts_csv(store, run_id, out / "accounts.csv"),
    }
