"""Tag clusters and cases with the DISARM Red v1.6 techniques their observed behaviour supports.

Each rule of :data:`RULES` names one technique (by DISARM id, checked against
:class:`cibscope.intel.disarm.DisarmCatalogue`), the behaviour metric it reads
and its threshold; docs/disarm.md lists the same table. The metrics are computed
in SQL over the members' co-action evidence (``edge_evidence``) and posts
(:func:`behaviour`), and every :class:`Tag` carries the metric values and
example objects/posts that fired it, so a tag can be checked by reading the data.

:func:`uses_relationships` turns tags into STIX 2.1 ``attack-pattern`` objects
(keyed by DISARM id + framework version, never by a release's STIX id) and
``uses`` relationships from the cluster's or case's intrusion-set (or grouping).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from ..intel.disarm import DisarmCatalogue
from ..intel.stixobj import relationship, sdo
from ..store.db import Store
from ..store.conn import one, transaction

#: Window for the burst metric: the most member posts in one such bucket.
BURST_WINDOW_S = 600
#: Example objects / posts kept per tag.
EXAMPLES = 5


@dataclass(frozen=True)
class Rule:
    """One tagging rule: technique, what it reads, its threshold and its test."""

    disarm_id: str
    behaviour: str
    threshold: str
    test: Callable[[dict[str, Any]], bool]
    evidence: tuple[str, ...]          # metric names copied into the tag's evidence


#: The rules (one table; docs/disarm.md documents the same thresholds).
RULES: tuple[Rule, ...] = (
    Rule("T0049", "many near-simultaneous posts: the members flood the space in bursts",
         f"peak_posts >= 20 member posts in one {BURST_WINDOW_S // 60}-minute window by >= 5 members, "
         "and n_coactions >= 50",
         lambda m: m["peak_posts"] >= 20 and m["peak_accounts"] >= 5 and m["n_coactions"] >= 50,
         ("peak_start", "peak_posts", "peak_accounts", "n_coactions", "n_objects", "median_gap_s")),
    Rule("T0049.002", "hashtag co-action dominates and the top hashtag is pushed by most members",
         "share of hashtag co-actions >= 0.5 and top_hashtag_members >= 0.5 of members",
         lambda m: m["share_hashtag"] >= 0.5 and m["top_hashtag"] is not None
         and m["top_hashtag_members"] >= 0.5 * m["n_members"],
         ("share_hashtag", "top_hashtag", "top_hashtag_members", "top_hashtag_coactions")),
    Rule("T0015.002", "the cluster created its top hashtag: first used by a member, mostly used by members",
         "top hashtag first used by a member and top_hashtag_member_share >= 0.8 of the store's posts with it",
         lambda m: m["top_hashtag"] is not None and m["top_hashtag_first_by_member"]
         and m["top_hashtag_member_share"] >= 0.8,
         ("top_hashtag", "top_hashtag_first_use", "top_hashtag_member_share", "top_hashtag_store_posts")),
    Rule("T0049.003", "amplification by reposting the same posts within the window",
         "share of repost co-actions >= 0.5 and n_coactions >= 10",
         lambda m: m["share_repost"] >= 0.5 and m["n_coactions"] >= 10,
         ("share_repost", "n_coactions")),
    Rule("T0084.001", "identical texts posted by several members (copypasta)",
         "share of text co-actions >= 0.3 and n_coactions >= 5",
         lambda m: m["share_text"] >= 0.3 and m["n_coactions"] >= 5,
         ("share_text", "n_coactions")),
    Rule("T0119", "the same objects pushed from accounts on more than one platform",
         "members on >= 2 platforms with co-actions between platforms",
         lambda m: m["n_platforms"] >= 2 and m["cross_platform_coactions"] > 0,
         ("n_platforms", "cross_platform_coactions")),
    Rule("T0146", "accounts acting as one network far beyond chance: inauthentic account assets",
         "flagged coordinated (q <= alpha and lift >= min_lift of the run)",
         lambda m: m["coordinated"], ("coordinated", "lift", "p_value", "n_members")),
    Rule("T0143.002", "personas of a coordinated network presented as independent people: fabricated personas",
         "flagged coordinated and >= 3 members",
         lambda m: m["coordinated"] and m["n_members"] >= 3, ("coordinated", "n_members", "lift")),
    Rule("T0150.008", "accounts created in bulk",
         ">= 3 members created within one 7-day window (when creation dates are known)",
         lambda m: m["max_created_same_week"] >= 3, ("max_created_same_week", "created_week")),
)


@dataclass
class Tag:
    """One DISARM technique supported by a cluster's or case's behaviour.

    Attributes
    ----------
    disarm_id, name, tactic_id, tactic_name, version : str
        The technique in the DISARM Red framework (``version`` e.g. ``"1.6"``).
    behaviour, threshold : str
        What the rule reads and the threshold it passed.
    evidence : dict
        Metric values that fired the rule, plus ``examples``: shared objects or posts.
    """

    disarm_id: str
    name: str
    tactic_id: str
    tactic_name: str
    version: str
    behaviour: str
    threshold: str
    evidence: dict[str, Any] = field(default_factory=dict)


def behaviour(store: Store, run_id: int, accounts: list[str], *, coordinated: bool,
              lift: float | None = None, p_value: float | None = None) -> dict[str, Any]:
    """Behaviour metrics of a set of accounts in one run (the inputs of :data:`RULES`).

    Parameters
    ----------
    store : Store
    run_id : int
    accounts : list of str
        Member ``account_key`` s.
    coordinated : bool
        Whether the set is flagged as coordinated (a flagged cluster; a case grown through
        significant edges).
    lift, p_value : float, optional
        The cluster test's values, carried into the evidence.

    Returns
    -------
    dict
        ``n_members``, ``n_coactions`` (co-actions among members: member pair x (signal, object), as
        ``clusters.n_coactions``), ``n_objects`` (distinct (signal, object)), ``share_<signal>`` (share of
        the co-actions per signal, as ``clusters.signals``), ``median_gap_s`` (median |gap|
        of the closest post pairs, seconds), ``peak_start``/``peak_posts``/``peak_accounts``
        (busiest window of :data:`BURST_WINDOW_S` seconds within the co-action span, UTC),
        ``top_hashtag`` (most members co-acting on it) with ``top_hashtag_members``,
        ``top_hashtag_coactions``, ``top_hashtag_first_use`` (UTC), ``top_hashtag_first_by_member``,
        ``top_hashtag_member_share`` and ``top_hashtag_store_posts`` (over the whole store),
        ``n_platforms``, ``cross_platform_coactions``, ``max_created_same_week``/``created_week``,
        and ``examples_<signal>``: the most-shared objects per signal with an example post pair.
    """
    con = store.con
    con.execute("CREATE OR REPLACE TEMP TABLE _mem AS SELECT DISTINCT unnest($a::VARCHAR[]) AS account_key",
                {"a": accounts})
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _ev AS
            SELECT x.* FROM edge_evidence x
            WHERE x.run_id = $run AND x.account_a IN (SELECT account_key FROM _mem)
              AND x.account_b IN (SELECT account_key FROM _mem)
        """, {"run": run_id})
        n_co, n_obj, med_gap, t0, t1, cross = one(con, """
            SELECT count(*), count(DISTINCT (action_type, object_key)), median(abs(gap_s)), min(least(ts_a, ts_b)),
                   max(greatest(ts_a, ts_b)),
                   count(*) FILTER (WHERE split_part(account_a, ':', 1) <> split_part(account_b, ':', 1))
            FROM _ev""")
        shares = dict(con.execute("""
            SELECT action_type, count(*) / sum(count(*)) OVER () FROM _ev GROUP BY action_type""").fetchall())
        m: dict[str, Any] = {"n_members": len(set(accounts)), "n_coactions": int(n_co), "n_objects": int(n_obj),
                             "median_gap_s": float(med_gap) if med_gap is not None else None,
                             "coordinated": bool(coordinated), "lift": lift, "p_value": p_value,
                             "cross_platform_coactions": int(cross or 0)}
        for s in ("repost", "link", "domain", "hashtag", "mention", "reply", "text", "image"):
            m[f"share_{s}"] = round(float(shares.get(s, 0.0)), 4)
            m[f"examples_{s}"] = con.execute(f"""
                SELECT object_key, count(DISTINCT account) AS accounts, any_value(post) AS example_post
                FROM (SELECT object_key, account_a AS account, post_a AS post FROM _ev WHERE action_type = '{s}'
                      UNION ALL SELECT object_key, account_b, post_b FROM _ev WHERE action_type = '{s}')
                GROUP BY object_key ORDER BY accounts DESC, object_key LIMIT {EXAMPLES}
            """).fetchall()
        peak = one(con, f"""
            SELECT time_bucket(INTERVAL {BURST_WINDOW_S} SECOND, created_at) AS b, count(*) AS n,
                   count(DISTINCT account_key) AS a, list(post_key ORDER BY created_at)[1:{EXAMPLES}] AS posts
            FROM posts WHERE account_key IN (SELECT account_key FROM _mem)
              AND created_at BETWEEN $t0 AND $t1
            GROUP BY b ORDER BY n DESC, b LIMIT 1""", {"t0": t0, "t1": t1}) if t0 else None
        m["peak_start"] = peak[0].isoformat() if peak else None
        m["peak_posts"] = int(peak[1]) if peak else 0
        m["peak_accounts"] = int(peak[2]) if peak else 0
        m["peak_example_posts"] = list(peak[3]) if peak else []
        top = one(con, """
            SELECT object_key, count(DISTINCT account), count(*) FROM (
                SELECT object_key, account_a AS account FROM _ev WHERE action_type = 'hashtag'
                UNION ALL SELECT object_key, account_b FROM _ev WHERE action_type = 'hashtag')
            GROUP BY object_key ORDER BY 2 DESC, 3 DESC, 1 LIMIT 1""")
        m["top_hashtag"] = top[0] if top else None
        m["top_hashtag_members"] = int(top[1]) if top else 0
        m["top_hashtag_coactions"] = int(top[2]) if top else 0
        if top:
            first, first_acc, n_all, n_mem = one(con, """
                SELECT min(ts), arg_min(account_key, (ts, account_key)), count(DISTINCT post_key),
                       count(DISTINCT post_key) FILTER (WHERE account_key IN (SELECT account_key FROM _mem))
                FROM actions WHERE action_type = 'hashtag' AND object_key = ?""", [top[0]])
            m["top_hashtag_first_use"] = first.isoformat() if first else None
            m["top_hashtag_first_by_member"] = first_acc in set(accounts)
            m["top_hashtag_member_share"] = round(n_mem / n_all, 4) if n_all else 0.0
            m["top_hashtag_store_posts"] = int(n_all)
        else:
            m.update(top_hashtag_first_use=None, top_hashtag_first_by_member=False, top_hashtag_member_share=0.0,
                     top_hashtag_store_posts=0)
        plat, week, n_week = one(con, """
            WITH a AS (SELECT platform, created_at FROM accounts WHERE account_key IN (SELECT account_key FROM _mem)),
            w AS (SELECT time_bucket(INTERVAL 7 DAY, created_at) AS wk, count(*) AS n FROM a
                  WHERE created_at IS NOT NULL GROUP BY wk)
            SELECT (SELECT count(DISTINCT platform) FROM a), (SELECT arg_max(wk, n) FROM w),
                   (SELECT coalesce(max(n), 0) FROM w)""")
        m["n_platforms"] = int(plat)
        m["created_week"] = week.isoformat() if week else None
        m["max_created_same_week"] = int(n_week)
        return m
    finally:
        con.execute("DROP TABLE IF EXISTS _ev")
        con.execute("DROP TABLE IF EXISTS _mem")


def tags_for(metrics: dict[str, Any], catalogue: DisarmCatalogue | None = None) -> list[Tag]:
    """The :data:`RULES` that ``metrics`` (from :func:`behaviour`) pass, as tags with their evidence."""
    cat = catalogue or DisarmCatalogue.load()
    examples_of = {"T0049": "peak_example_posts", "T0049.002": "examples_hashtag", "T0015.002": "examples_hashtag",
                   "T0049.003": "examples_repost", "T0084.001": "examples_text"}
    out = []
    for r in RULES:
        if not r.test(metrics):
            continue
        t = cat.get(r.disarm_id)
        ev = {k: metrics[k] for k in r.evidence}
        if r.disarm_id in examples_of:
            ev["examples"] = metrics[examples_of[r.disarm_id]]
        out.append(Tag(t.disarm_id, t.name, t.tactic_id, t.tactic_name, cat.version, r.behaviour, r.threshold,
                       json.loads(json.dumps(ev, default=str))))
    return out


def tag_cluster(store: Store, run_id: int, cluster_id: str,
                catalogue: DisarmCatalogue | None = None) -> list[Tag]:
    """DISARM tags of one cluster of a run, each with the evidence that supports it.

    Raises
    ------
    KeyError
        No such cluster in the run.
    """
    row = one(store.con, "SELECT flagged, lift, p_value FROM clusters WHERE run_id = ? AND cluster_id = ?",
                            [run_id, cluster_id])
    if row is None:
        raise KeyError(f"no cluster {cluster_id!r} in run {run_id}")
    members = [r[0] for r in store.con.execute(
        "SELECT account_key FROM cluster_members WHERE run_id = ? AND cluster_id = ?", [run_id, cluster_id]).fetchall()]
    return tags_for(behaviour(store, run_id, members, coordinated=bool(row[0]), lift=row[1], p_value=row[2]),
                    catalogue) + fingerprint_tags(store, run_id, cluster_id, catalogue)


def fingerprint_tags(store: Store, run_id: int, cluster_id: str,
                     catalogue: DisarmCatalogue | None = None) -> list[Tag]:
    """Tags the cluster's stored fingerprints support (:func:`cibscope.explain.fingerprints.disarm_tags`:
    T0149.003 / T0143.003 for look-alike domains, T0085.001 for machine-like text); none until
    ``cibscope explain`` stored the signals."""
    from .fingerprints import disarm_tags

    rows = store.con.execute("SELECT signal, value, details FROM cluster_authenticity WHERE run_id = ? AND "
                             "cluster_id = ? AND signal IN ('lookalike_domains', 'ai_text_model')",
                             [run_id, cluster_id]).fetchall()
    sigs = {s: {"value": v, "details": json.loads(d) if d else {}} for s, v, d in rows}
    cat = catalogue or DisarmCatalogue.load()
    out = []
    for disarm_id, behaviour_, ev in disarm_tags(sigs):
        t = cat.get(disarm_id)
        out.append(Tag(t.disarm_id, t.name, t.tactic_id, t.tactic_name, cat.version, behaviour_,
                       "stored fingerprint signal (explain/fingerprints.py)", json.loads(json.dumps(ev, default=str))))
    return out


def tag_case(store: Store, case_id: str, catalogue: DisarmCatalogue | None = None) -> list[Tag]:
    """DISARM tags of a case (its members in the case's run; coordinated: grown through significant edges,
    so true when it has more than its seeds).

    Raises
    ------
    KeyError
        No such case.
    """
    row = one(store.con, "SELECT run_id, n_members, n_seeds FROM cases WHERE case_id = ?", [case_id])
    if row is None:
        raise KeyError(f"no case {case_id!r}")
    members = [r[0] for r in store.con.execute("SELECT account_key FROM case_members WHERE case_id = ?",
                                               [case_id]).fetchall()]
    return tags_for(behaviour(store, row[0], members, coordinated=row[1] > row[2]), catalogue)


def tag_run(store: Store, run_id: int, catalogue: DisarmCatalogue | None = None) -> dict[str, list[Tag]]:
    """Tags of every flagged cluster of a run, by cluster id."""
    cat = catalogue or DisarmCatalogue.load()
    ids = [r[0] for r in store.con.execute("SELECT cluster_id FROM clusters WHERE run_id = ? AND flagged "
                                           "ORDER BY rank", [run_id]).fetchall()]
    return {cid: tag_cluster(store, run_id, cid, cat) for cid in ids}


def attack_pattern(tag: Tag, created: str, catalogue: DisarmCatalogue | None = None) -> dict[str, Any]:
    """The STIX 2.1 ``attack-pattern`` of a tag's technique (id stable over DISARM id + version)."""
    cat = catalogue or DisarmCatalogue.load()
    return sdo("attack-pattern", ("DISARM", tag.version, tag.disarm_id), created, name=tag.name,
               external_references=[cat.attack_pattern_ref(tag.disarm_id)],
               kill_chain_phases=[{"kill_chain_name": "disarm", "phase_name": tag.tactic_name.lower().replace(" ", "-")}])


def uses_relationships(source_ref: str, tags: list[Tag], created: str, *,
                       catalogue: DisarmCatalogue | None = None, **common: Any) -> list[dict[str, Any]]:
    """STIX objects for tags: one attack-pattern per technique and ``source_ref --uses--> attack-pattern``.

    Parameters
    ----------
    source_ref : str
        The intrusion-set (or grouping) id of the cluster or case.
    tags : list of Tag
    created : str
        STIX timestamp for the new objects.
    **common
        Properties added to every object (e.g. ``object_marking_refs``, ``created_by_ref``).

    Returns
    -------
    list of dict
        Attack-patterns then relationships; each relationship's ``description`` states the behaviour
        and its evidence (JSON), so the reason travels with the claim.
    """
    cat = catalogue or DisarmCatalogue.load()
    out: list[dict[str, Any]] = []
    for t in tags:
        ap = {**attack_pattern(t, created, cat), **common}
        out.append(ap)
        out.append({**relationship(source_ref, "uses", ap["id"], created,
                                   description=f"{t.behaviour} ({t.threshold}). Evidence: "
                                               + json.dumps(t.evidence, sort_keys=True)), **common})
    return out
