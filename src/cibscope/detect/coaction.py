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
``_act``        account, signal, object, t (epoch seconds, UTC), post, b (bucket)
``_obj``        signal, object, k_o (distinct accounts), n_o (actions), w_o (weight),
                pairs_in_window (action pairs within W), p_o (share of the object's
                action pairs within W)
``_acc_sig``    account, signal, k (distinct eligible objects of the account)
``_pair_obj``   account_a < account_b, signal, object, n_post_pairs, and the closest
                post pair (post_a, post_b, t_a, t_b, gap_s = t_b - t_a)

References
----------
Pacheco, D. et al. (2021). Uncovering Coordinated Networks on Social Media:
Methods and Case Studies. ICWSM. (co-action networks, TF-IDF object weights)
Giglietto, F. et al. (2020). It takes a village to manipulate the media:
coordinated link sharing behavior. (time-window co-sharing, CooRnet)
"""
from __future__ import annotations

import duckdb

from .params import DetectionParams


def build_actions(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> int:
    """Create ``_act`` from the store's ``actions`` for the run's signals and datasets.

    Returns the number of actions kept (after the minimum-participation filter).
    """
    signals = ", ".join(f"'{s}'" for s in params.signals)
    where = f"action_type IN ({signals})"
    if params.datasets:
        where += " AND dataset IN (" + ", ".join("'" + d.replace("'", "''") + "'" for d in params.datasets) + ")"
    w = float(params.window_s)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _act AS
        WITH a AS (
            SELECT account_key AS account, action_type AS signal, object_key AS object,
                   epoch(ts) AS t, post_key AS post
            FROM actions WHERE {where}
        ), active AS (
            SELECT account FROM a GROUP BY account HAVING count(*) >= {int(params.min_account_actions)}
        )
        SELECT a.*, CAST(floor(a.t / {w}) AS BIGINT) AS b
        FROM a JOIN active USING (account)
    """)
    return con.execute("SELECT count(*) FROM _act").fetchone()[0]


def object_stats(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> None:
    """Create ``_obj`` (per-object popularity, weight, in-window pair share) and ``_acc_sig``.

    ``p_o`` counts, with a window function sorted by time, how many of the
    object's ``n_o (n_o - 1) / 2`` action pairs lie within W: O(n log n) per
    object whatever its popularity.
    """
    w = float(params.window_s)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _obj AS
        WITH win AS (
            SELECT signal, object,
                   count(*) OVER (PARTITION BY signal, object ORDER BY t
                                  RANGE BETWEEN CURRENT ROW AND {w} FOLLOWING) - 1 AS ahead
            FROM _act
        ), pairs AS (
            SELECT signal, object, sum(ahead) AS pairs_in_window FROM win GROUP BY signal, object
        ), pop AS (
            SELECT signal, object, count(DISTINCT account) AS k_o, count(*) AS n_o
            FROM _act GROUP BY signal, object
        ), n_acc AS (
            SELECT signal, count(DISTINCT account) AS n_s FROM _act GROUP BY signal
        )
        SELECT pop.signal, pop.object, k_o, n_o,
               {"ln(n_s * 1.0 / k_o) + 1e-3" if params.discount else "1.0"} AS w_o,
               pairs_in_window,
               CASE WHEN n_o > 1 THEN pairs_in_window * 2.0 / (n_o * (n_o - 1.0)) ELSE 0 END AS p_o
        FROM pop JOIN pairs USING (signal, object) JOIN n_acc USING (signal)
        WHERE k_o >= 2 AND k_o <= {int(params.max_object_accounts)} AND pairs_in_window > 0
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _acc_sig AS
        SELECT a.account, a.signal, count(DISTINCT a.object) AS k
        FROM _act a JOIN _obj o USING (signal, object)
        GROUP BY a.account, a.signal
    """)


def coaction_pairs(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> int:
    """Create ``_pair_obj``: one row per (account pair, signal, object) with a co-action.

    Returns the number of rows.
    """
    w = float(params.window_s)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pair_obj AS
        WITH x AS (
            SELECT a.* FROM _act a JOIN _obj o USING (signal, object)
        ), raw AS (
            SELECT x.signal, x.object, x.account AS acc_x, y.account AS acc_y,
                   x.post AS post_x, y.post AS post_y, x.t AS t_x, y.t AS t_y
            FROM x JOIN x AS y
              ON x.signal = y.signal AND x.object = y.object AND x.b = y.b
             AND x.account < y.account
            WHERE abs(x.t - y.t) <= {w}
            UNION ALL
            SELECT x.signal, x.object, x.account, y.account, x.post, y.post, x.t, y.t
            FROM x JOIN x AS y
              ON x.signal = y.signal AND x.object = y.object AND y.b = x.b + 1
             AND x.account <> y.account
            WHERE y.t - x.t <= {w}
        ), oriented AS (
            SELECT signal, object,
                   least(acc_x, acc_y) AS account_a, greatest(acc_x, acc_y) AS account_b,
                   CASE WHEN acc_x < acc_y THEN post_x ELSE post_y END AS post_a,
                   CASE WHEN acc_x < acc_y THEN post_y ELSE post_x END AS post_b,
                   CASE WHEN acc_x < acc_y THEN t_x ELSE t_y END AS t_a,
                   CASE WHEN acc_x < acc_y THEN t_y ELSE t_x END AS t_b
            FROM raw
        )
        SELECT account_a, account_b, signal, object, n_post_pairs,
               closest.post_a, closest.post_b, closest.t_a, closest.t_b, closest.t_b - closest.t_a AS gap_s
        FROM (
            SELECT account_a, account_b, signal, object, count(*) AS n_post_pairs,
                   -- the closest post pair; ties broken by post keys so the result is deterministic
                   arg_min(struct_pack(post_a, post_b, t_a, t_b),
                           struct_pack(d := abs(t_b - t_a), post_a, post_b)) AS closest
            FROM oriented
            GROUP BY account_a, account_b, signal, object
        )
    """)
    return con.execute("SELECT count(*) FROM _pair_obj").fetchone()[0]
