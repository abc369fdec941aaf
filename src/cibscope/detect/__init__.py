"""Detect coordinated account networks: co-action core, significance, clustering, persisted runs.

``detect(store, params)`` is the whole pipeline; the CLI's ``cibscope detect`` wraps it.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import pyarrow as pa

from ..store.db import Store
from .cluster import leiden_clusters
from .derived import DERIVED_SIGNALS, derived_actions
from .params import DEFAULT_SIGNALS, SIGNALS, DetectionParams, parse_duration
from .significance import MAX_SCORE, benjamini_hochberg, poisson_pvalues, poisson_scores

if TYPE_CHECKING:  # the Ibis core (detect/core.py) is imported when a run starts: Ibis takes ~1 s to import
    import ibis.expr.types as ir

    from .core import Core, Engine

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


class CoreBuilder(Protocol):
    """Builds a run's co-action tables (:class:`~cibscope.detect.core.Core`: ``_acc_map``, ``_obj_map``,
    ``_post_map``, ``_act``, ``_obj``, ``_acc_sig``, ``_pair_obj`` and kappa) on ``engine`` from the
    canonical ``actions`` and the derived-signal rows ``extra`` (or None), calling ``say`` with
    :data:`STEPS` 0-2 as it goes."""

    def __call__(self, engine: Engine, actions: "ir.Table", extra: "ir.Table | None", params: DetectionParams,
                 say: Callable[[str], None]) -> Core: ...


def batch_core(engine: Engine, actions: "ir.Table", extra: "ir.Table | None", params: DetectionParams,
               say: Callable[[str], None], *, between: tuple[dt.datetime, dt.datetime] | None = None) -> Core:
    """The default :class:`CoreBuilder`: every action (or those of the horizon ``between``, naive UTC,
    inclusive), every object."""
    from .core import build_actions, coaction_pairs, object_stats, select_actions

    say(STEPS[0])
    core = build_actions(engine, select_actions(actions, params, extra, between=between), params)
    say(STEPS[1])
    object_stats(core)
    say(STEPS[2])
    coaction_pairs(core)
    return core


def refuse_derived(params: DetectionParams) -> None:
    """Refuse derived signals for an engine other than the embedded one.

    Raises
    ------
    ValueError
        ``params.signals`` holds ``text_near`` or ``fast_repost`` (computed from the ``posts`` table by numpy
        MinHash and DuckDB before the core; docs/scale.md).
    """
    derived = sorted(set(params.signals) & set(DERIVED_SIGNALS))
    if derived:
        raise ValueError(f"signals {derived} are derived in the embedded engine only (numpy MinHash, "
                         f"posts table); run them with the default engine (docs/scale.md)")


def detect(store: Store, params: DetectionParams | None = None, *,
           progress: Callable[[str], None] | None = None, engine: Engine | None = None,
           actions: "ir.Table | None" = None, builder: CoreBuilder = batch_core) -> RunResult:
    """Run coordination detection and persist it in ``store`` as a new run.

    Parameters
    ----------
    store : Store
        Holds ``actions`` (see docs/data-model.md) for the embedded engine; receives the run.
    params : DetectionParams, optional
        Defaults documented in docs/detection.md.
    progress : callable, optional
        Called with the name of each step (:data:`STEPS`) as it starts.
    engine : Engine, optional
        Where the co-action core runs (``detect/core.py``). Default: DuckDB on the store's own
        connection. For Spark see :func:`cibscope.detect.spark.detect_parquet`.
    actions : ibis Table, optional
        The canonical ``actions`` table on ``engine`` (required with a non-default engine).
    builder : CoreBuilder, optional
        Builds the co-action tables (default :func:`batch_core`); ``cibscope watch`` passes an
        incremental one (:mod:`cibscope.watch.incremental`). Significance, clustering and saving
        are the same for every core.

    Returns
    -------
    RunResult
        ``run_id`` keys the rows written to ``runs``, ``edges``, ``edge_evidence``,
        ``clusters`` and ``cluster_members``.

    Raises
    ------
    ValueError
        A derived signal (``text_near``, ``fast_repost``) was asked of a non-embedded engine.

    Notes
    -----
    Time is dominated by the windowed self-join: O(sum over objects of the
    action pairs less than 2W apart), bounded by ``max_object_accounts``; memory
    by the ``_pair_obj`` table (one row per co-acting pair and object). Significance
    (numpy) and Leiden run in-process on the candidate pairs only.
    """
    from .core import Engine, evidence_rows, pair_table

    params = params or DetectionParams()
    con = store.con
    say = progress or (lambda step: None)
    started = time.perf_counter()
    embedded = engine is None
    if not embedded:
        refuse_derived(params)
    try:
        if embedded:
            engine = Engine.duckdb(con)
            where = "TRUE"
            if params.datasets:
                where = "dataset IN (" + ", ".join("'" + d.replace("'", "''") + "'" for d in params.datasets) + ")"
            extra = engine.backend.table("_derived") if derived_actions(con, params, where) else None
            actions = engine.backend.table("actions")
        elif actions is None:
            raise ValueError("a non-default engine needs the actions table")
        else:
            extra = None
        core = builder(engine, actions, extra, params, say)
        n_actions = engine.count(core.act)
        n_accounts = engine.count(core.acc_map)

        say(STEPS[3])
        pairs = pair_table(core)
        n_candidates = pairs.num_rows
        observed = pairs.column("n_coactions").to_numpy()
        p_values = poisson_pvalues(observed, pairs.column("expected").to_numpy())
        q_values = benjamini_hochberg(p_values)
        keep = q_values <= params.alpha if params.significance else np.ones(n_candidates, dtype=bool)
        edges = _edge_table(pairs, params.signals, p_values, q_values).filter(pa.array(keep))

        say(STEPS[4])
        accs = np.unique(np.concatenate([edges.column("acc_a").to_numpy(), edges.column("acc_b").to_numpy()]))
        if not embedded:  # bring the evidence rows of the edges' accounts into the store
            for name, table in evidence_rows(core, pa.array(accs)).items():
                _temp_from_arrow(con, name, table)
        acc_map = con.sql("SELECT acc, account_key FROM _acc_map ORDER BY acc").to_arrow_table()
        keys = np.full(int(acc_map.column("acc").to_numpy().max(initial=0)) + 1, "", dtype=object)
        keys[acc_map.column("acc").to_numpy()] = acc_map.column("account_key").to_numpy(zero_copy_only=False)
        clusters = leiden_clusters(edges.column("acc_a").to_numpy(), edges.column("acc_b").to_numpy(),
                                   edges.column("weight").to_numpy(), keys=keys, resolution=params.resolution,
                                   seed=params.seed, min_size=params.min_cluster_size)

        say(STEPS[5])
        _temp_from_arrow(con, "_kappa", pa.table({"signal": pa.array(list(core.kappa), pa.string()),
                                                  "kappa": pa.array(list(core.kappa.values()), pa.float64())}))
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
        if engine is not None:
            engine.release()
        for t in ("_raw", "_act", "_acc_map", "_obj_map", "_post_map", "_obj", "_acc_sig", "_pair_obj", "_pair_obj_ev",
                  "_kappa", "_edges_in", "_members_in", "_pair_in", "_edges_inside", "_derived"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return RunResult(run_id, n_actions, n_accounts, n_candidates, edges.num_rows, n_clusters,
                     time.perf_counter() - started)


def _edge_table(pairs: pa.Table, signals: list[str], p_values: np.ndarray, q_values: np.ndarray) -> pa.Table:
    """The candidate pairs in the shape of ``edges`` (integer account ids, epoch times converted)."""
    from .core import WEIGHT_SCALE

    run_signals = [s for s in SIGNALS if s in signals]
    mask = np.zeros(pairs.num_rows, dtype=np.int64)
    for i, s in enumerate(run_signals):
        mask |= pairs.column(f"has_{s}").to_numpy(zero_copy_only=False).astype(np.int64) << i
    masks, inverse = np.unique(mask, return_inverse=True)
    lists = pa.array([[s for i, s in enumerate(run_signals) if (m >> i) & 1] for m in masks.tolist()],
                     pa.list_(pa.string()))

    def ts(col: str) -> pa.Array:
        us = np.round(pairs.column(col).to_numpy() * 1e6).astype(np.int64)
        return pa.array(us, pa.timestamp("us"))

    return pa.table({
        "acc_a": pairs.column("acc_a"), "acc_b": pairs.column("acc_b"),
        "n_coactions": pairs.column("n_coactions"), "n_post_pairs": pairs.column("n_post_pairs"),
        "weight": pa.array(pairs.column("weight_fixed").to_numpy() / WEIGHT_SCALE),
        "signals": lists.take(pa.array(inverse.astype(np.int64))),
        "a_first": pairs.column("a_first"), "b_first": pairs.column("b_first"),
        "median_gap_s": pairs.column("median_gap_s"), "first_seen": ts("first_t"), "last_seen": ts("last_t"),
        "expected": pairs.column("expected"), "p_value": pa.array(p_values), "q_value": pa.array(q_values),
    })


def _temp_from_arrow(con, name: str, table: pa.Table) -> None:
    view = f"{name}_arrow"
    con.register(view, table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _save_edges(con, run_id: int, edges: pa.Table) -> None:
    from .core import WEIGHT_SCALE

    _temp_from_arrow(con, "_edges_in", edges)
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
    from .core import WEIGHT_SCALE

    if not clusters:
        return 0
    cids = np.concatenate([np.full(len(m), cid, dtype=object) for cid, m in clusters.items()])
    accs = np.concatenate(list(clusters.values()))
    _temp_from_arrow(con, "_members_in", pa.table({"cluster_id": pa.array(cids, pa.string()), "acc": accs}))
    _inside_clusters(con, "_pair_obj", "_pair_in")
    _inside_clusters(con, "_edges_in", "_edges_inside")
    # Internal co-actions (every co-acting member pair, not only edges) and the null expectation
    # over all member pairs: sum_s kappa_s ((sum k)^2 - sum k^2) / 2.
    stats = con.sql("""
        WITH internal AS (
            SELECT cluster_id, signal, count(*) AS n FROM _pair_in GROUP BY cluster_id, signal
        ), exp AS (
            SELECT s.cluster_id, sum(kp.kappa * (s.sk * s.sk - s.sk2) / 2.0 ORDER BY s.signal) AS expected
            FROM (SELECT m.cluster_id, k.signal, sum(k.k) AS sk, sum(k.k * k.k) AS sk2
                  FROM _members_in m JOIN _acc_sig k ON k.acc = m.acc
                  GROUP BY m.cluster_id, k.signal) s
            JOIN _kappa kp USING (signal)
            GROUP BY s.cluster_id
        ), edge_stats AS (
            SELECT cluster_id, count(*) AS n_edges, min(first_seen) AS first_seen, max(last_seen) AS last_seen
            FROM _edges_inside GROUP BY cluster_id
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
            SELECT cluster_id, acc_a, acc_b, CAST(round(weight * {WEIGHT_SCALE}) AS BIGINT) AS weight_fixed,
                   least(-log10(greatest(q_value, 1e-300)), {MAX_SCORE}) AS s
            FROM _edges_inside
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


def _inside_clusters(con, source: str, out: str) -> None:
    """Create ``out``: the rows of ``source`` (an ``acc_a, acc_b`` table) whose two accounts are in the
    same cluster of ``_members_in``, with that ``cluster_id``.

    Joined one end at a time through a materialised step: given both member joins at once, DuckDB
    may pair ``_members_in`` with itself on ``cluster_id`` first (all member pairs of every cluster:
    27M rows and seconds for one 5,000-account cluster).
    """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH one_end AS MATERIALIZED (
            SELECT s.*, m.cluster_id FROM {source} s JOIN _members_in m ON m.acc = s.acc_a)
        SELECT o.* FROM one_end o JOIN _members_in m ON m.acc = o.acc_b AND m.cluster_id = o.cluster_id
    """)


def _top_objects(con, k: int = 3) -> dict[str, list[tuple[str, str, int]]]:
    """Top ``k`` objects per cluster by the number of member pairs co-acting on them."""
    rows = con.execute(f"""
        WITH per_obj AS (SELECT cluster_id, oid, count(*) AS n_pairs FROM _pair_in GROUP BY ALL)
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


def __getattr__(name: str):
    """``Engine`` and ``Core`` of :mod:`.core`, imported on first use (PEP 562): Ibis is slow to import."""
    if name in ("Core", "Engine"):
        from . import core
        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CoreBuilder", "DEFAULT_SIGNALS", "SIGNALS", "DetectionParams", "Engine", "RunResult", "STEPS",
           "batch_core", "detect", "parse_duration"]
