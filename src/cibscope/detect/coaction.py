"""The windowed co-action core: which account pairs acted on the same object within W seconds.

Everything here is set-based SQL in a portable dialect (joins, GROUP BY and
window functions only; SQLGlot can transpile it to Spark SQL), run on DuckDB.

Method
------
For every signal ``s`` and object ``o`` the actions are bucketed by
``b = floor(t / W)``. A pair of actions can only be within ``W`` seconds if their
buckets are equal or adjacent, so the self-join is on ``(s, o, b)`` and
``(s, o, b + 1)`` followed by the exact test ``|t_x - t_y| <= W``: a sliding window
on exact timestamps (two shares 1 s apart across a bucket edge are found), while
pairs are only generated for actions less than ``2W`` apart - never all pairs of
an object. Objects acted on by more than ``max_object_accounts`` accounts are not
expanded at all (see :class:`~cibscope.detect.params.DetectionParams`).

Tables produced (TEMP, on the given connection)
-----------------------------------------------
``_acc_map``, ``_obj_map``, ``_post_map``  integer ids of accounts, objects, posts
``_act``        acc, signal, oid, t (epoch seconds, UTC), pid, b (bucket)
``_obj``        signal, oid, k_o (distinct accounts), n_o (actions), w_fixed (weight
                x ``WEIGHT_SCALE``), pairs_in_window (action pairs within W), p_o (share
                of the object's action pairs within W)
``_acc_sig``    acc, signal, k (distinct eligible objects of the account)
``_pair_obj``   acc_a < acc_b, signal, oid, n_post_pairs, and the closest post pair
                (pid_a, pid_b, t_a, t_b, gap_s = t_b - t_a)

References
----------
Pacheco, D. et al. (2021). Uncovering Coordinated Networks on Social Media:
Methods and Case Studies. ICWSM. (co-action networks, TF-IDF object weights)
Giglietto, F. et al. (2020). It takes a village to manipulate the media:
coordinated link sharing behavior. (time-window co-sharing, CooRnet)
"""
from __future__ import annotations

import datetime as dt

import duckdb

from .derived import derived_actions
from .params import DetectionParams


def build_actions(con: duckdb.DuckDBPyConnection, params: DetectionParams, *,
                  between: tuple[dt.datetime, dt.datetime] | None = None) -> int:
    """Create ``_act`` (integer-keyed actions) and the key maps for the run.

    ``between = (start, end)`` (naive UTC, both inclusive) keeps only actions with
    ``start <= ts <= end``: a run over a time horizon (``cibscope watch``); everything
    below (minimum participation, object statistics) then sees only that horizon.

    ``_acc_map(acc, account_key)`` numbers accounts in key order (so ``acc_a < acc_b``
    exactly when ``account_a < account_b``), ``_obj_map(oid, signal, object)`` numbers
    objects, ``_post_map(pid, post_key)`` numbers posts. ``_act(acc, signal, oid, t, pid, b)``
    holds the actions of accounts with at least ``min_account_actions`` actions; joins
    and aggregations run on these integers, strings are joined back only for output.

    Returns the number of actions kept.
    """
    signals = ", ".join(f"'{s}'" for s in params.signals)
    datasets = "TRUE"
    if params.datasets:
        datasets = "dataset IN (" + ", ".join("'" + d.replace("'", "''") + "'" for d in params.datasets) + ")"
    derived_actions(con, params, datasets)
    w = float(params.window_s)
    horizon = "TRUE"
    if between is not None:
        start, end = (f"TIMESTAMP '{t:%Y-%m-%d %H:%M:%S.%f}'" for t in between)
        horizon = f"ts BETWEEN {start} AND {end}"
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW _src AS
        SELECT account_key, action_type, object_key, ts, post_key FROM actions
        WHERE action_type IN ({signals}) AND {datasets} AND {horizon}
        UNION ALL
        SELECT account_key, action_type, object_key, ts, post_key FROM _derived WHERE {horizon}
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _acc_map AS
        SELECT CAST(row_number() OVER (ORDER BY account_key) AS INTEGER) AS acc, account_key
        FROM _src GROUP BY account_key HAVING count(*) >= {int(params.min_account_actions)}
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _raw AS
        SELECT m.acc, a.action_type AS signal, a.object_key AS object, epoch(a.ts) AS t, a.post_key
        FROM _src a JOIN _acc_map m USING (account_key)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _obj_map AS
        SELECT CAST(row_number() OVER (ORDER BY signal, object) AS INTEGER) AS oid, signal, object
        FROM (SELECT DISTINCT signal, object FROM _raw)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _post_map AS
        SELECT CAST(row_number() OVER (ORDER BY post_key) AS BIGINT) AS pid, post_key
        FROM (SELECT DISTINCT post_key FROM _raw)
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _act AS
        SELECT r.acc, r.signal, om.oid, r.t, pm.pid, CAST(floor(r.t / {w}) AS BIGINT) AS b
        FROM _raw r
        JOIN _obj_map om USING (signal, object)
        JOIN _post_map pm USING (post_key)
    """)
    con.execute("DROP TABLE _raw; DROP VIEW _src; DROP TABLE _derived")
    return con.execute("SELECT count(*) FROM _act").fetchall()[0][0]


#: Fixed-point scale for object weights: integer sums are exact, so results do not depend on
#: the order in which a parallel aggregation adds them up.
WEIGHT_SCALE = 1_000_000


def object_stats(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> None:
    """Create ``_obj`` (per-object popularity, weight, in-window pair share) and ``_acc_sig``.

    Objects with fewer than 2 or more than ``max_object_accounts`` accounts are
    dropped first; for the rest ``p_o`` counts, with a window function sorted by
    time, how many of the object's ``n_o (n_o - 1) / 2`` action pairs lie within W:
    O(n log n) per object whatever its popularity.
    """
    w = float(params.window_s)
    weight = "ln(n_s * 1.0 / k_o) + 1e-3" if params.discount else "1.0"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _obj AS
        WITH pop AS (
            SELECT signal, oid, count(DISTINCT acc) AS k_o, count(*) AS n_o
            FROM _act GROUP BY signal, oid
        ), n_acc AS (
            SELECT signal, count(DISTINCT acc) AS n_s FROM _act GROUP BY signal
        ), eligible AS (
            SELECT * FROM pop WHERE k_o >= 2 AND k_o <= {int(params.max_object_accounts)}
        ), win AS (
            SELECT a.oid,
                   count(*) OVER (PARTITION BY a.oid ORDER BY a.t
                                  RANGE BETWEEN CURRENT ROW AND {w} FOLLOWING) - 1 AS ahead
            FROM _act a SEMI JOIN eligible e ON e.oid = a.oid
        ), pairs AS (
            SELECT oid, sum(ahead) AS pairs_in_window FROM win GROUP BY oid
        )
        SELECT e.signal, e.oid, e.k_o, e.n_o,
               CAST(round(({weight}) * {WEIGHT_SCALE}) AS BIGINT) AS w_fixed,
               pairs_in_window,
               pairs_in_window * 2.0 / (e.n_o * (e.n_o - 1.0)) AS p_o
        FROM eligible e JOIN pairs USING (oid) JOIN n_acc USING (signal)
        WHERE pairs_in_window > 0
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _acc_sig AS
        SELECT a.acc, a.signal, count(DISTINCT a.oid) AS k
        FROM _act a SEMI JOIN _obj o ON o.oid = a.oid
        GROUP BY a.acc, a.signal
    """)


def coaction_pairs(con: duckdb.DuckDBPyConnection, params: DetectionParams, *,
                   only_objects: str | None = None) -> int:
    """Create ``_pair_obj``: one row per (account pair, object) with a co-action.

    Columns: acc_a < acc_b, signal, oid, n_post_pairs, and the closest post pair
    (pid_a, pid_b, t_a, t_b, gap_s = t_b - t_a). Returns the number of rows.

    ``only_objects`` names a table with an ``oid`` column: pairs are then generated
    for those objects only (``cibscope watch`` recomputes just the objects that
    received or lost actions; a pair's rows depend on its object's actions alone).
    """
    w = float(params.window_s)
    restrict = f"SEMI JOIN {only_objects} r ON r.oid = a.oid" if only_objects else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pair_obj AS
        WITH x AS (
            SELECT a.acc, a.oid, a.t, a.pid, a.b FROM _act a SEMI JOIN _obj o ON o.oid = a.oid {restrict}
        ), raw AS (
            SELECT x.oid, x.acc AS acc_x, y.acc AS acc_y, x.pid AS pid_x, y.pid AS pid_y, x.t AS t_x, y.t AS t_y
            FROM x JOIN x AS y ON x.oid = y.oid AND x.b = y.b AND x.acc < y.acc
            WHERE abs(x.t - y.t) <= {w}
            UNION ALL
            SELECT x.oid, x.acc, y.acc, x.pid, y.pid, x.t, y.t
            FROM x JOIN x AS y ON x.oid = y.oid AND y.b = x.b + 1 AND x.acc <> y.acc
            WHERE y.t - x.t <= {w}
        ), oriented AS (
            SELECT oid,
                   least(acc_x, acc_y) AS acc_a, greatest(acc_x, acc_y) AS acc_b,
                   CASE WHEN acc_x < acc_y THEN pid_x ELSE pid_y END AS pid_a,
                   CASE WHEN acc_x < acc_y THEN pid_y ELSE pid_x END AS pid_b,
                   CASE WHEN acc_x < acc_y THEN t_x ELSE t_y END AS t_a,
                   CASE WHEN acc_x < acc_y THEN t_y ELSE t_x END AS t_b
            FROM raw
        )
        SELECT g.acc_a, g.acc_b, o.signal, g.oid, g.n_post_pairs,
               g.closest.pid_a, g.closest.pid_b, g.closest.t_a, g.closest.t_b,
               g.closest.t_b - g.closest.t_a AS gap_s
        FROM (
            SELECT acc_a, acc_b, oid, count(*) AS n_post_pairs,
                   -- the closest post pair; ties broken by post ids so the result is deterministic
                   arg_min(struct_pack(pid_a, pid_b, t_a, t_b),
                           struct_pack(d := abs(t_b - t_a), pid_a, pid_b)) AS closest
            FROM oriented
            GROUP BY acc_a, acc_b, oid
        ) g JOIN _obj o USING (oid)
    """)
    return con.execute("SELECT count(*) FROM _pair_obj").fetchall()[0][0]
