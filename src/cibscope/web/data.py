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

import numpy as np

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
    out = rows(store, "SELECT r.*, coalesce(k.kind, 'detect') AS kind FROM runs r "
                      "LEFT JOIN run_kinds k USING (run_id) ORDER BY run_id DESC")
    for r in out:
        r["params"] = json.loads(r["params"]) if isinstance(r["params"], str) else r["params"]
    return out


def run_exists(store: Store, run_id: int) -> bool:
    """Whether the store has detection run ``run_id``."""
    return bool(store.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall())


def latest_run(store: Store) -> int | None:
    """The newest full detection run id, not a watch run (None when the store has no run)."""
    from ..store.db import latest_run_id
    return latest_run_id(store.con)


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
    """One cluster's row (``signals`` decoded, ``not_flagged_because``: the rules of the flag an unflagged
    cluster fails, :func:`cibscope.report.query.unflagged_reason_sql`), or None."""
    found = rows(store, f"SELECT c.*, {rq.unflagged_reason_sql()} AS not_flagged_because FROM clusters c "
                        "JOIN runs r USING (run_id) WHERE c.run_id = $r AND c.cluster_id = $c",
                 {"r": int(run_id), "c": cluster_id})
    if not found:
        return None
    c = found[0]
    c["signals"] = json.loads(c["signals"]) if isinstance(c["signals"], str) else c["signals"]
    return c


#: Evidence rows per page of the cluster page (the API's default ``limit``).
EVIDENCE_PAGE = 50
#: Order of a cluster's evidence: heaviest (least popular) object first, then the closest post pair.
_EVIDENCE_ORDER = "object_weight DESC, abs(gap_s), account_a, account_b, object_key, action_type, post_a, post_b"


def _evidence_pairs_sql(run_id: int) -> str:
    """The cluster's evidence (clusters in ``$ids``) with one row per post pair: a repost that carries a link
    is one piece of evidence, not one per signal. ``signals`` lists each ``{action_type, object_key}`` the
    pair shares, heaviest first; ``action_type``/``object_key``/``object_weight`` are the heaviest one's."""
    return f"""
        SELECT account_a, account_b, post_a, post_b,
               arg_max(action_type, object_weight) AS action_type, arg_max(object_key, object_weight) AS object_key,
               list({{'action_type': action_type, 'object_key': object_key}}
                    ORDER BY object_weight DESC, action_type, object_key) AS signals,
               max(n_post_pairs) AS n_post_pairs, any_value(gap_s) AS gap_s, any_value(ts_a) AS ts_a,
               any_value(ts_b) AS ts_b, max(object_weight) AS object_weight
        FROM ({rq._internal_evidence_sql(run_id)}) GROUP BY account_a, account_b, post_a, post_b
    """


def evidence_count(store: Store, run_id: int, cluster_id: str) -> int:
    """Number of the cluster's pieces of evidence: distinct post pairs of member pairs (both accounts members)."""
    return store.con.execute(f"SELECT count(*) FROM ({_evidence_pairs_sql(run_id)})",
                             {"ids": [cluster_id]}).fetchall()[0][0]


def evidence(store: Store, run_id: int, cluster_id: str, limit: int = EVIDENCE_PAGE,
             offset: int = 0) -> list[dict[str, Any]]:
    """One page of the cluster's co-action evidence, heaviest objects first, one row per post pair: account
    pair (with handles), the heaviest signal and object (``action_type``, ``object_key``) and every signal
    the pair shares (``signals``: ``[{action_type, object_key}]``), the closest post pair (texts, times,
    UTC) and its gap in seconds (negative: ``account_b`` acted first).

    Two statements: the page's rows (a top-N over the cluster's evidence), then the texts and handles
    of just the posts and accounts on that page, found with a list filter in one scan of ``posts``
    (a join made DuckDB read every post's text twice: 0.6 s on the IRA data).
    """
    page = rows(store, f"""
        SELECT account_a, account_b, action_type, object_key, signals, n_post_pairs, gap_s, ts_a, ts_b, post_a,
               post_b, object_weight
        FROM ({_evidence_pairs_sql(run_id)}) ORDER BY {_EVIDENCE_ORDER} LIMIT $n OFFSET $o
    """, {"ids": [cluster_id], "n": int(limit), "o": int(offset)})
    if not page:
        return page
    texts = dict(store.con.execute("SELECT post_key, text FROM posts WHERE list_contains($k, post_key)",
                                   {"k": sorted({r[c] for r in page for c in ("post_a", "post_b")})}).fetchall())
    handles = dict(store.con.execute("SELECT account_key, handle FROM accounts WHERE list_contains($k, account_key)",
                                     {"k": sorted({r[c] for r in page for c in ("account_a", "account_b")})}
                                     ).fetchall())
    for r in page:
        r.update(handle_a=handles.get(r["account_a"]), handle_b=handles.get(r["account_b"]),
                 text_a=texts.get(r["post_a"]), text_b=texts.get(r["post_b"]))
    return page


#: Defaults of the network view: members drawn, edges sent.
NETWORK_NODES, NETWORK_EDGES = 600, 1500


def network(store: Store, run_id: int, cluster_id: str, max_nodes: int = NETWORK_NODES,
            max_edges: int = NETWORK_EDGES) -> dict[str, Any]:
    """Cytoscape.js elements of a cluster's network with preset positions.

    Nodes are the ``max_nodes`` strongest members (``account_key`` ids, handle, label,
    degree, colour, x/y from :func:`~cibscope.report.figures.network_layout`, Kamada-Kawai
    with 10 moves per node); the layout uses every significant edge among them.

    At most ``max_edges`` edges are sent (``weight``, ``n``: co-actions): first each drawn
    member's heaviest edge, so that no member is drawn without a link, then the heaviest of
    the rest. A browser builds and draws a few hundred nodes and ~1,500 edges in about a
    second; 3,000 took it 2-3 s and 17,000 tens of seconds on this loaded machine
    (docs/benchmarks.md).

    Returns
    -------
    dict
        ``{"nodes": [{"data": ..., "position": ...}], "edges": [{"data": ...}], "dropped": int,
        "edges_total": int, "legend": {label: colour}}``: ``dropped`` members not drawn,
        ``edges_total`` edges among the drawn members (``edges`` holds at most ``max_edges`` of them).
    """
    mem = rq.members(store, run_id, [cluster_id])[cluster_id]
    # Only the columns drawn, as Arrow: 17,000 edge rows as Python dicts of every column cost 0.4 s.
    tab = store.con.sql("""
        WITH m AS (SELECT account_key FROM cluster_members WHERE run_id = $r AND cluster_id = $c)
        SELECT account_a, account_b, weight, n_coactions AS n, signals FROM edges
        WHERE run_id = $r AND account_a IN (SELECT account_key FROM m) AND account_b IN (SELECT account_key FROM m)
        ORDER BY weight DESC, account_a, account_b
    """, params={"r": int(run_id), "c": cluster_id}).to_arrow_table()
    a, b = tab.column("account_a").to_pylist(), tab.column("account_b").to_pylist()
    w = tab.column("weight").to_pylist()     # Python floats: round() on numpy scalars is 10x slower
    layout = network_layout(mem, [{"account_a": x, "account_b": y, "weight": v} for x, y, v in zip(a, b, w)],
                            max_nodes=max_nodes, size=1000.0, sweeps=10)
    kept = {m["account_key"]: i for i, m in enumerate(mem[:max_nodes])}
    nodes = [{"data": {"id": m["account_key"], "handle": v["handle"], "label": m["label"] or "",
                       "degree": m["degree"], "colour": v["colour"], "size": v["r"] * 2},
              "position": {"x": v["x"], "y": v["y"]}} for m, v in zip(mem, layout["nodes"])]
    inside = np.array([x in kept and y in kept for x, y in zip(a, b)], dtype=bool)
    idx = np.flatnonzero(inside)                       # heaviest first, among drawn members
    ends = np.array([(kept[a[i]], kept[b[i]]) for i in idx], dtype=np.int64).reshape(-1)  # a0, b0, a1, b1, ...
    _, first = np.unique(ends, return_index=True)      # each member's first, so heaviest, edge: 2 x its position
    backbone = np.unique(first // 2)
    rest = np.setdiff1d(np.arange(len(idx)), backbone, assume_unique=True)
    chosen = np.sort(np.concatenate([backbone, rest])[:max_edges]) if max_edges else np.array([], dtype=np.int64)
    n_co, sig = tab.column("n").to_pylist(), tab.column("signals").to_pylist()
    links = [{"data": {"source": a[i], "target": b[i], "weight": round(w[i], 2), "n": n_co[i], "signals": sig[i]}}
             for i in idx[chosen]]
    community = communities(len(kept), [(kept[a[i]], kept[b[i]]) for i in idx], [w[i] for i in idx])
    for n, k in zip(nodes, community):
        n["data"]["community"] = int(k)
        n["data"]["community_colour"] = COMMUNITY_COLOURS[k % len(COMMUNITY_COLOURS)]
    return {"nodes": nodes, "edges": links, "edges_total": int(len(idx)), "dropped": layout["dropped"],
            "legend": layout["legend"], "signals": sorted({s for i in idx[chosen] for s in sig[i]}),
            "communities": int(max(community, default=-1)) + 1}


#: Colours of communities in the network view (Okabe-Ito, distinguishable with colour-blindness; then greys).
COMMUNITY_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
                     "#999999", "#666666")


def communities(n: int, pairs: list[tuple[int, int]], weights: list[float]) -> list[int]:
    """Communities inside one cluster's drawn network: Leiden (modularity, edge weights; python-igraph's
    ``community_leiden``, Traag et al. 2019, seeded) over ``n`` nodes; ids by size, 0 the largest."""
    import random

    import igraph as ig

    if not n:
        return []
    g = ig.Graph(n=n, edges=pairs, directed=False)
    g.es["weight"] = weights
    state = random.getstate()
    ig.set_random_number_generator(random.Random(42))   # fixed, so a page shows the same colours every time
    try:
        part = g.community_leiden(objective_function="modularity", weights="weight" if pairs else None,
                                  n_iterations=-1)
    finally:
        ig.set_random_number_generator(random)
        random.setstate(state)
    sizes = np.bincount(part.membership)
    rank = {c: i for i, c in enumerate(sorted(range(len(sizes)), key=lambda c: (-sizes[c], c)))}
    return [rank[c] for c in part.membership]


def network_json(store: Store, run_id: int, cluster_id: str, max_nodes: int = NETWORK_NODES,
                 max_edges: int = NETWORK_EDGES) -> str | None:
    """:func:`network` as compact JSON text (the body of the network API), or None when the cluster is absent.

    Serialised here with :func:`json.dumps` (plain numbers and strings), as FastAPI's generic
    encoder takes seconds on 10^4 edges.
    """
    if cluster(store, run_id, cluster_id) is None:
        return None
    return json.dumps(network(store, run_id, cluster_id, max_nodes=max_nodes, max_edges=max_edges),
                      separators=(",", ":"), ensure_ascii=False)


def cluster_detail(store: Store, run_id: int, cluster_id: str) -> dict[str, Any] | None:
    """Everything the cluster page shows except the network: the cluster row, members (with account
    fields), top shared objects with example posts, the first page of the evidence table
    (``evidence``, :data:`EVIDENCE_PAGE` rows; ``evidence_total`` rows in all), the activity timeline
    (SVG), and stored authenticity signals and narratives. None when the cluster is absent. The DISARM
    tags (:func:`disarm_tags`, the costliest part) are served apart, so the page shows without waiting for them.

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
        "evidence_total": lambda s: evidence_count(s, run_id, cluster_id),
        "timeline": timeline,
        "authenticity": lambda s: rq.authenticity(s, run_id, ids)[cluster_id],
        "narratives": lambda s: rq.narratives(s, run_id, ids)[cluster_id],
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


def disarm_tags(store: Store, run_id: int, cluster_id: str) -> list[dict[str, Any]] | None:
    """DISARM techniques the cluster's behaviour supports (:func:`cibscope.explain.disarm.tag_cluster`),
    or None when the cluster is absent."""
    if cluster(store, run_id, cluster_id) is None:
        return None
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
