"""Reader for YouTube Data API v3 video and search results (``--format youtube``).

Input: ``videos.list`` or ``search.list`` responses (developers.google.com/youtube/v3,
"Videos" and "Search" resources), one per line or one pretty-printed object:
``{"kind": "youtube#videoListResponse", "items": [...], "nextPageToken", ...}``; or the
items themselves, one per line or as a JSON array. Each item is parsed once
into :data:`ITEM_STRUCT`.

Mapping (item field -> canonical)
    id (videos.list) / id.videoId (search.list) -> post_id
    snippet.channelId         -> account_id; snippet.channelTitle -> account display_name
    snippet.publishedAt       -> created_at (ISO 8601 -> UTC)
    snippet.title + blank line + snippet.description -> text; URLs and mentions extracted from it
    snippet.tags[]            -> hashtags (the uploader's keywords), followed by the
                                 ``#hashtags`` of title and description not listed
    snippet.defaultLanguage (else defaultAudioLanguage) -> lang
    kind                      :  ``post``
Not used: statistics, contentDetails, thumbnails, categoryId, liveBroadcastContent.
Search results that are not videos (``id.kind`` ``youtube#channel`` or
``youtube#playlist``) are errors naming their kind.

Errors: a record that is not a JSON object; a response without ``items``
(its ``error.message`` is kept); an item without video id, channelId or
parsable publishedAt (field ``items.<field>``).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .json_records import JsonRecordsReader, api_errors, items_sql, sniff_json, struct_sql
from .tabular import Check, concat_errors, split_checked, time_sql
from .text_entities import mentions_sql, merge_tags_sql, urls_sql

PLATFORM = "youtube"
#: The item fields read (``json_transform`` structure); ``id`` is a string or a search-result object.
ITEM_STRUCT = {"kind": "VARCHAR", "id": "JSON",
               "snippet": {"publishedAt": "VARCHAR", "channelId": "VARCHAR", "channelTitle": "VARCHAR",
                           "title": "VARCHAR", "description": "VARCHAR", "tags": ["VARCHAR"],
                           "defaultLanguage": "VARCHAR", "defaultAudioLanguage": "VARCHAR"}}
#: The response envelope, parsed once per record (an item on its own line is parsed again as an item).
RESPONSE_STRUCT = {"kind": "VARCHAR", "items": [ITEM_STRUCT], "error": {"message": "VARCHAR"}}


class YouTubeReader(JsonRecordsReader):
    """YouTube Data API videos.list / search.list items (``--format youtube``); mapping in the module doc."""

    name = "youtube"
    description = "YouTube Data API v3 videos.list / search.list responses or items"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """JSON naming ``youtube#`` kinds and ``snippet`` in its first 64 KiB."""
        return sniff_json(path, b'"youtube#', b'"snippet"')

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _resp AS
            SELECT *, r.items IS NOT NULL OR r.error IS NOT NULL OR coalesce(r.kind LIKE '%ListResponse', false)
                      AS is_response
            FROM (SELECT filename, line, raw, json_transform(raw, {struct_sql(RESPONSE_STRUCT)}) AS r FROM _records)""")
        failed = api_errors(con, "is_response AND coalesce(len(r.items), 0) = 0",
                            "coalesce(r.error.message, 'no items')", "items")
        text = "concat_ws(chr(10) || chr(10), o.snippet.title, nullif(o.snippet.description, ''))"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _yt AS
            SELECT * EXCLUDE (o), o AS y, {text} AS txt,
                   CASE WHEN json_type(o.id) = 'VARCHAR' THEN o.id ->> '$' ELSE o.id ->> '$.videoId' END AS post_id,
                   coalesce(o.id ->> '$.kind', 'youtube#video') AS id_kind,
                   nullif(o.snippet.channelId, '') AS account_id, {time_sql('o.snippet.publishedAt')} AS created_at
            FROM ({items_sql('r.items', '_resp', 'is_response', 'items.')}
                  UNION ALL {items_sql(f'[json_transform(raw, {struct_sql(ITEM_STRUCT)})]', '_resp', 'NOT is_response')})""")
        checks = [Check("id", "id_kind <> 'youtube#video'", "search result is not a video", "id_kind"),
                  Check("id", "id_kind = 'youtube#video' AND post_id IS NULL", "item without video id",
                        "y.snippet.title"),
                  Check("snippet.channelId", "account_id IS NULL", "item without snippet.channelId", "post_id"),
                  Check("snippet.publishedAt", "created_at IS NULL",
                        "missing or unparsable snippet.publishedAt (ISO 8601)", "y.snippet.publishedAt")]
        good, bad = split_checked(con, "_yt", checks, field_prefix="path")
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, account_id, created_at, 'post' AS kind, txt AS text,
                   coalesce(y.snippet.defaultLanguage, y.snippet.defaultAudioLanguage) AS lang,
                   coalesce({urls_sql('txt')}, []) AS urls, {merge_tags_sql('y.snippet.tags', 'txt')} AS hashtags,
                   coalesce({mentions_sql('txt')}, []) AS mentions, line AS source_row
            FROM _yt WHERE {good} ORDER BY line""").to_arrow_table()
        accounts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, account_id, arg_max(y.snippet.channelTitle, created_at) AS display_name
            FROM _yt WHERE {good} GROUP BY account_id""").to_arrow_table()
        con.execute("DROP TABLE _resp; DROP TABLE _yt")
        return posts, accounts, concat_errors(failed, bad)
