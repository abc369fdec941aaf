"""Signals derived at detection time: near-duplicate text (MinHash LSH), fast reposts, activity bursts.

Both produce rows ``(account_key, action_type, object_key, ts, post_key, dataset)``
in the temp table ``_derived``, in the shape of the store's ``actions``, so the
co-action core treats them like any other signal.

``text_near``
    Posts (not reposts) whose normalised texts have an estimated Jaccard
    similarity of at least ``near_dup_threshold`` share an object: the id of the
    connected component of LSH band collisions they fall in. Shingles are
    language-independent: the words of texts with at least
    :data:`MIN_WORDS` words, else character 3-grams. Signatures follow
    datasketch's ``MinHash`` (scheme ``affine32``: MurmurHash3 finalizer, then
    ``a * h + b`` modulo 2^32, permutations from ``MinHash(num_perm, seed)``),
    with DuckDB's 64-bit ``hash`` of each shingle (lower 32 bits) as the base hash,
    computed for all posts at once in numpy; bands and rows come from
    datasketch's ``MinHashLSH`` parameter optimiser. Components can chain
    (A ~ B ~ C with A, C dissimilar): the object means "same near-duplicate family".
``fast_repost``
    A repost made within ``fast_repost_s`` seconds of the original post (the
    original must be in the store); the object is the original. Off by default:
    with ``repost`` on it would count the same reposts twice.
``burst``
    Synchronised activity bursts. An account's posts (any kind) whose consecutive
    gaps are at most ``burst_gap_s`` form a session; a session of at least
    ``burst_min_posts`` posts is a burst, acted at its first post's time. The
    object is the UTC day of the burst (``burst:YYYY-MM-DD``): two accounts
    co-act when their bursts start within W seconds, and ``min_coactions``
    counts distinct days, so an edge needs bursts in step on several days (operators
    working shifts from one script), not one shared news moment. Bursts that start
    either side of midnight UTC are not paired (the one place this signal bins).
    Off by default: it is content-free, so it corroborates other signals.

References
----------
Broder, A. (1997). On the resemblance and containment of documents (MinHash).
Leskovec, Rajaraman, Ullman. Mining of Massive Datasets, ch. 3 (LSH banding).
Pacheco, D. et al. (2021), ICWSM (co-tweet / similar-text co-action).
Magelinski, T., Ng, L. H. X., Carley, K. M. (2022). A Synchronized Action Framework for
Detection of Coordination on Social Media. Journal of Online Trust and Safety 1(2).
"""
from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from ..store.db import MIN_TEXT_TOKENS
from .params import DetectionParams

#: Signals computed here rather than stored as actions (embedded engine only: docs/scale.md).
DERIVED_SIGNALS: tuple[str, ...] = ("text_near", "fast_repost", "burst")
#: Texts with at least this many words are shingled by words, shorter ones by character 3-grams.
MIN_WORDS = 5


def minhash_signatures(shingle_hashes: np.ndarray, doc_index: np.ndarray, n_docs: int, *,
                       num_perm: int, seed: int = 1) -> np.ndarray:
    """MinHash signatures of many documents at once (datasketch ``affine32`` scheme).

    Parameters
    ----------
    shingle_hashes : ndarray of shape (n_shingles,), uint32
        Base hash of each shingle.
    doc_index : ndarray of shape (n_shingles,), int, sorted ascending
        Document of each shingle (0 .. n_docs-1); every document has at least one shingle.
    n_docs : int
    num_perm : int
    seed : int
        datasketch's permutation seed.

    Returns
    -------
    ndarray of shape (n_docs, num_perm), uint32
        Row ``d`` equals ``MinHash(num_perm, seed, hashfunc=<base hash>)`` updated with
        document ``d``'s shingles (``hashvalues``).
    """
    # imported here, not at module level: datasketch pulls in scipy (`cibscope --help` must not)
    from datasketch import MinHash
    from datasketch.minhash import _fmix

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    hv = _fmix(shingle_hashes.astype(np.uint32), 32)
    starts = np.flatnonzero(np.r_[True, doc_index[1:] != doc_index[:-1]])
    docs = doc_index[starts]
    out = np.empty((n_docs, num_perm), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for j in range(num_perm):  # one contiguous pass per permutation: reduceat is fast on 1-D
            out[docs, j] = np.minimum.reduceat(hv * a[j] + b[j], starts)
    return out


def lsh_components(signatures: np.ndarray, threshold: float) -> np.ndarray:
    """Connected components of documents that collide in at least one LSH band.

    Parameters
    ----------
    signatures : ndarray of shape (n_docs, num_perm), uint32
    threshold : float
        Jaccard threshold used to choose (bands, rows) as datasketch's MinHashLSH does.

    Returns
    -------
    ndarray of shape (n_docs,), int
        Component label per document (singletons have their own label).
    """
    from datasketch.lsh import _optimal_param
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, num_perm = signatures.shape
    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    src, dst = [], []
    mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for band in range(bands):
            block = signatures[:, band * rows:(band + 1) * rows].astype(np.uint64)
            key = np.full(n, np.uint64(band + 1))
            for j in range(rows):
                key = (key * mult) ^ block[:, j]
            order = np.argsort(key, kind="stable")
            k = key[order]
            same = np.flatnonzero(k[1:] == k[:-1])
            src.append(order[same])
            dst.append(order[same + 1])
    src_a = np.concatenate(src) if src else np.empty(0, np.int64)
    dst_a = np.concatenate(dst) if dst else np.empty(0, np.int64)
    graph = coo_matrix((np.ones(len(src_a), np.int8), (src_a, dst_a)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def derived_actions(con: duckdb.DuckDBPyConnection, params: DetectionParams, where: str) -> int:
    """Create ``_derived`` with the run's derived-signal actions; returns its row count.

    ``where`` is the SQL filter on ``posts`` for the run's datasets (``TRUE`` for all).
    """
    con.execute("""CREATE OR REPLACE TEMP TABLE _derived (account_key VARCHAR, action_type VARCHAR,
                   object_key VARCHAR, ts TIMESTAMP, post_key VARCHAR, dataset VARCHAR)""")
    if "fast_repost" in params.signals:
        con.execute(f"""
            INSERT INTO _derived
            SELECT r.account_key, 'fast_repost', r.repost_of, r.created_at, r.post_key, r.dataset
            FROM posts r JOIN posts o ON o.post_key = r.repost_of
            WHERE r.kind = 'repost' AND {where.replace('dataset', 'r.dataset')}
              AND epoch(r.created_at) - epoch(o.created_at) BETWEEN 0 AND {float(params.fast_repost_s)}
        """)
    if "burst" in params.signals:
        _bursts(con, params, where)
    if "text_near" in params.signals:
        _near_duplicates(con, params, where)
    return con.execute("SELECT count(*) FROM _derived").fetchall()[0][0]


def _bursts(con: duckdb.DuckDBPyConnection, params: DetectionParams, where: str) -> None:
    """Append one ``burst`` action per activity burst (sessionised with window functions)."""
    con.execute(f"""
        INSERT INTO _derived
        WITH p AS (
            SELECT account_key, post_key, created_at, dataset, epoch(created_at) AS t FROM posts WHERE {where}),
        g AS (
            SELECT *, CASE WHEN t - lag(t) OVER w <= {float(params.burst_gap_s)} THEN 0 ELSE 1 END AS opens
            FROM p WINDOW w AS (PARTITION BY account_key ORDER BY t, post_key)),
        s AS (
            SELECT *, sum(opens) OVER (PARTITION BY account_key ORDER BY t, post_key
                                       ROWS UNBOUNDED PRECEDING) AS session
            FROM g),
        b AS (
            SELECT account_key, min(created_at) AS started, arg_min(post_key, (t, post_key)) AS first_post,
                   arg_min(dataset, (t, post_key)) AS dataset
            FROM s GROUP BY account_key, session HAVING count(*) >= {int(params.burst_min_posts)})
        SELECT account_key, 'burst', 'burst:' || strftime(started, '%Y-%m-%d'), started, first_post, dataset FROM b
    """)


def _near_duplicates(con: duckdb.DuckDBPyConnection, params: DetectionParams, where: str) -> None:
    """Append one ``text_near`` action per post in a near-duplicate family of two or more posts.

    Documents are keyed by ``posts.rowid`` (no numbering pass over the posts); the family label is
    ``near:`` + the smallest post key in it, so it does not depend on that numbering.
    """
    shingles = con.sql(f"""
        WITH d AS (
            SELECT rowid AS doc, norm_text(text) AS nt FROM posts WHERE kind <> 'repost' AND {where}),
        w AS (
            SELECT doc, nt, list_filter(regexp_split_to_array(nt, '[^\\p{{L}}\\p{{N}}_#@]+'),
                                        lambda x: x <> '') AS words
            FROM d WHERE len(string_split(nt, ' ')) >= {MIN_TEXT_TOKENS})
        SELECT doc, CAST(hash(s) & 4294967295 AS UINTEGER) AS h FROM (
            SELECT doc, unnest(CASE WHEN len(words) >= {MIN_WORDS} THEN list_distinct(words)
                                    ELSE list_distinct(list_transform(range(1, greatest(length(nt) - 1, 2)),
                                                                      lambda i: substr(nt, i, 3))) END) AS s
            FROM w)
        ORDER BY doc
    """).to_arrow_table()
    if shingles.num_rows == 0:
        return
    doc = shingles.column("doc").to_numpy()
    opens = np.r_[True, doc[1:] != doc[:-1]]
    rowids = doc[opens]  # the documents with at least one shingle, ascending
    if len(rowids) < 2:
        return
    labels = lsh_components(
        minhash_signatures(shingles.column("h").to_numpy(), np.cumsum(opens) - 1, len(rowids),
                           num_perm=params.near_dup_num_perm),
        params.near_dup_threshold)
    in_family = np.bincount(labels)[labels] >= 2
    if not in_family.any():
        return
    con.register("_nd_comp", pa.table({"doc": rowids[in_family], "comp": labels[in_family]}))
    try:
        con.execute("""
            INSERT INTO _derived
            WITH c AS (SELECT p.account_key, p.created_at, p.post_key, p.dataset, k.comp
                       FROM posts p JOIN _nd_comp k ON p.rowid = k.doc),
            first AS (SELECT comp, min(post_key) AS first_post FROM c GROUP BY comp)
            SELECT c.account_key, 'text_near', 'near:' || f.first_post, c.created_at, c.post_key, c.dataset
            FROM c JOIN first f USING (comp)
        """)
    finally:
        con.unregister("_nd_comp")
