"""Reader for Twitter/X API v1.1 tweet objects (``--format twitter-v1``).

Input: one tweet object per line (JSONL, as twarc1 / the streaming API write
it) or one JSON array of tweet objects. Python only splits the input into
records (constant memory: :data:`RECORDS_PER_BATCH` records at a time, arrays
are decoded element by element); validation and the field mapping run in
DuckDB's JSON functions over each batch.

Mapping (v1.1 field -> canonical)
    id_str (id)                      -> post_id
    user.id_str (user.id)            -> account_id; user.screen_name -> handle
    created_at                       -> created_at (``Wed Jan 07 11:11:33 +0000 2015`` -> UTC)
    extended_tweet.full_text, full_text, text -> text (first present)
    lang                             -> lang
    retweeted_status.id_str          -> kind repost, repost_of = ``twitter:<id>``
    quoted_status.id_str / quoted_status_id_str -> kind quote (repost_of stays empty;
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

import json
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa

from .base import Batch, IngestError, Reader, errors_table
from .tabular import Check, concat_errors, split_checked

PLATFORM = "twitter"
RECORDS_PER_BATCH = 20_000
#: Largest single array element held while looking for its end.
MAX_ELEMENT_CHARS = 64 << 20
CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"
#: Where tweets sit inside one record: the record itself and its embedded tweets.
EMBEDDED_PATHS = ("$", "$.retweeted_status", "$.quoted_status", "$.retweeted_status.quoted_status")
# v1.1 field names used by the mapping (JSON paths relative to a tweet).
ID, ID_NUM = "$.id_str", "$.id"
USER_ID, USER_ID_NUM = "$.user.id_str", "$.user.id"
CREATED_AT = "$.created_at"
TEXTS = ("$.extended_tweet.full_text", "$.full_text", "$.text")
RETWEETED_ID = "$.retweeted_status.id_str"
QUOTED_IDS = ("$.quoted_status.id_str", "$.quoted_status_id_str")
REPLY_TO_ID = "$.in_reply_to_status_id_str"
ENTITIES = ("$.extended_tweet.entities", "$.entities")
EXTENDED_ENTITIES = ("$.extended_tweet.extended_entities", "$.extended_entities", "$.entities")
USER_FIELDS = {"handle": "$.user.screen_name", "display_name": "$.user.name", "created_at": "$.user.created_at",
               "description": "$.user.description", "location": "$.user.location", "lang": "$.user.lang",
               "followers": "$.user.followers_count", "following": "$.user.friends_count"}


def _first_char(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return head[:1]


def _jsonl_records(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line, raw text, decode problem) per non-blank line."""
    with open(path, "rb") as f:
        for line_no, b in enumerate(f, 1):
            try:
                text = b.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                yield (line_no, b.decode("utf-8", errors="replace").strip(),
                       f"not UTF-8: {exc.reason} at byte {exc.start}")
                continue
            if text:
                yield line_no, text.lstrip("\ufeff") if line_no == 1 else text, None


def _array_records(path: Path, chunk_chars: int = 1 << 20) -> Iterator[tuple[int, str | None, str | None]]:
    """(element number, raw text, problem) per element of a top-level JSON array, read incrementally."""
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8-sig") as f:
        buf, pos, eof, n = "", 0, False, 0

        def more() -> None:
            nonlocal buf, pos, eof
            data = f.read(chunk_chars)
            eof = not data
            buf, pos = buf[pos:] + data, 0

        def skip_ws() -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or eof:
                    return
                more()

        try:
            skip_ws()
            if buf[pos:pos + 1] != "[":
                raise IngestError(f"{path}: not a JSON array or JSON lines")
            pos += 1
            while True:
                skip_ws()
                if pos >= len(buf):
                    yield n + 1, None, "the array is not closed (file truncated?)"
                    return
                if buf[pos] == "]":
                    return
                if n:
                    if buf[pos] != ",":
                        yield n + 1, buf[pos:pos + 200], f"expected ',' or ']' after element {n}; rest of file not read"
                        return
                    pos += 1
                    skip_ws()
                while True:
                    try:
                        _, end = dec.raw_decode(buf, pos)
                        if end < len(buf) or eof:
                            break
                    except json.JSONDecodeError as exc:
                        if eof or len(buf) - pos > MAX_ELEMENT_CHARS:
                            yield n + 1, buf[pos:pos + 2000], f"invalid JSON: {exc.msg}; rest of file not read"
                            return
                    more()
                n += 1
                yield n, buf[pos:end], None
                pos = end
        except UnicodeDecodeError as exc:
            yield n + 1, None, f"not UTF-8 ({exc.reason}); rest of file not read"


def _path_sql(j: str, paths: tuple[str, ...]) -> str:
    """SQL: the first of several JSON paths present in ``j``, as text."""
    return "coalesce(" + ", ".join(f"({j} ->> '{p}')" for p in paths) + ")"


def _json_sql(j: str, paths: tuple[str, ...]) -> str:
    return "coalesce(" + ", ".join(f"({j} -> '{p}')" for p in paths) + ")"


class TwitterV1Reader(Reader):
    """Twitter/X API v1.1 tweets as JSON lines or a JSON array (``--format twitter-v1``).

    See the module doc for the field mapping and error rules.
    """

    name = "twitter-v1"
    description = "Twitter/X API v1.1 tweet objects, JSON lines or a JSON array"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A file starting with ``{`` or ``[`` whose first 64 KiB name v1.1 tweet fields."""
        if not path.is_file() or _first_char(path) not in ("{", "["):
            return False
        with open(path, "rb") as f:
            head = f.read(65536)
        return all(k in head for k in (b'"id_str"', b'"user"', b'"created_at"', b'"screen_name"'))

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format twitter-v1 reads one JSON file")
        first = _first_char(path)
        if first not in ("{", "["):
            raise IngestError(f"{path}: not JSON lines or a JSON array (starts with {first!r})")
        records = _array_records(path) if first == "[" else _jsonl_records(path)
        # errors' line column: the JSONL line, or for an array the element number (said in the reason)
        where = " (line = array element number)" if first == "[" else ""
        chunk: list[tuple[int, str | None, str | None]] = []
        for rec in records:
            chunk.append(rec)
            if len(chunk) >= RECORDS_PER_BATCH:
                yield self._batch(chunk, path, where, con, progress)
                chunk = []
        if chunk:
            yield self._batch(chunk, path, where, con, progress)

    def _batch(self, chunk, path: Path, where: str, con: duckdb.DuckDBPyConnection, progress) -> Batch:
        raw = pa.table({"line": pa.array([r[0] for r in chunk], pa.int64()),
                        "raw": pa.array([r[1] for r in chunk], pa.string()),
                        "problem": pa.array([r[2] for r in chunk], pa.string())})
        problems = [dict(file=str(path), line=r[0], field=None, reason=r[2] + where, raw_value=r[1])
                    for r in chunk if r[2] is not None]
        con.register("_raw", raw)
        embedded = " UNION ALL ".join(
            f"SELECT filename, line, '{p[2:] + '.' if p != '$' else ''}' AS embed_path, j -> '{p}' AS t "
            f"FROM _records WHERE json_type(j -> '{p}') = 'OBJECT'" for p in EMBEDDED_PATHS)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _records AS
            SELECT '{_esc(path)}' AS filename, line, raw,
                   CASE WHEN json_valid(raw) THEN CAST(raw AS JSON) END AS j
            FROM _raw WHERE problem IS NULL""")
        con.unregister("_raw")
        bad_json = [Check("", "j IS NULL", f"invalid JSON{where}", "raw"),
                    Check("", "j IS NOT NULL AND json_type(j) <> 'OBJECT'", f"not a JSON object{where}",
                          "left(raw, 200)")]
        _, bad_records = split_checked(con, "_records", bad_json)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _tweets AS
            SELECT *, row_number() OVER () AS rec,
                   {_path_sql('t', (ID, ID_NUM))} AS post_id,
                   {_path_sql('t', (USER_ID, USER_ID_NUM))} AS account_id,
                   CAST(try_strptime(t ->> '{CREATED_AT}', '{CREATED_AT_FORMAT}') AS TIMESTAMP) AS created_at
            FROM ({embedded})""")
        checks = [Check("id_str", "post_id IS NULL", f"tweet without id_str/id{where}",
                        "left(CAST(t AS VARCHAR), 200)"),
                  Check("user.id_str", "account_id IS NULL", f"tweet without user.id_str/user.id{where}", "post_id"),
                  Check("created_at", "created_at IS NULL", "missing or unparsable created_at "
                        f"(expected {CREATED_AT_FORMAT}){where}", f"t ->> '{CREATED_AT}'")]
        # an embedded tweet's field is named by its path, e.g. retweeted_status.created_at
        good, bad_tweets = split_checked(con, "_tweets", checks, field_prefix="embed_path")
        ent, xent = _json_sql("t", ENTITIES), _json_sql("t", EXTENDED_ENTITIES)
        rs_id, qs_id = f"(t ->> '{RETWEETED_ID}')", _path_sql("t", QUOTED_IDS)
        reply = f"nullif(t ->> '{REPLY_TO_ID}', '')"
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, account_id, t ->> '$.user.screen_name' AS handle, created_at,
                   CASE WHEN {rs_id} IS NOT NULL THEN 'repost' WHEN {qs_id} IS NOT NULL THEN 'quote'
                        WHEN {reply} IS NOT NULL THEN 'reply' ELSE 'post' END AS kind,
                   {_path_sql('t', TEXTS)} AS text, t ->> '$.lang' AS lang,
                   '{PLATFORM}:' || {rs_id} AS repost_of, '{PLATFORM}:' || {reply} AS reply_to,
                   coalesce([coalesce(u ->> 'expanded_url', u ->> 'url') FOR u IN json_extract({ent}, '$.urls[*]')],
                            []) AS urls,
                   coalesce(json_extract_string({ent}, '$.hashtags[*].text'), []) AS hashtags,
                   coalesce(json_extract_string({ent}, '$.user_mentions[*].screen_name'), []) AS mentions,
                   coalesce(json_extract_string({xent}, '$.media[*].id_str'), []) AS media,
                   nullif(trim(regexp_replace(t ->> '$.source', '<[^>]*>', '', 'g')), '') AS client,
                   line AS source_row
            FROM _tweets WHERE {good} ORDER BY rec""").to_arrow_table()
        user = {k: f"t ->> '{p}'" for k, p in USER_FIELDS.items()}
        accounts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, account_id,
                   arg_max({user['handle']}, created_at) AS handle,
                   arg_max({user['display_name']}, created_at) AS display_name,
                   arg_max(CAST(try_strptime({user['created_at']}, '{CREATED_AT_FORMAT}') AS TIMESTAMP), created_at)
                       AS created_at,
                   arg_max({user['description']}, created_at) AS description,
                   arg_max({user['location']}, created_at) AS location,
                   arg_max({user['lang']}, created_at) AS lang,
                   arg_max(try_cast({user['followers']} AS BIGINT), created_at) AS followers,
                   arg_max(try_cast({user['following']} AS BIGINT), created_at) AS following
            FROM _tweets WHERE {good} GROUP BY account_id""").to_arrow_table()
        con.execute("DROP TABLE _records; DROP TABLE _tweets")
        if progress:
            progress(len(chunk))
        return Batch(posts=posts, accounts=accounts,
                     errors=concat_errors(errors_table(problems), bad_records, bad_tweets),
                     rows_read=len(chunk), source_file=str(path))


def _esc(path: Path) -> str:
    return str(path).replace("'", "''")
