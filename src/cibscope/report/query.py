"""Read-only queries over one finished detection run, shared by every output.

Nothing here recomputes detection: each function selects from the result
tables (``runs``, ``edges``, ``edge_evidence``, ``clusters``,
``cluster_members``) and joins the ingested ``accounts``/``posts`` for
display. Queries are set-based: one statement answers all requested clusters.

A cluster's *internal* edges and evidence are those whose two accounts are
both members of that cluster.
"""
from __future__ import annotations

import json
from typing import Any

from ..store.db import Store

#: Evidence rows whose object is a link or a domain become STIX ``url`` / ``domain-name`` observables.
LINK_TYPES = ("link", "domain")


def _rows(store: Store, sql: str, params: list | dict | None = None) -> list[dict[str, Any]]:
    # execute() rather than sql(): it works after a caller left a fetchone() result unfinished.
    cur = store.con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def run_info(store: Store, run_id: int) -> dict[str, Any]:
    """The ``runs`` row of ``run_id`` with ``params`` decoded from JSON.

    Raises
    ------
    ValueError
        No run with this id is in the store (the message names the store file
        and the run ids it holds).
    """
    rows = _rows(store, "SELECT * FROM runs WHERE run_id = ?", [int(run_id)])
    if not rows:
        known = [r[0] for r in store.con.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall()]
        raise ValueError(f"{store.path}: no detection run {run_id} (runs present: {known or 'none'})")
    run = rows[0]
    run["params"] = json.loads(run["params"]) if isinstance(run["params"], str) else run["params"]
    return run


def covered_accounts_sql(run_id: int) -> str:
    """SQL selecting ``account_key`` of every account seen in the data the run covered.

    An account is *seen* when it authored at least one post in the run's
    datasets (``runs.datasets``; NULL means every dataset). Cluster members
    are included even if their posts were removed since, so no flagged account
    is ever missing from ``accounts.csv``.
    """
    rid = int(run_id)
    return f"""
        SELECT DISTINCT p.account_key FROM posts p JOIN runs r ON r.run_id = {rid}
        WHERE r.datasets IS NULL OR list_contains(r.datasets, p.dataset)
        UNION
        SELECT account_key FROM cluster_members WHERE run_id = {rid}
    """


def unflagged_reason_sql(c: str = "c", r: str = "r") -> str:
    """SQL of a cluster's ``not_flagged_because``: the rules of the flag (docs/detection.md, "Cluster
    decision") that the cluster ``c`` fails at its scale, from its run ``r``'s parameters, as
    ``lift 4.2 < min_lift 5; overlap 0.052 < min_overlap 0.07 and one source holds 100% of the co-actions
    (outlet.example; max_source_share 0.5)``; the false-discovery rule
    (``q > alpha``) when every other rule holds; NULL for a flagged cluster."""
    par = f"{r}.params::JSON"
    return f"""CASE WHEN {c}.flagged THEN NULL ELSE coalesce(nullif(concat_ws('; ',
        CASE WHEN {c}.lift < ({par}->>'min_lift')::DOUBLE
             THEN printf('lift %.1f < min_lift %s', {c}.lift, {par}->>'min_lift') END,
        CASE WHEN {c}.n_coactions < ({par}->>'min_coactions')::DOUBLE * {c}.n_accounts
             THEN printf('%d co-action events < min_coactions %s x %d members', {c}.n_coactions,
                         {par}->>'min_coactions', {c}.n_accounts) END,
        CASE WHEN {c}.overlap < ({par}->>'min_overlap')::DOUBLE AND NOT coalesce(
                  {c}.source_share < ({par}->>'max_source_share')::DOUBLE
                  AND {c}.n_sources >= ({par}->>'min_sources_per_member')::DOUBLE * {c}.n_accounts
                  AND {c}.hour_lift >= ({par}->>'min_lift')::DOUBLE, FALSE)
             THEN printf('overlap %.3f < min_overlap %s', {c}.overlap, {par}->>'min_overlap') || CASE
                 WHEN {c}.source_share IS NULL OR coalesce(({par}->>'max_source_share')::DOUBLE, 0) = 0 THEN ''
                 WHEN {c}.source_share >= ({par}->>'max_source_share')::DOUBLE
                 THEN printf(' and one source holds %.0f%% of the co-actions (%s; max_source_share %s)',
                             100 * {c}.source_share, {c}.top_source, {par}->>'max_source_share')
                 WHEN {c}.n_sources < ({par}->>'min_sources_per_member')::DOUBLE * {c}.n_accounts
                 THEN printf(' and %d sources < min_sources_per_member %s x %d members', {c}.n_sources,
                             {par}->>'min_sources_per_member', {c}.n_accounts)
                 WHEN {c}.hour_lift IS NOT NULL
                 THEN printf(' and lift against its hours %.1f < min_lift %s', {c}.hour_lift,
                             {par}->>'min_lift')
                 ELSE '' END END), ''),
        printf('not significant after the false-discovery correction (q > alpha %s)', {par}->>'alpha')) END"""


def clusters(store: Store, run_id: int, limit: int | None = None, *,
             flagged_only: bool = False) -> list[dict[str, Any]]:
    """Clusters of the run by rank (1 first), ``signals`` decoded to ``{signal: share}``, with
    ``not_flagged_because`` (:func:`unflagged_reason_sql`).

    ``limit`` keeps the ``limit`` best-ranked clusters (None: all);
    ``flagged_only`` keeps the clusters the detector flagged as candidate
    operations (``clusters.flagged``).
    """
    where = " AND c.flagged" if flagged_only else ""
    sql = (f"SELECT c.* EXCLUDE (run_id), {unflagged_reason_sql()} AS not_flagged_because FROM clusters c "
           f"JOIN runs r USING (run_id) WHERE c.run_id = ?{where} ORDER BY c.rank, c.cluster_id")
    params: list = [int(run_id)]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    out = _rows(store, sql, params)
    for c in out:
        c["signals"] = json.loads(c["signals"]) if isinstance(c["signals"], str) else c["signals"]
    return out


def members(store: Store, run_id: int, cluster_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Members of each cluster, strongest first.

    Returns ``{cluster_id: [row, ...]}``; a row has ``account_key, platform,
    account_id, handle, display_name, label, degree, strength, score``
    (account fields NULL when the account is not in ``accounts``).
    """
    rows = _rows(store, """
        SELECT m.cluster_id, m.account_key,
               coalesce(a.platform, split_part(m.account_key, ':', 1)) AS platform,
               coalesce(a.account_id, substr(m.account_key, strpos(m.account_key, ':') + 1)) AS account_id,
               a.handle, a.display_name, a.label, m.degree, m.strength, m.score
        FROM cluster_members m LEFT JOIN accounts a USING (account_key)
        WHERE m.run_id = ? AND list_contains(?, m.cluster_id)
        ORDER BY m.cluster_id, m.degree DESC, m.strength DESC, m.account_key
    """, [int(run_id), list(cluster_ids)])
    return _group(rows, cluster_ids)


def internal_edges(store: Store, run_id: int, cluster_ids: list[str],
                   per_cluster: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Edges of each cluster (both ends members), heaviest first.

    ``per_cluster`` keeps the heaviest edges of each cluster (None: all).
    Rows have the ``edges`` columns except ``run_id``, plus ``cluster_id``.
    """
    cap = "" if per_cluster is None else f"QUALIFY row_number() OVER (PARTITION BY ma.cluster_id " \
                                         f"ORDER BY e.weight DESC, e.account_a, e.account_b) <= {int(per_cluster)}"
    rows = _rows(store, f"""
        SELECT ma.cluster_id, e.* EXCLUDE (run_id)
        FROM edges e
        JOIN cluster_members ma ON ma.run_id = e.run_id AND ma.account_key = e.account_a
        JOIN cluster_members mb ON mb.run_id = e.run_id AND mb.account_key = e.account_b
                               AND mb.cluster_id = ma.cluster_id
        WHERE e.run_id = ? AND list_contains(?, ma.cluster_id)
        {cap}
        ORDER BY ma.cluster_id, e.weight DESC, e.account_a, e.account_b
    """, [int(run_id), list(cluster_ids)])
    return _group(rows, cluster_ids)


def _internal_evidence_sql(run_id: int) -> str:
    """Evidence rows of the clusters in ``$ids`` whose two accounts are both members, with ``cluster_id``."""
    return f"""
        SELECT ma.cluster_id, v.*
        FROM edge_evidence v
        JOIN cluster_members ma ON ma.run_id = v.run_id AND ma.account_key = v.account_a
        JOIN cluster_members mb ON mb.run_id = v.run_id AND mb.account_key = v.account_b
                               AND mb.cluster_id = ma.cluster_id
        WHERE v.run_id = {int(run_id)} AND list_contains($ids, ma.cluster_id)
    """


def top_objects(store: Store, run_id: int, cluster_ids: list[str], *, k: int = 10,
                action_types: tuple[str, ...] | None = None,
                examples: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The objects a cluster's members shared most, from ``edge_evidence``.

    Objects are ranked by the number of distinct members with evidence on them,
    then by member pairs (``n_pairs``: evidence rows), then by post pairs.

    Parameters
    ----------
    k : int
        Objects kept per cluster.
    action_types : tuple of str, optional
        Keep only these ``action_type`` values (e.g. :data:`LINK_TYPES`).
    examples : int
        Example posts attached per object (0: none), earliest first, each a
        dict ``post_key, text, created_at, handle, account_key``.

    Returns
    -------
    dict
        ``{cluster_id: [row, ...]}``; a row has ``action_type, object_key,
        n_accounts, n_pairs, n_post_pairs, first_ts, last_ts, object_weight``
        and ``examples`` (a list).
    """
    params: dict[str, Any] = {"ids": list(cluster_ids), "k": int(k)}
    type_filter = ""
    if action_types is not None:
        type_filter = "AND list_contains($types, v.action_type)"
        params["types"] = list(action_types)
    # A CTE rather than a temp table, so a read-only store can be reported on.
    ev = f"WITH ev AS ({_internal_evidence_sql(run_id)} {type_filter})"
    objs = _rows(store, ev + """,
        agg AS (
            SELECT cluster_id, action_type, object_key,
                   len(list_distinct(flatten(list([account_a, account_b])))) AS n_accounts,
                   count(*) AS n_pairs, sum(n_post_pairs) AS n_post_pairs,
                   least(min(ts_a), min(ts_b)) AS first_ts, greatest(max(ts_a), max(ts_b)) AS last_ts,
                   max(object_weight) AS object_weight
            FROM ev GROUP BY cluster_id, action_type, object_key)
        SELECT * FROM agg
        QUALIFY row_number() OVER (PARTITION BY cluster_id
                 ORDER BY n_accounts DESC, n_pairs DESC, n_post_pairs DESC, action_type, object_key) <= $k
        ORDER BY cluster_id, n_accounts DESC, n_pairs DESC, n_post_pairs DESC, action_type, object_key
    """, params)
    ex: dict[tuple, list] = {}
    if examples > 0 and objs:
        for r in _rows(store, ev + """,
            keep AS (SELECT unnest($c) AS cluster_id, unnest($t) AS action_type, unnest($o) AS object_key),
            posts_on AS (
                SELECT DISTINCT v.cluster_id, v.action_type, v.object_key, unnest([v.post_a, v.post_b]) AS post_key
                FROM ev v JOIN keep USING (cluster_id, action_type, object_key))
            SELECT o.cluster_id, o.action_type, o.object_key, p.post_key, p.text, p.created_at,
                   p.account_key, a.handle
            FROM posts_on o JOIN posts p USING (post_key) LEFT JOIN accounts a ON a.account_key = p.account_key
            QUALIFY row_number() OVER (PARTITION BY o.cluster_id, o.action_type, o.object_key
                                       ORDER BY p.created_at, p.post_key) <= $n
            ORDER BY o.cluster_id, o.action_type, o.object_key, p.created_at, p.post_key
        """, {k_: v for k_, v in params.items() if k_ != "k"}
                | {"c": [o["cluster_id"] for o in objs], "t": [o["action_type"] for o in objs],
                   "o": [o["object_key"] for o in objs], "n": int(examples)}):
            ex.setdefault((r["cluster_id"], r["action_type"], r["object_key"]), []).append(
                {kk: r[kk] for kk in ("post_key", "text", "created_at", "handle", "account_key")})
    for o in objs:
        o["examples"] = ex.get((o["cluster_id"], o["action_type"], o["object_key"]), [])
    return _group(objs, cluster_ids)


def link_urls(store: Store, run_id: int, keys: list[str]) -> dict[str, str]:
    """The URL as posted (with its scheme) for each canonical ``link`` object key.

    ``actions.object_key`` holds :func:`canonical_url` forms (no scheme); this
    finds, among the run's ``link`` evidence posts, the lexically first raw URL
    whose canonical form is the key. Keys with no such post are absent.
    """
    rows = _rows(store, """
        WITH p AS (
            SELECT DISTINCT unnest([v.post_a, v.post_b]) AS post_key FROM edge_evidence v
            WHERE v.run_id = $run AND v.action_type = 'link' AND list_contains($keys, v.object_key)),
        raw AS (SELECT unnest(posts.urls) AS u FROM posts JOIN p USING (post_key))
        SELECT canonical_url(u) AS key, min(u) AS url FROM raw
        WHERE list_contains($keys, canonical_url(u)) GROUP BY ALL
    """, {"run": int(run_id), "keys": list(keys)})
    return {r["key"]: r["url"] for r in rows}


def activity(store: Store, run_id: int, cluster_ids: list[str]) -> dict[str, dict[str, list]]:
    """Posts per time bucket of each cluster's members, in the run's datasets.

    The bucket is one hour when the members' posts span at most three days,
    one day up to 400 days, otherwise one week (UTC; weeks start on Monday),
    so a picture has at most a few hundred bins.

    Returns
    -------
    dict
        ``{cluster_id: {"bucket": "hour"|"day"|"week", "t": [datetime, ...], "posts": [int, ...],
        "coactions": [int, ...]}}``: ``posts`` counts all member posts,
        ``coactions`` the member posts that appear in the cluster's evidence.
    """
    rid = int(run_id)
    rows = _rows(store, f"""
        WITH mp AS (
            SELECT m.cluster_id, p.post_key, p.created_at
            FROM cluster_members m JOIN posts p USING (account_key) JOIN runs r ON r.run_id = m.run_id
            WHERE m.run_id = {rid} AND list_contains($ids, m.cluster_id)
              AND (r.datasets IS NULL OR list_contains(r.datasets, p.dataset))),
        span AS (SELECT cluster_id, CASE WHEN max(created_at) - min(created_at) <= INTERVAL 3 DAY THEN 'hour'
                                         WHEN max(created_at) - min(created_at) <= INTERVAL 400 DAY THEN 'day'
                                         ELSE 'week' END AS bucket FROM mp GROUP BY ALL),
        ev AS (SELECT DISTINCT cluster_id, unnest([post_a, post_b]) AS post_key
               FROM ({_internal_evidence_sql(rid)}))
        SELECT mp.cluster_id, s.bucket, date_trunc(s.bucket, mp.created_at) AS t,
               count(*) AS posts, count(ev.post_key) AS coactions
        FROM mp JOIN span s USING (cluster_id) LEFT JOIN ev USING (cluster_id, post_key)
        GROUP BY ALL ORDER BY mp.cluster_id, t
    """, {"ids": list(cluster_ids)})
    out: dict[str, dict[str, list]] = {}
    for r in rows:
        d = out.setdefault(r["cluster_id"], {"bucket": r["bucket"], "t": [], "posts": [], "coactions": []})
        d["t"].append(r["t"])
        d["posts"].append(r["posts"])
        d["coactions"].append(r["coactions"])
    return out


def authenticity(store: Store, run_id: int, cluster_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Stored authenticity signals of each cluster (``cluster_authenticity``; empty until computed).

    Rows have ``signal, value, n_accounts, details`` (decoded from JSON) and
    ``explanation``, in :data:`cibscope.explain.authenticity.SIGNALS` order.
    """
    from ..explain.authenticity import SIGNALS

    rows = _rows(store, """
        SELECT cluster_id, signal, value, n_accounts, details, explanation FROM cluster_authenticity
        WHERE run_id = ? AND list_contains(?, cluster_id)
        ORDER BY cluster_id, list_position(?, signal), signal
    """, [int(run_id), list(cluster_ids), list(SIGNALS)])
    for r in rows:
        r["details"] = json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]
    return _group(rows, cluster_ids)


def narratives(store: Store, run_id: int, cluster_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Stored narrative groups of each cluster (``cluster_narratives``; empty until computed), largest first.

    Each row has the table's columns but ``run_id``. ``representation`` is None for groups stored
    before it was recorded, also when a store that old is opened read-only (not migrated: the
    column is then absent and read as NULL).
    """
    rows = _rows(store, """
        SELECT * EXCLUDE (run_id) FROM cluster_narratives
        WHERE run_id = ? AND list_contains(?, cluster_id) ORDER BY cluster_id, group_no
    """, [int(run_id), list(cluster_ids)])
    for r in rows:
        r.setdefault("representation", None)
    return _group(rows, cluster_ids)


def loose_pairs(store: Store, run_id: int, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """Significant edges with at least one account in no cluster of the run (a pair, or a tail, below
    ``min_cluster_size``), most significant first. Edges between two clusters are not listed: they
    join accounts the report already shows.

    Returns ``(total, rows)``: ``rows`` holds the first ``limit``, each with ``account_a, account_b,
    handle_a, handle_b, n_coactions, signals, p_value, q_value, scale_s`` (seconds) and
    ``first_seen, last_seen`` (UTC).
    """
    sql = """
        FROM edges e
        WHERE e.run_id = $run AND (
            NOT EXISTS (SELECT 1 FROM cluster_members m WHERE m.run_id = e.run_id AND m.account_key = e.account_a)
            OR NOT EXISTS (SELECT 1 FROM cluster_members m WHERE m.run_id = e.run_id AND m.account_key = e.account_b))"""
    total = store.con.execute("SELECT count(*) " + sql, {"run": int(run_id)}).fetchone()[0]
    rows = _rows(store, """
        SELECT e.account_a, e.account_b, aa.handle AS handle_a, ab.handle AS handle_b, e.n_coactions, e.signals,
               e.p_value, e.q_value, e.scale_s, e.first_seen, e.last_seen """ + sql.replace(
        "WHERE e.run_id", "LEFT JOIN accounts aa ON aa.account_key = e.account_a "
                          "LEFT JOIN accounts ab ON ab.account_key = e.account_b WHERE e.run_id", 1) + """
        ORDER BY e.q_value, e.p_value, e.account_a, e.account_b LIMIT $n""", {"run": int(run_id), "n": int(limit)})
    return int(total), rows


def _group(rows: list[dict[str, Any]], cluster_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in cluster_ids}
    for r in rows:
        out[r.pop("cluster_id")].append(r)
    return out
