"""A small read-only Python API over a store, for notebooks: a run's tables as Arrow (or pandas).

::

    import cibscope
    with cibscope.open("cibscope.duckdb") as db:
        print(db.runs().to_pandas())
        run = db.run()                       # the latest run; db.run(3) for run 3
        edges = run.edges().to_pandas()      # pandas needs `pip install pandas`; Arrow needs nothing more
        top = run.clusters(flagged_only=True)
        ev = run.evidence(top["cluster_id"][0].as_py())

Every method returns a :class:`pyarrow.Table` straight from one DuckDB query (no Python loop over
rows); ``Table.to_pandas()``, ``polars.from_arrow`` or ``duckdb.sql("... FROM tbl")`` take it from
there. Timestamps are UTC (``timestamp[us]`` without a zone, as stored). The store is opened
read-only, so a notebook never locks out a running ``cibscope detect`` writer for long and can never
change results. ``docs/notebook.py`` is a worked example (run by ``tests/test_api.py``).
"""
from __future__ import annotations

import numbers
from pathlib import Path

import pyarrow as pa

from .report.query import run_info
from .report.tables import accounts_sql
from .store.db import DEFAULT_DB, Store, check_store_file, latest_run_id
from .text import plural


class Run:
    """One detection run of an open store. Made by :meth:`Database.run`; holds no rows itself."""

    def __init__(self, store: Store, run_id: int):
        self._store = store
        self.run_id = int(run_id)
        self.info = run_info(store, run_id)
        """The ``runs`` row as a dict (``params`` decoded from JSON)."""

    def __repr__(self) -> str:
        return (f"<cibscope run {self.run_id}: {plural(self.info['n_edges'] or 0, 'edge')}, "
                f"{plural(self.info['n_clusters'] or 0, 'cluster')}>")

    def _q(self, sql: str, params: list | dict | None = None) -> pa.Table:
        return self._store.con.sql(sql, params=params or None).to_arrow_table()

    def accounts(self, *, in_clusters_only: bool = False) -> pa.Table:
        """Accounts seen in the data the run covered (or only cluster members), flagged first.

        Columns: ``account_key, platform, account_id, handle, cluster_id`` (best-ranked cluster, null
        when in none), ``flagged`` (member of a flagged cluster), ``score`` (max ``-log10(q)`` of its
        edges, capped at 300; 0 when in no cluster), ``label`` (ingested ground truth, null if none),
        ``n_posts`` (its posts in the run's datasets). Same rows as ``accounts.csv``.
        """
        rid = self.run_id
        keys = f"SELECT account_key FROM cluster_members WHERE run_id = {rid}" if in_clusters_only else None
        return self._q(f"""
            WITH a AS ({accounts_sql(rid, keys)}),
            n AS (SELECT p.account_key, count(*) AS n_posts FROM posts p JOIN runs r ON r.run_id = {rid}
                  WHERE (r.datasets IS NULL OR list_contains(r.datasets, p.dataset))
                    AND p.account_key IN (SELECT account_key FROM a) GROUP BY ALL)
            SELECT a.*, coalesce(n.n_posts, 0) AS n_posts FROM a LEFT JOIN n USING (account_key)
            ORDER BY a.flagged DESC, a.cluster_id IS NULL, a.score DESC, a.platform, a.account_id
        """)

    def edges(self, *, cluster_id: str | None = None) -> pa.Table:
        """Significant account pairs, most significant first (every ``edges`` column but ``run_id``).

        Columns: ``account_a < account_b``, ``n_coactions`` (distinct (signal, object) co-actions),
        ``n_post_pairs``, ``weight`` (popularity-discounted), ``expected`` (under the null model),
        ``p_value`` (0.0: below 1e-300), ``q_value`` (Benjamini-Hochberg), ``signals`` (list),
        ``a_first``/``b_first``, ``median_gap_s`` (seconds), ``first_seen``/``last_seen`` (UTC),
        ``scale_s`` (the window the pair is judged at, seconds). ``cluster_id`` keeps the edges
        with both ends in that cluster.
        """
        return self._q("""
            SELECT * EXCLUDE (run_id) FROM edges e WHERE run_id = $run
              AND ($cid::VARCHAR IS NULL OR (
                  account_a IN (SELECT account_key FROM cluster_members WHERE run_id = $run AND cluster_id = $cid)
                  AND account_b IN (SELECT account_key FROM cluster_members WHERE run_id = $run AND cluster_id = $cid)))
            ORDER BY q_value, p_value, account_a, account_b
        """, {"run": self.run_id, "cid": cluster_id})

    def clusters(self, *, flagged_only: bool = False) -> pa.Table:
        """Clusters by rank (1 = most significant); every ``clusters`` column but ``run_id``.

        Columns: ``cluster_id, rank, n_accounts, n_edges, n_coactions, expected, p_value, score``
        (``-log10(p)`` capped at 300: 300 means p below 1e-300, not a tie), ``lift``
        (co-actions / expected), ``flagged`` (a candidate operation: q <= alpha and lift >= min_lift),
        ``signals`` (JSON text ``{signal: share}``), ``first_seen, last_seen`` (UTC), ``summary``,
        ``scale_s`` (seconds), ``overlap``.
        """
        flag = " AND flagged" if flagged_only else ""
        return self._q(f"SELECT * EXCLUDE (run_id) FROM clusters WHERE run_id = ?{flag} ORDER BY rank, cluster_id",
                       [self.run_id])

    def members(self, cluster_id: str | None = None) -> pa.Table:
        """Cluster membership: ``cluster_id, account_key, handle, degree`` (edges inside the cluster),
        ``strength`` (summed edge weight inside), ``score`` (max ``-log10(q)``, capped at 300),
        ``label``; by cluster rank, then strongest first. ``cluster_id`` keeps one cluster."""
        return self._q("""
            SELECT m.cluster_id, m.account_key, a.handle, m.degree, m.strength, m.score, a.label
            FROM cluster_members m JOIN clusters c USING (run_id, cluster_id) LEFT JOIN accounts a USING (account_key)
            WHERE m.run_id = ? AND (?::VARCHAR IS NULL OR m.cluster_id = ?)
            ORDER BY c.rank, m.degree DESC, m.strength DESC, m.account_key
        """, [self.run_id, cluster_id, cluster_id])

    def evidence(self, cluster_id: str | None = None) -> pa.Table:
        """The co-actions behind the edges: one row per (account pair, signal, object), with both posts.

        Columns: ``cluster_id`` (when both accounts are in the same cluster, else null),
        ``account_a, account_b, handle_a, handle_b, action_type`` (the signal: repost, link, hashtag,
        text, ...), ``object_key`` (normalised object: canonical URL, lower-cased tag, ``text:<md5>``),
        ``n_post_pairs`` (post pairs on it within the window), ``post_a, post_b`` (the closest pair in
        time), ``ts_a, ts_b`` (UTC), ``gap_s`` (``ts_b - ts_a``, seconds), ``object_weight``,
        ``text_a, text_b`` (the two posts' text). ``cluster_id`` keeps that cluster's internal evidence.
        """
        return self._q("""
            WITH cm AS (SELECT account_key, cluster_id FROM cluster_members WHERE run_id = $run),
            ev AS (
                SELECT CASE WHEN ca.cluster_id = cb.cluster_id THEN ca.cluster_id END AS cluster_id, v.*
                FROM edge_evidence v LEFT JOIN cm ca ON ca.account_key = v.account_a
                LEFT JOIN cm cb ON cb.account_key = v.account_b
                WHERE v.run_id = $run)
            SELECT ev.cluster_id, ev.account_a, ev.account_b, aa.handle AS handle_a, ab.handle AS handle_b,
                   ev.action_type, ev.object_key, ev.n_post_pairs, ev.post_a, ev.post_b, ev.ts_a, ev.ts_b,
                   ev.gap_s, ev.object_weight, pa.text AS text_a, pb.text AS text_b
            FROM ev
            LEFT JOIN accounts aa ON aa.account_key = ev.account_a
            LEFT JOIN accounts ab ON ab.account_key = ev.account_b
            LEFT JOIN posts pa ON pa.post_key = ev.post_a LEFT JOIN posts pb ON pb.post_key = ev.post_b
            WHERE $cid::VARCHAR IS NULL OR ev.cluster_id = $cid
            ORDER BY ev.account_a, ev.account_b, ev.action_type, ev.object_key
        """, {"run": self.run_id, "cid": cluster_id})

    def posts(self, account_key: str | None = None) -> pa.Table:
        """Posts in the run's datasets (every ``posts`` column), oldest first; ``account_key`` keeps one
        account's. Large stores hold millions: filter in SQL (``account_key``) rather than in pandas."""
        rid = self.run_id
        return self._q(f"""
            SELECT p.* FROM posts p JOIN runs r ON r.run_id = {rid}
            WHERE (r.datasets IS NULL OR list_contains(r.datasets, p.dataset))
              AND (?::VARCHAR IS NULL OR p.account_key = ?)
            ORDER BY p.created_at, p.post_key
        """, [account_key, account_key])


class Database:
    """A store opened read-only for analysis. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path = DEFAULT_DB):
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no cibscope store here (make one with `cibscope ingest`)")
        if path.is_dir():
            inside = path / Path(DEFAULT_DB).name
            hint = f"; did you mean {inside}?" if inside.is_file() else ""
            raise ValueError(f"{path}: is a folder; cibscope.open() expects a store's DuckDB file "
                             f"(e.g. {DEFAULT_DB}, made by `cibscope ingest`){hint}")
        try:
            check_store_file(str(path))
        except ValueError:
            raise ValueError(f"{path}: not a DuckDB database, so not a cibscope store; cibscope.open() expects "
                             f"the DuckDB file `cibscope ingest` made (e.g. {DEFAULT_DB})") from None
        self.store = Store(path, read_only=True)

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.store.close()

    def runs(self) -> pa.Table:
        """Detection runs, newest first: ``run_id, created_at`` (UTC), ``params`` (JSON text),
        ``datasets`` (null: all), ``n_actions, n_accounts, n_edges, n_clusters, seconds``."""
        return self.store.con.sql("SELECT * FROM runs ORDER BY run_id DESC").to_arrow_table()

    def run(self, run_id: int | None = None) -> Run:
        """Run ``run_id`` (default: the latest). Raises ``ValueError`` when the store has no such run, and
        ``TypeError`` when ``run_id`` is not an integer (a float such as ``1.5``, or a bool, is refused rather
        than truncated to a run that was not asked for)."""
        if run_id is not None and (isinstance(run_id, bool) or not isinstance(run_id, numbers.Integral)):
            raise TypeError(f"run_id must be an int (a run number from db.runs()), not {type(run_id).__name__} "
                            f"{run_id!r}")
        if run_id is None:
            run_id = latest_run_id(self.store.con)
            if run_id is None:
                raise ValueError(f"{self.store.path}: no detection run yet (run `cibscope detect`)")
        return Run(self.store, run_id)

    def sql(self, query: str, params: list | dict | None = None) -> pa.Table:
        """Any read-only SQL over the store's tables (``docs/data-model.md``), as an Arrow table."""
        return self.store.con.sql(query, params=params or None).to_arrow_table()


def open(path: str | Path = DEFAULT_DB) -> Database:  # noqa: A001 - ``cibscope.open(db)`` is the API
    """Open the store at ``path`` read-only. Raises ``FileNotFoundError`` when the file is absent, and
    ``ValueError`` when ``path`` is a folder or a file that is not a DuckDB database."""
    return Database(path)


__all__ = ["Database", "Run", "open"]
