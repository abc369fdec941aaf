"""Grow a case from a tip's seed accounts through the significant edges of a detection run.

:func:`expand_case` is a breadth-first search done one hop at a time in SQL:
at hop ``h`` every account outside the case that has at least ``min_links``
edges (``q_value <= max_q``) to members of hops ``< h`` joins the case. The
edge that brought it in (``via``) is its strongest one into the case (lowest
q-value, then most co-actions, then the smaller account key, so results are
deterministic); its ``path`` is the via member's path plus itself, and the
edge's p/q-values, co-action count, signals and closest shared objects
(``edge_evidence``) are kept as the evidence of why it is in the case.

Only edges of the chosen run are followed, and only significant ones: the
run's edges are its significant pairs (Benjamini-Hochberg at the run's
``alpha``), and ``max_q`` (default: the run's ``alpha``) can tighten that.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from ..store.db import Store
from ..store.conn import one, transaction
from .match import seed_accounts

#: Shared objects kept per edge as evidence (the highest-weight ones).
SHARED_PER_EDGE = 5


class CaseError(ValueError):
    """A case that cannot be grown: no such tip or run, no seed account, bad parameters."""


@dataclass
class CaseResult:
    """The case :func:`expand_case` wrote: id, tip, run, seeds and members added per hop."""

    case_id: str
    tip_id: str
    run_id: int
    n_seeds: int
    n_members: int
    added_per_hop: list[int]


def case_id_for(tip_id: str, run_id: int, hops: int, max_q: float, min_links: int) -> str:
    """``K`` + 12 hex of md5 over the tip, run and parameters (same inputs, same id)."""
    return "K" + hashlib.md5(f"{tip_id}|{run_id}|{hops}|{max_q!r}|{min_links}".encode()).hexdigest()[:12]


def expand_case(store: Store, tip_id: str, run_id: int | None = None, *, hops: int = 2,
                max_q: float | None = None, min_links: int = 1) -> CaseResult:
    """Grow a case from the accounts matching a tip (``tip_matches``) through a run's edges.

    Parameters
    ----------
    store : Store
    tip_id : str
        A tip matched with :func:`cibscope.cases.match.match_tip`.
    run_id : int, optional
        The detection run whose edges to follow (default: the latest run).
    hops : int
        Maximum distance from a seed, >= 0 (0: the case is the seeds).
    max_q : float, optional
        Follow only edges with ``q_value <= max_q`` (default: the run's ``alpha``).
    min_links : int
        An account joins only with at least this many edges into the case (>= 1); 2 or more
        keeps an account that co-acted with one member by coincidence out.

    Returns
    -------
    CaseResult

    Raises
    ------
    CaseError
        Unknown tip or run, no seed account (run ``tip match`` first), or a bad parameter.
    """
    con = store.con
    if hops < 0 or min_links < 1:
        raise CaseError(f"hops must be >= 0 and min_links >= 1 (got hops={hops}, min_links={min_links})")
    if not one(con, "SELECT 1 FROM tips WHERE tip_id = ?", [tip_id]):
        raise CaseError(f"no tip {tip_id!r} in {store.path}")
    if run_id is None:
        from ..store.db import latest_run_id
        run_id = latest_run_id(con)
    row = one(con, "SELECT params->>'alpha' FROM runs WHERE run_id = ?", [run_id])
    if run_id is None or row is None:
        raise CaseError(f"no detection run {run_id if run_id is not None else ''} in {store.path} "
                        "(run `cibscope detect` first)")
    alpha = float(row[0]) if row[0] is not None else 0.01
    max_q = alpha if max_q is None else float(max_q)
    seeds = seed_accounts(store, tip_id)
    if not seeds:
        raise CaseError(f"tip {tip_id} matched no account: run `cibscope tip match --tip {tip_id}` first, "
                        "or the data holds none of its indicators")
    case_id = case_id_for(tip_id, run_id, hops, max_q, min_links)
    with transaction(con, ("_e",)):
        con.execute("DELETE FROM case_members WHERE case_id = ?", [case_id])
        con.execute("DELETE FROM cases WHERE case_id = ?", [case_id])
        # both directions of each followed edge, once
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _e AS
            SELECT account_a AS src, account_b AS dst, * EXCLUDE (account_a, account_b)
            FROM edges WHERE run_id = $run AND q_value <= $q
            UNION ALL
            SELECT account_b, account_a, * EXCLUDE (account_a, account_b)
            FROM edges WHERE run_id = $run AND q_value <= $q
        """, {"run": run_id, "q": max_q})
        con.execute("""
            INSERT INTO case_members
            SELECT $case, s, 0, NULL, [s], 0, NULL, NULL, NULL, NULL, NULL FROM unnest($seeds::VARCHAR[]) t(s)
        """, {"case": case_id, "seeds": seeds})
        added = []
        for hop in range(1, hops + 1):
            con.execute("""
                INSERT INTO case_members
                WITH cand AS (
                    SELECT e.dst AS account_key, e.src AS via, m.path, e.p_value, e.q_value, e.n_coactions,
                           e.signals, count(*) OVER (PARTITION BY e.dst) AS n_links,
                           row_number() OVER (PARTITION BY e.dst
                                              ORDER BY e.q_value, e.n_coactions DESC, e.src) AS rk
                    FROM _e e JOIN case_members m ON m.case_id = $case AND m.account_key = e.src
                    WHERE NOT EXISTS (SELECT 1 FROM case_members o
                                      WHERE o.case_id = $case AND o.account_key = e.dst)
                )
                SELECT $case, account_key, $hop, via, list_append(path, account_key), n_links, p_value, q_value,
                       n_coactions, signals, NULL
                FROM cand WHERE rk = 1 AND n_links >= $links
            """, {"case": case_id, "hop": hop, "links": min_links})
            n = one(con, "SELECT count(*) FROM case_members WHERE case_id = ? AND hop = ?",
                            [case_id, hop])[0]
            added.append(n)
            if n == 0:
                break
        # evidence: the highest-weight shared objects of each bringing edge
        con.execute(f"""
            UPDATE case_members SET shared = ev.shared FROM (
                SELECT m.account_key, to_json(list({{'action_type': x.action_type, 'object_key': x.object_key,
                        'post_a': x.post_a, 'post_b': x.post_b, 'gap_s': x.gap_s}}
                        ORDER BY x.object_weight DESC, x.object_key)[1:{SHARED_PER_EDGE}]) AS shared
                FROM case_members m JOIN edge_evidence x
                  ON x.run_id = $run AND x.account_a = least(m.account_key, m.via)
                 AND x.account_b = greatest(m.account_key, m.via)
                WHERE m.case_id = $case AND m.via IS NOT NULL
                GROUP BY m.account_key
            ) ev WHERE case_members.case_id = $case AND case_members.account_key = ev.account_key
        """, {"run": run_id, "case": case_id})
        n_members = one(con, "SELECT count(*) FROM case_members WHERE case_id = ?", [case_id])[0]
        con.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [case_id, tip_id, run_id, hops, max_q, min_links,
                     dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), len(seeds), n_members])
    return CaseResult(case_id, tip_id, run_id, len(seeds), n_members, added)


def case_members(store: Store, case_id: str) -> list[dict]:
    """The members of a case with hop, path and evidence (``shared`` decoded), seeds first."""
    rows = store.con.sql(
        "SELECT m.*, a.handle, a.label FROM case_members m LEFT JOIN accounts a USING (account_key) "
        "WHERE case_id = $c ORDER BY hop, q_value NULLS FIRST, account_key", params={"c": case_id}
    ).to_arrow_table().to_pylist()
    for r in rows:
        r["shared"] = json.loads(r["shared"]) if r["shared"] else []
    return rows
