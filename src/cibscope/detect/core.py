"""The portable co-action core: one set of Ibis expressions, run on DuckDB (embedded) or PySpark.

Every heavy step of detection - action selection and integer keys, object statistics,
windowed co-action pairs, popularity weights, pair aggregation and the null expectation
of each pair - is written here once against Ibis (ibis-framework 12) and compiled by Ibis
to DuckDB SQL or Spark SQL. Only joins, GROUP BY, window functions and ``min`` of structs
are used; floating-point sums that could depend on the order of a parallel aggregation are
done in fixed point (integers), so both engines give bit-identical results.

What leaves the engine is small: one row per candidate account pair (with at least
``min_coactions`` co-actions) and, for the evidence of the final edges and clusters, the
``(pair, object)`` rows among accounts of significant edges (:meth:`Core.evidence_rows`).
p-values, Benjamini-Hochberg and Leiden run in-process (numpy, python-igraph) on those.

Method
------
For every signal ``s`` and object ``o`` the actions are bucketed by ``b = floor(t / W)``.
Two actions can only be within ``W`` seconds if their buckets are equal or adjacent, so the
self-join is on ``(o, b)`` and ``(o, b + 1)`` followed by the exact test ``|t_x - t_y| <= W``:
a sliding window on exact timestamps, while pairs are only generated for actions less than
``2W`` apart - never all pairs of an object. Objects acted on by more than
``max_object_accounts`` accounts are not expanded at all.

Tables (materialised by the :class:`Engine`; on DuckDB as TEMP tables of these names)
--------------------------------------------------------------------------------------
``_acc_map``   acc (INTEGER, in account-key order), account_key
``_obj_map``   oid (INTEGER, in :func:`bucket_numbered` order of (signal, object)), signal, object
``_post_map``  pid (BIGINT, in :func:`bucket_numbered` order of post_key), post_key
``_act``       acc, signal, oid, t (epoch seconds, UTC, float), pid, b (bucket)
``_obj``       signal, oid, k_o, n_o, w_fixed (weight x :data:`WEIGHT_SCALE`), pairs_in_window, p_o
``_acc_sig``   acc, signal, k (distinct eligible objects of the account)
``_pair_obj``  acc_a < acc_b, signal, oid, n_post_pairs, closest post pair (pid_a, pid_b, t_a, t_b,
               gap_s = t_b - t_a; ties broken by the smaller post ids)

References
----------
Pacheco, D. et al. (2021). Uncovering Coordinated Networks on Social Media: Methods and Case
Studies. ICWSM. (co-action networks, inverse-frequency object weights)
Giglietto, F. et al. (2020). It takes a village to manipulate the media: coordinated link
sharing behavior. (time-window co-sharing, CooRnet)
"""
from __future__ import annotations

import datetime as dt

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from .params import DetectionParams

#: Fixed-point scale for object weights: integer sums are exact and order-independent.
WEIGHT_SCALE = 1_000_000
#: Fixed-point scale for kappa's per-object terms (exact integer sum, order-independent).
KAPPA_SCALE = 10**9
_EPOCH = ibis.timestamp("1970-01-01 00:00:00")
#: Spark SQL types of the small tables :meth:`Engine.upload` sends (explicit: an empty table has none to infer).
_SPARK_TYPES = {"int32": "int", "int64": "bigint", "double": "double", "string": "string"}


class Engine:
    """Where the core's tables are computed and kept: an Ibis backend plus a materialise rule.

    Parameters
    ----------
    backend : ibis backend
        ``ibis.duckdb.from_connection(con)`` (tables become TEMP tables of the given names on
        that connection) or ``ibis.pyspark.connect(session)`` (tables are persisted DataFrames).
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = backend.name
        self._kept: list[ir.Table] = []
        self._restore: list[str] = []

    @classmethod
    def duckdb(cls, con: Any) -> "Engine":
        """The embedded engine on an open DuckDB connection (the store's).

        Ibis sets ``TimeZone`` and ``python_enable_replacements`` on the connection it wraps;
        :meth:`release` puts back the values the connection had.
        """
        saved = con.execute("SELECT current_setting('TimeZone'), "
                            "current_setting('python_enable_replacements')").fetchall()[0]
        engine = cls(ibis.duckdb.from_connection(con))
        engine._restore = [f"SET TimeZone = '{saved[0]}'", f"SET python_enable_replacements = {bool(saved[1])}"]
        return engine

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        """Compute ``expr`` once and return a table expression reading the result.

        On DuckDB the table is written with ``preserve_insertion_order`` off (restored after): the
        core's tables are read by joins and aggregates only, never in stored order, and keeping the
        order stops DuckDB from spilling large aggregates to disk (100M actions ran out of a 12 GB
        limit building ``_pair_obj``).
        """
        if self.name == "duckdb":
            con = self.backend.con
            saved = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
            con.execute("SET preserve_insertion_order = false")
            try:
                return self.backend.create_table(name, expr, temp=True, overwrite=True)
            finally:
                con.execute(f"SET preserve_insertion_order = {bool(saved)}")
        t = expr.cache()
        self._kept.append(t)
        return t

    def upload(self, name: str, table: pa.Table) -> ir.Table:
        """Put a small Arrow table on the engine (a TEMP table / temporary view)."""
        if self.name == "duckdb":
            return self.backend.create_table(name, table, temp=True, overwrite=True)
        session = self.backend._session
        ddl = ", ".join(f"{f.name} {_SPARK_TYPES[str(f.type)]}" for f in table.schema)
        session.createDataFrame(table.to_pandas(), schema=ddl).createOrReplaceTempView(name)
        return self.backend.table(name)

    def count(self, t: ir.Table) -> int:
        return int(t.count().to_pyarrow().as_py())

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """Run ``expr`` and return its rows as an Arrow table of ``expr``'s schema.

        On Spark the rows come back as Arrow record batches (``DataFrame.toArrow``, PySpark >= 4.0)
        instead of Ibis's route through pandas.
        """
        if self.name == "pyspark":
            result = self.backend._session.sql(self.backend.compile(expr)).toArrow()
            return result.cast(expr.schema().to_pyarrow())
        return expr.to_pyarrow()

    def release(self) -> None:
        """Free what :meth:`keep` cached (Spark), restore DuckDB settings; temp tables are dropped by the caller."""
        for t in self._kept:
            t.release()
        self._kept.clear()
        for statement in self._restore:
            self.backend.con.execute(statement)


@dataclass
class Core:
    """The core's tables for one run (Ibis table expressions on the engine's backend)."""

    engine: Engine
    params: DetectionParams
    acc_map: ir.Table
    obj_map: ir.Table
    post_map: ir.Table
    act: ir.Table
    obj: ir.Table | None = None
    acc_sig: ir.Table | None = None
    pair_obj: ir.Table | None = None
    kappa: dict[str, float] | None = None


def select_actions(actions: ir.Table, params: DetectionParams, derived: ir.Table | None = None, *,
                   between: tuple[dt.datetime, dt.datetime] | None = None) -> ir.Table:
    """The run's actions ``(account_key, action_type, object_key, ts, post_key)``.

    ``actions`` has the store's ``actions`` columns; ``derived`` (optional) holds rows of the
    derived signals in the same shape (see ``detect/derived.py``). ``between = (start, end)``
    (naive UTC, both inclusive) keeps only actions with ``start <= ts <= end``: a run over a
    time horizon (``cibscope watch``); minimum participation and object statistics then see
    only that horizon.
    """
    sel = actions.filter(actions.action_type.isin(list(params.signals)))
    if params.datasets:
        sel = sel.filter(sel.dataset.isin(list(params.datasets)))
    cols = ["account_key", "action_type", "object_key", "ts", "post_key"]
    sel = sel.select(*cols)
    if derived is not None:
        sel = sel.union(derived.select(*cols).cast(sel.schema()), distinct=False)
    if between is not None:
        sel = sel.filter(sel.ts.between(ibis.timestamp(between[0]), ibis.timestamp(between[1])))
    return sel


def build_actions(engine: Engine, src: ir.Table, params: DetectionParams) -> Core:
    """Number accounts, objects and posts and create ``_act`` (see the module docstring).

    Accounts with fewer than ``min_account_actions`` actions (all signals) are left out.
    Account ids follow key order, so ``acc_a < acc_b`` exactly when ``account_a < account_b`` (one
    sorted partition on Spark: accounts are millions where posts are billions). Object and post ids
    come from :func:`bucket_numbered` (parallel on Spark; deterministic, not in key order).
    """
    w = float(params.window_s)
    per_acc = src.group_by("account_key").aggregate(n=src.count())
    per_acc = per_acc.filter(per_acc.n >= int(params.min_account_actions))
    acc_map = engine.keep("_acc_map", per_acc.select(
        acc=(ibis.row_number().over(order_by=per_acc.account_key) + 1).cast("int32"),
        account_key=per_acc.account_key))
    raw = src.join(acc_map, "account_key").select(
        "acc", signal=src.action_type, object=src.object_key, post_key=src.post_key,
        t=src.ts.delta(_EPOCH, unit="microsecond").cast("float64") / 1_000_000)
    raw = engine.keep("_raw", raw)  # read three times below: compute the join once
    obj_map = engine.keep("_obj_map", bucket_numbered(raw.select("signal", "object").distinct(), "oid", "int32",
                                                      order=["signal", "object"], hashed="object"))
    post_map = engine.keep("_post_map", bucket_numbered(raw.select("post_key").distinct(), "pid", "int64",
                                                        order=["post_key"], hashed="post_key"))
    act = raw.join(obj_map, ["signal", "object"]).join(post_map, "post_key")
    act = engine.keep("_act", act.select("acc", "signal", "oid", "t", "pid",
                                         b=(act.t / w).floor().cast("int64")))
    return Core(engine, params, acc_map, obj_map, post_map, act)


#: Hex digits of ``md5(key)`` that name a numbering bucket in :func:`bucket_numbered` (16**3 = 4,096 buckets).
BUCKET_DIGITS = 3


def bucket_numbered(keys: ir.Table, name: str, dtype: str, *, order: list[str], hashed: str) -> ir.Table:
    """Number the distinct rows of ``keys`` 1..n without a sort of all of them in one partition.

    Returns ``keys``'s ``order`` columns with ``name`` (``dtype``) first. The order is
    ``(left(md5(hashed), BUCKET_DIGITS), *order)``: which of two keys comes first depends on those
    two keys alone, on every engine (DuckDB and Spark give the same lower-case hex MD5 of the UTF-8
    bytes) and in every run, whatever other keys it holds. Each bucket is numbered by its own window (Spark runs the
    4,096 buckets in parallel) and shifted by the number of keys in the buckets before it (a
    running sum over 4,096 rows). A plain ``row_number()`` over all keys is one sorted partition on
    Spark: at billions of posts that single task would be the run.
    """
    k = keys.mutate(_bucket=keys[hashed].hexdigest("md5").left(BUCKET_DIGITS))
    sizes = k.group_by("_bucket").aggregate(_n=k.count())
    sizes = sizes.select("_bucket", _before=sizes._n.sum().over(ibis.cumulative_window(order_by=sizes._bucket))
                         - sizes._n)
    k = k.mutate(_r=ibis.row_number().over(group_by=k._bucket, order_by=[k[c] for c in order]))
    j = k.join(sizes, "_bucket")
    return j.select(**{name: (j._before + j._r + 1).cast(dtype)}, **{c: j[c] for c in order})


def object_stats(core: Core) -> None:
    """Create ``_obj`` (popularity, weight, in-window pair share), ``_acc_sig`` and kappa.

    Objects with fewer than 2 or more than ``max_object_accounts`` accounts are dropped;
    for the rest ``pairs_in_window`` counts, with a time-sorted RANGE window, how many of the
    object's ``n_o (n_o - 1) / 2`` action pairs lie within W (O(n log n) per object).
    The weight is ``ln(N_s / k_o) + 0.001`` (``N_s`` accounts of the signal) with
    ``discount``, else 1, kept as an integer ``w_fixed = round(weight * WEIGHT_SCALE)``.
    """
    p, act = core.params, core.act
    w = float(p.window_s)
    pop = act.group_by(["signal", "oid"]).aggregate(k_o=act.acc.nunique(), n_o=act.count())
    n_acc = act.group_by("signal").aggregate(n_s=act.acc.nunique())
    eligible = pop.filter((pop.k_o >= 2) & (pop.k_o <= int(p.max_object_accounts)))
    x = act.semi_join(eligible, "oid")
    win = ibis.window(group_by=x.oid, order_by=x.t, range=(0, w))
    ahead = x.select("oid", ahead=x.oid.count().over(win) - 1)
    in_win = ahead.group_by("oid").aggregate(pairs_in_window=ahead.ahead.sum())
    o = eligible.join(in_win, "oid").join(n_acc, "signal")
    # explicit doubles: a bare 2.0 or 1e-3 is a DECIMAL literal in Spark SQL (and in DuckDB)
    weight = ((o.n_s.cast("float64") / o.k_o).ln() + ibis.literal(1e-3, type="float64") if p.discount
              else ibis.literal(1, type="float64"))
    o = o.filter(o.pairs_in_window > 0).select(
        "signal", "oid", "k_o", "n_o",
        w_fixed=(weight * WEIGHT_SCALE).round().cast("int64"),
        pairs_in_window=o.pairs_in_window,
        p_o=o.pairs_in_window.cast("float64") * 2 / (o.n_o.cast("float64") * (o.n_o.cast("float64") - 1)))
    core.obj = core.engine.keep("_obj", o)
    a = act.semi_join(core.obj, "oid")
    core.acc_sig = core.engine.keep("_acc_sig", a.group_by(["acc", "signal"]).aggregate(k=a.oid.nunique()))
    core.kappa = kappa(core)


def kappa(core: Core) -> dict[str, float]:
    """``kappa_s = sum_o k_o (k_o - 1) p_o / M_s^2`` per signal (``detect/significance.py``).

    The per-object terms are summed as integers (``x KAPPA_SCALE``), so the value does not
    depend on the engine or on how it partitions the sum.
    """
    o, ks = core.obj, core.acc_sig
    m = ks.group_by("signal").aggregate(m_s=ks.k.sum())
    k_o = o.k_o.cast("float64")
    term = (k_o * (k_o - 1) * o.p_o * KAPPA_SCALE).round().cast("decimal(38, 0)")
    s = o.mutate(term=term).group_by("signal").aggregate(num=ibis._.term.sum()).join(m, "signal")
    out = {}
    for r in core.engine.to_arrow(s).to_pylist():
        out[r["signal"]] = float(int(r["num"])) / KAPPA_SCALE / (float(r["m_s"]) * float(r["m_s"]))
    return out


def coaction_pairs(core: Core, only_objects: ir.Table | None = None) -> ir.Table:
    """Create ``_pair_obj``: one row per (account pair, object) with a co-action within W.

    ``only_objects`` (a table with an ``oid`` column) restricts the pairs to those objects:
    ``cibscope watch`` re-pairs only the objects that received or lost actions (an object's
    rows depend on its own actions alone).
    """
    w = float(core.params.window_s)
    x = core.act.semi_join(core.obj, "oid")
    if only_objects is not None:
        x = x.semi_join(only_objects, "oid")
    x = x.select("acc", "oid", "t", "pid", "b")
    y = x.select(oid_y="oid", b_y="b", acc_y="acc", t_y="t", pid_y="pid")
    cols = dict(oid=x.oid, acc_x=x.acc, acc_y=y.acc_y, pid_x=x.pid, pid_y=y.pid_y, t_x=x.t, t_y=y.t_y)
    same = x.join(y, [x.oid == y.oid_y, x.b == y.b_y, x.acc < y.acc_y])
    same = same.filter((same.t - same.t_y).abs() <= w).select(**{k: same[v.get_name()] for k, v in cols.items()})
    nxt = x.join(y, [x.oid == y.oid_y, y.b_y == x.b + 1, x.acc != y.acc_y])
    nxt = nxt.filter(nxt.t_y - nxt.t <= w).select(**{k: nxt[v.get_name()] for k, v in cols.items()})
    raw = same.union(nxt, distinct=False)
    first = raw.acc_x < raw.acc_y
    oriented = raw.select(
        "oid",
        acc_a=ibis.least(raw.acc_x, raw.acc_y), acc_b=ibis.greatest(raw.acc_x, raw.acc_y),
        pid_a=ibis.ifelse(first, raw.pid_x, raw.pid_y), pid_b=ibis.ifelse(first, raw.pid_y, raw.pid_x),
        t_a=ibis.ifelse(first, raw.t_x, raw.t_y), t_b=ibis.ifelse(first, raw.t_y, raw.t_x))
    # the closest post pair; ties broken by post ids so the result is deterministic
    # (min of a struct compares field by field: a plain aggregate on both engines, faster than arg_min)
    closest = ibis.struct({"d": (oriented.t_b - oriented.t_a).abs(), "pid_a": oriented.pid_a,
                           "pid_b": oriented.pid_b, "t_a": oriented.t_a, "t_b": oriented.t_b})
    g = oriented.group_by(["acc_a", "acc_b", "oid"]).aggregate(n_post_pairs=oriented.count(),
                                                               closest=closest.min())
    g = g.join(core.obj.select("oid", "signal"), "oid")
    c = g.closest
    core.pair_obj = core.engine.keep("_pair_obj", g.select(
        "acc_a", "acc_b", "signal", "oid", "n_post_pairs", pid_a=c.pid_a, pid_b=c.pid_b, t_a=c.t_a, t_b=c.t_b,
        gap_s=c.t_b - c.t_a))
    return core.pair_obj


def pair_table(core: Core) -> pa.Table:
    """Aggregate ``_pair_obj`` per account pair, with the null expectation; returns Arrow.

    Columns: acc_a, acc_b, n_coactions (distinct co-acted objects), n_post_pairs,
    weight_fixed (sum of ``w_fixed``), ``has_<signal>`` (bool, one per run signal), a_first,
    b_first (objects on which a / b acted first), median_gap_s (median |gap|, seconds),
    first_t, last_t (epoch seconds) and expected (``E_ij``, ``detect/significance.py``).
    Only pairs with at least ``min_coactions`` co-actions; sorted by (acc_a, acc_b).
    """
    p, po = core.params, core.pair_obj
    j = po.join(core.obj.select("oid", "w_fixed"), "oid")
    aggs = dict(n_coactions=j.count(), n_post_pairs=j.n_post_pairs.sum(), weight_fixed=j.w_fixed.sum())
    for s in p.signals:
        aggs[f"has_{s}"] = (j.signal == s).any()
    aggs.update(a_first=(j.gap_s > 0).sum(), b_first=(j.gap_s < 0).sum(),
                median_gap_s=j.gap_s.abs().median(),
                first_t=ibis.least(j.t_a, j.t_b).min(), last_t=ibis.greatest(j.t_a, j.t_b).max())
    pairs = j.group_by(["acc_a", "acc_b"]).aggregate(**aggs)
    pairs = pairs.filter(pairs.n_coactions >= int(p.min_coactions))
    # E_ij = sum_s kappa_s k_i^s k_j^s, summed in a fixed (alphabetical) signal order
    sigs = sorted(core.kappa)
    if not sigs:  # no eligible object: no pairs either
        return core.engine.to_arrow(pairs.mutate(expected=ibis.literal(0.0)).order_by(["acc_a", "acc_b"]))
    ks = core.acc_sig
    wide = ks.group_by("acc").aggregate(**{f"k_{i}": ks.k.sum(where=ks.signal == s).fill_null(0)
                                           for i, s in enumerate(sigs)})
    a = wide.rename(**{f"ka_{i}": f"k_{i}" for i in range(len(sigs))}, acc_a="acc")
    b = wide.rename(**{f"kb_{i}": f"k_{i}" for i in range(len(sigs))}, acc_b="acc")
    kap = core.engine.upload("_kappa_row", pa.table({f"kappa_{i}": pa.array([core.kappa[s]], pa.float64())
                                                     for i, s in enumerate(sigs)}))
    e = pairs.join(a, "acc_a").join(b, "acc_b").cross_join(kap)
    expected = (e.ka_0 * e.kb_0) * e.kappa_0
    for i in range(1, len(sigs)):
        expected = expected + (e[f"ka_{i}"] * e[f"kb_{i}"]) * e[f"kappa_{i}"]
    out = e.select(*pairs.columns, expected=expected.cast("float64")).order_by(["acc_a", "acc_b"])
    return core.engine.to_arrow(out)


def evidence_rows(core: Core, accounts: pa.Array) -> dict[str, pa.Table]:
    """The rows needed to save a run whose edges join ``accounts`` (int ids), as Arrow tables.

    ``_pair_obj`` among those accounts (both ends), the ``_obj``, ``_obj_map`` and ``_post_map``
    rows it refers to, the ``_acc_map`` and ``_acc_sig`` rows of the accounts. Used by engines
    whose tables do not live in the store (Spark): a small part of the run's data.
    """
    ids = core.engine.upload("_ev_acc", pa.table({"acc": pa.array(accounts, pa.int32())}))
    po = core.pair_obj.semi_join(ids.rename(acc_a="acc"), "acc_a").semi_join(ids.rename(acc_b="acc"), "acc_b")
    po = core.engine.keep("_pair_obj_ev", po)
    oids = po.select("oid").distinct()
    pids = po.select(pid="pid_a").union(po.select(pid="pid_b")).distinct()
    tables = {
        "_pair_obj": po,
        "_obj": core.obj.semi_join(oids, "oid"),
        "_obj_map": core.obj_map.semi_join(oids, "oid"),
        "_post_map": core.post_map.semi_join(pids, "pid"),
        "_acc_map": core.acc_map.semi_join(ids, "acc"),
        "_acc_sig": core.acc_sig.semi_join(ids, "acc"),
    }
    return {name: core.engine.to_arrow(t) for name, t in tables.items()}
