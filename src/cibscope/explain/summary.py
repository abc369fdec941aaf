"""What ``explain`` found, one row per cluster: the stored authenticity signals and narratives, in short.

Reads only what :func:`.authenticity.save_authenticity` and :func:`.narratives.save_narratives`
stored (tables ``cluster_authenticity`` and ``cluster_narratives``); computes nothing new. The
full explanations stay in the tables and the HTML report.
"""
from __future__ import annotations

import json
from typing import Any

from ..store.db import Store

#: Signals whose value is a similarity in [0, 1] (printed as a number); every other one is a share (printed as %).
SIMILARITIES = frozenset({"text_uniformity"})


def short_signal(signal: str, value: float | None, details: dict[str, Any]) -> str | None:
    """``"office_hours 62% (UTC+3)"``-style text of one signal; ``None`` when the value is unknown (``NULL``)."""
    if value is None:
        return None
    text = f"{signal} {value:.2f}" if signal in SIMILARITIES else f"{signal} {100 * value:.0f}%"
    if signal == "office_hours" and "utc_offset_h" in details:
        text += f" (UTC{int(details['utc_offset_h']):+d})"
    return text


def run_summary(store: Store, run_id: int, top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` best-ranked clusters of run ``run_id`` with what ``explain`` stored about them.

    Returns
    -------
    list of dict
        Best rank first: ``rank``, ``cluster_id``, ``n_accounts``, ``flagged`` (bool), ``signals``
        (short texts of the signals with a known, non-zero value, strongest first: shares by value, similarities
        after them; see :func:`short_signal`), ``unknown`` (names of the signals the data cannot
        give), ``narratives`` (``[(name, share of the sampled posts)]``, one per narrative group, largest
        first; empty when none are stored for the cluster).
    """
    clusters = store.con.execute(
        "SELECT cluster_id, rank, n_accounts, flagged FROM clusters WHERE run_id = ? AND rank <= ? ORDER BY rank",
        [int(run_id), int(top)]).fetchall()
    sig: dict[str, list[tuple[str, float | None, str]]] = {}
    for cid, name, value, details in store.con.execute(
            "SELECT a.cluster_id, a.signal, a.value, a.details FROM cluster_authenticity a "
            "JOIN clusters c USING (run_id, cluster_id) WHERE a.run_id = ? AND c.rank <= ? ORDER BY a.signal",
            [int(run_id), int(top)]).fetchall():
        sig.setdefault(cid, []).append((name, value, details))
    nar: dict[str, list[tuple[str, float]]] = {}
    for cid, name, share in store.con.execute(
            "SELECT n.cluster_id, n.name, n.share FROM cluster_narratives n "
            "JOIN clusters c USING (run_id, cluster_id) WHERE n.run_id = ? AND c.rank <= ? "
            "ORDER BY n.cluster_id, n.group_no", [int(run_id), int(top)]).fetchall():
        nar.setdefault(cid, []).append((name, float(share)))
    out = []
    for cid, rank, n_accounts, flagged in clusters:
        rows = sig.get(cid, [])
        known = sorted((r for r in rows if r[1] is not None and r[1] > 0),
                       key=lambda r: (r[0] in SIMILARITIES, -r[1], r[0]))
        out.append({"rank": int(rank), "cluster_id": cid, "n_accounts": int(n_accounts), "flagged": bool(flagged),
                    "signals": [short_signal(n, v, json.loads(d) if isinstance(d, str) else (d or {}))
                                for n, v, d in known],
                    "unknown": [n for n, v, _ in rows if v is None],
                    "narratives": nar.get(cid, [])})
    return out
