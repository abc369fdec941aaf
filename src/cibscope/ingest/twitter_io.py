"""Reader for Twitter's Information Operations archive CSVs (``--format twitter-io``).

The tweet files of the archive (``<release>_tweets_csv_hashed.csv`` and the
unhashed ones; transparency.twitter.com, "Information operations", and the
Twitter Moderation Research Consortium releases). Columns used
(:data:`IO_FIELDS`; others, such as ``latitude`` or ``like_count``, are ignored)::

    tweetid, userid, user_display_name, user_screen_name, user_reported_location,
    user_profile_description, follower_count, following_count, account_creation_date,
    account_language, tweet_language, tweet_text, tweet_time, tweet_client_name,
    in_reply_to_tweetid, quoted_tweet_tweetid, is_retweet, retweet_tweetid,
    hashtags, urls, user_mentions

It is read with DuckDB's CSV scanner a piece at a time (:func:`.tabular.scan_csv_chunks`: memory
bounded by a piece, not the file) and mapped by :func:`.mapped.map_posts` (same checks, line numbers
and duplicate rules as ``--format csv``):

    tweetid             -> post_id
    userid              -> account_id (a hash for small accounts in the hashed files)
    user_screen_name    -> handle
    tweet_time          -> created_at (``YYYY-MM-DD HH:MM``, UTC)
    tweet_text          -> text; tweet_language -> lang; tweet_client_name -> client
    is_retweet + retweet_tweetid -> kind repost, repost_of = ``twitter:<retweet_tweetid>``
    quoted_tweet_tweetid -> kind quote, quote_of = ``twitter:<id>`` (not on retweets)
    in_reply_to_tweetid -> kind reply, reply_to = ``twitter:<id>``
    hashtags, urls, user_mentions -> hashtags, urls, mentions: bracketed lists
                           (``[tag1, tag2]`` or ``['http://...']``); user_mentions are user *ids*
Accounts (values of the user's newest tweet): user_display_name -> display_name,
user_reported_location -> location, user_profile_description -> description,
follower_count / following_count -> followers / following,
account_creation_date -> created_at, account_language -> lang.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import duckdb

from .base import STREAMED_COMPRESSIONS, Batch, IngestError, Reader
from .mapped import Mapping, derived_batches, start_carry
from .tabular import AccountCarry, header_fields, require_columns, scan_csv_chunks, time_sql

PLATFORM = "twitter"
IO_FIELDS = ("tweetid", "userid", "user_display_name", "user_screen_name", "user_reported_location",
             "user_profile_description", "follower_count", "following_count", "account_creation_date",
             "account_language", "tweet_language", "tweet_text", "tweet_time", "tweet_client_name",
             "in_reply_to_tweetid", "quoted_tweet_tweetid", "is_retweet", "retweet_tweetid", "hashtags", "urls",
             "user_mentions")
REQUIRED = ("tweetid", "userid", "tweet_time")
#: canonical field -> archive column (``_``-prefixed columns are derived in SQL first)
IO_MAPPING = {"post_id": "tweetid", "account_id": "userid", "handle": "user_screen_name",
              "created_at": "tweet_time", "text": "tweet_text", "lang": "tweet_language",
              "client": "tweet_client_name", "reply_to": "in_reply_to_tweetid", "repost_of": "_repost_of",
              "kind": "_kind", "urls": "_urls", "hashtags": "_hashtags", "mentions": "_mentions",
              "quote_of": "_quote_of"}
TRUE_VALUES = ("true", "1", "t", "yes")


def bracket_list_sql(col: str) -> str:
    """SQL: a bracketed list cell (``[a, b]``, ``['a', 'b']``, ``["a"]``) as a list of non-empty items.

    Quoted items are taken whole (a URL may hold a comma); bare items are split on commas.
    """
    v = f"trim(coalesce({col}, ''))"
    return (f"CASE WHEN regexp_matches({v}, '^\\[\\s*[''\"]') "
            f"THEN regexp_extract_all({v}, '[''\"]([^''\"]*)[''\"]', 1) "
            f"ELSE list_filter(list_transform(string_split(trim({v}, '[]'), ','), lambda x: trim(x)), "
            f"lambda x: x <> '') END")


def _is_true(col: str) -> str:
    return f"lower(trim(coalesce({col}, ''))) IN {TRUE_VALUES}"


class TwitterIOReader(Reader):
    """Twitter Information Operations archive tweets (``--format twitter-io``); mapping in the module doc."""

    name = "twitter-io"
    reads_compressed = STREAMED_COMPRESSIONS  # scan_csv_chunks reads a compressed file through open_input
    description = "Twitter Information Operations archive tweet CSV (tweetid, userid, tweet_time, ...)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A CSV whose header names ``tweetid``, ``userid``, ``tweet_time`` and ``is_retweet``."""
        return path.is_file() and all(f in header_fields(path) for f in (*REQUIRED, "is_retweet"))

    def __init__(self, *, chunk_bytes: int | None = None):
        self.chunk_bytes = chunk_bytes  # bytes of CSV scanned at a time (default: tabular.CSV_CHUNK_BYTES)

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        """Post batches piece by piece (:func:`.tabular.scan_csv_chunks`), then one batch of accounts."""
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format twitter-io reads one CSV file")
        found = header_fields(path)
        require_columns(path, found, list(REQUIRED), self.name)

        def col(c: str) -> str:  # optional columns are NULL when absent
            return f'"{c}"' if c in found else "NULL::VARCHAR"

        accounts = AccountCarry(con, {
            "handle": col("user_screen_name"), "display_name": col("user_display_name"),
            "created_at": time_sql(col("account_creation_date")), "description": col("user_profile_description"),
            "location": col("user_reported_location"), "lang": col("account_language"),
            "followers": f"try_cast({col('follower_count')} AS BIGINT)",
            "following": f"try_cast({col('following_count')} AS BIGINT)"})
        # handle comes with the accounts (the newest one), not from the posts of the first piece
        mapping = Mapping(columns={f: c for f, c in IO_MAPPING.items()
                                   if f != "handle" and (c.startswith("_") or c in found)}, platform=PLATFORM)
        ts = time_sql('"tweet_time"')
        start_carry(con)
        for rejects, n_read in scan_csv_chunks(con, "_io_src", path, found, self.chunk_bytes):
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _io AS
                SELECT *, CASE WHEN {_is_true(col('is_retweet'))} THEN nullif(trim({col('retweet_tweetid')}), '') END
                              AS _repost_of,
                       CASE WHEN NOT coalesce({_is_true(col('is_retweet'))}, false)
                            THEN nullif(trim({col('quoted_tweet_tweetid')}), '') END AS _quote_of,
                       CASE WHEN {_is_true(col('is_retweet'))} THEN 'repost'
                            WHEN nullif(trim({col('quoted_tweet_tweetid')}), '') IS NOT NULL THEN 'quote'
                            WHEN nullif(trim({col('in_reply_to_tweetid')}), '') IS NOT NULL THEN 'reply'
                            ELSE 'post' END AS _kind,
                       {bracket_list_sql(col('urls'))} AS _urls, {bracket_list_sql(col('hashtags'))} AS _hashtags,
                       {bracket_list_sql(col('user_mentions'))} AS _mentions, {ts} AS _ts
                FROM _io_src;
                DROP TABLE _io_src""")
            accounts.add("_io", f"'{PLATFORM}'", "userid", "_ts",
                         where="nullif(trim(userid), '') IS NOT NULL AND _ts IS NOT NULL")
            yield from derived_batches(con, "_io", mapping, path, rejects=rejects, rows_read=n_read,
                                       progress=progress)
        yield Batch(accounts=accounts.table(), source_file=str(path))
