"""Reader for Twitter/X API v1.1 tweet objects (``--format twitter-v1``).

Input: one tweet object per line (JSONL, as twarc1 / the streaming API write
it) or one JSON array of tweet objects. Python only splits the input into
records (bounded memory: :data:`~.json_records.RECORDS_PER_BATCH` records at a time, arrays
are decoded element by element); DuckDB validates each record and parses it
once into the typed struct :data:`TWEET_STRUCT` (``json_transform``), and the
mapping is SQL over that struct.

Mapping (v1.1 field -> canonical)
    id_str (id)                      -> post_id
    user.id_str (user.id)            -> account_id; user.screen_name -> handle
    created_at                       -> created_at (``Wed Jan 07 11:11:33 +0000 2015`` -> UTC)
    extended_tweet.full_text, full_text, text -> text (first present)
    lang                             -> lang
    retweeted_status.id_str          -> kind repost, repost_of = ``twitter:<id>``
    quoted_status.id_str / quoted_status_id_str -> kind quote, quote_of = ``twitter:<id>`` (repost_of stays empty;
                                        the quoted tweet's permalink is in urls)
    in_reply_to_status_id_str        -> reply_to = ``twitter:<id>``, kind reply
    entities.urls[].expanded_url (url when absent) -> urls
    entities.hashtags[].text         -> hashtags
    entities.user_mentions[].screen_name -> mentions
    extended_entities.media[].id_str (entities.media) -> media
    source                           -> client, HTML stripped
    (``extended_tweet.entities`` / ``extended_entities`` win over the truncated ones)
Embedded tweets (``retweeted_status``, ``quoted_status`` and the quoted tweet of
a retweet) are ingested as posts of their own, with their authors: the
original of a retweet is then a post in the store and its author an account,
so a cascade can be traced to its source. Their ``source_row`` is the line of
the record that embeds them.

Users (user.* -> account): id_str -> account_id, screen_name -> handle,
name -> display_name, created_at -> created_at, description, location, lang,
followers_count -> followers, friends_count -> following (the values of the
newest tweet of the batch).

Errors: a line that is not valid JSON (or not UTF-8, or not an object), a
tweet without id, user id or a parsable created_at: one error row with the
JSONL line (for an array: the 1-based element number) and the field. An
array that stops parsing midway keeps the elements before the fault and
records one error for the rest. Repeated tweet ids are kept once (the first).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import duckdb

from .base import IngestError
from .json_records import (JsonRecordsReader, Record, array_records, first_char, jsonl_records, sniff_json,
                           struct_sql)
from .tabular import Check, split_checked

PLATFORM = "twitter"
CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"
_ENTITIES = {"urls": [{"url": "VARCHAR", "expanded_url": "VARCHAR"}], "hashtags": [{"text": "VARCHAR"}],
             "user_mentions": [{"screen_name": "VARCHAR"}], "media": [{"id_str": "VARCHAR"}]}
_MEDIA = {"media": [{"id_str": "VARCHAR"}]}
#: The v1.1 fields read, as the DuckDB ``json_transform`` structure: each tweet is parsed once
#: into this typed struct (other fields are skipped). Embedded tweets stay JSON and are
#: transformed in turn.
TWEET_STRUCT = {
    "id_str": "VARCHAR", "id": "VARCHAR", "created_at": "VARCHAR", "text": "VARCHAR", "full_text": "VARCHAR",
    "lang": "VARCHAR", "source": "VARCHAR", "in_reply_to_status_id_str": "VARCHAR",
    "quoted_status_id_str": "VARCHAR",
    "user": {"id_str": "VARCHAR", "id": "VARCHAR", "screen_name": "VARCHAR", "name": "VARCHAR",
             "created_at": "VARCHAR", "description": "VARCHAR", "location": "VARCHAR", "lang": "VARCHAR",
             "followers_count": "BIGINT", "friends_count": "BIGINT"},
    "entities": _ENTITIES, "extended_entities": _MEDIA,
    "extended_tweet": {"full_text": "VARCHAR", "entities": _ENTITIES, "extended_entities": _MEDIA},
    "retweeted_status": "JSON", "quoted_status": "JSON",
}
#: Embedded tweets ingested as posts: (path prefix in error fields, parent prefix, struct field).
EMBEDDED = (("retweeted_status.", "", "retweeted_status"), ("quoted_status.", "", "quoted_status"),
            ("retweeted_status.quoted_status.", "retweeted_status.", "quoted_status"))


class TwitterV1Reader(JsonRecordsReader):
    """Twitter/X API v1.1 tweets as JSON lines or a JSON array (``--format twitter-v1``).

    See the module doc for the field mapping and error rules.
    """

    name = "twitter-v1"
    description = "Twitter/X API v1.1 tweet objects, JSON lines or a JSON array"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A file starting with ``{`` or ``[`` whose first 64 KiB name v1.1 tweet fields."""
        return sniff_json(path, b'"id_str"', b'"user"', b'"created_at"', b'"screen_name"')

    def records(self, path: Path) -> Iterator[Record]:
        """JSON lines, or the elements of a top-level array numbered by element."""
        first = first_char(path)
        if first not in ("{", "["):
            raise IngestError(f"{path}: not JSON lines or a JSON array (starts with {first!r})")
        # errors' line column: the JSONL line, or for an array the element number (said in the reason)
        self.where = " (line = array element number)" if first == "[" else ""
        return array_records(path, by_element=True) if first == "[" else jsonl_records(path)

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        where = self.where
        struct = struct_sql(TWEET_STRUCT)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _tweets AS
            SELECT filename, line, '' AS embed_path, json_transform(raw, {struct}) AS s
            FROM _records WHERE is_object""")
        for prefix, parent, fld in EMBEDDED:
            con.execute(f"""
                INSERT INTO _tweets
                SELECT filename, line, '{prefix}', json_transform(s.{fld}, {struct}) FROM _tweets
                WHERE embed_path = '{parent}' AND coalesce(json_type(s.{fld}) = 'OBJECT', false)""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _tweets AS
            SELECT *, row_number() OVER (ORDER BY line, embed_path) AS rec,
                   coalesce(s.id_str, s.id) AS post_id, coalesce(s.user.id_str, s.user.id) AS account_id,
                   CAST(try_strptime(s.created_at, '{CREATED_AT_FORMAT}') AS TIMESTAMP) AS created_at
            FROM _tweets""")
        checks = [Check("id_str", "post_id IS NULL", f"tweet without id_str/id{where}", "s.text"),
                  Check("user.id_str", "account_id IS NULL", f"tweet without user.id_str/user.id{where}", "post_id"),
                  Check("created_at", "created_at IS NULL", "missing or unparsable created_at "
                        f"(expected {CREATED_AT_FORMAT}){where}", "s.created_at")]
        # an embedded tweet's field is named by its path, e.g. retweeted_status.created_at
        good, bad_tweets = split_checked(con, "_tweets", checks, field_prefix="embed_path")
        ent = "coalesce(s.extended_tweet.entities, s.entities)"
        rs_id = "coalesce(s.retweeted_status ->> '$.id_str', s.retweeted_status ->> '$.id')"
        qs_id = "coalesce(s.quoted_status ->> '$.id_str', s.quoted_status_id_str)"
        reply = "nullif(s.in_reply_to_status_id_str, '')"
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, account_id, s.user.screen_name AS handle, created_at,
                   CASE WHEN {rs_id} IS NOT NULL THEN 'repost' WHEN {qs_id} IS NOT NULL THEN 'quote'
                        WHEN {reply} IS NOT NULL THEN 'reply' ELSE 'post' END AS kind,
                   coalesce(s.extended_tweet.full_text, s.full_text, s.text) AS text, s.lang AS lang,
                   '{PLATFORM}:' || {rs_id} AS repost_of, '{PLATFORM}:' || {reply} AS reply_to,
                   coalesce(list_transform({ent}.urls, lambda u: coalesce(u.expanded_url, u.url)), []) AS urls,
                   coalesce(list_transform({ent}.hashtags, lambda h: h.text), []) AS hashtags,
                   coalesce(list_transform({ent}.user_mentions, lambda m: m.screen_name), []) AS mentions,
                   coalesce(list_transform(coalesce(s.extended_tweet.extended_entities.media,
                                                    s.extended_entities.media, {ent}.media),
                                           lambda m: m.id_str), []) AS media,
                   nullif(trim(regexp_replace(s.source, '<[^>]*>', '', 'g')), '') AS client,
                   line AS source_row, CASE WHEN {rs_id} IS NULL THEN '{PLATFORM}:' || {qs_id} END AS quote_of
            FROM _tweets WHERE {good} ORDER BY rec""").to_arrow_table()
        accounts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, account_id,
                   arg_max(s.user.screen_name, created_at) AS handle,
                   arg_max(s.user.name, created_at) AS display_name,
                   arg_max(CAST(try_strptime(s.user.created_at, '{CREATED_AT_FORMAT}') AS TIMESTAMP), created_at)
                       AS created_at,
                   arg_max(s.user.description, created_at) AS description,
                   arg_max(s.user.location, created_at) AS location,
                   arg_max(s.user.lang, created_at) AS lang,
                   arg_max(s.user.followers_count, created_at) AS followers,
                   arg_max(s.user.friends_count, created_at) AS following
            FROM _tweets WHERE {good} GROUP BY account_id""").to_arrow_table()
        con.execute("DROP TABLE _tweets")
        return posts, accounts, bad_tweets
