"""Cluster continuity across updates and the alert rules of ``cibscope watch``.

Continuity
----------
``detect`` names a cluster by its members (``C`` + md5 of the sorted keys), so a growing cluster gets a
new ``cluster_id`` on every update. Watch gives each cluster a *wid* that it keeps while it grows: a new
cluster inherits the wid of the previous update's cluster with which it shares the most members,
provided those shared members are at least half of that previous cluster (greedy, largest overlap first,
ties by ids; each previous wid is inherited once). Otherwise it is born with wid ``W`` + the 10 hex
characters of its first ``cluster_id``.

Alerts (only for clusters ``detect`` flags as candidate operations)
-------------------------------------------------------------------
``new``        a flagged cluster seen for the first time
``grown``      its size reached ``grow_factor`` x its size at its last new/grown alert
``tip``        a member is a seed match (handle, user id, URL, domain) of a partner tip's indicator
``operation``  the cluster matches a known operation (:class:`Operation`): shared objects, members or
               narratives

Every alert has a deterministic id (md5 of kind, wid and the rule's key: the size for ``grown``, the
tip or operation id), the primary key of ``watch_alerts``: raising it again is a no-op, so alerts are
deduplicated across updates and restarts. Each carries its evidence (see :func:`evidence`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cases.match import SEED_MATCH_TYPES
from ..store.conn import one
from ..store.db import Store

KINDS = ("new", "grown", "tip", "operation")


@dataclass
class Operation:
    """A known operation to recognise: objects (``signal``, ``object`` as in ``actions``), account keys and
    narrative ids (of :mod:`cibscope.explain.narratives`), each optional."""

    id: str
    name: str
    objects: list[tuple[str, str]] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    narratives: list[str] = field(default_factory=list)


def load_operations(path: str | Path) -> list[Operation]:
    """Read ``{"operations": [{"id", "name", "objects": [{"signal", "object"}], "accounts": [...],
    "narratives": [...]}]}``.

    Raises
    ------
    ValueError
        Not JSON or an entry without ``id``/``name`` or with a malformed object (names the file and entry).
    """
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))["operations"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not an operations file (expected {{\"operations\": [...]}}): {exc}") from None
    ops = []
    for i, e in enumerate(entries, start=1):
        if not isinstance(e, dict) or not e.get("id") or not e.get("name"):
            raise ValueError(f"{path}: operation #{i} lacks id or name")
        try:
            objs = [(str(o["signal"]), str(o["object"])) for o in e.get("objects", [])]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: operation #{i} ({e['id']}): field 'objects': "
                             "each needs signal and object") from None
        ops.append(Operation(e["id"], e["name"], objs, list(e.get("accounts", [])), list(e.get("narratives", []))))
    return ops


@dataclass
class Rules:
    """Alert thresholds: ``grow_factor`` (> 1) for ``grown``; ``operations`` to recognise; ``tips``:
    check partner tips' seed matches (``tip_matches``)."""

    grow_factor: float = 1.5
    operations: list[Operation] = field(default_factory=list)
    tips: bool = True


def alert_id(kind: str, wid: str, key: str = "") -> str:
    """Deterministic alert id: ``A`` + 16 hex of md5(kind | wid | key)."""
    return "A" + hashlib.md5(f"{kind}|{wid}|{key}".encode()).hexdigest()[:16]


def track(store: Store, run_id: int, update_no: int, horizon_end: dt.datetime, rules: Rules) -> list[str]:
    """Carry cluster ids over from the previous update and raise this update's alerts.

    Runs inside the update's transaction (:func:`cibscope.watch.incremental.update`'s ``on_run``).

    Parameters
    ----------
    run_id : int
        The run of the new horizon.
    update_no : int
        The update's number (recorded as the birth/last-update of clusters).
    horizon_end : datetime
        Latest action time covered (naive UTC): the alert's ``data_time``.

    Returns
    -------
    list of str
        Ids of the alerts raised now (already-raised ones are not repeated).
    """
    con = store.con
    cur = con.execute("SELECT cluster_id, n_accounts, flagged FROM clusters WHERE run_id = ? ORDER BY cluster_id",
                      [run_id]).fetchall()
    prev = {w: (cid, n, alerted) for w, cid, n, alerted in
            con.execute("SELECT wid, cluster_id, n_members, alerted_size FROM watch_clusters").fetchall()}
    born = {w: b for w, b in con.execute("SELECT wid, born_update FROM watch_clusters").fetchall()}
    overlaps = con.execute("""
        SELECT m.cluster_id, w.wid, count(*) AS shared FROM cluster_members m
        JOIN watch_members w ON w.account_key = m.account_key WHERE m.run_id = ?
        GROUP BY ALL ORDER BY shared DESC, m.cluster_id, w.wid""", [run_id]).fetchall()
    wid_of: dict[str, str] = {}
    taken: set[str] = set()
    for cid, wid, shared in overlaps:
        if cid in wid_of or wid in taken or 2 * shared < prev[wid][1]:
            continue
        wid_of[cid] = wid
        taken.add(wid)
    rows = []
    for cid, n, flagged in cur:
        if cid in wid_of:
            wid = wid_of[cid]
            rows.append((wid, cid, n, flagged, prev[wid][2], born[wid], update_no))
        else:
            wid = "W" + cid[1:]
            rows.append((wid if wid not in taken else wid + f"u{update_no}", cid, n, flagged, None, update_no,
                         update_no))
    con.execute("DELETE FROM watch_clusters")
    con.execute("DELETE FROM watch_members")
    if rows:
        con.executemany("INSERT INTO watch_clusters VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("""INSERT INTO watch_members SELECT c.wid, m.account_key FROM cluster_members m
                       JOIN watch_clusters c ON c.cluster_id = m.cluster_id WHERE m.run_id = ?""", [run_id])
    raised: list[str] = []
    seq = one(con, "SELECT coalesce(max(seq), 0) FROM watch_alerts")[0]
    for wid, cid, n, flagged, alerted, _, _ in rows:
        if not flagged:
            continue
        found: list[tuple[str, str, dict[str, Any]]] = []
        if alerted is None:
            found.append(("new", "", {}))
        elif n >= math.ceil(alerted * rules.grow_factor):
            found.append(("grown", str(n), {"previous_size": alerted}))
        if rules.tips:
            found += [("tip", t, {"tip_id": t, "tip": m}) for t, m in _tip_hits(con, run_id, cid).items()]
        found += [("operation", op.id, {"operation": m}) for op, m in _operation_hits(store, run_id, cid, rules)]
        for kind, key, extra in found:
            aid = alert_id(kind, wid, key)
            if kind in ("new", "grown"):
                con.execute("UPDATE watch_clusters SET alerted_size = ? WHERE wid = ?", [n, wid])
            if one(con, "SELECT 1 FROM watch_alerts WHERE alert_id = ?", [aid]):
                continue
            seq += 1
            payload = {"alert_id": aid, "kind": kind, "wid": wid, "update": update_no,
                       "data_time": horizon_end.isoformat(), **extra, **evidence(store, run_id, cid)}
            con.execute("INSERT INTO watch_alerts (alert_id, seq, raised_at, data_time, kind, wid, payload) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [aid, seq, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), horizon_end, kind, wid,
                         json.dumps(payload, default=str)])
            raised.append(aid)
    return raised


def evidence(store: Store, run_id: int, cluster_id: str, max_members: int = 50, max_pairs: int = 10) -> dict:
    """What an analyst needs to act on a cluster: its statistics and summary from ``clusters``, members
    (key, handle, degree; strongest first, at most ``max_members``) and the strongest co-actions among
    members (account pair, signal, object, the closest post pair and its gap in seconds)."""
    con = store.con
    c = con.sql("SELECT * EXCLUDE (run_id) FROM clusters WHERE run_id = $r AND cluster_id = $c",
                params={"r": run_id, "c": cluster_id}).to_arrow_table().to_pylist()[0]
    members = con.execute("""
        SELECT m.account_key, a.handle, m.degree FROM cluster_members m LEFT JOIN accounts a USING (account_key)
        WHERE m.run_id = ? AND m.cluster_id = ? ORDER BY m.strength DESC, m.account_key LIMIT ?""",
                          [run_id, cluster_id, max_members]).fetchall()
    pairs = con.execute("""
        SELECT e.account_a, e.account_b, e.action_type, e.object_key, e.post_a, e.post_b, e.ts_a, e.ts_b, e.gap_s
        FROM edge_evidence e
        JOIN cluster_members ma ON ma.run_id = e.run_id AND ma.cluster_id = ? AND ma.account_key = e.account_a
        JOIN cluster_members mb ON mb.run_id = e.run_id AND mb.cluster_id = ? AND mb.account_key = e.account_b
        WHERE e.run_id = ?
        ORDER BY e.object_weight DESC, abs(e.gap_s), e.account_a, e.account_b, e.object_key LIMIT ?""",
                        [cluster_id, cluster_id, run_id, max_pairs]).fetchall()
    keys = ("account_a", "account_b", "signal", "object", "post_a", "post_b", "ts_a", "ts_b", "gap_s")
    return {"cluster_id": cluster_id, "run_id": run_id, "n_members": c["n_accounts"], "n_edges": c["n_edges"],
            "n_coactions": c["n_coactions"], "expected": c["expected"], "lift": c["lift"], "p_value": c["p_value"],
            "first_seen": str(c["first_seen"]), "last_seen": str(c["last_seen"]), "summary": c["summary"],
            "members": [{"account_key": k, "handle": h, "degree": d} for k, h, d in members],
            "coactions": [dict(zip(keys, (str(v) if isinstance(v, dt.datetime) else v for v in p))) for p in pairs]}


def _tip_hits(con, run_id: int, cluster_id: str) -> dict[str, list[dict]]:
    """Seed matches (``tip_matches``) of the cluster's members, per tip."""
    seeds = ", ".join(f"'{m}'" for m in SEED_MATCH_TYPES)
    out: dict[str, list[dict]] = {}
    for tip, ref, kind, value, mtype, acc in con.execute(f"""
            SELECT DISTINCT t.tip_id, t.indicator_ref, t.kind, t.value, t.match_type, t.account_key
            FROM tip_matches t JOIN cluster_members m ON m.account_key = t.account_key
            WHERE m.run_id = ? AND m.cluster_id = ? AND t.match_type IN ({seeds})
            ORDER BY ALL""", [run_id, cluster_id]).fetchall():
        out.setdefault(tip, []).append({"indicator_ref": ref, "kind": kind, "value": value, "match_type": mtype,
                                        "account_key": acc})
    return out


def _operation_hits(store: Store, run_id: int, cluster_id: str, rules: Rules) -> list[tuple[Operation, dict]]:
    """Operations whose objects the members co-acted on, whose accounts are members, or whose narratives
    label at least :data:`~cibscope.explain.narratives.MIN_GROUP_SHARE` of the cluster's sampled posts."""
    if not rules.operations:
        return []
    con = store.con
    objects = set(con.execute("""
        SELECT DISTINCT e.action_type, e.object_key FROM edge_evidence e
        JOIN cluster_members ma ON ma.run_id = e.run_id AND ma.cluster_id = ? AND ma.account_key = e.account_a
        JOIN cluster_members mb ON mb.run_id = e.run_id AND mb.cluster_id = ? AND mb.account_key = e.account_b
        WHERE e.run_id = ?""", [cluster_id, cluster_id, run_id]).fetchall())
    members = {r[0] for r in con.execute("SELECT account_key FROM cluster_members WHERE run_id = ? AND cluster_id = ?",
                                         [run_id, cluster_id]).fetchall()}
    mix: dict[str, float] | None = None
    out = []
    for op in rules.operations:
        hit: dict[str, Any] = {"id": op.id, "name": op.name}
        objs = sorted(objects & set(op.objects))
        accs = sorted(members & set(op.accounts))
        if objs:
            hit["objects"] = [{"signal": s, "object": o} for s, o in objs]
        if accs:
            hit["accounts"] = accs
        if op.narratives:
            if mix is None:
                from ..explain.narratives import MIN_GROUP_SHARE, cluster_narratives
                res = cluster_narratives(store, run_id, [cluster_id], max_posts=500)
                mix = {k: v for k, v in res.get(cluster_id, {}).get("mix", {}).items() if v >= MIN_GROUP_SHARE}
            nar = {n: round(mix[n], 3) for n in op.narratives if n in mix}
            if nar:
                hit["narratives"] = nar
        if len(hit) > 2:
            out.append((op, hit))
    return out
