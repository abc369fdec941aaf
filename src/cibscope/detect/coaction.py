"""DuckDB-connection entry points to the co-action core (``detect/core.py``), step by step.

For callers that hold a DuckDB connection with the store's ``actions`` (the ``watch`` command,
tests): each function runs one step of the portable Ibis core on that connection and leaves
its TEMP tables there under the names documented in ``detect/core.py`` (``_acc_map``,
``_obj_map``, ``_post_map``, ``_act``, ``_obj``, ``_acc_sig``, ``_pair_obj``, ``_kappa``).
Derived signals are not computed here (``detect()`` does that).
"""
from __future__ import annotations

import duckdb

from . import core
from .core import WEIGHT_SCALE
from .params import DetectionParams


def _engine(con: duckdb.DuckDBPyConnection) -> core.Engine:
    return core.Engine.duckdb(con)


def _core(con: duckdb.DuckDBPyConnection, params: DetectionParams, *names: str) -> core.Core:
    e = _engine(con)
    t = {n: e.backend.table(n) for n in ("_acc_map", "_obj_map", "_post_map", "_act") + names}
    c = core.Core(e, params, t["_acc_map"], t["_obj_map"], t["_post_map"], t["_act"])
    c.obj, c.acc_sig = t.get("_obj"), t.get("_acc_sig")
    return c


def build_actions(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> int:
    """Create ``_acc_map``, ``_obj_map``, ``_post_map`` and ``_act`` from ``actions``; returns the action count."""
    e = _engine(con)
    c = core.build_actions(e, core.select_actions(e.backend.table("actions"), params), params)
    n = e.count(c.act)
    e.release()
    con.execute("DROP TABLE IF EXISTS _raw")
    return n


def object_stats(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> None:
    """Create ``_obj``, ``_acc_sig`` and ``_kappa(signal, kappa)`` (after :func:`build_actions`)."""
    c = _core(con, params)
    core.object_stats(c)
    c.engine.release()
    con.execute("CREATE OR REPLACE TEMP TABLE _kappa (signal VARCHAR, kappa DOUBLE)")
    if c.kappa:
        con.executemany("INSERT INTO _kappa VALUES (?, ?)", list(c.kappa.items()))


def coaction_pairs(con: duckdb.DuckDBPyConnection, params: DetectionParams) -> int:
    """Create ``_pair_obj`` (after :func:`object_stats`); returns its row count."""
    c = _core(con, params, "_obj", "_acc_sig")
    n = c.engine.count(core.coaction_pairs(c))
    c.engine.release()
    return n


__all__ = ["WEIGHT_SCALE", "build_actions", "coaction_pairs", "object_stats"]
