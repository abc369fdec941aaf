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
Scales ``W_0 < ... < W_k`` (``params.windows``). For every signal ``s`` and object ``o`` the actions
are bucketed by ``b = floor(t / W)``: two actions can only be within ``W`` seconds if their buckets
are equal or adjacent, so the self-join is on ``(o, b)`` and ``(o, b + 1)`` followed by the exact
test ``|t_x - t_y| <= W``: a sliding window on exact timestamps, and pairs are only generated for
actions less than ``2W`` apart - never all pairs of an object. Each object is joined once, at the
slowest scale whose cap admits it (:meth:`DetectionParams.object_cap`, by the scale's length:
``max_object_accounts`` up to 60 s, ``max_object_accounts_mid`` up to 10 min, ``max_object_accounts_slow``
beyond; objects above every cap not at all), and that join serves every faster scale too (each (pair,
object) row keeps its closest post pair, so it is a co-action at ``W`` when its gap is at most ``W``).

Tables (materialised by the :class:`Engine`; on DuckDB as TEMP tables of these names)
--------------------------------------------------------------------------------------
``_acc_map``   acc (INTEGER, in account-key order), account_key
``_obj_map``   oid (INTEGER, in :func:`bucket_numbered` order of (signal, object)), signal, object
``_post_map``  pid (BIGINT, in :func:`bucket_numbered` order of post_key), post_key
``_act``       acc, signal, oid, t (epoch seconds, UTC, float), pid, day (UTC day number)
``_obj``       signal, oid, k_o, n_o, w_fixed (weight x :data:`WEIGHT_SCALE`): objects that can be paired
``_acc_day``   acc, signal, day, k (distinct objects the account acted on that day: the null's degrees)
``_pair_obj``  acc_a < acc_b, signal, oid, n_post_pairs, closest post pair (pid_a, pid_b, t_a, t_b,
               gap_s = t_b - t_a; ties broken by the smaller post ids); ``cibscope watch`` only: a
               batch run computes these rows inside ``_pair_rows``
``_pair_rows`` ``_pair_obj``'s columns plus k_o, w_fixed, day, at_<x>, ev_fix, ev_<x> (:func:`scale_rows`)
``_pair_events`` acc_a, acc_b, c_<x>, n_<x>: events and objects per co-acting pair (:func:`pair_events`)
``_strata``    signal, day, d, n_<x>, kappa_<x>: background rate per scale (:func:`background`)
``_pairs``     candidate pairs with their co-actions per scale (:func:`pair_table`)
``_acc_hour``, ``_strata_h``  degrees and background rates per UTC hour (:func:`hourly_background`; only when
               rule 4's source waiver has a cluster to judge)
``_obj_author`` oid, author: who wrote the post a repost, quote or reply names (:func:`object_authors`)

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
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa

from .params import DetectionParams
from .significance import EXPECT_SCALE

#: Fixed-point scale for object weights: integer sums are exact and order-independent.
WEIGHT_SCALE = 1_000_000
#: Seconds of the null model's time stratum: UTC days.
DAY_S = 86400
#: Seconds of the burst-aware stratum of rule 4's source waiver (:func:`hourly_background`): UTC hours.
HOUR_S = 3600
#: Weight, in account-incidence pairs, of the prior that pulls a day's background rate towards the
#: signal's rate over all days (a day with few accounts says little about chance co-action).
PRIOR_PAIRS = 1000
#: Fixed-point scale of a ``_pair_obj`` row's share of its co-action event (:func:`scale_rows`).
EVENT_SCALE = 720_720  # divisible by 1..16: the common shares are exact
#: Post ids are below this, so ``pid_a * PID_SPAN + pid_b`` identifies a post pair.
PID_SPAN = 1 << 31
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
                # the empty table of expr's schema, then one INSERT: create_table(name, expr, overwrite=True)
                # writes the rows into a scratch table and copies them over (every table written twice)
                self.backend.create_table(name, schema=expr.schema(), temp=True, overwrite=True)
                self.backend.insert(name, expr)
                return self.backend.table(name)
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

    def drop(self, name: str) -> None:
        """Drop the kept table ``name`` once no later step reads it.

        On DuckDB this frees its memory for the steps after it (under the 2 GB limit of the benchmarks,
        tables held longer than needed made the large aggregates spill); on Spark the cache is freed by
        :meth:`release` at the end of the run.
        """
        if self.name == "duckdb":
            self.backend.con.execute(f"DROP TABLE IF EXISTS {name}")

    def count(self, t: ir.Table) -> int:
        """Rows of ``t``. A table kept on DuckDB is counted by one plain statement: Ibis compiles and runs a
        count through a relation and Arrow (about 0.1 s per call at 1M posts, for a figure DuckDB keeps)."""
        if self.name == "duckdb" and isinstance(t.op(), ops.DatabaseTable):
            return int(self.backend.con.execute(f'SELECT count(*) FROM "{t.get_name()}"').fetchall()[0][0])
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
    acc_day: ir.Table | None = None
    pair_obj: ir.Table | None = None
    rows: ir.Table | None = None
    pair_events: ir.Table | None = None
    strata: ir.Table | None = None


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
                                         day=(act.t / DAY_S).floor().cast("int32")))
    engine.drop("_raw")
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
    """Create ``_obj`` (popularity and weight of the objects that can be paired) and ``_acc_day``.

    ``_obj`` holds the objects with at least 2 and at most ``max_object_accounts`` distinct accounts:
    ``k_o``, ``n_o`` (actions) and the weight ``ln(N_s / k_o) + 0.001`` (``N_s`` accounts of the signal)
    with ``discount``, else 1, kept as an integer ``w_fixed = round(weight * WEIGHT_SCALE)``.
    ``_acc_day`` holds the null model's degrees: per account, signal and UTC day the number ``k`` of
    distinct objects it acted on - every object, paired or not (an object nobody else touched is still
    a choice the account made).
    """
    p, act = core.params, core.act
    pop = act.group_by(["signal", "oid"]).aggregate(k_o=act.acc.nunique(), n_o=act.count())
    n_acc = act.group_by("signal").aggregate(n_s=act.acc.nunique())
    o = pop.filter((pop.k_o >= 2) & (pop.k_o <= int(p.max_object_accounts))).join(n_acc, "signal")
    # explicit doubles: a bare 2.0 or 1e-3 is a DECIMAL literal in Spark SQL (and in DuckDB)
    weight = ((o.n_s.cast("float64") / o.k_o).ln() + ibis.literal(1e-3, type="float64") if p.discount
              else ibis.literal(1, type="float64"))
    core.obj = core.engine.keep("_obj", o.select("signal", "oid", "k_o", "n_o",
                                                 w_fixed=(weight * WEIGHT_SCALE).round().cast("int64")))
    core.acc_day = core.engine.keep("_acc_day", act.group_by(["acc", "signal", "day"]).aggregate(
        k=act.oid.nunique().cast("int64")))


def _window_join(x: ir.Table, w: float, carry: tuple[str, ...] = ()) -> ir.Table:
    """Every pair of actions of two accounts on the same object at most ``w`` seconds apart.

    ``x``: acc, oid, t, pid and the object's columns ``carry`` (e.g. signal, k_o: the same on both sides).
    Buckets of width ``w``: only the same and the next bucket can hold a partner, then the exact test
    ``|t_x - t_y| <= w``. Returns oid, acc_x, acc_y, pid_x, pid_y, t_x, t_y, ``*carry``.
    """
    x = x.select("acc", "oid", "t", "pid", *carry, b=(x.t / w).floor().cast("int64"))
    # view(): a distinct relation for the self-join. Without it ibis 12 compiled
    # ``x.b == y.b_y`` as ``b_y = b_y`` (always true): the join ran on the object alone, quadratic in an
    # object's actions (68M rows and > 8 GB on the ../shared IRA hashtags; same result, found late)
    y = x.select(oid_y="oid", b_y="b", acc_y="acc", t_y="t", pid_y="pid")
    x = x.view()
    out = ["oid", "acc_x", "acc_y", "pid_x", "pid_y", "t_x", "t_y", *carry]
    same = x.join(y, [x.oid == y.oid_y, x.b == y.b_y, x.acc < y.acc_y])
    same = same.filter((same.t - same.t_y).abs() <= w)
    nxt = x.join(y, [x.oid == y.oid_y, y.b_y == x.b + 1, x.acc != y.acc_y])
    nxt = nxt.filter(nxt.t_y - nxt.t <= w)
    same, nxt = (j.select(oid=j.oid, acc_x=j.acc, acc_y=j.acc_y, pid_x=j.pid, pid_y=j.pid_y, t_x=j.t, t_y=j.t_y,
                          **{c: j[c] for c in carry})
                 .select(*out) for j in (same, nxt))
    return same.union(nxt, distinct=False)


def coaction_pairs(core: Core, only_objects: ir.Table | None = None, *, keep: bool = True) -> ir.Table:
    """Create ``_pair_obj``: one row per (account pair, object) with a co-action at some scale.

    Each object is paired once, at the slowest scale whose cap (:meth:`DetectionParams.object_cap`, which
    follows the scale's length and never grows with it) admits its ``k_o`` (a pair's cost grows with the
    object's accounts squared times the window). Each row keeps the
    closest post pair, so the row is a co-action at scale ``W`` exactly when ``|gap_s| <= W`` (and the
    object is within that scale's cap, :func:`scale_rows`).
    ``only_objects`` (a table with an ``oid`` column) restricts the pairs to those objects:
    ``cibscope watch`` re-pairs only the objects that received or lost actions (an object's
    rows depend on its own actions alone). With ``keep=False`` the rows are not materialised:
    ``core.pair_obj`` is their expression, computed once inside :func:`scale_rows`' table (a batch
    run reads them nowhere else; writing 2.8M rows at 1M posts and reading them back cost ~0.5 s).
    """
    p = core.params
    # the object's columns ride along the self-join (the same on both sides) and are group keys below: a join
    # of the grouped rows to _obj made DuckDB build its hash table on the 2.8M grouped rows (misestimated
    # as ~900) instead of _obj's 46k at 1M posts (0.3 s)
    extra = [] if keep else ["k_o", "w_fixed"]
    x = core.act.join(core.obj.select("oid", "k_o", "w_fixed"), "oid")
    if only_objects is not None:
        x = x.semi_join(only_objects, "oid")
    carry = ("signal", *extra)
    # each object is joined once, at the slowest scale whose cap admits it (caps do not grow with the scale)
    raw, lower = None, 0
    for sc in reversed(range(len(p.windows))):
        cap = p.object_cap(sc)
        if cap > lower:
            part = _window_join(x.filter((x.k_o > lower) & (x.k_o <= cap)), p.windows[sc], carry)
            raw = part if raw is None else raw.union(part, distinct=False)
            lower = cap
    first = raw.acc_x < raw.acc_y
    oriented = raw.select(
        "oid", *carry,
        acc_a=ibis.least(raw.acc_x, raw.acc_y), acc_b=ibis.greatest(raw.acc_x, raw.acc_y),
        pid_a=ibis.ifelse(first, raw.pid_x, raw.pid_y), pid_b=ibis.ifelse(first, raw.pid_y, raw.pid_x),
        t_a=ibis.ifelse(first, raw.t_x, raw.t_y), t_b=ibis.ifelse(first, raw.t_y, raw.t_x))
    # the closest post pair; ties broken by post ids so the result is deterministic
    # (min of a struct compares field by field: a plain aggregate on both engines, faster than arg_min)
    closest = ibis.struct({"d": (oriented.t_b - oriented.t_a).abs(), "pid_a": oriented.pid_a,
                           "pid_b": oriented.pid_b, "t_a": oriented.t_a, "t_b": oriented.t_b})
    # unkept rows also carry the object's k_o and w_fixed (scale_rows reads them), kept ones only the signal
    g = oriented.group_by(["acc_a", "acc_b", "oid", *carry]).aggregate(n_post_pairs=oriented.count(),
                                                                       closest=closest.min())
    c = g.closest
    rows = g.select("acc_a", "acc_b", "signal", "oid", "n_post_pairs", pid_a=c.pid_a, pid_b=c.pid_b, t_a=c.t_a,
                    t_b=c.t_b, gap_s=c.t_b - c.t_a, *extra)
    core.pair_obj = core.engine.keep("_pair_obj", rows) if keep else rows
    return core.pair_obj


def scale_rows(core: Core) -> ir.Table:
    """Create ``_pair_rows``: ``_pair_obj`` with what every scale needs, computed once per run.

    Adds ``k_o``, ``w_fixed``, the row's UTC ``day`` (of its earlier action), a flag ``at_<x>`` per
    scale number ``x`` (the row is a co-action at scale ``windows[x]``), ``ev_fix`` (the row's share of
    its co-action event, the post pair ``(pid_a, pid_b)``: ``EVENT_SCALE // r`` where ``r`` is the
    number of the pair's rows with the same post pair) and
    ``ev_<x>``: 1 on one row per event (the one of the least object id) when the event is a co-action at scale
    ``x`` (the rows of an event share its gap; an event is at ``x`` when its least popular object is
    within that scale's cap), else 0. Summing ``ev_<x>`` counts distinct events with plain sums.
    ``_pair_obj`` is dropped once ``_pair_rows`` exists: every later step reads ``_pair_rows``.

    One act is one event: two accounts retweeting the same post that carries a link and two hashtags
    make five rows (repost, link, two hashtags, hashtag sequence) and one event; counted as objects, a
    single shared retweet met ``min_coactions = 3`` (issue 16's adversarial scenarios).
    """
    if core.rows is not None:
        return core.rows
    p = core.params
    j = core.pair_obj
    if "k_o" not in j.columns:  # a kept _pair_obj (cibscope watch)
        j = j.join(core.obj.select("oid", "k_o", "w_fixed"), "oid")
    gap = j.gap_s.abs()
    flags = {f"at_{x}": (gap <= w) & (j.k_o <= p.object_cap(x)) for x, w in enumerate(p.windows)}
    # a post belongs to one account (post_key is unique in ``posts``), so the post pair names the account
    # pair too: one BIGINT key (a window partitioned by the four ids took twice as long at 1M posts)
    event = j.pid_a.cast("int64") * PID_SPAN + j.pid_b.cast("int64")
    j = j.mutate(day=(ibis.least(j.t_a, j.t_b) / DAY_S).floor().cast("int32"), event=event, **flags)
    # most events are one row (2.7M of 2.9M rows at 1M posts): join back only the events of several rows,
    # so the join's hash table holds those (0.1-0.2 s less than joining every event back)
    per_event = j.group_by("event").aggregate(r=j.count(), k_min=j.k_o.min(), oid_min=j.oid.min())
    multi = per_event.filter(per_event.r > 1).rename(event_m="event")
    j = j.left_join(multi, j.event == multi.event_m)
    j = j.mutate(r=j.r.fill_null(1), k_min=j.k_min.fill_null(j.k_o), oid_min=j.oid_min.fill_null(j.oid))
    first = j.oid == j.oid_min  # an event's rows have distinct objects
    j = j.mutate(ev_fix=(ibis.literal(EVENT_SCALE, type="int64") // j.r).cast("int64"), **{
        f"ev_{x}": (first & (gap <= w) & (j.k_min <= p.object_cap(x))).cast("int64")
        for x, w in enumerate(p.windows)})
    core.rows = core.engine.keep("_pair_rows", j.drop("r", "k_min", "oid_min", "event", "event_m"))
    # every later step reads _pair_rows (a superset of _pair_obj's columns): free _pair_obj's memory
    core.engine.drop("_pair_obj")
    core.pair_obj = core.rows
    return core.rows


def pair_events(core: Core) -> ir.Table:
    """Create ``_pair_events``: per account pair with a co-action, ``c_<x>``, its distinct co-action events
    at scale number ``x`` (sums of :func:`scale_rows`' ``ev_<x>``), and ``n_<x>``, its co-acted objects
    there (the rows flagged ``at_<x>``): the one aggregate over every co-acting pair."""
    if core.pair_events is None:
        rows = scale_rows(core)
        n_sc = len(core.params.windows)
        core.pair_events = core.engine.keep("_pair_events", rows.group_by(["acc_a", "acc_b"]).aggregate(
            **{f"c_{x}": rows[f"ev_{x}"].sum() for x in range(n_sc)},
            **{f"n_{x}": rows[f"at_{x}"].cast("int64").sum() for x in range(n_sc)}))
    return core.pair_events


def background(core: Core) -> ir.Table:
    """Create ``_strata``: the null model's background rate per signal, UTC day and scale.

    Columns: signal, day, d (account-incidence pairs of the stratum, ``(m^2 - sum_i k_i^2) / 2`` over
    ``_acc_day``), ``n_<x>`` (incidental co-action events at scale ``x``: the event shares ``ev_fix`` of
    :func:`scale_rows` of pairs with fewer than ``min_coactions`` events at that scale, so that a
    stratum's events summed over signals count each incidental act once) and ``kappa_<x>``: the rate at which an account-incidence
    pair of the stratum is an incidental co-action, ``(n + PRIOR_PAIRS * kappa_s) / (d + PRIOR_PAIRS)``,
    shrunk towards the signal's rate over all days ``kappa_s = sum n / sum d`` (docs/detection.md).

    Pairs that co-act ``min_coactions`` times or more are the candidates under test; their co-actions
    are left out of the background, so an operation never sets its own baseline.
    """
    core.strata = core.engine.keep("_strata", _stratum_rates(core, scale_rows(core), core.acc_day, "day"))
    return core.strata


def hourly_background(core: Core) -> tuple[ir.Table, ir.Table]:
    """Create ``_acc_hour`` (acc, signal, hour, k) and ``_strata_h`` (:func:`background`'s columns per UTC
    hour instead of day): the burst-aware null of rule 4's source waiver (docs/detection.md).

    ``hour`` is ``floor(t / 3600)`` (UTC hours since the epoch); a co-action row belongs to the hour of its
    earlier action. Within an hour, a trending topic's burst is most of the background: accounts that
    each join the same trends at their own moments co-act at that hour's rate, an operation acting on a
    cue beyond it. Computed only for runs that have a cluster the waiver could flag.
    """
    a = core.act.mutate(hour=(core.act.t / HOUR_S).floor().cast("int32"))
    acc_hour = core.engine.keep("_acc_hour", a.group_by(["acc", "signal", "hour"]).aggregate(
        k=a.oid.nunique().cast("int64")))
    rows = scale_rows(core)
    rows = rows.mutate(hour=(ibis.least(rows.t_a, rows.t_b) / HOUR_S).floor().cast("int32"))
    return acc_hour, core.engine.keep("_strata_h", _stratum_rates(core, rows, acc_hour, "hour"))


def _stratum_rates(core: Core, rows: ir.Table, degrees: ir.Table, key: str) -> ir.Table:
    """The background rates of :func:`background` per (signal, ``key``): ``rows`` are :func:`scale_rows`'
    with a ``key`` column, ``degrees`` (acc, signal, ``key``, k) the accounts' distinct objects per stratum."""
    p, n_sc = core.params, len(core.params.windows)
    m = int(p.min_coactions)
    r = rows.join(pair_events(core), ["acc_a", "acc_b"])
    incidental = r.group_by(["signal", key]).aggregate(
        **{f"n_{x}": ibis.ifelse(r[f"at_{x}"] & (r[f"c_{x}"] < m), r.ev_fix, 0).sum() for x in range(n_sc)})
    incidental = incidental.select("signal", key, **{
        f"n_{x}": incidental[f"n_{x}"].cast("float64") / EVENT_SCALE for x in range(n_sc)})
    deg = degrees.group_by(["signal", key]).aggregate(m=degrees.k.sum(), m2=(degrees.k * degrees.k).sum())
    deg = deg.select("signal", key, d=((deg.m * deg.m - deg.m2) / 2).cast("int64"))
    s = deg.left_join(incidental, ["signal", key]).select(
        "signal", key, "d", **{f"n_{x}": ibis.coalesce(incidental[f"n_{x}"], 0.0) for x in range(n_sc)})
    tot = s.group_by("signal").aggregate(d_all=s.d.sum(), **{f"nall_{x}": s[f"n_{x}"].sum() for x in range(n_sc)})
    s = s.join(tot, "signal")
    prior = ibis.literal(float(PRIOR_PAIRS), type="float64")
    kap = {}
    for x in range(n_sc):
        rate = s[f"nall_{x}"].cast("float64") / ibis.greatest(s.d_all, 1).cast("float64")
        kap[f"kappa_{x}"] = (s[f"n_{x}"].cast("float64") + prior * rate) / (s.d.cast("float64") + prior)
    return s.select("signal", key, "d", *[f"n_{x}" for x in range(n_sc)], **kap)


def pair_table(core: Core) -> pa.Table:
    """Per candidate account pair: co-actions and null expectation at every scale; returns Arrow.

    Columns: acc_a, acc_b, n_post_pairs (all scales), and per scale number ``x``: ``n_<x>`` (distinct
    co-acted objects), ``ev_<x>`` (distinct co-action events: post pairs), ``wfix_<x>`` (sum of ``w_fixed``), ``mask_<x>`` (bit ``i`` set when signal
    ``params.signals[i]`` co-acted) and ``exp_<x>`` (``E_ij = sum_(s, day) kappa k_i k_j`` over the
    strata of ``_strata``, summed in fixed point). Only pairs with ``min_coactions`` co-actions at some
    scale; sorted by (acc_a, acc_b).
    """
    p, n_sc = core.params, len(core.params.windows)
    strata = background(core)
    rows = scale_rows(core)
    # the candidates (a few % of the co-acting pairs) from _pair_events' counts; every column below is
    # then aggregated over their rows only
    counts = pair_events(core)
    most = counts.n_0 if n_sc == 1 else ibis.greatest(*[counts[f"n_{x}"] for x in range(n_sc)])  # Spark: 2+ args
    cand = rows.semi_join(counts.filter(most >= int(p.min_coactions)).select("acc_a", "acc_b"), ["acc_a", "acc_b"])
    aggs = {"n_post_pairs": cand.n_post_pairs.sum()}
    for x in range(n_sc):
        at = cand[f"at_{x}"]
        aggs[f"n_{x}"] = at.cast("int64").sum()
        aggs[f"ev_{x}"] = cand[f"ev_{x}"].sum()
        aggs[f"wfix_{x}"] = ibis.ifelse(at, cand.w_fixed, 0).sum()
    # the signal bits (Ibis compiles no bit_or aggregate for Spark: a max per bit, summed)
    aggs.update({f"bit_{x}_{i}": ibis.ifelse(cand[f"at_{x}"] & (cand.signal == s), 1 << i, 0).cast("int64").max()
                 for x in range(n_sc) for i, s in enumerate(p.signals)})
    pairs = cand.group_by(["acc_a", "acc_b"]).aggregate(**aggs)
    pairs = pairs.select(*[c for c in pairs.columns if not c.startswith("bit_")], **{
        f"mask_{x}": sum((pairs[f"bit_{x}_{i}"] for i in range(1, len(p.signals))), pairs[f"bit_{x}_0"])
        for x in range(n_sc)})
    pairs = core.engine.keep("_pairs", pairs)
    a = core.acc_day.rename(acc_a="acc", k_a="k")
    b = core.acc_day.rename(acc_b="acc", k_b="k")
    e = pairs.select("acc_a", "acc_b").join(a, "acc_a").join(b, ["acc_b", "signal", "day"]).join(
        strata, ["signal", "day"])
    kk = e.k_a.cast("float64") * e.k_b.cast("float64")
    terms = e.group_by(["acc_a", "acc_b"]).aggregate(
        **{f"efix_{x}": (kk * e[f"kappa_{x}"] * EXPECT_SCALE).round().cast("int64").sum() for x in range(n_sc)})
    out = pairs.left_join(terms, ["acc_a", "acc_b"])
    out = out.select(*pairs.columns, **{f"exp_{x}": ibis.coalesce(out[f"efix_{x}"], 0).cast("float64")
                                        / EXPECT_SCALE for x in range(n_sc)})
    return core.engine.to_arrow(out.order_by(["acc_a", "acc_b"]))


def edge_details(core: Core, edges: pa.Table) -> pa.Table:
    """Describe each edge by its co-actions at its own scale; returns Arrow sorted by (acc_a, acc_b).

    ``edges``: acc_a, acc_b (int32), scale (int32, the scale number). Columns: acc_a, acc_b,
    n_post_pairs, a_first, b_first (objects on which a / b acted first), median_gap_s (median
    ``|gap|``, seconds), first_t, last_t (epoch seconds).
    """
    p = core.params
    up = core.engine.upload("_edge_scale", pa.table({
        "acc_a": edges.column("acc_a").cast(pa.int32()), "acc_b": edges.column("acc_b").cast(pa.int32()),
        "w": pa.array([p.windows[x] for x in edges.column("scale").to_pylist()], pa.float64()),
        "cap": pa.array([p.object_cap(x) for x in edges.column("scale").to_pylist()], pa.int64())}))
    rows = scale_rows(core)
    j = rows.join(up, ["acc_a", "acc_b"])
    j = j.filter((j.gap_s.abs() <= j.w) & (j.k_o <= j.cap))
    g = j.group_by(["acc_a", "acc_b"]).aggregate(
        n_post_pairs=j.n_post_pairs.sum(), a_first=(j.gap_s > 0).sum(), b_first=(j.gap_s < 0).sum(),
        median_gap_s=j.gap_s.abs().median(),
        first_t=ibis.least(j.t_a, j.t_b).min(), last_t=ibis.greatest(j.t_a, j.t_b).max())
    return core.engine.to_arrow(g.order_by(["acc_a", "acc_b"]))


#: Signals whose object is a post key: the object's *source* is that post's author (docs/detection.md, rule 4).
AUTHORED_SIGNALS = ("repost", "quote", "reply", "fast_repost")


def object_authors(core: Core) -> ir.Table:
    """The author of every pairable object of :data:`AUTHORED_SIGNALS` whose post is in the run.

    Columns: oid, author (account key). A reposted (quoted, replied-to) post is in the run when it has
    an action of the run's signals (its text, a hashtag, a link...); one it lacks has no row, and the
    cluster decision then counts the object as its own source. A post has one author, so the
    ``min`` only picks that one key.
    """
    o = core.obj_map.filter(core.obj_map.signal.isin(AUTHORED_SIGNALS)).semi_join(core.obj, "oid")
    j = o.join(core.post_map, o.object == core.post_map.post_key)
    by_post = core.act.select("pid", "acc").distinct()
    j = j.join(by_post, "pid").join(core.acc_map, "acc")
    return j.group_by("oid").aggregate(author=j.account_key.min())


def evidence_rows(core: Core, accounts: pa.Array) -> dict[str, pa.Table]:
    """The rows needed to save a run whose edges join ``accounts`` (int ids), as Arrow tables.

    ``_pair_rows`` (:func:`scale_rows`) among those accounts (both ends), the ``_obj``, ``_obj_map``, ``_post_map``
    and ``_obj_author`` (:func:`object_authors`) rows it refers to, the ``_acc_map`` and ``_acc_day`` rows of
    the accounts and the whole ``_strata``; the accounts' ``_acc_hour`` and the whole ``_strata_h``
    (:func:`hourly_background`). Used by engines whose tables do not live in the store (Spark): a small part
    of the run's data.
    """
    ids = core.engine.upload("_ev_acc", pa.table({"acc": pa.array(accounts, pa.int32())}))
    rows = scale_rows(core)
    po = rows.semi_join(ids.rename(acc_a="acc"), "acc_a").semi_join(ids.rename(acc_b="acc"), "acc_b")
    po = core.engine.keep("_pair_rows_ev", po)
    oids = po.select("oid").distinct()
    pids = po.select(pid="pid_a").union(po.select(pid="pid_b")).distinct()
    tables = {
        "_pair_rows": po,
        "_obj": core.obj.semi_join(oids, "oid"),
        "_obj_map": core.obj_map.semi_join(oids, "oid"),
        "_post_map": core.post_map.semi_join(pids, "pid"),
        "_acc_map": core.acc_map.semi_join(ids, "acc"),
        "_acc_day": core.acc_day.semi_join(ids, "acc"),
        "_strata": core.strata,
        "_obj_author": object_authors(core).semi_join(oids, "oid"),
    }
    acc_hour, strata_h = hourly_background(core)  # rule 4's waiver may need them (Spark: computed every run)
    tables.update({"_acc_hour": acc_hour.semi_join(ids, "acc"), "_strata_h": strata_h})
    return {name: core.engine.to_arrow(t) for name, t in tables.items()}
