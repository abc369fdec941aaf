"""Fill missing account profile fields from a Twitter user table (e.g. NBC's IRA ``users.csv``).

The IRA tweet files carry no account creation date or bio. NBC News published
a user table for 454 IRA accounts (``../shared/data/nbc-ira-users/users.csv``:
``screen_name``, ``created_at`` in Twitter's ``Wed Jan 07 04:38:02 +0000 2009``
form, ``description``, ``name``, ``lang``, ...). :func:`enrich_profiles` joins it
to ``accounts`` by lower-cased handle and fills only fields that are NULL, so
it never overwrites what a reader stored.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from ..store.db import Store

TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"


def enrich_profiles(store: Store, path: str | Path, *, platform: str = "twitter") -> dict[str, int]:
    """Fill NULL ``created_at``, ``description``, ``display_name`` and ``lang`` of ``platform`` accounts.

    Parameters
    ----------
    store : Store
    path : str or Path
        CSV with a header holding ``screen_name`` and any of ``created_at`` (Twitter time format,
        converted to UTC), ``description``, ``name``, ``lang``.
    platform : str, default "twitter"

    Returns
    -------
    dict
        ``{"rows": users in the file, "matched": accounts matched by handle, "created_at": filled, ...}``.

    Raises
    ------
    ValueError
        The file is missing or not a file, DuckDB cannot read it as CSV (the message gives DuckDB's
        first line), it has no ``screen_name`` column, or a non-empty ``created_at`` does not parse
        (the message names the file, the line and the value).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    con = store.con
    src = f"read_csv('{str(path).replace(chr(39), chr(39) * 2)}', header = true, all_varchar = true)"
    try:
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
        if "screen_name" not in cols:
            raise ValueError(f"{path}: no screen_name column (columns: {', '.join(sorted(cols))})")
        pick = {c: (c if c in cols else "NULL") for c in ("created_at", "description", "name", "lang")}
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _users AS
            SELECT row_number() OVER () + 1 AS line, lower(screen_name) AS h, {pick['created_at']} AS created_raw,
                   try_strptime({pick['created_at']}, '{TWITTER_TIME}') AS created_tz,
                   nullif(trim({pick['description']}), '') AS description, nullif(trim({pick['name']}), '') AS name,
                   nullif(trim({pick['lang']}), '') AS lang
            FROM {src}
        """)
    except duckdb.Error as exc:
        raise ValueError(f"{path}: cannot read it as a user CSV ({str(exc).splitlines()[0][:200]})") from None
    try:
        bad = con.execute("SELECT line, created_raw FROM _users WHERE created_raw IS NOT NULL "
                          "AND trim(created_raw) <> '' AND created_tz IS NULL ORDER BY line LIMIT 1").fetchall()
        if bad:
            raise ValueError(f"{path}:{bad[0][0]}: created_at {bad[0][1]!r} is not in Twitter's format "
                             "(e.g. 'Wed Jan 07 04:38:02 +0000 2009')")
        n_rows = con.execute("SELECT count(*) FROM _users").fetchall()[0][0]
        con.execute("""CREATE OR REPLACE TEMP TABLE _users_m AS
                       SELECT a.account_key, arg_min(u.created_tz, u.line) AS created_tz,
                              arg_min(u.description, u.line) AS description, arg_min(u.name, u.line) AS name,
                              arg_min(u.lang, u.line) AS lang
                       FROM accounts a JOIN _users u ON lower(a.handle) = u.h
                       WHERE a.platform = ? GROUP BY a.account_key""", [platform])
        out = {"rows": n_rows, "matched": con.execute("SELECT count(*) FROM _users_m").fetchall()[0][0]}
        for col, expr in (("created_at", "timezone('UTC', m.created_tz)"), ("description", "m.description"),
                          ("display_name", "m.name"), ("lang", "m.lang")):
            out[col] = con.execute(f"""UPDATE accounts a SET {col} = {expr} FROM _users_m m
                                       WHERE a.account_key = m.account_key AND a.{col} IS NULL
                                         AND {expr} IS NOT NULL""").fetchall()[0][0]
    finally:
        con.execute("DROP TABLE IF EXISTS _users")
        con.execute("DROP TABLE IF EXISTS _users_m")
    return out
