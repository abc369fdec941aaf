"""Detect coordinated account networks: co-action core, significance, clustering, persisted runs.

``detect(store, params)`` is the whole pipeline; the CLI's ``cibscope detect`` wraps it.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import pyarrow as pa

from ..store.db import Store
from .cluster import leiden_clusters
from .coaction import WEIGHT_SCALE, build_actions, coaction_pairs, object_stats
from .params import DEFAULT_SIGNALS, SIGNALS, DetectionParams, parse_duration
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


class Core(Protocol):
    """The co-action core of a run: builds ``_act``, the key maps, ``_obj``, ``_acc_sig`` and ``_pair_obj``
    (see :mod:`cibscope.detect.coaction`) on ``con`` and returns the number of actions used."""

    def __call__(self, con, params: DetectionParams, say: Callable[[str], None]) -> int: ...


def batch_core(con, params: DetectionParams, say: Callable[[str], None], *,
               between: tuple[dt.datetime, dt.datetime] | None = None) -> int:
    """The default :class:`Core`: every action of the store (or of the horizon ``between``, naive UTC,
    inclusive), all objects."""
    say(STEPS[0])
    n_actions = build_actions(con, params, between=between)
    say(STEPS[1])
    object_stats(con, params)
    say(STEPS[2])
    coaction_pairs(con, params)
    return n_actions


def detect(store: Store, params: DetectionParams | None = None, *,
           progress: Callable[[str], None] | None = None, core: Core = batch_core) -> RunResult:
    """Run coordination detection over the store and persist it as a new run.

    Parameters
    ----------
    store : Store
        Holds ``actions`` (see docs/data-model.md).
    params : DetectionParams, optional
        Defaults documented in docs/detection.md.
    progress : callable, optional
        Called with the name of each step (:data:`STEPS`) as it starts.
    core : Core, optional
        Builds the co-action tables (default :func:`batch_core`); ``cibscope watch`` passes an
        incremental one (:mod:`cibscope.watch.incremental`). Significance, clustering and saving
        are the same for every core.

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

    n_actions = core(con, params, say)
    n_accounts = con.execute("SELECT count(*) FROM _acc_map").fetchall()[0][0]
    con.execute(kappa_sql())

    say(STEPS[3])
    signal_list = "[" + ", ".join(f"'{x}'" for x in SIGNALS) + "]"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pairs AS
        SELECT acc_a, acc_b, n_coactions, n_post_pairs, weight_fixed / {WEIGHT_SCALE}.0 AS weight,
               list_filter({signal_list}, lambda x, i: (signal_mask >> (i - 1)) & 1 = 1) AS signals,
               a_first, b_first, median_gap_s, first_seen, last_seen
        FROM (
            SELECT p.acc_a, p.acc_b, count(*) AS n_coactions, sum(p.n_post_pairs) AS n_post_pairs,
                   sum(o.w_fixed) AS weight_fixed,
                   bit_or(1 << (list_position({signal_list}, p.signal) - 1)) AS signal_mask,
                   count(*) FILTER (WHERE p.gap_s > 0) AS a_first, count(*) FILTER (WHERE p.gap_s < 0) AS b_first,
                   median(abs(p.gap_s)) AS median_gap_s,
                   to_timestamp(min(least(p.t_a, p.t_b)))::TIMESTAMP AS first_seen,
                   to_timestamp(max(greatest(p.t_a, p.t_b)))::TIMESTAMP AS last_seen
            FROM _pair_obj p JOIN _obj o USING (oid)
            GROUP BY p.acc_a, p.acc_b
            HAVING count(*) >= {int(params.min_coactions)}
        )
    """)
    pairs = con.sql(f"""
        SELECT p.*, e.expected FROM _pairs p JOIN ({expected_pairs_sql('_pairs')}) e USING (acc_a, acc_b)
        ORDER BY acc_a, acc_b
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
    keys = np.array([""] + [r[0] for r in con.execute("SELECT account_key FROM _acc_map ORDER BY acc").fetchall()],
                    dtype=object)
    clusters = leiden_clusters(edges.column("acc_a").to_numpy(), edges.column("acc_b").to_numpy(),
                               edges.column("weight").to_numpy(), keys=keys, resolution=params.resolution,
                               seed=params.seed, min_size=params.min_cluster_size)

    say(STEPS[5])
    run_id = con.execute("SELECT nextval('run_seq')").fetchall()[0][0]
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
    finally:
        for t in ("_act", "_acc_map", "_obj_map", "_post_map", "_obj", "_acc_sig", "_pair_obj", "_pairs",
                  "_kappa", "_edges_in", "_members_in"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return RunResult(run_id, n_actions, n_accounts, n_candidates, edges.num_rows, n_clusters,
                     time.perf_counter() - started)


def _save_edges(con, run_id: int, edges: pa.Table) -> None:
    con.register("_edges_arrow", edges)
    con.execute("CREATE OR REPLACE TEMP TABLE _edges_in AS SELECT * FROM _edges_arrow")
    con.unregister("_edges_arrow")
    con.execute("""
        INSERT INTO edges
        SELECT ?, ma.account_key, mb.account_key, n_coactions, n_post_pairs, weight, expected, p_value, q_value,
               signals, a_first, b_first, median_gap_s, first_seen, last_seen
        FROM _edges_in e JOIN _acc_map ma ON ma.acc = e.acc_a JOIN _acc_map mb ON mb.acc = e.acc_b
        ORDER BY e.acc_a, e.acc_b
    """, [run_id])
    con.execute(f"""
        INSERT INTO edge_evidence
        SELECT ?, ma.account_key, mb.account_key, p.signal, om.object, p.n_post_pairs, pa.post_key, pb.post_key,
               to_timestamp(p.t_a)::TIMESTAMP, to_timestamp(p.t_b)::TIMESTAMP, p.gap_s,
               o.w_fixed / {WEIGHT_SCALE}.0
        FROM _pair_obj p SEMI JOIN _edges_in e ON e.acc_a = p.acc_a AND e.acc_b = p.acc_b
        JOIN _obj o USING (oid) JOIN _obj_map om USING (oid)
        JOIN _acc_map ma ON ma.acc = p.acc_a JOIN _acc_map mb ON mb.acc = p.acc_b
        JOIN _post_map pa ON pa.pid = p.pid_a JOIN _post_map pb ON pb.pid = p.pid_b
        ORDER BY p.acc_a, p.acc_b, p.oid
    """, [run_id])


def _save_clusters(con, run_id: int, clusters: dict[str, np.ndarray], params: DetectionParams) -> int:
    if not clusters:
        return 0
    cids = np.concatenate([np.full(len(m), cid, dtype=object) for cid, m in clusters.items()])
    accs = np.concatenate(list(clusters.values()))
    con.register("_members_arrow", pa.table({"cluster_id": pa.array(cids, pa.string()), "acc": accs}))
    con.execute("CREATE OR REPLACE TEMP TABLE _members_in AS SELECT * FROM _members_arrow")
    con.unregister("_members_arrow")
    # Internal co-actions (every co-acting member pair, not only edges) and the null expectation
    # over all member pairs: sum_s kappa_s ((sum k)^2 - sum k^2) / 2.
    stats = con.sql("""
        WITH internal AS (
            SELECT ma.cluster_id, p.signal, count(*) AS n
            FROM _pair_obj p
            JOIN _members_in ma ON ma.acc = p.acc_a
            JOIN _members_in mb ON mb.acc = p.acc_b AND mb.cluster_id = ma.cluster_id
            GROUP BY ma.cluster_id, p.signal
        ), exp AS (
            SELECT s.cluster_id, sum(kp.kappa * (s.sk * s.sk - s.sk2) / 2.0 ORDER BY s.signal) AS expected
            FROM (SELECT m.cluster_id, k.signal, sum(k.k) AS sk, sum(k.k * k.k) AS sk2
                  FROM _members_in m JOIN _acc_sig k ON k.acc = m.acc
                  GROUP BY m.cluster_id, k.signal) s
            JOIN _kappa kp USING (signal)
            GROUP BY s.cluster_id
        ), edge_stats AS (
            SELECT ma.cluster_id, count(*) AS n_edges, min(e.first_seen) AS first_seen,
                   max(e.last_seen) AS last_seen
            FROM _edges_in e
            JOIN _members_in ma ON ma.acc = e.acc_a
            JOIN _members_in mb ON mb.acc = e.acc_b AND mb.cluster_id = ma.cluster_id
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
        shares = {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
        summary = _summary(n_members[s["cluster_id"]], s, expected[i], p[i], lift[i], shares,
                           top_objects.get(s["cluster_id"], []), params.window_s)
        out_rows.append((run_id, s["cluster_id"], rank[s["cluster_id"]], n_members[s["cluster_id"]],
                         s["n_edges"], int(s["n_coactions"]), float(expected[i]), float(p[i]),
                         float(score[i]), float(lift[i]), bool(flagged[i]), json.dumps(shares),
                         s["first_seen"], s["last_seen"], summary))
    con.executemany("INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", out_rows)
    con.execute(f"""
        INSERT INTO cluster_members
        WITH inside AS (
            SELECT ma.cluster_id, e.acc_a, e.acc_b, e.weight_fixed,
                   least(-log10(greatest(e.q_value, 1e-300)), {MAX_SCORE}) AS s
            FROM (SELECT *, CAST(round(weight * {WEIGHT_SCALE}) AS BIGINT) AS weight_fixed FROM _edges_in) e
            JOIN _members_in ma ON ma.acc = e.acc_a
            JOIN _members_in mb ON mb.acc = e.acc_b AND mb.cluster_id = ma.cluster_id
        ), ends AS (
            SELECT cluster_id, acc_a AS acc, weight_fixed, s FROM inside
            UNION ALL SELECT cluster_id, acc_b, weight_fixed, s FROM inside
        )
        SELECT ?, m.cluster_id, am.account_key, count(e.acc), coalesce(sum(e.weight_fixed), 0) / {WEIGHT_SCALE}.0,
               coalesce(max(e.s), 0)
        FROM _members_in m JOIN _acc_map am USING (acc)
        LEFT JOIN ends e ON e.cluster_id = m.cluster_id AND e.acc = m.acc
        GROUP BY m.cluster_id, am.account_key
        ORDER BY m.cluster_id, am.account_key
    """, [run_id])
    return len(out_rows)


def _top_objects(con, k: int = 3) -> dict[str, list[tuple[str, str, int]]]:
    """Top ``k`` objects per cluster by the number of member pairs co-acting on them."""
    rows = con.execute(f"""
        WITH per_obj AS (
            SELECT ma.cluster_id, p.oid, count(*) AS n_pairs
            FROM _pair_obj p
            JOIN _members_in ma ON ma.acc = p.acc_a
            JOIN _members_in mb ON mb.acc = p.acc_b AND mb.cluster_id = ma.cluster_id
            GROUP BY ALL
        )
        SELECT t.cluster_id, om.signal, om.object, t.n_pairs FROM (
            SELECT *, row_number() OVER (PARTITION BY cluster_id ORDER BY n_pairs DESC, oid) AS r
            FROM per_obj) t JOIN _obj_map om USING (oid)
        WHERE t.r <= {k}
        ORDER BY t.cluster_id, t.r
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


__all__ = ["DEFAULT_SIGNALS", "SIGNALS", "Core", "DetectionParams", "RunResult", "STEPS", "batch_core", "detect",
           "parse_duration"]
