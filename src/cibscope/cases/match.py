"""Match a tip's indicators against the store: which accounts and posts touch them (set-based SQL).

:func:`match_tip` joins ``tip_indicators`` with the store in one SQL statement
per match type and writes ``tip_matches`` (replacing earlier matches of the
tip, so re-running gives the same rows).

==============  ===================  ================================================================
indicator       match_type           rule
==============  ===================  ================================================================
handle          ``handle``           ``lower(accounts.handle)`` or ``lower(accounts.account_id)`` equals
                                     the handle (``@`` stripped, any case), same platform when the
                                     indicator names one (STIX ``account_type``)
handle          ``mention``          a post mentions the handle (same platform); the poster is *not* a
                                     seed of a case
user_id         ``user_id``          ``accounts.account_id`` equals the id, same platform
url             ``url``              ``canonical_url`` of a post URL equals the indicator's: scheme,
                                     ``www.``, tracking parameters, parameter order and a trailing
                                     ``/`` do not matter
url             ``url_wrapped``      a shortener URL (t.co, bit.ly...) in a post whose expansion, known
                                     from another post of the data, equals the indicator
domain          ``domain``           ``url_host`` of a post URL equals the domain (``www.`` ignored)
domain          ``subdomain``        the host ends with ``.`` + the domain
domain          ``domain_wrapped``,  as ``domain``/``subdomain``, through a shortener link's expansion
                ``subdomain_wrapped``
==============  ===================  ================================================================

Expansions of shortened URLs come from the data only: a post whose text holds
shortener links (``https://t.co/...``) and whose ``urls`` hold the same number of
expanded, non-shortener URLs (the Twitter API v1.1 layout: text with the
``t.co`` link, ``entities.urls[].expanded_url``) pairs them in order. A
shortener link seen elsewhere (e.g. a CSV export with only the text) then
matches through that pairing. A shortener link that is itself an indicator is
matched as its own canonical URL and through the same pairing.
"""
from __future__ import annotations

import datetime as dt

from ..store.db import Store
from ..store.conn import one, transaction
from ..store.normalize import SHORTENER_HOSTS, canonical_urls_sql

#: Match types that make the matched account a seed of a case (a mention only touches it).
SEED_MATCH_TYPES = ("handle", "user_id", "url", "url_wrapped", "domain", "subdomain")

#: Link wrappers (shorteners) whose expansion the data may hold; a subset of ``SHORTENER_HOSTS``.
WRAPPER_HOSTS = ("t.co", "bit.ly", "goo.gl", "ow.ly", "tinyurl.com", "buff.ly", "dlvr.it", "ift.tt", "fb.me",
                 "tiny.cc", "is.gd", "trib.al", "lnkd.in")


def _shorteners_sql() -> str:
    return ", ".join(f"'{h}'" for h in SHORTENER_HOSTS)


def _wrapper_rx() -> str:
    hosts = "|".join(h.replace(".", r"\.") for h in WRAPPER_HOSTS)
    return rf"https?://(?:{hosts})/[^\s\"<>]+"


def match_tip(store: Store, tip_id: str) -> dict[str, int]:
    """Find the accounts and posts touching a tip's indicators; write them to ``tip_matches``.

    Parameters
    ----------
    store : Store
    tip_id : str
        A tip recorded by :func:`cibscope.cases.tips.ingest_tip`.

    Returns
    -------
    dict
        Rows written per ``match_type`` (types without a match are absent).

    Raises
    ------
    KeyError
        No such tip in the store.
    """
    con = store.con
    if not one(con, "SELECT 1 FROM tips WHERE tip_id = ?", [tip_id]):
        raise KeyError(f"no tip {tip_id!r} in {store.path}")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    short = _shorteners_sql()
    with transaction(con, ("_ind", "_pu", "_wrap")):
        con.execute("CREATE OR REPLACE TEMP TABLE _ind AS SELECT * FROM tip_indicators WHERE tip_id = ?", [tip_id])
        has_urls = one(con, "SELECT count(*) FROM _ind WHERE kind IN ('url', 'domain')")[0] > 0
        if has_urls:
            # every post URL once, canonical, plus the shortener -> expansion pairs the data holds
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _pu AS
                WITH raw AS (SELECT post_key, account_key, created_at, unnest(urls) AS raw_url
                             FROM posts WHERE len(urls) > 0)
                SELECT DISTINCT * FROM ({canonical_urls_sql('raw', 'raw_url')})
            """)
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _wrap AS
                WITH w AS (
                    SELECT regexp_extract_all(text, '{_wrapper_rx()}') AS short,
                           list_filter(urls, lambda u: url_host(u) NOT IN ({short})) AS expanded
                    FROM posts WHERE text LIKE '%://%' AND len(urls) > 0
                ), pairs AS (
                    SELECT unnest(short) AS s, unnest(expanded) AS e FROM w
                    WHERE len(short) > 0 AND len(short) = len(expanded)
                )
                SELECT DISTINCT canonical_url(s) AS short_url, canonical_url(e) AS url, url_host(e) AS host
                FROM pairs WHERE canonical_url(e) IS NOT NULL
            """)
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE _pu (post_key VARCHAR, account_key VARCHAR, "
                        "created_at TIMESTAMP, raw_url VARCHAR, url VARCHAR, host VARCHAR)")
            con.execute("CREATE OR REPLACE TEMP TABLE _wrap (short_url VARCHAR, url VARCHAR, host VARCHAR)")
        con.execute("DELETE FROM tip_matches WHERE tip_id = ?", [tip_id])
        con.execute(f"""
            INSERT INTO tip_matches
            WITH ind AS (SELECT * FROM _ind),
            -- an indicator that is itself a shortener link also stands for its known expansions
            ind_url AS (
                SELECT i.*, i.value AS target FROM ind i WHERE kind = 'url'
                UNION SELECT i.*, w.url FROM ind i JOIN _wrap w ON w.short_url = i.value WHERE kind = 'url'
            ),
            m AS (
                SELECT i.indicator_ref, i.kind, i.value, 'handle' AS match_type, a.account_key,
                       NULL AS post_key, a.handle AS matched_value, NULL::TIMESTAMP AS ts
                FROM ind i JOIN accounts a
                  ON i.kind = 'handle' AND (lower(a.handle) = i.value OR lower(a.account_id) = i.value)
                 AND (i.platform IS NULL OR a.platform = i.platform)
                UNION ALL
                SELECT i.indicator_ref, i.kind, i.value, 'user_id', a.account_key, NULL, a.account_id, NULL
                FROM ind i JOIN accounts a ON i.kind = 'user_id' AND a.account_id = i.value
                 AND (i.platform IS NULL OR a.platform = i.platform)
                UNION ALL
                SELECT i.indicator_ref, i.kind, i.value, 'mention', ac.account_key, ac.post_key,
                       '@' || split_part(ac.object_key, ':', 2), ac.ts
                FROM ind i JOIN actions ac
                  ON i.kind = 'handle' AND ac.action_type = 'mention'
                 AND ac.object_key = coalesce(i.platform, split_part(ac.account_key, ':', 1)) || ':' || i.value
                UNION ALL
                SELECT i.indicator_ref, i.kind, i.value, 'url', u.account_key, u.post_key, u.raw_url, u.created_at
                FROM ind_url i JOIN _pu u ON u.url = i.target
                UNION ALL
                SELECT i.indicator_ref, i.kind, i.value, 'url_wrapped', u.account_key, u.post_key, u.raw_url,
                       u.created_at
                FROM ind i JOIN _wrap w ON i.kind = 'url' AND w.url = i.value
                JOIN _pu u ON u.url = w.short_url
                UNION ALL
                SELECT i.indicator_ref, i.kind, i.value,
                       CASE WHEN u.host = i.value THEN 'domain' ELSE 'subdomain' END,
                       u.account_key, u.post_key, u.raw_url, u.created_at
                FROM ind i JOIN _pu u ON i.kind = 'domain' AND (u.host = i.value OR u.host LIKE '%.' || i.value)
                UNION ALL
                SELECT i.indicator_ref, i.kind, i.value,
                       CASE WHEN w.host = i.value THEN 'domain' ELSE 'subdomain' END || '_wrapped',
                       u.account_key, u.post_key, u.raw_url, u.created_at
                FROM ind i JOIN _wrap w ON i.kind = 'domain' AND (w.host = i.value OR w.host LIKE '%.' || i.value)
                JOIN _pu u ON u.url = w.short_url
            )
            SELECT DISTINCT ?, indicator_ref, kind, value, match_type, account_key, post_key, matched_value, ts, ?
            FROM m
        """, [tip_id, now])
        counts = dict(con.execute("SELECT match_type, count(*) FROM tip_matches WHERE tip_id = ? GROUP BY ALL "
                                  "ORDER BY ALL", [tip_id]).fetchall())
    return counts


def seed_accounts(store: Store, tip_id: str) -> list[str]:
    """Accounts that are, or posted, one of the tip's indicators (match types :data:`SEED_MATCH_TYPES`
    and their ``_wrapped`` forms), sorted."""
    types = SEED_MATCH_TYPES + ("domain_wrapped", "subdomain_wrapped")
    return [r[0] for r in store.con.execute(
        "SELECT DISTINCT account_key FROM tip_matches WHERE tip_id = ? AND list_contains(?, match_type) "
        "ORDER BY 1", [tip_id, list(types)]).fetchall()]
