"""Detect coordinated account networks: co-action core, significance, clustering, persisted runs.

``detect(store, params)`` is the whole pipeline; the CLI's ``cibscope detect`` wraps it.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa

from ..store.db import Store
from .cluster import leiden_clusters
from .coaction import build_actions, coaction_pairs, object_stats
from .params import DEFAULT_SIGNALS, DetectionParams, parse_duration
from .significance import (MAX_SCORE, benjamini_hochberg, expected_pairs_sql, kappa_sql,
                           poisson_pvalues, poisson_scores)

STEPS = ("select actions", "object statistics", "co-action pairs", "significance", "clustering", "save run")


@dataclass
class RunResult:
    """Summary of a finished detection run (the rows are in the store under ``run_id``)."""

    run_id: int
    n_actions: int
    n_accounts: int
    n_candidate_pairs: int
    n_edges: int
    n_clusters: int
    seconds: float


def detect(store: Store, params: DetectionParams | None = None, *,
           progress: Callable[[str], None] | None = None) -> RunResult:
    """Run coordination detection over the store and persist it as a new run.

    Parameters
    ----------
    store : Store
        Holds ``actions`` (see docs/data-model.md).
    params : DetectionParams, optional
        Defaults documented in docs/detection.md.
    progress : callable, optional
        Called with the name of each step (:data:`STEPS`) as it starts.

    Returns
    -------
    RunResult
        ``run_id`` keys the rows written to ``runs``, ``edges``, ``edge_evidence``,
        ``clusters`` and ``cluster_members``.

    Notes
    -----
    Time is dominated by the windowed self-join: O(sum over objects of the
    action pairs less than 2W apart), bounded by ``max_object_accounts``; memory
    by the ``_pair_obj`` table (one row per co-acting pair and object). Leiden
    runs on the significant edges only.
    """
    params = params or DetectionParams()
    con = store.con
    say = progress or (lambda step: None)
    started = time.perf_counter()

    say(STEPS[0])
    n_actions = build_actions(con, params)
    n_accounts = con.execute("SELECT count(DISTINCT account) FROM _act").fetchone()[0]
    say(STEPS[1])
    object_stats(con, params)
    con.execute(kappa_sql())
    say(STEPS[2])
    coaction_pairs(con, params)

    say(STEPS[3])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pairs AS
        SELECT p.account_a, p.account_b, count(*) AS n_coactions, sum(n_post_pairs) AS n_post_pairs,
               sum(o.w_o ORDER BY p.signal, p.object) AS weight, list(DISTINCT p.signal ORDER BY p.signal) AS signals,
               count(*) FILTER (WHERE gap_s > 0) AS a_first, count(*) FILTER (WHERE gap_s < 0) AS b_first,
               median(abs(gap_s)) AS median_gap_s,
               to_timestamp(min(least(t_a, t_b)))::TIMESTAMP AS first_seen,
               to_timestamp(max(greatest(t_a, t_b)))::TIMESTAMP AS last_seen
        FROM _pair_obj p JOIN _obj o USING (signal, object)
        GROUP BY p.account_a, p.account_b
        HAVING count(*) >= {int(params.min_coactions)}
    """)
    pairs = con.sql(f"""
        SELECT p.*, e.expected FROM _pairs p JOIN ({expected_pairs_sql('_pairs')}) e
        USING (account_a, account_b) ORDER BY account_a, account_b
    """).to_arrow_table()
    n_candidates = pairs.num_rows
    observed = pairs.column("n_coactions").to_numpy()
    expected = pairs.column("expected").to_numpy()
    p_values = poisson_pvalues(observed, expected)
    q_values = benjamini_hochberg(p_values)
    keep = q_values <= params.alpha if params.significance else np.ones(n_candidates, dtype=bool)
    edges = pairs.append_column("p_value", pa.array(p_values)).append_column("q_value", pa.array(q_values))
    edges = edges.filter(pa.array(keep))

    say(STEPS[4])
    a = edges.column("account_a").to_numpy(zero_copy_only=False)
    b = edges.column("account_b").to_numpy(zero_copy_only=False)
    clusters = leiden_clusters(a, b, edges.column("weight").to_numpy(), resolution=params.resolution,
                               seed=params.seed, min_size=params.min_cluster_size)

    say(STEPS[5])
    run_id = con.execute("SELECT nextval('run_seq')").fetchone()[0]
    con.execute("BEGIN TRANSACTION")
    try:
        _save_edges(con, run_id, edges)
        n_clusters = _save_clusters(con, run_id, clusters, params)
        seconds = time.perf_counter() - started
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), params.model_dump_json(),
             params.datasets, n_actions, n_accounts, edges.num_rows, n_clusters, seconds],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    for t in ("_act", "_obj", "_acc_sig", "_pair_obj", "_pairs", "_kappa", "_edges_in", "_members_in"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return RunResult(run_id, n_actions, n_accounts, n_candidates, edges.num_rows, n_clusters,
                     time.perf_counter() - started)


def _save_edges(con, run_id: int, edges: pa.Table) -> None:
    con.register("_edges_arrow", edges)
    con.execute("CREATE OR REPLACE TEMP TABLE _edges_in AS SELECT * FROM _edges_arrow")
    con.unregister("_edges_arrow")
    con.execute("""
        INSERT INTO edges
        SELECT ?, account_a, account_b, n_coactions, n_post_pairs, weight, expected, p_value, q_value,
               signals, a_first, b_first, median_gap_s, first_seen, last_seen
        FROM _edges_in
    """, [run_id])
    con.execute("""
        INSERT INTO edge_evidence
        SELECT ?, p.account_a, p.account_b, p.signal, p.object, p.n_post_pairs, p.post_a, p.post_b,
               to_timestamp(p.t_a)::TIMESTAMP, to_timestamp(p.t_b)::TIMESTAMP, p.gap_s, o.w_o
        FROM _pair_obj p JOIN _edges_in e USING (account_a, account_b) JOIN _obj o USING (signal, object)
    """, [run_id])


def _save_clusters(con, run_id: int, clusters: dict[str, list[str]], params: DetectionParams) -> int:
    if not clusters:
        return 0
    rows = [(cid, acc) for cid, members in clusters.items() for acc in members]
    con.register("_members_arrow", pa.table({"cluster_id": [r[0] for r in rows], "account": [r[1] for r in rows]}))
    con.execute("CREATE OR REPLACE TEMP TABLE _members_in AS SELECT * FROM _members_arrow")
    con.unregister("_members_arrow")
    # Internal co-actions (every co-acting member pair, not only edges) and the null expectation
    # over all member pairs: sum_s kappa_s ((sum k)^2 - sum k^2) / 2.
    stats = con.sql("""
        WITH internal AS (
            SELECT ma.cluster_id, p.signal, count(*) AS n
            FROM _pair_obj p
            JOIN _members_in ma ON ma.account = p.account_a
            JOIN _members_in mb ON mb.account = p.account_b AND mb.cluster_id = ma.cluster_id
            GROUP BY ma.cluster_id, p.signal
        ), exp AS (
            SELECT m.cluster_id, sum(kp.kappa * (s.sk * s.sk - s.sk2) / 2.0 ORDER BY s.signal) AS expected
            FROM (SELECT m.cluster_id, k.signal, sum(k.k) AS sk, sum(k.k * k.k) AS sk2
                  FROM _members_in m JOIN _acc_sig k ON k.account = m.account
                  GROUP BY m.cluster_id, k.signal) s
            JOIN _kappa kp USING (signal) JOIN (SELECT DISTINCT cluster_id FROM _members_in) m USING (cluster_id)
            GROUP BY m.cluster_id
        ), edge_stats AS (
            SELECT ma.cluster_id, count(*) AS n_edges, min(e.first_seen) AS first_seen,
                   max(e.last_seen) AS last_seen
            FROM _edges_in e
            JOIN _members_in ma ON ma.account = e.account_a
            JOIN _members_in mb ON mb.account = e.account_b AND mb.cluster_id = ma.cluster_id
            GROUP BY ma.cluster_id
        )
        SELECT i.cluster_id, sum(i.n) AS n_coactions, any_value(coalesce(x.expected, 0)) AS expected,
               json_group_object(i.signal, i.n) AS signal_counts,
               any_value(es.n_edges) AS n_edges, any_value(es.first_seen) AS first_seen,
               any_value(es.last_seen) AS last_seen
        FROM internal i LEFT JOIN exp x USING (cluster_id) JOIN edge_stats es USING (cluster_id)
        GROUP BY i.cluster_id ORDER BY i.cluster_id
    """).to_arrow_table().to_pylist()
    top_objects = _top_objects(con)
    n_members = {cid: len(m) for cid, m in clusters.items()}
    observed = np.array([float(s["n_coactions"]) for s in stats])
    expected = np.array([float(s["expected"]) for s in stats])
    p = poisson_pvalues(observed, expected)
    score = poisson_scores(observed, expected)
    q = benjamini_hochberg(p)
    lift = observed / np.maximum(expected, 1e-12)
    flagged = (q <= params.alpha) & (lift >= params.min_lift) if params.significance else np.ones(len(p), bool)
    order = sorted(range(len(stats)), key=lambda i: (not flagged[i], -score[i], -lift[i],
                                                      stats[i]["cluster_id"]))
    rank = {stats[i]["cluster_id"]: r + 1 for r, i in enumerate(order)}
    out_rows = []
    for i, s in enumerate(stats):
        counts = json.loads(s["signal_counts"])
        total = sum(counts.values())
        shares = {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}
        summary = _summary(n_members[s["cluster_id"]], s, expected[i], p[i], lift[i], shares,
                           top_objects.get(s["cluster_id"], []), params.window_s)
        out_rows.append((run_id, s["cluster_id"], rank[s["cluster_id"]], n_members[s["cluster_id"]],
                         s["n_edges"], int(s["n_coactions"]), float(expected[i]), float(p[i]),
                         float(score[i]), float(lift[i]), bool(flagged[i]), json.dumps(shares), s["first_seen"], s["last_seen"], summary))
    con.executemany("INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", out_rows)
    con.execute(f"""
        INSERT INTO cluster_members
        SELECT ?, m.cluster_id, m.account, count(e.account_a), coalesce(sum(e.weight ORDER BY e.account_a, e.account_b), 0),
               coalesce(max(least(-log10(greatest(e.q_value, 1e-300)), {MAX_SCORE})), 0)
        FROM _members_in m
        LEFT JOIN (
            SELECT e.*, ma.cluster_id FROM _edges_in e
            JOIN _members_in ma ON ma.account = e.account_a
            JOIN _members_in mb ON mb.account = e.account_b AND mb.cluster_id = ma.cluster_id
        ) e ON e.cluster_id = m.cluster_id AND m.account IN (e.account_a, e.account_b)
        GROUP BY m.cluster_id, m.account
        ORDER BY m.cluster_id, m.account
    """, [run_id])
    return len(out_rows)


def _top_objects(con, k: int = 3) -> dict[str, list[tuple[str, str, int]]]:
    """Top ``k`` objects per cluster by the number of member pairs co-acting on them."""
    rows = con.execute(f"""
        WITH per_obj AS (
            SELECT ma.cluster_id, p.signal, p.object, count(*) AS n_pairs
            FROM _pair_obj p
            JOIN _members_in ma ON ma.account = p.account_a
            JOIN _members_in mb ON mb.account = p.account_b AND mb.cluster_id = ma.cluster_id
            GROUP BY ALL
        )
        SELECT cluster_id, signal, object, n_pairs FROM (
            SELECT *, row_number() OVER (PARTITION BY cluster_id ORDER BY n_pairs DESC, signal, object) AS r
            FROM per_obj) WHERE r <= {k}
        ORDER BY cluster_id, r
    """).fetchall()
    out: dict[str, list[tuple[str, str, int]]] = {}
    for cid, sig, obj, n in rows:
        out.setdefault(cid, []).append((sig, obj, n))
    return out


def _summary(n: int, s: dict, expected: float, p: float, lift: float, shares: dict, top: list,
             window_s: float) -> str:
    """One paragraph, machine-written, saying why the cluster was flagged."""
    main = ", ".join(f"{sig} {share:.0%}" for sig, share in list(shares.items())[:3])
    objs = "; ".join(f"{sig} {_short(obj)} ({npairs} pairs)" for sig, obj, npairs in top)
    return (f"{n} accounts made {int(s['n_coactions']):,} co-actions (same object within ±{window_s:g} s) "
            f"between {s['first_seen']:%Y-%m-%d %H:%M} and {s['last_seen']:%Y-%m-%d %H:%M} UTC, "
            f"against {expected:,.1f} expected by chance ({lift:,.0f}x, p = {p:.1e}). Signals: {main}. "
            f"Top shared objects: {objs}.")


def _short(obj: str, n: int = 60) -> str:
    return obj if len(obj) <= n else obj[: n - 1] + "…"


__all__ = ["DEFAULT_SIGNALS", "DetectionParams", "RunResult", "STEPS", "detect", "parse_duration"]
