"""Incremental detection over a sliding time horizon: only objects whose actions changed are re-paired.

Method
------
``detect`` spends its time in the windowed self-join that turns actions into co-action rows, one per
(account pair, signal, object). Such a row depends only on the actions *on that object* (and on which
accounts pass ``min_account_actions``). :func:`update` therefore keeps the rows of the current horizon
in ``watch_pair_obj`` and, when new actions arrive, re-pairs only the *touched* objects:

* objects that received a new action inside the horizon ``[end - H, end]`` (``end``: the latest action
  time seen, so replayed history and live data are treated alike);
* objects that lost actions because the horizon moved past them (``old start <= ts < new start``);
* objects acted on by an account whose eligibility (``min_account_actions`` within the horizon) changed.

Rows of all other objects are reused unchanged; rows of touched objects are recomputed by
``detect``'s own core restricted to them (``coaction_pairs(only_objects=...)``). The per-object and
per-account statistics of the null model (``k_o``, ``n_o``, IDF weights with the signal's account count
``N_s``, the per-day degrees ``_acc_day`` and the background rates of ``_strata``) are global, so they are
recomputed over the horizon on each update by ``build_actions``/``object_stats``/``pair_table``: scans of
the horizon's actions and co-action rows, cheap next to the pair join. Edges, significance, Leiden and the saved run then come from ``detect``
itself (the same code as a batch run), so the result of an update equals ``detect`` run over the same
horizon (``tests/test_watch_incremental.py``).

The update's state changes (rows, eligible accounts, seen posts, horizon) are committed in one
transaction together with the cluster continuity and alerts (:mod:`cibscope.watch.alerts`).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..detect import STEPS, DetectionParams, RunResult, detect
from ..store.conn import one
from ..store.db import Store
from . import state

if TYPE_CHECKING:  # the Ibis core is imported when an update runs (Ibis is slow to import)
    from ..detect.core import Core, Engine

#: Signals derived at detection time depend on all texts or reposts of the horizon, not on one object:
#: they cannot be updated object by object.
UNSUPPORTED_SIGNALS = ("text_near", "fast_repost", "burst")

#: TEMP tables of one update (dropped when it ends).
_TEMP = ("_w_new_posts", "_w_new", "_w_touched", "_w_touched_oid", "_w_acc_now", "_w_fresh", "_w_pairs_new")


class WatchError(ValueError):
    """Watch state or parameters that cannot be used (message says why and what to do)."""


@dataclass
class UpdateResult:
    """What one :func:`update` did.

    ``run`` is the detection run of the new horizon (None when no new post arrived);
    ``horizon`` is ``(start, end)``, naive UTC, both inclusive; ``touched`` the number of
    (signal, object) re-paired, ``reused`` the co-action rows taken unchanged from the state.
    """

    update_no: int
    n_new_posts: int
    n_new_actions: int
    touched: int
    reused: int
    horizon: tuple[dt.datetime, dt.datetime] | None
    run: RunResult | None
    seconds: float


def action_filter(params: DetectionParams) -> str:
    """SQL predicate on ``actions`` selecting the run's signals and datasets."""
    sig = ", ".join(f"'{s}'" for s in params.signals)
    pred = f"action_type IN ({sig})"
    if params.datasets:
        pred += " AND dataset IN (" + ", ".join("'" + d.replace("'", "''") + "'" for d in params.datasets) + ")"
    return pred


def check_params(store: Store, params: DetectionParams, horizon_s: float) -> None:
    """Refuse parameters the state was not built with, and derived signals.

    Raises
    ------
    WatchError
        A derived signal is asked for, or the state holds other parameters or another horizon.
    """
    bad = [s for s in params.signals if s in UNSUPPORTED_SIGNALS]
    if bad:
        raise WatchError(f"signals {bad} are derived over the whole horizon and cannot be watched incrementally; "
                         f"drop them from --signals")
    if horizon_s < params.max_window_s:
        raise WatchError(f"horizon ({horizon_s:g} s) must be at least the slowest window ({params.max_window_s:g} s)")
    state.ensure(store.con)
    saved = state.get(store.con, "params")
    same = saved == params.model_dump(mode="json") and state.get(store.con, "horizon_s") == horizon_s
    if saved is not None and not same:
        raise WatchError("this store's watch state was built with other detection parameters or another horizon; "
                         "use the same ones, or start over with --reset")


def update(store: Store, params: DetectionParams, horizon_s: float, *,
           on_run: Callable[[RunResult, int, tuple[dt.datetime, dt.datetime]], None] | None = None,
           progress: Callable[[str], None] | None = None) -> UpdateResult:
    """Take every post not yet seen into account and re-run detection over the new horizon.

    Parameters
    ----------
    store : Store
        Holds the ingested data and the watch state (:mod:`cibscope.watch.state`).
    params : DetectionParams
        Must be the same on every update of a store (checked).
    horizon_s : float
        Horizon length H in seconds: detection covers actions with ``end - H <= ts <= end``.
    on_run : callable, optional
        Called as ``on_run(run, update_no, horizon)`` *inside* the state transaction (cluster continuity
        and alerts are written there, so they commit together with the state).
    progress : callable, optional
        Called with the name of each detection step.

    Returns
    -------
    UpdateResult

    Raises
    ------
    WatchError
        Parameters differ from the state's, or the state is inconsistent with the store.
    """
    from ..detect.core import build_actions, coaction_pairs, object_stats, select_actions

    started = time.perf_counter()
    con = store.con
    check_params(store, params, horizon_s)
    filt = action_filter(params)
    try:
        con.execute("""CREATE OR REPLACE TEMP TABLE _w_new_posts AS SELECT post_key FROM posts p
                       WHERE NOT EXISTS (SELECT 1 FROM watch_seen s WHERE s.post_key = p.post_key)""")
        n_posts = one(con, "SELECT count(*) FROM _w_new_posts")[0]
        update_no = state.get(con, "updates", 0)
        if n_posts == 0:
            return UpdateResult(update_no, 0, 0, 0, 0, None, None, time.perf_counter() - started)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _w_new AS
                        SELECT action_type AS signal, object_key AS object, ts FROM actions a
                        SEMI JOIN _w_new_posts n ON n.post_key = a.post_key WHERE {filt}""")
        n_new, new_end = one(con, "SELECT count(*), max(ts) FROM _w_new")
        old = state.get(con, "horizon")
        old_start, old_end = (dt.datetime.fromisoformat(old[0]), dt.datetime.fromisoformat(old[1])) if old \
            else (None, None)
        end = max(x for x in (old_end, new_end) if x is not None) if (old_end or new_end) else None
        run = None
        touched = reused = 0
        horizon = None
        if end is not None and new_end is not None:
            start = end - dt.timedelta(seconds=horizon_s)
            horizon = (start, end)
            con.execute("""CREATE OR REPLACE TEMP TABLE _w_touched AS
                            SELECT signal, object FROM _w_new WHERE ts BETWEEN ? AND ?""", [start, end])
            if old_start is not None and start > old_start:
                con.execute(f"""INSERT INTO _w_touched SELECT action_type, object_key FROM actions
                                WHERE {filt} AND ts >= ? AND ts < ?""", [old_start, start])
            counts: dict[str, int] = {}

            def core(engine: Engine, actions, extra, p: DetectionParams, say: Callable[[str], None]) -> Core:
                c = engine.backend.con
                say(STEPS[0])
                built = build_actions(engine, select_actions(actions, p, extra, between=horizon), p)
                _touch_changed_accounts(c, filt, horizon)
                say(STEPS[1])
                object_stats(built)
                c.execute("""CREATE OR REPLACE TEMP TABLE _w_touched_oid AS
                             SELECT om.oid FROM _obj_map om
                             SEMI JOIN _w_touched t ON t.signal = om.signal AND t.object = om.object""")
                say(STEPS[2])
                coaction_pairs(built, only_objects=engine.backend.table("_w_touched_oid"))
                counts["touched"] = one(c, "SELECT count(DISTINCT (signal, object)) FROM _w_touched")[0]
                counts["reused"] = _merge_pairs(c)
                built.pair_obj = engine.backend.table("_pair_obj")  # the merged rows
                return built

            run = detect(store, params, builder=core, progress=progress)
            touched, reused = counts["touched"], counts["reused"]
        con.execute("BEGIN TRANSACTION")
        try:
            if run is not None:
                con.execute("DELETE FROM watch_pair_obj w USING _w_touched t "
                            "WHERE w.signal = t.signal AND w.object = t.object")
                con.execute("INSERT INTO watch_pair_obj SELECT * FROM _w_fresh")
                con.execute("DELETE FROM watch_acc")
                con.execute("INSERT INTO watch_acc SELECT account_key FROM _w_acc_now")
                state.put(con, "horizon", [horizon[0].isoformat(), horizon[1].isoformat()])
                _drop_previous_run(con, state.get(con, "run_id"))
                state.put(con, "run_id", run.run_id)
                con.execute("INSERT INTO run_kinds VALUES (?, 'watch')", [run.run_id])
            con.execute("INSERT INTO watch_seen SELECT post_key FROM _w_new_posts")
            state.put(con, "params", params.model_dump(mode="json"))
            state.put(con, "horizon_s", horizon_s)
            update_no += 1
            state.put(con, "updates", update_no)
            if run is not None and on_run is not None:
                on_run(run, update_no, horizon)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return UpdateResult(update_no, n_posts, n_new, touched, reused, horizon, run, time.perf_counter() - started)
    finally:
        for t in _TEMP:
            con.execute(f"DROP TABLE IF EXISTS {t}")


def _touch_changed_accounts(con, filt: str, horizon: tuple[dt.datetime, dt.datetime]) -> None:
    """Add to ``_w_touched`` the horizon's objects of accounts that became (in)eligible (``_acc_map`` vs
    ``watch_acc``), and keep the new eligible set in ``_w_acc_now``."""
    con.execute("CREATE OR REPLACE TEMP TABLE _w_acc_now AS SELECT account_key FROM _acc_map")
    con.execute(f"""
        INSERT INTO _w_touched
        SELECT DISTINCT a.action_type, a.object_key FROM actions a
        SEMI JOIN ((SELECT account_key FROM _w_acc_now EXCEPT SELECT account_key FROM watch_acc)
                   UNION (SELECT account_key FROM watch_acc EXCEPT SELECT account_key FROM _w_acc_now)) c
             ON c.account_key = a.account_key
        WHERE {filt} AND a.ts BETWEEN ? AND ?""", list(horizon))


def _merge_pairs(con) -> int:
    """Replace ``_pair_obj`` (touched objects only) by the full set: the fresh rows plus the state's rows of
    untouched objects mapped to this run's integer ids; keep the fresh rows string-keyed in ``_w_fresh``.

    Returns the number of reused rows. Raises :class:`WatchError` when a reused row no longer maps onto the
    horizon (state and store out of step).
    """
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _w_fresh AS
        SELECT ma.account_key AS account_a, mb.account_key AS account_b, p.signal, om.object, p.n_post_pairs,
               pa.post_key AS post_a, pb.post_key AS post_b, p.t_a, p.t_b, p.gap_s
        FROM _pair_obj p JOIN _acc_map ma ON ma.acc = p.acc_a JOIN _acc_map mb ON mb.acc = p.acc_b
        JOIN _obj_map om ON om.oid = p.oid JOIN _post_map pa ON pa.pid = p.pid_a JOIN _post_map pb ON pb.pid = p.pid_b
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _w_pairs_new AS
        SELECT * FROM _pair_obj
        UNION ALL
        SELECT ma.acc, mb.acc, w.signal, om.oid, w.n_post_pairs, pa.pid, pb.pid, w.t_a, w.t_b, w.gap_s
        FROM watch_pair_obj w
        ANTI JOIN _w_touched t ON t.signal = w.signal AND t.object = w.object
        JOIN _acc_map ma ON ma.account_key = w.account_a JOIN _acc_map mb ON mb.account_key = w.account_b
        JOIN _obj_map om ON om.signal = w.signal AND om.object = w.object
        JOIN _post_map pa ON pa.post_key = w.post_a JOIN _post_map pb ON pb.post_key = w.post_b
    """)
    kept = one(con, """SELECT count(*) FROM watch_pair_obj w
                       ANTI JOIN _w_touched t ON t.signal = w.signal AND t.object = w.object""")[0]
    total, fresh = one(con, "SELECT (SELECT count(*) FROM _w_pairs_new), (SELECT count(*) FROM _pair_obj)")
    if total - fresh != kept:
        raise WatchError(f"watch state out of step with the store: {kept - (total - fresh)} stored co-action rows "
                         f"no longer match the horizon's actions; start over with --reset")
    con.execute("CREATE OR REPLACE TEMP TABLE _pair_obj AS SELECT * FROM _w_pairs_new")
    return kept


def _drop_previous_run(con, run_id: int | None) -> None:
    """Delete the previous update's run (one run per horizon would pile up), unless a case uses it."""
    if run_id is None or one(con, "SELECT 1 FROM cases WHERE run_id = ?", [run_id]):
        return
    from ..store.schema import RESULT_TABLES
    for t in RESULT_TABLES:
        con.execute(f"DELETE FROM {t} WHERE run_id = ?", [run_id])
