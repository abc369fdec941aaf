"""Reader for Bluesky / AT Protocol post and repost records (``--format bluesky``).

Input: one record per line (or a JSON array), in either envelope:

* Jetstream events (``{"did", "time_us", "kind": "commit", "commit": {"operation",
  "collection", "rkey", "record", "cid"}}``), as the public Jetstream firehose writes them;
* repository records (``{"uri": "at://<did>/<collection>/<rkey>", "cid", "value": record}``,
  as ``com.atproto.repo.listRecords`` returns them), optionally with ``handle`` or an
  ``author: {did, handle}`` object (``app.bsky.feed.getPosts`` views use ``record``).

Records of ``app.bsky.feed.post`` and ``app.bsky.feed.repost`` (lexicons at
github.com/bluesky-social/atproto, ``lexicons/app/bsky/feed``) are read,
parsed once into :data:`RECORD_STRUCT`.

Mapping (field -> canonical)
    at://<did>/<collection>/<rkey> -> post_id (the record's AT URI: reply and repost subjects
                                name posts by it, so they resolve to post keys)
    did (repo, author.did, the URI's authority) -> account_id; handle / author.handle -> handle
    createdAt                   -> created_at (ISO 8601 -> UTC); when the envelope has ``time_us``
                                (Jetstream, microseconds) or ``indexedAt`` and ``createdAt`` is
                                more than a day before it or 5 minutes after it (client-written,
                                backdated), that time instead
    text                        -> text; langs[0] -> lang
    facets[].features[] ``app.bsky.richtext.facet#link`` uri, embed.external.uri,
      embed.media.external.uri  -> urls
    facets ``#tag`` tag, tags[] -> hashtags
    facets ``#mention`` did     -> mentions (DIDs: the record holds no handle)
    embed.images[].image.ref.$link (and embed.media.images) -> media (blob CIDs: content hashes,
                                equal for the same image bytes)
    reply.parent.uri            -> kind reply, reply_to = ``bluesky:<uri>``
    embed.record.uri (embed.record.record.uri) -> kind quote (a reply stays reply), quote_of = ``bluesky:<uri>``
    repost subject.uri          -> kind repost, repost_of = ``bluesky:<uri>``
Records of other collections (likes, follows, ...), deletes and identity or
account events are not posts: each batch reports them as one error row per
collection (count and first line), never silently.

Errors: a line that is not a JSON object; a post/repost without DID, rkey or
parsable ``createdAt``.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .json_records import JsonRecordsReader, sniff_json, struct_sql
from .tabular import Check, concat_errors, split_checked, time_sql

PLATFORM = "bluesky"
#: ``createdAt`` is written by the client and may be anything: when the envelope says when the network
#: saw the record (Jetstream ``time_us``, a view's ``indexedAt``), a ``createdAt`` more than this much
#: before it (backdated) or :data:`FUTURE_SLACK` after it is replaced by that time.
BACKDATE_SLACK = "'1 day'"
FUTURE_SLACK = "'5 minutes'"
POST, REPOST = "app.bsky.feed.post", "app.bsky.feed.repost"
_IMAGES = [{"image": {"ref": {"$link": "VARCHAR"}}}]
#: The record fields read (``json_transform`` structure of ``app.bsky.feed.post`` / ``.repost``).
RECORD_STRUCT = {
    "$type": "VARCHAR", "text": "VARCHAR", "createdAt": "VARCHAR", "langs": ["VARCHAR"], "tags": ["VARCHAR"],
    "facets": [{"features": [{"$type": "VARCHAR", "uri": "VARCHAR", "tag": "VARCHAR", "did": "VARCHAR"}]}],
    "reply": {"parent": {"uri": "VARCHAR"}},
    "embed": {"$type": "VARCHAR", "external": {"uri": "VARCHAR"}, "record": {"uri": "VARCHAR", "record": {"uri": "VARCHAR"}},
              "images": _IMAGES, "media": {"images": _IMAGES, "external": {"uri": "VARCHAR"}}},
    "subject": {"uri": "VARCHAR"},
}
#: The envelope fields read (Jetstream event or repository record).
ENVELOPE_STRUCT = {"did": "VARCHAR", "repo": "VARCHAR", "handle": "VARCHAR", "uri": "VARCHAR", "kind": "VARCHAR",
                   "time_us": "VARCHAR", "indexedAt": "VARCHAR",
                   "author": {"did": "VARCHAR", "handle": "VARCHAR"}, "value": "JSON", "record": "JSON",
                   "commit": {"operation": "VARCHAR", "collection": "VARCHAR", "rkey": "VARCHAR", "record": "JSON"}}


def _facets(r: str, kind: str, field: str) -> str:
    """SQL: ``field`` of every facet feature of type ``app.bsky.richtext.facet#<kind>``."""
    return (f"coalesce(list_transform(list_filter(flatten(list_transform({r}.facets, lambda f: f.features)), "
            f"lambda x: x.\"$type\" = 'app.bsky.richtext.facet#{kind}'), lambda x: x.{field}), [])")


class BlueskyReader(JsonRecordsReader):
    """AT Protocol post/repost records, Jetstream or listRecords lines (``--format bluesky``)."""

    name = "bluesky"
    description = "Bluesky (AT Protocol) app.bsky.feed.post/repost records, Jetstream or listRecords lines"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """JSON naming the ``app.bsky.feed.`` lexicon in its first 64 KiB."""
        return sniff_json(path, b'"app.bsky.feed.')

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _env AS
            SELECT filename, line, e, coalesce(e.commit.record, e.value, e.record) AS rec_json,
                   coalesce(e.commit.collection, coalesce(e.commit.record, e.value, e.record) ->> '$."$type"',
                            regexp_extract(e.uri, '^at://[^/]+/([^/]+)/', 1)) AS collection,
                   coalesce(e.commit.operation, 'create') AS operation
            FROM (SELECT filename, line, json_transform(raw, {struct_sql(ENVELOPE_STRUCT)}) AS e FROM _records)""")
        skipped = con.sql("""
            SELECT file, line, CASE WHEN collection IS NULL THEN 'kind' ELSE 'collection' END AS field,
                   n || ' record(s) not posts or reposts (' || coalesce(collection, 'event kind ' || coalesce(kind, '?'))
                   || ', ' || operation || '); not ingested' AS reason, coalesce(collection, kind) AS raw_value
            FROM (SELECT any_value(filename) AS file, min(line) AS line, count(*) AS n, collection, e.kind AS kind,
                         operation
                  FROM _env WHERE collection IS NULL OR collection NOT IN ($post, $repost) OR operation <> 'create'
                  GROUP BY collection, e.kind, operation)
            ORDER BY line""", params={"post": POST, "repost": REPOST}).to_arrow_table()
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _bs AS
            SELECT * EXCLUDE (_claimed, _seen), 'at://' || did || '/' || collection || '/' || rkey AS post_id,
                   CASE WHEN _seen IS NOT NULL AND (_claimed IS NULL OR _claimed < _seen - INTERVAL {BACKDATE_SLACK}
                                                    OR _claimed > _seen + INTERVAL {FUTURE_SLACK})
                        THEN _seen ELSE _claimed END AS created_at
            FROM (SELECT *, {time_sql('r.createdAt')} AS _claimed,
                         coalesce({time_sql('_time_us')}, {time_sql('_indexed')}) AS _seen FROM (
                  SELECT filename, line, collection, e.time_us AS _time_us, e.indexedAt AS _indexed, json_transform(rec_json, {struct_sql(RECORD_STRUCT)}) AS r,
                         coalesce(e.did, e.repo, e.author.did, nullif(regexp_extract(e.uri, '^at://([^/]+)/', 1), ''))
                             AS did,
                         coalesce(e.handle, e.author.handle) AS handle,
                         coalesce(e.commit.rkey, nullif(regexp_extract(e.uri, '/([^/]+)$', 1), '')) AS rkey
                  FROM _env WHERE collection IN ('{POST}', '{REPOST}') AND operation = 'create'))""")
        checks = [Check("did", "did IS NULL", "record without a DID (did, repo, author.did or uri)", "rkey"),
                  Check("rkey", "rkey IS NULL", "record without rkey (commit.rkey or uri)", "did"),
                  Check("createdAt", "created_at IS NULL", "missing or unparsable createdAt (ISO 8601)",
                        "r.createdAt")]
        good, bad = split_checked(con, "_bs", checks)
        images = "list_concat(coalesce(r.embed.images, []), coalesce(r.embed.media.images, []))"
        quoted = "coalesce(r.embed.record.record.uri, r.embed.record.uri)"
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, did AS account_id, handle, created_at,
                   CASE WHEN collection = '{REPOST}' THEN 'repost' WHEN r.reply.parent.uri IS NOT NULL THEN 'reply'
                        WHEN {quoted} IS NOT NULL THEN 'quote' ELSE 'post' END AS kind,
                   r.text AS text, r.langs[1] AS lang,
                   CASE WHEN collection = '{REPOST}' THEN '{PLATFORM}:' || r.subject.uri END AS repost_of,
                   '{PLATFORM}:' || r.reply.parent.uri AS reply_to,
                   list_filter(list_concat({_facets('r', 'link', 'uri')}, [r.embed.external.uri, r.embed.media.external.uri]),
                               lambda u: u IS NOT NULL) AS urls,
                   list_concat({_facets('r', 'tag', 'tag')}, coalesce(r.tags, [])) AS hashtags,
                   {_facets('r', 'mention', 'did')} AS mentions,
                   list_filter(list_transform({images}, lambda i: i.image.ref."$link"), lambda c: c IS NOT NULL) AS media,
                   line AS source_row,
                   CASE WHEN collection = '{POST}' THEN '{PLATFORM}:' || {quoted} END AS quote_of
            FROM _bs WHERE {good} ORDER BY line""").to_arrow_table()
        con.execute("DROP TABLE _env; DROP TABLE _bs")
        return posts, None, concat_errors(skipped, bad)
