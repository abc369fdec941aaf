"""Find an account, hashtag, URL or text in a store, with the runs' clusters that involve it.

One function, :func:`search`, answers the CLI (``cibscope search``) and the web app's search page. It
uses plain DuckDB queries with limits (DuckDB's ``fts`` extension is not installable offline):
case-insensitive substring matches (``contains(lower(..), lower(query))``, no ``LIKE`` wildcards, so
``%`` and ``_`` in a query are literal; URLs: the host case-insensitive, the path case-sensitive, as
``t.co/AbC`` and ``t.co/abc`` are different links) on the normalised ``actions.object_key`` (hashtags lower-cased
without ``#``, links in their canonical form, :mod:`cibscope.store.normalize`), handles, names and post
text; exact and prefix matches are listed first. Every list is capped; ``truncated`` names the lists
where more matched. Each list is one scan of its table.

Kinds: ``account`` (handle, account id, display name; a leading ``@`` is dropped), ``hashtag`` (a
leading ``#`` is dropped), ``url`` (links and domains; a scheme and ``www.`` are dropped), ``text``
(post text). The query is cleaned first (:func:`clean_query`: NFKC-normalised, so fullwidth letters
match plain ones; invisible format characters such as U+200B and U+202E dropped); marks alone (``@``,
``#``, ``http://``) are an empty search, not a match of everything. Without a kind, ``@name`` searches
accounts, ``#tag`` hashtags, anything with ``://`` or a dot and no space URLs, and other queries accounts,
hashtags and text.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from .db import Store

#: Kinds of :func:`search`.
KINDS = ("account", "hashtag", "url", "text")
#: Longest query accepted (characters).
MAX_QUERY = 200


#: Control characters (C0, DEL, C1): none is part of a handle, tag, link or post text a user searches for.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")
#: A query of nothing but the marks :func:`search` drops (``@``, ``#``, a URL scheme, ``www.``) would match
#: every account, hashtag or link: it counts as empty.
_MARKS_ONLY = re.compile(r"[@#\s]*|(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?/*", re.I)


def clean_query(query: str) -> str:
    """``query`` NFKC-normalised (fullwidth ``ｊｏｈｎ`` is ``john``, a ligature its letters), without Unicode
    format characters (category Cf: zero-width space U+200B, byte-order mark U+FEFF, bidi overrides such as
    U+202E, joiners), with each run of control characters (NUL, tab, line ends, ESC, C1) made one space, and
    surrounding spaces dropped: what :func:`search` searches for, and what a page may echo back.

    The format characters are invisible, so a pasted handle carrying one would otherwise match nothing
    (and a bidi override would reorder the page that echoes it); the cost is that an emoji sequence built
    with a zero-width joiner is searched as its parts.
    """
    text = unicodedata.normalize("NFKC", query or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _CONTROLS.sub(" ", text).strip()


def _rows(store: Store, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = store.con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def guess_kinds(query: str) -> tuple[str, ...]:
    """The kinds searched when none is given (see the module docstring)."""
    q = query.strip()
    if q.startswith("@"):
        return ("account",)
    if q.startswith("#"):
        return ("hashtag",)
    if "://" in q or (re.fullmatch(r"[^\s/]+\.[a-z]{2,}(/\S*)?", q, re.I) and not q.startswith(".")):
        return ("url",)
    return ("account", "hashtag", "text")


def _run_filter(alias: str) -> str:
    """Rows of ``alias`` (with a ``dataset`` column) in the datasets of run ``$run`` (all without a run)."""
    return (f"($run::BIGINT IS NULL OR EXISTS (SELECT 1 FROM runs r WHERE r.run_id = $run AND "
            f"(r.datasets IS NULL OR list_contains(r.datasets, {alias}.dataset))))")


def _member_clusters(store: Store, keys: list[str], run_id: int | None) -> dict[str, list[dict[str, Any]]]:
    """``{account_key: [{run_id, cluster_id, rank, flagged, n_accounts}, ...]}``, newest run first."""
    if not keys:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for r in _rows(store, """
        SELECT m.account_key, c.run_id, c.cluster_id, c.rank, c.flagged, c.n_accounts
        FROM cluster_members m JOIN clusters c USING (run_id, cluster_id)
        WHERE list_contains($keys, m.account_key) AND ($run::BIGINT IS NULL OR c.run_id = $run)
        ORDER BY c.run_id DESC, c.rank""", {"keys": keys, "run": run_id}):
        out.setdefault(r.pop("account_key"), []).append(r)
    return out


def _object_clusters(store: Store, objs: list[tuple[str, str]], run_id: int | None
                     ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Clusters whose internal evidence acts on each ``(action_type, object_key)``, with ``n_pairs``."""
    if not objs:
        return {}
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in _rows(store, """
        WITH o AS (SELECT unnest($t) AS action_type, unnest($k) AS object_key)
        SELECT v.action_type, v.object_key, c.run_id, c.cluster_id, c.rank, c.flagged, c.n_accounts,
               count(*) AS n_pairs
        FROM edge_evidence v JOIN o USING (action_type, object_key)
        JOIN cluster_members ma ON ma.run_id = v.run_id AND ma.account_key = v.account_a
        JOIN cluster_members mb ON mb.run_id = v.run_id AND mb.account_key = v.account_b
                               AND mb.cluster_id = ma.cluster_id
        JOIN clusters c ON c.run_id = v.run_id AND c.cluster_id = ma.cluster_id
        WHERE $run::BIGINT IS NULL OR v.run_id = $run
        GROUP BY ALL ORDER BY c.run_id DESC, c.rank""",
            {"t": [o[0] for o in objs], "k": [o[1] for o in objs], "run": run_id}):
        out.setdefault((r.pop("action_type"), r.pop("object_key")), []).append(r)
    return out


def _objects(store: Store, types: tuple[str, ...], q: str, run_id: int | None, limit: int,
             case_sensitive: bool = False) -> list[dict[str, Any]]:
    """Objects of ``types`` containing ``q`` (lower-cased ``object_key`` unless ``case_sensitive``), exact
    matches first, then prefix matches, then by accounts."""
    key = "a.object_key" if case_sensitive else "lower(a.object_key)"
    rows = _rows(store, f"""
        SELECT a.action_type, a.object_key, count(DISTINCT a.post_key) AS n_posts,
               count(DISTINCT a.account_key) AS n_accounts, min(a.ts) AS first_ts, max(a.ts) AS last_ts,
               any_value({key}) = $q AS exact
        FROM actions a
        WHERE list_contains($types, a.action_type)
          AND contains({key}, $q)
          AND {_run_filter('a')}
        GROUP BY a.action_type, a.object_key
        ORDER BY exact DESC, starts_with(any_value({key}), $q) DESC, n_accounts DESC, object_key
        LIMIT $lim""", {"types": list(types), "q": q, "run": run_id, "lim": limit + 1})
    for r in rows:
        r.pop("exact")
    clusters = _object_clusters(store, [(r["action_type"], r["object_key"]) for r in rows[:limit]], run_id)
    for r in rows:
        r["clusters"] = clusters.get((r["action_type"], r["object_key"]), [])
    return rows


def search(store: Store, query: str, *, kind: str | None = None, run_id: int | None = None,
           limit: int = 50) -> dict[str, Any]:
    """Search the store for ``query``.

    Parameters
    ----------
    store : Store
    query : str
        1 to :data:`MAX_QUERY` characters (NFKC-normalised, format characters dropped, control characters
        made spaces, surrounding spaces dropped: :func:`clean_query`); marks alone (``@``, ``#``, ``@@@``,
        ``http://``) are empty.
    kind : {"account", "hashtag", "url", "text"}, optional
        Default: :func:`guess_kinds`.
    run_id : int, optional
        Only clusters of this run, and only posts/actions in its datasets.
    limit : int, default 50
        Most rows per list (1 to 500).

    Returns
    -------
    dict
        ``query``, ``kinds`` (searched), ``run_id`` and, for the kinds searched:
        ``accounts``: ``account_key, platform, handle, display_name, label, n_posts, clusters``;
        ``hashtags`` / ``urls``: ``action_type, object_key, n_posts, n_accounts, first_ts, last_ts``
        (UTC), ``clusters`` (whose internal evidence acts on it, with ``n_pairs``); ``url_match``:
        ``"exact"`` when a URL equals the query (listed first), ``"partial"`` when only URLs containing
        it matched, ``"none"``;
        ``posts``: ``post_key, account_key, handle, created_at, kind, text, context, clusters`` (the
        author's), newest first. A cluster is ``{run_id, cluster_id, rank, flagged, n_accounts}``.
        ``truncated``: the lists that hit ``limit``.

    Raises
    ------
    ValueError
        Empty or too long query, unknown kind, ``limit`` out of range, or ``run_id`` not in the store.
    """
    q = clean_query(query)
    if _MARKS_ONLY.fullmatch(q):
        raise ValueError("empty search: give an account, #hashtag, URL or words"
                         + (f" (“{q}” alone would match everything)" if q else ""))
    if len(q) > MAX_QUERY:
        raise ValueError(f"search text too long: {len(q)} characters, at most {MAX_QUERY}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown search kind {kind!r}; use one of {', '.join(KINDS)}")
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be 1 to 500, got {limit}")
    if run_id is not None and not store.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [int(run_id)]).fetchone():
        raise ValueError(f"{store.path}: no detection run {run_id}")
    kinds = (kind,) if kind else guess_kinds(q)
    out: dict[str, Any] = {"query": q, "kinds": list(kinds), "run_id": run_id, "truncated": []}

    def capped(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(rows) > limit:
            out["truncated"].append(name)
        return rows[:limit]

    if "account" in kinds:
        name = q.lstrip("@").lower()
        rows = _rows(store, f"""
            SELECT a.account_key, a.platform, a.handle, a.display_name, a.label,
                   (SELECT count(*) FROM posts p WHERE p.account_key = a.account_key AND {_run_filter('p')}) AS n_posts
            FROM accounts a
            WHERE contains(lower(coalesce(a.handle, '')), $q) OR contains(lower(a.account_id), $q)
               OR contains(lower(coalesce(a.display_name, '')), $q)
            ORDER BY lower(a.handle) = $q DESC, starts_with(lower(coalesce(a.handle, '')), $q) DESC, a.account_key
            LIMIT $lim""", {"q": name, "run": run_id, "lim": limit + 1})
        clusters = _member_clusters(store, [r["account_key"] for r in rows[:limit]], run_id)
        for r in rows:
            r["clusters"] = clusters.get(r["account_key"], [])
        out["accounts"] = capped("accounts", rows)
    if "hashtag" in kinds:
        out["hashtags"] = capped("hashtags", _objects(store, ("hashtag",), q.lstrip("#").lower(), run_id, limit))
    if "url" in kinds:
        u = q
        if "://" in q:   # the stored canonical form: no scheme, www., tracking parameters or fragment
            u = store.con.execute("SELECT canonical_url(?)", [q]).fetchone()[0] or q
        u = re.sub(r"^www\.", "", re.sub(r"^[a-z][a-z0-9+.-]*://", "", u, flags=re.I), flags=re.I).rstrip("/")
        host, slash, path = u.partition("/")
        u = host.lower() + slash + path  # hosts are stored lower-cased; paths keep their case (t.co/AbC)
        urls = capped("urls", _objects(store, ("link", "domain"), u, run_id, limit, case_sensitive=True))
        out["urls"] = urls
        out["url_match"] = ("exact" if any(r["object_key"] == u for r in urls) else "partial" if urls
                            else "none")
    if "text" in kinds:
        rows = _rows(store, f"""
            SELECT p.post_key, p.account_key, a.handle, p.created_at, p.kind, p.text, p.context
            FROM posts p LEFT JOIN accounts a USING (account_key)
            WHERE contains(lower(p.text), $q) AND {_run_filter('p')}
            ORDER BY p.created_at DESC, p.post_key LIMIT $lim""", {"q": q.lower(), "run": run_id, "lim": limit + 1})
        clusters = _member_clusters(store, sorted({r["account_key"] for r in rows[:limit]}), run_id)
        for r in rows:
            r["clusters"] = clusters.get(r["account_key"], [])
        out["posts"] = capped("posts", rows)
    return out


__all__ = ["KINDS", "MAX_QUERY", "guess_kinds", "search"]
