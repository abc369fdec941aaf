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

from ..store.db import Store, check_datasets
from .cluster import leiden_clusters
from .derived import DERIVED_SIGNALS, derived_actions
from .params import DEFAULT_SIGNALS, SIGNALS, DetectionParams, parse_duration
from .significance import EXPECT_SCALE, MAX_SCORE, benjamini_hochberg, poisson_pvalues, poisson_scores

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
    ``_post_map``, ``_act``, ``_obj``, ``_acc_day`` and ``_pair_obj``) on ``engine`` from the
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
    coaction_pairs(core, keep=False)  # materialised with the scale flags (core.scale_rows)
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
        A derived signal (``text_near``, ``fast_repost``) was asked of a non-embedded engine, or
        ``params.datasets`` names a dataset the store lacks or datasets holding no action
        (:func:`cibscope.store.db.check_datasets`); nothing is saved.

    Notes
    -----
    Time is dominated by the windowed self-join: O(sum over objects of the
    action pairs less than 2W apart), bounded by ``max_object_accounts``; memory
    by the ``_pair_obj`` table (one row per co-acting pair and object). Significance
    (numpy) and Leiden run in-process on the candidate pairs only.
    """
    from .core import Engine, edge_details, evidence_rows, hourly_background, object_authors, pair_table

    params = params or DetectionParams()
    con = store.con
    say = progress or (lambda step: None)
    started = time.perf_counter()
    embedded = engine is None
    if not embedded:
        refuse_derived(params)
    try:
        if embedded:
            check_datasets(con, params.datasets)  # an unknown or empty dataset would save an empty run
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
        chosen = pair_tests(pairs, params)
        edges = _edge_table(pairs, chosen, params, edge_details(core, chosen.select(["acc_a", "acc_b", "scale"])))

        say(STEPS[4])
        accs = np.unique(np.concatenate([edges.column("acc_a").to_numpy(), edges.column("acc_b").to_numpy()]))
        if not embedded:  # bring the evidence rows of the edges' accounts into the store
            for name, table in evidence_rows(core, pa.array(accs)).items():
                _temp_from_arrow(con, name, table)
            hourly = lambda: None  # noqa: E731  (evidence_rows brought _acc_hour and _strata_h)
        else:
            engine.keep("_obj_author", object_authors(core))
            hourly = lambda: hourly_background(core)  # noqa: E731  (only if rule 4's waiver needs it)
        acc_map = con.sql("SELECT acc, account_key FROM _acc_map ORDER BY acc").to_arrow_table()
        keys = np.full(int(acc_map.column("acc").to_numpy().max(initial=0)) + 1, "", dtype=object)
        keys[acc_map.column("acc").to_numpy()] = acc_map.column("account_key").to_numpy(zero_copy_only=False)
        clusters = leiden_clusters(edges.column("acc_a").to_numpy(), edges.column("acc_b").to_numpy(),
                                   edges.column("weight").to_numpy(), keys=keys, resolution=params.resolution,
                                   seed=params.seed, min_size=params.min_cluster_size)

        say(STEPS[5])
        run_id = con.execute("SELECT nextval('run_seq')").fetchall()[0][0]
        con.execute("BEGIN TRANSACTION")
        try:
            _save_edges(con, run_id, edges)
            n_clusters = _save_clusters(con, run_id, clusters, params, hourly)
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
        for t in ("_raw", "_act", "_acc_map", "_obj_map", "_post_map", "_obj", "_acc_day", "_pair_obj", "_pair_rows", "_pair_events", "_pair_rows_ev",
                  "_strata", "_pairs", "_edge_scale", "_edges_in", "_members_in", "_pair_in", "_edges_inside",
                  "_derived", "_obj_author", "_ev_acc", "_acc_hour", "_strata_h"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return RunResult(run_id, n_actions, n_accounts, n_candidates, edges.num_rows, n_clusters,
                     time.perf_counter() - started)


def pair_tests(pairs: pa.Table, params: DetectionParams) -> pa.Table:
    """Test every candidate pair at every scale and keep the edges, with the scale each is judged at.

    ``pairs`` is :func:`~cibscope.detect.core.pair_table`'s output. A pair is tested at scale ``x``
    when it has ``min_coactions`` co-actions there: ``C ~ Poisson(E)`` gives the p-value, and one
    Benjamini-Hochberg step over every (pair, scale) test controls the false discovery rate across
    scales. An edge is a pair with ``q <= alpha`` at some scale (with ``significance`` off: every
    candidate); its scale is the one with the smallest q (ties: the faster scale).

    Returns
    -------
    pyarrow.Table
        The edges' rows of ``pairs`` (same order) plus ``scale`` (int32 scale number), ``p_value`` and
        ``q_value`` at that scale.
    """
    n_sc = len(params.windows)
    # co-action events (post pairs); with significance off, distinct objects as window-count tools count
    unit = "ev" if params.significance else "n"
    observed = np.stack([pairs.column(f"{unit}_{x}").to_numpy() for x in range(n_sc)], axis=1).astype(float)
    expected = np.stack([pairs.column(f"exp_{x}").to_numpy() for x in range(n_sc)], axis=1)
    tested = observed >= params.min_coactions
    p = np.ones_like(observed)
    q = np.ones_like(observed)
    if tested.any():
        p[tested] = poisson_pvalues(observed[tested], expected[tested])
        q[tested] = benjamini_hochberg(p[tested])
    if params.significance:
        keep = (tested & (q <= params.alpha)).any(axis=1)
        scale = np.where(tested, q, np.inf).argmin(axis=1)
    else:
        keep = tested.any(axis=1)
        scale = tested.argmax(axis=1)
    rows = np.flatnonzero(keep)
    out = pairs.take(pa.array(rows, pa.int64()))
    sc = scale[rows]
    return (out.append_column("scale", pa.array(sc, pa.int32()))
            .append_column("p_value", pa.array(p[rows, sc]))
            .append_column("q_value", pa.array(q[rows, sc])))


def _edge_table(pairs: pa.Table, chosen: pa.Table, params: DetectionParams, details: pa.Table) -> pa.Table:
    """The edges in the shape of ``edges`` (integer account ids, epoch times converted), each described at
    its own scale; ``details`` is :func:`~cibscope.detect.core.edge_details` of ``chosen``."""
    from .core import WEIGHT_SCALE

    run_signals = list(params.signals)
    sc = chosen.column("scale").to_numpy()
    idx = np.arange(chosen.num_rows)

    def at_scale(prefix: str) -> np.ndarray:
        cols = np.stack([chosen.column(f"{prefix}_{x}").to_numpy() for x in range(len(params.windows))], axis=1)
        return cols[idx, sc] if chosen.num_rows else np.zeros(0, dtype=cols.dtype)

    mask = at_scale("mask").astype(np.int64)
    masks, inverse = np.unique(mask, return_inverse=True)
    lists = pa.array([[s for i, s in enumerate(run_signals) if (m >> i) & 1] for m in masks.tolist()],
                     pa.list_(pa.string()))

    def ts(col: str) -> pa.Array:
        us = np.round(details.column(col).to_numpy() * 1e6).astype(np.int64)
        return pa.array(us, pa.timestamp("us"))

    windows = np.array(params.windows, dtype=float)
    caps = np.array([params.object_cap(x) for x in range(len(params.windows))], dtype=np.int64)
    return pa.table({
        "acc_a": chosen.column("acc_a"), "acc_b": chosen.column("acc_b"),
        "n_coactions": pa.array(at_scale("ev" if params.significance else "n").astype(np.int64)), "n_post_pairs": details.column("n_post_pairs"),
        "weight": pa.array(at_scale("wfix") / WEIGHT_SCALE),
        "signals": lists.take(pa.array(inverse.astype(np.int64))),
        "a_first": details.column("a_first"), "b_first": details.column("b_first"),
        "median_gap_s": details.column("median_gap_s"), "first_seen": ts("first_t"), "last_seen": ts("last_t"),
        "expected": pa.array(at_scale("exp").astype(float)), "p_value": chosen.column("p_value"),
        "q_value": chosen.column("q_value"), "scale_s": pa.array(windows[sc] if len(sc) else np.zeros(0)),
        "scale_cap": pa.array(caps[sc] if len(sc) else np.zeros(0, dtype=np.int64)),
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
               signals, a_first, b_first, median_gap_s, first_seen, last_seen, scale_s
        FROM _edges_in e JOIN _acc_map ma ON ma.acc = e.acc_a JOIN _acc_map mb ON mb.acc = e.acc_b
        ORDER BY e.acc_a, e.acc_b
    """, [run_id])
    con.execute(f"""
        INSERT INTO edge_evidence
        SELECT ?, ma.account_key, mb.account_key, p.signal, om.object, p.n_post_pairs, pa.post_key, pb.post_key,
               to_timestamp(p.t_a)::TIMESTAMP, to_timestamp(p.t_b)::TIMESTAMP, p.gap_s,
               p.w_fixed / {WEIGHT_SCALE}.0
        FROM _pair_rows p JOIN _edges_in e ON e.acc_a = p.acc_a AND e.acc_b = p.acc_b
        JOIN _obj_map om USING (oid)
        JOIN _acc_map ma ON ma.acc = p.acc_a JOIN _acc_map mb ON mb.acc = p.acc_b
        JOIN _post_map pa ON pa.pid = p.pid_a JOIN _post_map pb ON pb.pid = p.pid_b
        WHERE abs(p.gap_s) <= e.scale_s AND p.k_o <= e.scale_cap
    """, [run_id])  # unordered: every reader orders what it shows (sorting 755k rows took 0.5 s at 1M posts)


def cluster_tests(con, params: DetectionParams, hourly: Callable[[], object] = lambda: None) -> list[dict]:
    """Test every cluster of ``_members_in`` at every scale against the background of ``_strata``.

    At scale ``x`` a cluster's observed count ``O`` is its internal co-actions (rows of ``_pair_in``
    that are co-actions at that scale, every member pair, edge or not) and its expectation
    ``E = sum_(signal, day) kappa_x ((sum_i k_i)^2 - sum_i k_i^2) / 2`` over the members' degrees in
    ``_acc_day``: every member pair, co-acting or not, at the background rate of uncoordinated pairs.
    ``O ~ Poisson(E)`` gives p; one Benjamini-Hochberg step over every (cluster, scale) test. A cluster is
    flagged at a scale when ``q <= alpha``, ``O / E >= min_lift``, its co-action events (distinct post
    pairs: a repost and the hashtag it carries are one event) number at least ``min_coactions x
    members`` (evidence of a group, not of a few pairs: five busy accounts that reposted the same viral
    posts within a minute on a dozen occasions are not an operation for that alone) and its :func:`cluster_overlap` is at least ``min_overlap``.

    Returns
    -------
    list of dict
        One per cluster (ordered by cluster_id): cluster_id, scale (number), n_coactions, expected,
        p_value, score, lift, flagged, signal_counts ({signal: co-actions at that scale}).
    """
    n_sc = len(params.windows)
    # _pair_in holds _pair_rows' flags: at_<x> (a co-action at scale x) and ev_<x> (one row per co-action
    # event, a distinct post pair: a repost and the hashtag it carries are one event)
    events = {r[0]: np.array(r[1:], dtype=float) for r in con.execute(f"""
        SELECT cluster_id, {", ".join(f"sum(ev_{x})" for x in range(n_sc))}
        FROM _pair_in GROUP BY cluster_id""").fetchall()}
    observed = con.sql(f"""
        SELECT cluster_id, signal, {", ".join(f"count(*) FILTER (WHERE at_{x}) AS o_{x}" for x in range(n_sc))}
        FROM _pair_in GROUP BY ALL ORDER BY cluster_id, signal""").to_arrow_table().to_pylist()
    exp = _cluster_expectation(con, n_sc, "_acc_day", "_strata", "day")
    per: dict[str, dict] = {}
    for r in observed:
        c = per.setdefault(r["cluster_id"], {"o": np.zeros(n_sc), "signals": [{} for _ in range(n_sc)]})
        for x in range(n_sc):
            c["o"][x] += r[f"o_{x}"]
            if r[f"o_{x}"]:
                c["signals"][x][r["signal"]] = int(r[f"o_{x}"])
    ids = sorted(per)
    if not ids:
        return []
    # O counts co-action events (one act that carries a link and two hashtags is one), as the
    # background of _strata does; the signal counts above stay per (signal, object)
    n_events = np.stack([events[c] for c in ids])
    o = n_events if params.significance else np.stack([per[c]["o"] for c in ids])
    e = np.stack([exp.get(c, np.zeros(n_sc)) for c in ids])
    tested = o > 0
    p = np.ones_like(o)
    score = np.zeros_like(o)
    q = np.ones_like(o)
    p[tested] = poisson_pvalues(o[tested], e[tested])
    score[tested] = poisson_scores(o[tested], e[tested])
    q[tested] = benjamini_hochberg(p[tested])
    lift = o / np.maximum(e, 1e-12)
    overlap = cluster_overlap(con)
    ov = np.array([overlap.get(c, 0.0) for c in ids])
    size = dict(con.execute("SELECT cluster_id, count(*) FROM _members_in GROUP BY cluster_id").fetchall())
    n_members = np.array([size[c] for c in ids], dtype=float)[:, None]
    # evidence of a group, not of a few pairs: min_coactions co-action events per member at the scale
    enough = n_events >= params.min_coactions * n_members
    sources = cluster_sources(con, n_sc)
    share = np.stack([sources.get(c, {}).get("share", np.ones(n_sc)) for c in ids])
    n_src = np.stack([sources.get(c, {}).get("n", np.zeros(n_sc)) for c in ids])
    rules_1_3 = tested & (q <= params.alpha) & (lift >= params.min_lift) & enough
    # rule 4: the overlap tells feed mirrors from an operation, unless no source explains the co-actions and
    # they stand out from the background of their own hours too (not only of their days)
    overlap_ok = (ov >= params.min_overlap)[:, None]
    diverse = (share < params.max_source_share) & (n_src >= params.min_sources_per_member * n_members)
    hour_lift = np.full_like(o, np.nan)
    waiver = rules_1_3 & diverse & ~overlap_ok
    if params.significance and waiver.any():
        hourly()
        e_hour = _cluster_expectation(con, n_sc, "_acc_hour", "_strata_h", "hour")
        for i in np.flatnonzero(waiver.any(axis=1)):
            hour_lift[i] = n_events[i] / np.maximum(e_hour.get(ids[i], np.zeros(n_sc)), 1e-12)
        waiver &= hour_lift >= params.min_lift
    flag = rules_1_3 & (overlap_ok | waiver) if params.significance else tested
    out = []
    for i, cid in enumerate(ids):
        # the scale it is judged at: the best-scoring flagged scale, else the best-scoring scale
        candidates = np.flatnonzero(flag[i]) if flag[i].any() else np.arange(n_sc)
        x = int(candidates[np.lexsort((candidates, -score[i, candidates]))[0]])
        out.append({"cluster_id": cid, "scale": x, "n_coactions": int(o[i, x]), "expected": float(e[i, x]),
                    "p_value": float(p[i, x]), "score": float(score[i, x]), "lift": float(lift[i, x]),
                    "flagged": bool(flag[i].any()), "signal_counts": per[cid]["signals"][x],
                    "overlap": float(ov[i]), "source_share": float(share[i, x]), "n_sources": int(n_src[i, x]),
                    "top_source": sources.get(cid, {}).get("top", [None] * n_sc)[x],
                    "hour_lift": None if np.isnan(hour_lift[i, x]) else float(hour_lift[i, x])})
    return out


def _cluster_expectation(con, n_sc: int, degrees: str, strata: str, key: str) -> dict[str, np.ndarray]:
    """Per cluster of ``_members_in``: ``E = sum over (signal, key) of kappa_x ((sum_i k_i)^2 - sum_i k_i^2) / 2``
    over its members' degrees in ``degrees`` (acc, signal, ``key``, k) and the rates of ``strata``
    (``_strata`` per day, ``_strata_h`` per hour), summed in fixed point; an array of ``n_sc`` scales each."""
    rows = con.sql(f"""
        WITH deg AS (
            SELECT m.cluster_id, k.signal, k.{key}, sum(k.k) AS sk, sum(k.k * k.k) AS sk2
            FROM _members_in m JOIN {degrees} k ON k.acc = m.acc GROUP BY ALL)
        SELECT d.cluster_id, {", ".join(
            f"sum(CAST(round(s.kappa_{x} * (d.sk * d.sk - d.sk2) / 2.0 * {EXPECT_SCALE}) AS HUGEINT))"
            f"::DOUBLE / {EXPECT_SCALE}.0 AS e_{x}" for x in range(n_sc))}
        FROM deg d JOIN {strata} s USING (signal, {key}) GROUP BY d.cluster_id ORDER BY d.cluster_id""").fetchall()
    return {r[0]: np.array(r[1:], dtype=float) for r in rows}


def cluster_sources(con, n_sc: int) -> dict[str, dict]:
    """Per cluster of ``_pair_in`` and scale number ``x``: where its internal co-actions come from.

    The *source* of a co-action row is the host of a ``link`` (or ``domain``) object without ``www.``
    (a shortener's link is its own source: ``t.co`` is no publisher), the author of the post an
    :data:`~cibscope.detect.core.AUTHORED_SIGNALS` object names (``_obj_author``; the object itself when
    the run lacks that post), else the object (a hashtag, a text, an image). Returns
    ``{cluster_id: {"share": array (n_sc,), "n": array (n_sc,), "top": list of str or None}}``: the top
    source's share of the rows that are co-actions at ``x``, the number of distinct sources among them
    and the top source (ties: the greater name). A cluster without rows at ``x`` has share 1 and 0 sources.

    Why: accounts that each react to one publisher, one account, one trend or one event co-act on
    that source's objects (feed mirrors, fans, a viral post); members of an operation that hijacks
    many conversations co-act across many unrelated ones (docs/detection.md, rule 4).
    """
    from ..store.normalize import SHORTENER_HOSTS

    shorteners = ", ".join(f"'{h}'" for h in SHORTENER_HOSTS)
    host = "regexp_replace(split_part(om.object, '/', 1), '^www[.]', '')"
    counts = ", ".join(f"count(*) FILTER (WHERE at_{x}) AS n_{x}" for x in range(n_sc))
    sums = ", ".join(f"sum(n_{x}) AS n_{x}" for x in range(n_sc))
    per_scale = ", ".join(f"max(n_{x}), sum(n_{x}), count(*) FILTER (WHERE n_{x} > 0), "
                          f"max(struct_pack(n := n_{x}, s := source)).s" for x in range(n_sc))
    # counted per (cluster, object) first: the source of each distinct object is then named once
    rows = con.execute(f"""
        WITH per_obj AS (SELECT cluster_id, oid, {counts} FROM _pair_in GROUP BY cluster_id, oid),
        src AS (
            SELECT o.oid, CASE
                WHEN om.signal IN ('link', 'domain') AND {host} NOT IN ({shorteners}) THEN {host}
                WHEN a.author IS NOT NULL THEN 'account ' || a.author
                ELSE om.signal || ' ' || om.object END AS source
            FROM (SELECT DISTINCT oid FROM per_obj) o JOIN _obj_map om USING (oid)
            LEFT JOIN _obj_author a USING (oid)),
        per AS (SELECT cluster_id, source, {sums} FROM per_obj JOIN src USING (oid) GROUP BY cluster_id, source)
        SELECT cluster_id, {per_scale} FROM per GROUP BY cluster_id""").fetchall()
    out = {}
    for r in rows:
        share, n, top = np.ones(n_sc), np.zeros(n_sc), [None] * n_sc
        for x in range(n_sc):
            mx, total, n_x, name = r[1 + 4 * x: 5 + 4 * x]
            if total:
                share[x], n[x], top[x] = mx / total, n_x, name
        out[r[0]] = {"share": share, "n": n, "top": top}
    return out


def cluster_overlap(con) -> dict[str, float]:
    """Per cluster of ``_edges_inside``: the median over its edges of ``C_ij / min(k_i, k_j)``.

    ``C_ij`` is the edge's co-actions at its scale and ``k`` the objects an account acted on (per UTC
    day, from ``_acc_day``) summed over the days from the pair's first to its last co-action: while
    the two worked together, the share of the less active one's activity that was joint. An effect
    size that does not depend on the rest of the data: members of an operation co-act on a large
    share of what they do during a campaign; accounts that mirror the same public feed co-act on a
    small share of it each, however many co-actions their activity adds up to (docs/detection.md).
    """
    rows = con.execute("""
        WITH span AS (
            SELECT e.cluster_id, e.acc_a, e.acc_b, any_value(e.n_coactions) AS c,
                   CAST(floor(min(least(p.t_a, p.t_b)) / 86400) AS INTEGER) AS lo,
                   CAST(floor(max(least(p.t_a, p.t_b)) / 86400) AS INTEGER) AS hi
            FROM _pair_in p JOIN _edges_inside e
              ON e.cluster_id = p.cluster_id AND e.acc_a = p.acc_a AND e.acc_b = p.acc_b
            WHERE abs(p.gap_s) <= e.scale_s AND p.k_o <= e.scale_cap
            GROUP BY e.cluster_id, e.acc_a, e.acc_b),
        k AS (SELECT acc, day, sum(k) AS k FROM _acc_day GROUP BY acc, day),
        ka AS (SELECT s.cluster_id, s.acc_a, s.acc_b, sum(k.k) AS k FROM span s JOIN k
               ON k.acc = s.acc_a AND k.day BETWEEN s.lo AND s.hi GROUP BY ALL),
        kb AS (SELECT s.cluster_id, s.acc_a, s.acc_b, sum(k.k) AS k FROM span s JOIN k
               ON k.acc = s.acc_b AND k.day BETWEEN s.lo AND s.hi GROUP BY ALL)
        SELECT s.cluster_id, median(least(s.c / greatest(least(ka.k, kb.k), 1), 1.0))
        FROM span s JOIN ka USING (cluster_id, acc_a, acc_b) JOIN kb USING (cluster_id, acc_a, acc_b)
        GROUP BY s.cluster_id
    """).fetchall()
    return {cid: float(v) for cid, v in rows}


def _save_clusters(con, run_id: int, clusters: dict[str, np.ndarray], params: DetectionParams,
                   hourly: Callable[[], object] = lambda: None) -> int:
    from .core import WEIGHT_SCALE

    if not clusters:
        return 0
    cids = np.concatenate([np.full(len(m), cid, dtype=object) for cid, m in clusters.items()])
    accs = np.concatenate(list(clusters.values()))
    _temp_from_arrow(con, "_members_in", pa.table({"cluster_id": pa.array(cids, pa.string()), "acc": accs}))
    _inside_clusters(con, "_pair_rows", "_pair_in")
    _inside_clusters(con, "_edges_in", "_edges_inside")
    tests = cluster_tests(con, params, hourly)
    edge_stats = {r[0]: r[1:] for r in con.execute("""
        SELECT cluster_id, count(*), min(first_seen), max(last_seen) FROM _edges_inside GROUP BY cluster_id
    """).fetchall()}
    tests = [t for t in tests if t["cluster_id"] in edge_stats]
    top_objects = _top_objects(con)
    n_members = {cid: len(m) for cid, m in clusters.items()}
    order = sorted(range(len(tests)), key=lambda i: (not tests[i]["flagged"], -tests[i]["score"], -tests[i]["lift"],
                                                     tests[i]["cluster_id"]))
    rank = {tests[i]["cluster_id"]: r + 1 for r, i in enumerate(order)}
    out_rows = []
    for t in tests:
        cid = t["cluster_id"]
        n_edges, first_seen, last_seen = edge_stats[cid]
        counts = t["signal_counts"]
        total = sum(counts.values()) or 1
        shares = {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
        scale_s = params.windows[t["scale"]]
        summary = _summary(n_members[cid], t, first_seen, last_seen, shares, top_objects.get(cid, []), scale_s)
        out_rows.append((run_id, cid, rank[cid], n_members[cid], n_edges, t["n_coactions"], t["expected"],
                         t["p_value"], t["score"], t["lift"], t["flagged"], json.dumps(shares),
                         first_seen, last_seen, summary, scale_s, t["overlap"], t["source_share"], t["n_sources"],
                         t["top_source"], t["hour_lift"]))
    con.executemany(f"INSERT INTO clusters VALUES ({', '.join('?' * 21)})", out_rows)
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


def _summary(n: int, t: dict, first_seen, last_seen, shares: dict, top: list, scale_s: float) -> str:
    """One paragraph, machine-written, saying why the cluster was (or was not) flagged."""
    main = ", ".join(f"{sig} {share:.0%}" for sig, share in list(shares.items())[:3])
    objs = "; ".join(f"{sig} {_short(obj)} ({npairs} pair{'' if npairs == 1 else 's'})" for sig, obj, npairs in top)
    return (f"{n} accounts made {t['n_coactions']:,} co-actions (same object within ±{_window_text(scale_s)}, the scale "
            f"it is judged at) between {first_seen:%Y-%m-%d %H:%M} and {last_seen:%Y-%m-%d %H:%M} UTC, "
            f"against {_expected_text(t['expected'], t['lift'], p_phrase(t['p_value']))}. "
            f"Signals: {main}. Top shared objects: {objs}.")


def _expected_text(expected: float, lift: float, p: str) -> str:
    """``12.3 expected by chance (8x, p = ...)``; when the background expects nothing - signals without a
    single incidental co-action in the run, as in small or synthetic stores - the ratio (observed / 1e-12)
    is not given."""
    if expected <= 1e-9:
        return (f"0 expected by chance ({p}; the run has no incidental co-actions in these signals to compare "
                "with, so the lift is not meaningful)")
    return f"{expected:,.1f} expected by chance ({lift:,.0f}x, {p})"


def _window_text(seconds: float) -> str:
    """``60`` -> ``60 s``, ``86400`` -> ``1 d (86400 s)``: a window a reader takes in at a glance."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds > 60 and seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit} ({seconds:g} s)"
    return f"{seconds:g} s"


def p_phrase(p: float) -> str:
    """``p = 3.2e-12``, or ``p < 1e-300`` where the p-value underflowed to 0 (the score's cap, not a tie)."""
    return "p < 1e-300" if p <= 0 else f"p = {p:.1e}"


def _short(obj: str, n: int = 60) -> str:
    return obj if len(obj) <= n else obj[: n - 1] + "…"


def __getattr__(name: str):
    """``Engine`` and ``Core`` of :mod:`.core`, imported on first use (PEP 562): Ibis is slow to import."""
    if name in ("Core", "Engine"):
        from . import core
        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CoreBuilder", "DEFAULT_SIGNALS", "p_phrase", "SIGNALS", "DetectionParams", "Engine", "RunResult", "STEPS",
           "batch_core", "detect", "parse_duration"]
