"""Read-only queries behind the web pages and the JSON API.

Everything here selects from the store's ingested tables and the persisted detection
results (``runs``, ``edges``, ``edge_evidence``, ``clusters``, ``cluster_members``),
reusing :mod:`cibscope.report.query` for a cluster's members, edges, top objects and
activity, :func:`cibscope.report.figures.network_layout` for node positions and
:func:`cibscope.report.figures.timeline_svg` for the activity picture. Queries are
set-based: one statement per table shown.

:func:`cursor_store` gives each request and background job its own DuckDB connection
to the app's one database instance (DuckDB connections are not shared across threads).
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

from ..report import query as rq
from ..report.figures import network_layout, timeline_svg
from ..store.db import Store
from ..store.normalize import install_macros

#: Cluster list orderings: name -> SQL ORDER BY (after the filter). ``signals``: most signals, then the
#: largest share of one signal.
CLUSTER_SORTS = {
    "rank": "rank, cluster_id",
    "size": "n_accounts DESC, rank",
    "score": "score DESC, rank",
    "lift": "lift DESC, rank",
    "signals": "json_array_length(json_keys(signals)) DESC, rank",
    "first_seen": "first_seen, rank",
    "last_seen": "last_seen DESC, rank",
}

@contextmanager
def cursor_store(store: Store) -> Iterator[Store]:
    """A :class:`Store` on its own connection (``store.con.cursor()``) to the same database, closed on exit.

    Temporary tables and macros are per connection, so a detection run in a job
    thread and the page requests never see each other's work tables.
    """
    view = Store.__new__(Store)
    view.path = store.path
    view.con = store.con.cursor()
    try:
        view.con.execute("SET enable_progress_bar = false")
        install_macros(view.con)
        yield view
    finally:
        view.con.close()


def rows(store: Store, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts (read to the end)."""
    cur = store.con.execute(sql, params if params is not None else [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def datasets(store: Store) -> list[dict[str, Any]]:
    """Datasets with their post, account and error counts and their ingested files (``files`` list)."""
    out = rows(store, """
        SELECT d.dataset, d.created_at,
               (SELECT count(*) FROM posts p WHERE p.dataset = d.dataset) AS n_posts,
               (SELECT count(*) FROM accounts a WHERE a.dataset = d.dataset) AS n_accounts,
               (SELECT count(*) FROM ingest_errors e WHERE e.dataset = d.dataset) AS n_errors
        FROM datasets d ORDER BY d.dataset
    """)
    files = rows(store, "SELECT * FROM ingested_files ORDER BY dataset, ingested_at, path")
    for d in out:
        d["files"] = [f for f in files if f["dataset"] == d["dataset"]]
    return out


def ingest_errors(store: Store, dataset: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` ingest errors (file, line, field, reason, raw value), of one dataset or all."""
    return rows(store, """
        SELECT dataset, file, line, field, reason, raw_value, ingested_at FROM ingest_errors
        WHERE $d IS NULL OR dataset = $d ORDER BY ingested_at DESC, file, line LIMIT $n
    """, {"d": dataset, "n": int(limit)})


def runs(store: Store) -> list[dict[str, Any]]:
    """Detection runs, newest first, ``params`` decoded."""
    out = rows(store, "SELECT * FROM runs ORDER BY run_id DESC")
    for r in out:
        r["params"] = json.loads(r["params"]) if isinstance(r["params"], str) else r["params"]
    return out


def latest_run(store: Store) -> int | None:
    """The newest run id (None when the store has no run)."""
    return store.con.execute("SELECT max(run_id) FROM runs").fetchall()[0][0]


def cluster_list(store: Store, run_id: int, *, sort: str = "rank", flagged_only: bool = False,
                 limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """One page of a run's clusters.

    Parameters
    ----------
    sort : str
        A key of :data:`CLUSTER_SORTS`.
    flagged_only : bool
        Only clusters flagged as candidate operations.
    limit, offset : int
        Page size (1..1000) and start.

    Returns
    -------
    dict
        ``total`` (clusters after the filter) and ``clusters`` (rows of ``clusters`` without
        ``run_id``, ``signals`` decoded to ``{signal: share}``).

    Raises
    ------
    ValueError
        Unknown ``sort`` or a ``limit`` outside 1..1000.
    """
    if sort not in CLUSTER_SORTS:
        raise ValueError(f"unknown sort {sort!r} (allowed: {', '.join(CLUSTER_SORTS)})")
    if not 1 <= limit <= 1000 or offset < 0:
        raise ValueError("limit must be in 1..1000 and offset >= 0")
    where = "run_id = $r" + (" AND flagged" if flagged_only else "")
    total = store.con.execute(f"SELECT count(*) FROM clusters WHERE {where}", {"r": int(run_id)}).fetchall()[0][0]
    out = rows(store, f"SELECT * EXCLUDE (run_id) FROM clusters WHERE {where} ORDER BY {CLUSTER_SORTS[sort]} "
                      "LIMIT $n OFFSET $o", {"r": int(run_id), "n": int(limit), "o": int(offset)})
    for c in out:
        c["signals"] = json.loads(c["signals"]) if isinstance(c["signals"], str) else c["signals"]
    return {"total": total, "clusters": out}


def cluster(store: Store, run_id: int, cluster_id: str) -> dict[str, Any] | None:
    """One cluster's row (``signals`` decoded), or None."""
    found = rows(store, "SELECT * FROM clusters WHERE run_id = $r AND cluster_id = $c",
                 {"r": int(run_id), "c": cluster_id})
    if not found:
        return None
    c = found[0]
    c["signals"] = json.loads(c["signals"]) if isinstance(c["signals"], str) else c["signals"]
    return c


def evidence(store: Store, run_id: int, cluster_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """The cluster's co-action evidence, heaviest objects first: account pair, signal, object, the closest
    post pair (texts, times) and its gap in seconds (negative: ``account_b`` acted first)."""
    # The top rows first, then their posts: the text join touches ``limit`` rows, not every co-action.
    return rows(store, f"""
        WITH ev AS (SELECT * FROM ({rq._internal_evidence_sql(run_id)})
                    ORDER BY object_weight DESC, abs(gap_s), account_a, account_b, object_key LIMIT $n)
        SELECT ev.account_a, ev.account_b, aa.handle AS handle_a, ab.handle AS handle_b, ev.action_type,
               ev.object_key, ev.n_post_pairs, ev.gap_s, ev.ts_a, ev.ts_b, ev.post_a, ev.post_b,
               pa.text AS text_a, pb.text AS text_b, ev.object_weight
        FROM ev LEFT JOIN posts pa ON pa.post_key = ev.post_a LEFT JOIN posts pb ON pb.post_key = ev.post_b
        LEFT JOIN accounts aa ON aa.account_key = ev.account_a LEFT JOIN accounts ab ON ab.account_key = ev.account_b
        ORDER BY ev.object_weight DESC, abs(ev.gap_s), ev.account_a, ev.account_b, ev.object_key
    """, {"ids": [cluster_id], "n": int(limit)})


def network(store: Store, run_id: int, cluster_id: str, max_nodes: int = 600,
            max_edges: int = 3000) -> dict[str, Any]:
    """Cytoscape.js elements of a cluster's network with preset positions.

    Nodes are the ``max_nodes`` strongest members (``account_key`` ids, handle, label,
    degree, colour, x/y from :func:`~cibscope.report.figures.network_layout`, Kamada-Kawai);
    edges are the significant edges among them (``weight``, ``n``: co-actions).

    The layout uses every edge among the drawn nodes; only the ``max_edges`` heaviest are
    sent, as a browser draws a few thousand edges in about a second but tens of thousands
    in tens of seconds on a loaded machine (docs/benchmarks.md).

    Returns
    -------
    dict
        ``{"nodes": [{"data": ..., "position": ...}], "edges": [{"data": ...}], "dropped": int,
        "edges_total": int, "legend": {label: colour}}``: ``dropped`` members not drawn,
        ``edges_total`` edges among the drawn members (``edges`` holds the heaviest of them).
    """
    mem = rq.members(store, run_id, [cluster_id])[cluster_id]
    edges = rq.internal_edges(store, run_id, [cluster_id])[cluster_id]
    layout = network_layout(mem, edges, max_nodes=max_nodes, size=1000.0)
    kept = {m["account_key"] for m in mem[:max_nodes]}
    nodes = [{"data": {"id": m["account_key"], "handle": v["handle"], "label": m["label"] or "",
                       "degree": m["degree"], "colour": v["colour"], "size": v["r"] * 2},
              "position": {"x": v["x"], "y": v["y"]}} for m, v in zip(mem, layout["nodes"])]
    # Edges carry what the drawing needs (width by weight); per-edge details are in the evidence table.
    links = [{"data": {"source": e["account_a"], "target": e["account_b"], "weight": round(e["weight"], 2),
                       "n": e["n_coactions"]}}
             for e in edges if e["account_a"] in kept and e["account_b"] in kept]
    return {"nodes": nodes, "edges": links[:max_edges], "edges_total": len(links), "dropped": layout["dropped"],
            "legend": layout["legend"]}


def cluster_detail(store: Store, run_id: int, cluster_id: str) -> dict[str, Any] | None:
    """Everything the cluster page shows except the network: the cluster row, members (with account
    fields), top shared objects with example posts, the evidence table, the activity timeline (SVG),
    stored authenticity signals and narratives, and the DISARM tags. None when the cluster is absent.

    The independent parts run concurrently, each on its own connection (DuckDB releases the GIL
    while it executes), so the page costs about its slowest part rather than their sum.
    """
    c = cluster(store, run_id, cluster_id)
    if c is None:
        return None
    ids = [cluster_id]

    def timeline(s: Store) -> str | None:
        act = rq.activity(s, run_id, ids)
        return timeline_svg(act[cluster_id], c["first_seen"], c["last_seen"], salt=cluster_id) \
            if cluster_id in act else None

    parts = {
        "members": lambda s: members(s, run_id, cluster_id),
        "objects": lambda s: rq.top_objects(s, run_id, ids, k=10, examples=3)[cluster_id],
        "evidence": lambda s: evidence(s, run_id, cluster_id),
        "timeline": timeline,
        "authenticity": lambda s: rq.authenticity(s, run_id, ids)[cluster_id],
        "narratives": lambda s: rq.narratives(s, run_id, ids)[cluster_id],
        "disarm": lambda s: disarm_tags(s, run_id, cluster_id),
    }

    def run(fn):
        with cursor_store(store) as s:
            return fn(s)

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="cibscope-page") as pool:
        futures = {k: pool.submit(run, fn) for k, fn in parts.items()}
        return {"cluster": c, **{k: f.result() for k, f in futures.items()}}


def members(store: Store, run_id: int, cluster_id: str) -> list[dict[str, Any]]:
    """A cluster's members, strongest first, with the account's profile fields and post count."""
    return rows(store, """
        SELECT m.account_key, coalesce(a.platform, split_part(m.account_key, ':', 1)) AS platform, a.handle,
               a.display_name, a.label, a.created_at, a.followers, a.following, a.description,
               m.degree, m.strength, m.score,
               (SELECT count(*) FROM posts p WHERE p.account_key = m.account_key) AS n_posts
        FROM cluster_members m LEFT JOIN accounts a USING (account_key)
        WHERE m.run_id = $r AND m.cluster_id = $c
        ORDER BY m.degree DESC, m.strength DESC, m.account_key
    """, {"r": int(run_id), "c": cluster_id})


def disarm_tags(store: Store, run_id: int, cluster_id: str) -> list[dict[str, Any]]:
    """DISARM techniques the cluster's behaviour supports (:func:`cibscope.explain.disarm.tag_cluster`)."""
    from dataclasses import asdict

    from ..explain.disarm import tag_cluster
    return [asdict(t) for t in tag_cluster(store, run_id, cluster_id)]


def account(store: Store, account_key: str, limit: int = 100) -> dict[str, Any] | None:
    """An account's profile, its cluster memberships (run, cluster, rank, flagged) and newest ``limit`` posts."""
    found = rows(store, "SELECT * FROM accounts WHERE account_key = $k", {"k": account_key})
    if not found:
        return None
    return {
        "account": found[0],
        "clusters": rows(store, """
            SELECT m.run_id, m.cluster_id, c.rank, c.flagged, c.n_accounts, m.degree FROM cluster_members m
            JOIN clusters c USING (run_id, cluster_id) WHERE m.account_key = $k ORDER BY m.run_id DESC, c.rank
        """, {"k": account_key}),
        "posts": rows(store, """
            SELECT post_key, created_at, kind, text, urls, hashtags, dataset, source_file, source_row FROM posts
            WHERE account_key = $k ORDER BY created_at DESC, post_key LIMIT $n
        """, {"k": account_key, "n": int(limit)}),
    }


def tips(store: Store) -> list[dict[str, Any]]:
    """Partner tips received, newest first, with their match counts (``errors`` decoded)."""
    out = rows(store, """
        SELECT t.*, (SELECT count(*) FROM tip_matches m WHERE m.tip_id = t.tip_id) AS n_matches,
               (SELECT count(DISTINCT m.account_key) FROM tip_matches m WHERE m.tip_id = t.tip_id) AS n_matched_accounts
        FROM tips t ORDER BY t.received_at DESC, t.tip_id
    """)
    for t in out:
        t["errors"] = json.loads(t["errors"]) if isinstance(t["errors"], str) else t["errors"]
    return out


def cases(store: Store) -> list[dict[str, Any]]:
    """Cases grown from tips, newest first."""
    return rows(store, "SELECT * FROM cases ORDER BY created_at DESC, case_id")


def case(store: Store, case_id: str) -> dict[str, Any] | None:
    """A case row and its members (hop, via, q-value, signals, handle, label), or None."""
    found = rows(store, "SELECT * FROM cases WHERE case_id = $c", {"c": case_id})
    if not found:
        return None
    return {"case": found[0], "members": rows(store, """
        SELECT m.account_key, m.hop, m.via, m.n_links, m.q_value, m.n_coactions, m.signals, a.handle, a.label
        FROM case_members m LEFT JOIN accounts a USING (account_key) WHERE m.case_id = $c
        ORDER BY m.hop, m.q_value NULLS FIRST, m.account_key""", {"c": case_id})}
