"""Per-account authenticity traits, and a suspicion ranking that puts coordination first.

Coordination detection (:mod:`cibscope.detect`) judges *pairs and groups*: an operation whose accounts
rarely act on the same object at the same time leaves no edge. Reddit's Internet Research Agency
accounts are the documented case (docs/evaluation.md): 2016 link posts to the operation's own sites,
minutes to hours apart, mostly one shared object per pair. What marks those accounts is how they post:
they *broadcast* links and hardly converse. Bot and troll detection has used the share of posts that
carry a URL since its beginnings (Chu et al. 2012, "Detecting automation of Twitter accounts",
IEEE TDSC 9(6): URL ratio; Ferrara et al. 2016, "The rise of social bots", CACM 59(7): content
features; Varol et al. 2017, ICWSM: Botometer's content and timing features; Im et al. 2020, WebSci,
"Still out there": Russian troll accounts' URL and retweet shares).

This module computes, for every account the run covered, one set-based pass over ``posts`` and
``actions`` (no Python loop over posts):

* ``broadcast_share``: share of the account's posts that are *original link posts*: a post with at
  least one ``link`` action (platform infrastructure links make none, see docs/formats.md) that is
  neither a reply nor a repost. 0 to 1.
* ``reply_share`` and ``repost_share``: shares of replies (conversation) and reposts.

and a **suspicion ranking**: ``tier + broadcast_share``, where ``tier`` is 2 for a member of a
flagged cluster, 1 for an account with a significant edge (``q <= alpha`` of the run) outside any
flagged cluster, 0 otherwise. Coordination always outranks the trait; the trait orders accounts
within a tier. It is a ranking for triage and evaluation (PR curves), not a verdict: an account that
only posts links may be a news page, a blogger promoting their writing or a spammer. An account's
value depends only on its own posts and the run's edges, never on unrelated accounts in the store.
"""
from __future__ import annotations

from typing import Any

from ..report.query import run_info
from ..store.db import Store

#: Column order of :func:`account_suspicion`.
COLUMNS = ("account_key", "n_posts", "broadcast_share", "reply_share", "repost_share", "tier", "suspicion")


def account_traits_sql(run_id: int) -> str:
    """SQL for the per-account posting traits over the posts of the run's datasets.

    Columns: ``account_key``, ``n_posts`` (posts in the run's datasets), ``broadcast_share``,
    ``reply_share``, ``repost_share`` (each a share of ``n_posts``, 0 to 1; see the module text).
    """
    rid = int(run_id)
    return f"""
        WITH p AS (SELECT p.post_key, p.account_key, p.reply_to, p.repost_of FROM posts p
                   JOIN runs r ON r.run_id = {rid}
                   WHERE r.datasets IS NULL OR list_contains(r.datasets, p.dataset)),
        lp AS (SELECT DISTINCT a.post_key FROM actions a JOIN p USING (post_key) WHERE a.action_type = 'link')
        SELECT p.account_key, count(*) AS n_posts,
               avg((lp.post_key IS NOT NULL AND p.reply_to IS NULL AND p.repost_of IS NULL)::INT)
                   AS broadcast_share,
               avg((p.reply_to IS NOT NULL)::INT) AS reply_share,
               avg((p.repost_of IS NOT NULL)::INT) AS repost_share
        FROM p LEFT JOIN lp USING (post_key) GROUP BY p.account_key
    """


def account_suspicion_sql(run_id: int, alpha: float) -> str:
    """SQL for :data:`COLUMNS`: the traits of :func:`account_traits_sql` with ``tier`` and ``suspicion``.

    ``tier`` is 2 for a member of a flagged cluster of the run, 1 for an account in an edge with
    ``q_value <= alpha`` and in no flagged cluster, 0 otherwise; ``suspicion = tier + broadcast_share``
    (0 to 3).
    """
    rid = int(run_id)
    return f"""
        WITH t AS ({account_traits_sql(rid)}),
        fl AS (SELECT DISTINCT m.account_key FROM cluster_members m JOIN clusters c USING (run_id, cluster_id)
               WHERE m.run_id = {rid} AND c.flagged),
        sig AS (SELECT account_a AS account_key FROM edges WHERE run_id = {rid} AND q_value <= {float(alpha)!r}
                UNION SELECT account_b FROM edges WHERE run_id = {rid} AND q_value <= {float(alpha)!r})
        SELECT t.account_key, t.n_posts, t.broadcast_share, t.reply_share, t.repost_share,
               CASE WHEN fl.account_key IS NOT NULL THEN 2 WHEN sig.account_key IS NOT NULL THEN 1 ELSE 0 END
                   AS tier,
               CASE WHEN fl.account_key IS NOT NULL THEN 2 WHEN sig.account_key IS NOT NULL THEN 1 ELSE 0 END
                   + t.broadcast_share AS suspicion
        FROM t LEFT JOIN fl USING (account_key) LEFT JOIN sig USING (account_key)
        ORDER BY suspicion DESC, t.account_key
    """


def account_suspicion(store: Store, run_id: int) -> list[dict[str, Any]]:
    """Every account with posts in the run's datasets, most suspicious first.

    Returns
    -------
    list of dict
        Keys :data:`COLUMNS`; ordered by ``suspicion`` descending, then ``account_key``.

    Raises
    ------
    ValueError
        Unknown run (:func:`cibscope.report.query.run_info`).
    """
    run = run_info(store, run_id)
    alpha = float((run.get("params") or {}).get("alpha", 0.05))
    cur = store.con.execute(account_suspicion_sql(run_id, alpha))
    return [dict(zip(COLUMNS, r)) for r in cur.fetchall()]
