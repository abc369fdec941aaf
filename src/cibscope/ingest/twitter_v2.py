"""Reader for X/Twitter API v2 responses (``--format twitter-v2``).

Input: one API response per line (as twarc2 writes them), one response
object (pretty-printed or not), or tweets one per line with an embedded
``author`` user (twarc2 ``flatten``). A response is
``{"data": [tweet, ...] | tweet, "includes": {"users": [...], "tweets": [...]}, ...}``
(developer.x.com, "Tweet object" and "Fields and expansions"). Records are
split and parsed as in :mod:`.json_records`; every tweet is parsed once into
:data:`TWEET_STRUCT`, every user into :data:`USER_STRUCT`.

Mapping (v2 field -> canonical)
    id                                  -> post_id
    author_id                           -> account_id; the user's username -> handle
    created_at (ISO 8601, ``...Z``)      -> created_at (UTC)
    note_tweet.text, text               -> text (a long post's full text first)
    lang                                -> lang
    referenced_tweets[type=retweeted].id -> kind repost, repost_of = ``twitter:<id>``
    referenced_tweets[type=quoted].id   -> kind quote, quote_of = ``twitter:<id>`` (repost_of stays empty)
    referenced_tweets[type=replied_to].id -> kind reply, reply_to = ``twitter:<id>``
    entities.urls[].expanded_url (url)  -> urls (note_tweet.entities first)
    entities.hashtags[].tag             -> hashtags
    entities.mentions[].username        -> mentions
    attachments.media_keys[]            -> media
    source                              -> client
Tweets of ``includes.tweets`` (the referenced tweets) are ingested as posts too.
Users (``includes.users[]`` and ``author``): id -> account_id, username -> handle,
name -> display_name, created_at, description, location,
public_metrics.followers_count / following_count -> followers / following.

Errors: a record that is not valid JSON or not an object, a response with no
``data`` (its ``errors[].detail`` is kept), a tweet without ``id``,
``author_id`` or a parsable ``created_at`` (``field`` is the path, e.g.
``data.created_at``; ``line`` is the line where the response starts).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .json_records import JsonRecordsReader, api_errors, items_sql, sniff_json, struct_sql
from .tabular import Check, concat_errors, split_checked, time_sql

PLATFORM = "twitter"
_ENTITIES = {"urls": [{"url": "VARCHAR", "expanded_url": "VARCHAR"}], "hashtags": [{"tag": "VARCHAR"}],
             "mentions": [{"username": "VARCHAR"}]}
#: The v2 tweet fields read (``json_transform`` structure).
TWEET_STRUCT = {
    "id": "VARCHAR", "text": "VARCHAR", "author_id": "VARCHAR", "created_at": "VARCHAR", "lang": "VARCHAR",
    "source": "VARCHAR", "referenced_tweets": [{"type": "VARCHAR", "id": "VARCHAR"}], "entities": _ENTITIES,
    "attachments": {"media_keys": ["VARCHAR"]}, "note_tweet": {"text": "VARCHAR", "entities": _ENTITIES},
}
#: The v2 user fields read.
USER_STRUCT = {"id": "VARCHAR", "username": "VARCHAR", "name": "VARCHAR", "created_at": "VARCHAR",
               "description": "VARCHAR", "location": "VARCHAR",
               "public_metrics": {"followers_count": "BIGINT", "following_count": "BIGINT"}}
#: The response envelope, parsed once per record (``data`` as a list; a single-tweet ``data`` object,
#: or a tweet on its own line, is parsed again as a tweet).
RESPONSE_STRUCT = {"id": "VARCHAR", "data": [TWEET_STRUCT], "author": USER_STRUCT,
                   "includes": {"users": [USER_STRUCT], "tweets": [TWEET_STRUCT]},
                   "errors": [{"detail": "VARCHAR", "title": "VARCHAR"}]}


def _ref(kind: str) -> str:
    """SQL: id of the first referenced tweet of type ``kind``."""
    return f"list_filter(t.referenced_tweets, lambda r: r.type = '{kind}')[1].id"


class TwitterV2Reader(JsonRecordsReader):
    """X/Twitter API v2 responses (``--format twitter-v2``); mapping in the module doc."""

    name = "twitter-v2"
    description = "X/Twitter API v2 responses (data + includes), one per line or one object"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """JSON whose first 64 KiB name ``author_id`` and ``text`` but not v1.1's ``id_str``."""
        return sniff_json(path, b'"author_id"', b'"text"') and not sniff_json(path, b'"id_str"')

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        resp, tweet = struct_sql(RESPONSE_STRUCT), struct_sql(TWEET_STRUCT)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _resp AS
            SELECT *, CASE WHEN r.data IS NOT NULL THEN 'list' WHEN r.id IS NOT NULL THEN 'tweet'
                           ELSE json_type(raw, '$.data') END AS data_kind
            FROM (SELECT filename, line, raw, json_transform(raw, {resp}) AS r FROM _records)""")
        bad_resp = api_errors(con, "coalesce(data_kind, '') NOT IN ('list', 'tweet', 'OBJECT')",
                              "coalesce(array_to_string(list_transform(r.errors, lambda e: coalesce(e.detail, e.title)),"
                              " '; '), 'no data and no errors[]')", "data")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _tw AS
            SELECT * EXCLUDE (o), o AS t, row_number() OVER (ORDER BY line, path) AS rec, o.id AS post_id,
                   o.author_id AS account_id, {time_sql('o.created_at')} AS created_at
            FROM ({items_sql('r.data', '_resp', "data_kind = 'list'", 'data.')}
                  UNION ALL {items_sql(f"[json_transform(raw -> '$.data', {tweet})]", '_resp', "data_kind = 'OBJECT'", 'data.')}
                  UNION ALL {items_sql(f'[json_transform(raw, {tweet})]', '_resp', "data_kind = 'tweet'")}
                  UNION ALL {items_sql('r.includes.tweets', '_resp', 'true', 'includes.tweets.')})""")
        checks = [Check("id", "post_id IS NULL", "tweet without id", "t.text"),
                  Check("author_id", "account_id IS NULL",
                        "tweet without author_id (request tweet.fields=author_id)", "post_id"),
                  Check("created_at", "created_at IS NULL",
                        "missing or unparsable created_at (ISO 8601; request tweet.fields=created_at)",
                        "t.created_at")]
        good, bad = split_checked(con, "_tw", checks, field_prefix="path")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _users AS
            SELECT u.id AS account_id, any_value(u.username) AS handle, any_value(u.name) AS display_name,
                   any_value({time_sql('u.created_at')}) AS created_at, any_value(u.description) AS description,
                   any_value(u.location) AS location, max(u.public_metrics.followers_count) AS followers,
                   max(u.public_metrics.following_count) AS following
            FROM (SELECT o AS u FROM ({items_sql('r.includes.users', '_resp')}
                                      UNION ALL {items_sql('[r.author]', '_resp')}))
            WHERE u.id IS NOT NULL GROUP BY u.id""")
        ent = "coalesce(t.note_tweet.entities, t.entities)"
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, _tw.account_id, u.handle, _tw.created_at,
                   CASE WHEN {_ref('retweeted')} IS NOT NULL THEN 'repost'
                        WHEN {_ref('quoted')} IS NOT NULL THEN 'quote'
                        WHEN {_ref('replied_to')} IS NOT NULL THEN 'reply' ELSE 'post' END AS kind,
                   coalesce(t.note_tweet.text, t.text) AS text, t.lang AS lang,
                   '{PLATFORM}:' || {_ref('retweeted')} AS repost_of, '{PLATFORM}:' || {_ref('replied_to')} AS reply_to,
                   coalesce(list_transform({ent}.urls, lambda x: coalesce(x.expanded_url, x.url)), []) AS urls,
                   coalesce(list_transform({ent}.hashtags, lambda x: x.tag), []) AS hashtags,
                   coalesce(list_transform({ent}.mentions, lambda x: x.username), []) AS mentions,
                   coalesce(t.attachments.media_keys, []) AS media, t.source AS client, line AS source_row,
                   '{PLATFORM}:' || {_ref('quoted')} AS quote_of
            FROM _tw LEFT JOIN (SELECT account_id, handle FROM _users) u USING (account_id)
            WHERE {good} ORDER BY rec""").to_arrow_table()
        accounts = con.sql(f"SELECT '{PLATFORM}' AS platform, * FROM _users").to_arrow_table()
        con.execute("DROP TABLE _resp; DROP TABLE _tw; DROP TABLE _users")
        return posts, accounts, concat_errors(bad_resp, bad)
