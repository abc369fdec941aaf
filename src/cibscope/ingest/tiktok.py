"""Reader for TikTok Research API video records (``--format tiktok``).

Input: responses of the Research API's video query
(developers.tiktok.com, "Research API: Query Videos"), one per line or one
pretty-printed object: ``{"data": {"videos": [...], "cursor", "has_more", "search_id"},
"error": {"code", "message", "log_id"}}``; or the videos themselves, one per line or
as a JSON array. Each video is parsed once into :data:`VIDEO_STRUCT`.

Mapping (video field -> canonical)
    id                 -> post_id
    username           -> account_id and handle (the API returns no user id)
    create_time        -> created_at (POSIX seconds, UTC)
    video_description  -> text; URLs and mentions extracted from it
    hashtag_names[]    -> hashtags, followed by hashtags of the description not listed
    region_code        -> account location (of the newest video)
    kind               :  ``post``
Not used: counts (view/like/comment/share), music_id, effect_ids, playlist_id, voice_to_text,
video_duration, is_stem_verified.

Errors: a record that is not a JSON object; a response whose ``error.code`` is
not ``ok`` and that has no videos (its message is kept); a video without
``id``, ``username`` or a numeric ``create_time`` (field ``data.videos.<field>``).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .json_records import JsonRecordsReader, api_errors, items_sql, sniff_json, struct_sql
from .tabular import Check, concat_errors, posix_ts_sql, split_checked
from .text_entities import DOTTED_HANDLE, mentions_sql, merge_tags_sql, urls_sql

PLATFORM = "tiktok"
#: The video fields read (``json_transform`` structure).
VIDEO_STRUCT = {"id": "VARCHAR", "create_time": "VARCHAR", "username": "VARCHAR", "video_description": "VARCHAR",
                "hashtag_names": ["VARCHAR"], "region_code": "VARCHAR"}
#: The response envelope, parsed once per record (a video on its own line is parsed again as a video).
RESPONSE_STRUCT = {"data": {"videos": [VIDEO_STRUCT]}, "error": {"code": "VARCHAR", "message": "VARCHAR"}}


class TikTokReader(JsonRecordsReader):
    """TikTok Research API videos (``--format tiktok``); mapping in the module doc."""

    name = "tiktok"
    description = "TikTok Research API video query responses or video records"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """JSON naming ``create_time`` and ``video_description`` or ``hashtag_names`` in its first 64 KiB."""
        return sniff_json(path, b'"create_time"', b'"username"') and (
            sniff_json(path, b'"video_description"') or sniff_json(path, b'"hashtag_names"'))

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _resp AS
            SELECT *, r.data IS NOT NULL OR r.error IS NOT NULL AS is_response
            FROM (SELECT filename, line, raw, json_transform(raw, {struct_sql(RESPONSE_STRUCT)}) AS r FROM _records)""")
        failed = api_errors(con, "is_response AND coalesce(len(r.data.videos), 0) = 0",
                            "coalesce(r.error.code, 'no videos') || ': ' || coalesce(r.error.message, '')",
                            "data.videos")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _vid AS
            SELECT * EXCLUDE (o), o AS v, o.id AS post_id, nullif(o.username, '') AS account_id,
                   {posix_ts_sql('o.create_time')} AS created_at
            FROM ({items_sql('r.data.videos', '_resp', 'is_response', 'data.videos.')}
                  UNION ALL {items_sql(f'[json_transform(raw, {struct_sql(VIDEO_STRUCT)})]', '_resp', 'NOT is_response')})""")
        checks = [Check("id", "post_id IS NULL", "video without id", "v.video_description"),
                  Check("username", "account_id IS NULL", "video without username", "post_id"),
                  Check("create_time", "created_at IS NULL", "missing or non-numeric create_time (POSIX seconds)",
                        "v.create_time")]
        good, bad = split_checked(con, "_vid", checks, field_prefix="path")
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, account_id, account_id AS handle, created_at, 'post' AS kind,
                   v.video_description AS text, coalesce({urls_sql('v.video_description')}, []) AS urls,
                   {merge_tags_sql('v.hashtag_names', "coalesce(v.video_description, '')")} AS hashtags,
                   coalesce({mentions_sql('v.video_description', DOTTED_HANDLE)}, []) AS mentions, line AS source_row
            FROM _vid WHERE {good} ORDER BY line""").to_arrow_table()
        accounts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, account_id, account_id AS handle,
                   arg_max(v.region_code, created_at) AS location
            FROM _vid WHERE {good} GROUP BY account_id""").to_arrow_table()
        con.execute("DROP TABLE _resp; DROP TABLE _vid")
        return posts, accounts, concat_errors(failed, bad)
