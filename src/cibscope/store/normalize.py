"""Object-key normalisation, as DuckDB SQL macros (one implementation for every caller).

The macros are installed on every connection by :func:`install_macros`; Python
code that needs the same normalisation (tip matching, tests) calls them through
DuckDB rather than re-implementing them.

``canonical_url(u)``
    ``host/path?query`` with the scheme dropped (http and https compare equal),
    host lower-cased, ``www.``/userinfo/default port removed, fragment dropped,
    tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ``igshid``, ``mc_cid``,
    ``mc_eid``, ``ref_src``, ``ref_url``, ``_ga``, ``spm``) dropped, the remaining
    parameters sorted, and a trailing ``/`` of the path removed. NULL for an empty
    or blank string, so an absent URL is never an object.
``url_host(u)``
    the host part of ``canonical_url(u)``.
``norm_text(t)``
    lower-cased text with URLs, a leading ``RT @user:`` and leading
    ``@mentions`` removed and whitespace collapsed: the key for exact-text
    (co-tweet) matching.
"""
from __future__ import annotations

import duckdb

#: Hosts of the platforms themselves and of the image/video hosts their users link to by default
#: (Reddit's own hosts, imgur, YouTube): a link there is part of using the platform, so two accounts
#: sharing the host are not linked by it. Their full URLs still are ``link`` objects.
PLATFORM_HOSTS = (
    "twitter.com", "x.com", "facebook.com", "instagram.com", "t.me",
    "reddit.com", "old.reddit.com", "np.reddit.com", "m.reddit.com", "redd.it", "i.redd.it", "v.redd.it",
    "preview.redd.it", "imgur.com", "i.imgur.com", "m.imgur.com", "youtube.com", "m.youtube.com", "youtu.be",
)

#: URL shorteners and platform hosts (:data:`PLATFORM_HOSTS`) whose domain says nothing about who posted:
#: they are never a ``domain`` object (their full URLs still are ``link`` objects).
SHORTENER_HOSTS = (
    "t.co", "bit.ly", "goo.gl", "ow.ly", "tinyurl.com", "buff.ly", "dlvr.it", "ift.tt",
    "fb.me", "tiny.cc", "is.gd", "trib.al", "lnkd.in",
) + PLATFORM_HOSTS

TRACKING_PARAM_RE = r"^(utm_[^=]*|fbclid|gclid|igshid|mc_cid|mc_eid|ref_src|ref_url|_ga|spm)(=|$)"

_MACROS = rf"""
CREATE OR REPLACE TEMP MACRO _url_parts(u) AS
    regexp_extract(trim(u),
        '^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^@/?#]*@)?([^/?#:]*)(?::[0-9]*)?([^?#]*)(?:\?([^#]*))?',
        ['host', 'path', 'query']);

CREATE OR REPLACE TEMP MACRO _host_of(parts) AS
    nullif(regexp_replace(lower(parts.host), '^www\.', ''), '');

CREATE OR REPLACE TEMP MACRO _canonical_of(host, parts) AS
    host || rtrim(parts.path, '/')
    || coalesce('?' || nullif(array_to_string(list_sort(list_filter(
           string_split(parts.query, '&'),
           lambda p: p <> '' AND NOT regexp_matches(lower(p), '{TRACKING_PARAM_RE}'))), '&'), ''), '');

CREATE OR REPLACE TEMP MACRO url_host(u) AS
    CASE WHEN u IS NULL OR trim(u) = '' THEN NULL ELSE _host_of(_url_parts(u)) END;

CREATE OR REPLACE TEMP MACRO canonical_url(u) AS
    CASE WHEN url_host(u) IS NULL THEN NULL ELSE _canonical_of(url_host(u), _url_parts(u)) END;

-- norm_text's steps, each guarded by a cheap test: most texts need none of the regex rewrites.
CREATE OR REPLACE TEMP MACRO _drop_urls(x) AS
    CASE WHEN contains(x, '://') OR contains(x, 'www.')
         THEN regexp_replace(x, '(https?://|www\.)\S+', ' ', 'g') ELSE x END;
CREATE OR REPLACE TEMP MACRO _drop_lead(x) AS
    CASE WHEN regexp_matches(x, '^\s*(rt\s|@)')
         THEN regexp_replace(x, '^\s*(rt\s+@\w+:?\s*)?(@\w+\s+)*', '') ELSE x END;
CREATE OR REPLACE TEMP MACRO _collapse_ws(x) AS
    CASE WHEN regexp_matches(x, '\s\s|[\t\n\r\f\v]') THEN regexp_replace(x, '\s+', ' ', 'g') ELSE x END;

CREATE OR REPLACE TEMP MACRO norm_text(t) AS
    trim(_collapse_ws(_drop_lead(_drop_urls(lower(coalesce(t, ''))))));
"""


def canonical_urls_sql(source: str, url_col: str) -> str:
    """SQL over ``source`` adding ``url`` (canonical) and ``host`` for column ``url_col``.

    The bulk form of :func:`canonical_url`/``url_host``: it parses each URL once
    (the macros re-parse per use), with the same part macros, so results are equal.
    """
    return f"""
        SELECT * EXCLUDE (_pp, _host), CASE WHEN _host IS NOT NULL THEN _canonical_of(_host, _pp) END AS url,
               _host AS host
        FROM (SELECT *, _host_of(_pp) AS _host FROM (
              SELECT *, CASE WHEN trim({url_col}) <> '' THEN _url_parts({url_col}) END AS _pp FROM {source}))
    """


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) the normalisation macros on ``con``."""
    con.execute(_MACROS)
