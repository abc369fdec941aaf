"""Reader for Mastodon API Status entities (``--format mastodon``).

Input: Status entities (docs.joinmastodon.org, "Entities: Status") as a JSON
array (a timeline or search page) or one per line. Each status is parsed once
into :data:`STATUS_STRUCT`; a reblog's embedded status is ingested as a post
of its own, with its account.

Mapping (Status field -> canonical)
    id                    -> post_id (the id on the instance that served the API)
    account.id            -> account_id; account.acct -> handle (``user`` or ``user@domain``)
    created_at            -> created_at (ISO 8601 -> UTC)
    content (HTML)        -> text: tags stripped, ``<br>``/paragraphs as newlines, entities decoded
    language              -> lang
    reblog (its id)       -> kind repost, repost_of = ``mastodon:<reblog.id>``
    in_reply_to_id        -> kind reply, reply_to = ``mastodon:<id>``
    card.url, and the href of every link in content that is not a mention or hashtag -> urls
    tags[].name           -> hashtags
    mentions[].acct       -> mentions
    media_attachments[].id -> media
    application.name      -> client
Accounts: account.display_name -> display_name, created_at, note (HTML -> text) -> description,
followers_count / following_count -> followers / following.

Ids are those of the instance whose API produced the data (one export, one
instance), so a post, its reblogs and replies share one id space.

Errors: a record that is not a JSON object; a status without ``id``,
``account.id`` or parsable ``created_at`` (a reblog's field is named
``reblog.<field>``).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .json_records import JsonRecordsReader, sniff_json, struct_sql
from .tabular import Check, split_checked, time_sql
from .text_entities import distinct_sql, html_text_sql, unescape_sql

PLATFORM = "mastodon"
#: The Status fields read (``json_transform`` structure); ``reblog`` stays JSON and is parsed in turn.
STATUS_STRUCT = {
    "id": "VARCHAR", "created_at": "VARCHAR", "content": "VARCHAR", "language": "VARCHAR",
    "in_reply_to_id": "VARCHAR", "reblog": "JSON",
    "account": {"id": "VARCHAR", "acct": "VARCHAR", "username": "VARCHAR", "display_name": "VARCHAR",
                "created_at": "VARCHAR", "note": "VARCHAR", "followers_count": "BIGINT", "following_count": "BIGINT"},
    "tags": [{"name": "VARCHAR"}], "mentions": [{"acct": "VARCHAR"}], "card": {"url": "VARCHAR"},
    "media_attachments": [{"id": "VARCHAR"}], "application": {"name": "VARCHAR"},
}

_HREF = "regexp_extract(a, 'href=\"([^\"]+)\"', 1)"
#: SQL: hrefs of the ``<a>`` tags of ``s.content`` that are not mention or hashtag links.
CONTENT_LINKS = (f"list_transform(list_filter(regexp_extract_all(s.content, '<a\\s[^>]*>'), "
                 f"lambda a: NOT regexp_matches(a, 'class=\"[^\"]*(mention|hashtag)')), "
                 f"lambda a: {unescape_sql(_HREF)})")


class MastodonReader(JsonRecordsReader):
    """Mastodon API Status entities, JSON array or lines (``--format mastodon``); mapping in the module doc."""

    name = "mastodon"
    description = "Mastodon API Status entities (JSON array or one per line)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """JSON whose first 64 KiB name the Status fields ``reblog``, ``acct`` and ``content``."""
        return sniff_json(path, b'"reblog"', b'"acct"', b'"content"')

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        struct = struct_sql(STATUS_STRUCT)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _st AS
            SELECT filename, line, '' AS path, json_transform(raw, {struct}) AS s FROM _records""")
        con.execute(f"""
            INSERT INTO _st SELECT filename, line, 'reblog.', json_transform(s.reblog, {struct}) FROM _st
            WHERE coalesce(json_type(s.reblog) = 'OBJECT', false)""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _st AS
            SELECT *, row_number() OVER (ORDER BY line, path) AS rec, s.id AS post_id, s.account.id AS account_id,
                   {time_sql('s.created_at')} AS created_at
            FROM _st""")
        checks = [Check("id", "post_id IS NULL", "status without id", "left(s.content, 200)"),
                  Check("account.id", "account_id IS NULL", "status without account.id", "post_id"),
                  Check("created_at", "created_at IS NULL", "missing or unparsable created_at (ISO 8601)",
                        "s.created_at")]
        good, bad = split_checked(con, "_st", checks, field_prefix="path")
        reblog = "(s.reblog ->> '$.id')"
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, account_id, s.account.acct AS handle, created_at,
                   CASE WHEN {reblog} IS NOT NULL THEN 'repost' WHEN s.in_reply_to_id IS NOT NULL THEN 'reply'
                        ELSE 'post' END AS kind,
                   {html_text_sql('s.content')} AS text, s.language AS lang,
                   '{PLATFORM}:' || {reblog} AS repost_of, '{PLATFORM}:' || s.in_reply_to_id AS reply_to,
                   {distinct_sql(f'list_append({CONTENT_LINKS}, s.card.url)')} AS urls,
                   coalesce(list_transform(s.tags, lambda t: t.name), []) AS hashtags,
                   coalesce(list_transform(s.mentions, lambda m: m.acct), []) AS mentions,
                   coalesce(list_transform(s.media_attachments, lambda m: m.id), []) AS media,
                   s.application.name AS client, line AS source_row
            FROM _st WHERE {good} ORDER BY rec""").to_arrow_table()
        # the note's HTML is turned into text once per account, after the newest note is picked (the
        # conversion keeps NULL as NULL and only NULL, so arg_max picks the same row either way)
        accounts = con.sql(f"""
            SELECT * REPLACE ({html_text_sql('description')} AS description) FROM (
            SELECT '{PLATFORM}' AS platform, account_id, arg_max(s.account.acct, created_at) AS handle,
                   arg_max(s.account.display_name, created_at) AS display_name,
                   arg_max({time_sql('s.account.created_at')}, created_at) AS created_at,
                   arg_max(s.account.note, created_at) AS description,
                   arg_max(s.account.followers_count, created_at) AS followers,
                   arg_max(s.account.following_count, created_at) AS following
            FROM _st WHERE {good} GROUP BY account_id)""").to_arrow_table()
        con.execute("DROP TABLE _st")
        return posts, accounts, bad
