"""Reader for Reddit data (``--format reddit``): per-user history folders, Pushshift dumps, API listings.

Layouts (one reader, picked per file)
    per-user history folders  ``<root>/<Group>/<user>/comments.csv`` and ``submissions.csv`` (as in
                              the benibienz/reddit-analysis collection): the account is the folder
                              name; the root, a group folder, one user's folder or one file can be
                              given. Columns :data:`COMMENT_FIELDS` / :data:`SUBMISSION_FIELDS`
                              (plus the unnamed pandas index). Submissions carry no id: the base-36
                              id is taken from ``full_link`` (``/comments/<id>/``).
    Pushshift dumps           comments and submissions, one JSON object per line
                              (``.ndjson``, ``.jsonl``, ``.json``), plain or ``.zst``-compressed.
    API listings              ``{"kind": "Listing", "data": {"children": [{"kind": "t1"|"t3",
                              "data": {...}}]}}``, one per file, several in a JSON array, or one per line;
                              replies nested in a comment's ``replies`` listing are read to any depth.

Mapping (Reddit field -> canonical post; :data:`THING_STRUCT` for JSON)
    ``t1_<id>`` / ``t3_<id>``   -> post_id (fullnames: a comment's ``parent_id`` names its parent by them)
    author (folder name)        -> account_id and handle
    created_utc / created       -> created_at (POSIX seconds or ISO 8601; UTC)
    comment                     -> kind ``reply``, reply_to ``reddit:<parent_id>`` (``link_id``, the
                                   submission, when the parent is missing); text = body
    submission                  -> kind ``post``; text = title, a blank line, selftext; urls = the
                                   external ``url`` (not for self posts and Reddit permalinks)
                                   followed by the URLs in the selftext
    subreddit                   -> context ``r/<subreddit>``
    ``u/name``, ``/u/name``     -> mentions (Reddit has no hashtag syntax: hashtags stay empty)
    URLs in body / selftext     -> urls
``domain`` is not read: the store derives the host from the URL (Reddit's own hosts, imgur and
YouTube are platform hosts and give no ``domain`` action, see ``store/normalize.py``).

Errors (one ``ingest_errors`` row each; ``line`` is the physical line where the record starts,
also in CSV files whose text fields span lines): a CSV row that does not parse; a JSON line that
is not a JSON object; a record that is neither a comment nor a submission; no id (a submission
``full_link`` without ``/comments/<id>``); no author; a ``[deleted]`` or ``[removed]`` author (the
post is kept aside, not linked to any account); a missing or unparsable time; a comment
``parent_id`` that is not a ``t1_``/``t3_`` fullname.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa

from .base import Batch, IngestError, compression, errors_table
from .json_records import (JsonRecordsReader, Record, file_records, first_char, head_bytes, line_records,
                           struct_sql)
from .tabular import (Check, concat_errors, header_fields, load_csv, physical_lines, records_read, split_checked,
                      time_sql)
from .text_entities import distinct_sql, reddit_mentions_sql, urls_sql

PLATFORM = "reddit"
#: Columns of a per-user ``comments.csv`` (after the unnamed index column).
COMMENT_FIELDS = ("body", "created", "id", "nest_level", "parent_id", "reply_delay", "subreddit")
#: Columns of a per-user ``submissions.csv`` (after the unnamed index column).
SUBMISSION_FIELDS = ("created", "domain", "full_link", "locked", "selftext", "subreddit", "title", "url")
#: The fields of a Pushshift record or an API listing child's ``data`` (``json_transform`` structure).
THING_STRUCT = {
    "id": "VARCHAR", "name": "VARCHAR", "author": "VARCHAR", "created_utc": "VARCHAR", "body": "VARCHAR",
    "title": "VARCHAR", "selftext": "VARCHAR", "url": "VARCHAR", "is_self": "BOOLEAN", "subreddit": "VARCHAR",
    "parent_id": "VARCHAR", "link_id": "VARCHAR", "permalink": "VARCHAR",
}
#: Author values of posts whose account was deleted or removed: kept aside, never an account.
DELETED_AUTHORS = ("[deleted]", "[removed]")
#: Per-user CSV files read in one DuckDB scan.
FILES_PER_BATCH = 200
#: File name endings read as JSON (Pushshift dumps, API listings).
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".zst")
#: Hosts of Reddit itself: a submission ``url`` there with ``/comments/`` is a permalink, not an external link.
REDDIT_HOSTS = ("reddit.com", "old.reddit.com", "np.reddit.com", "m.reddit.com", "redd.it")

_CSV_KINDS = {"comments.csv": ("t1", COMMENT_FIELDS), "submissions.csv": ("t3", SUBMISSION_FIELDS)}


def _history_files(path: Path) -> list[Path]:
    """The per-user ``comments.csv`` / ``submissions.csv`` files at or under ``path``, sorted."""
    if path.is_file():
        return [path] if path.name in _CSV_KINDS else []
    return sorted(p for name in _CSV_KINDS for p in path.rglob(name))


def _json_files(path: Path) -> list[Path]:
    """The JSON inputs at ``path``: a file given is one whatever its name (``RC_2016-10`` after
    ``zstd -d``) when it is compressed or starts with ``{`` or ``[``; in a folder, the files named
    :data:`JSON_SUFFIXES`, less any zstd file that gives no byte (truncated or corrupt from its start:
    the folder's summary names it, see :func:`cibscope.ingest.ingest`)."""
    if path.is_file():
        return [path] if path.name.lower().endswith(JSON_SUFFIXES) or compression(path) \
            or first_char(path) in ("{", "[") else []
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(JSON_SUFFIXES)
                  and not (compression(p) == "zstd" and zst_damage(p)))


def _csv_columns(path: Path) -> list[str]:
    """Header of a per-user CSV, the unnamed pandas index column named ``_index``."""
    return [h or "_index" for h in header_fields(path)]


class ZstdFrames(io.RawIOBase):
    """A readable stream of the decompressed bytes of zstd file object ``f`` (all its frames, in order).

    Unlike ``zstandard``'s ``stream_reader``, which ends quietly where a file is cut short, this
    raises ``zstandard.ZstdError`` ("truncated") when the file ends inside a frame. Pushshift dumps
    use a 2 GiB window: the decompressor is allowed it (memory grows only as the file needs).
    """

    def __init__(self, f, read_bytes: int = 1 << 20):
        import zstandard

        self.f, self.read_bytes, self.pending = f, read_bytes, b""
        self.dctx = zstandard.ZstdDecompressor(max_window_size=2 ** 31)
        self.obj, self.in_frame = self.dctx.decompressobj(), False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Close the stream and the file it reads."""
        if not self.closed:
            self.f.close()
        super().close()

    def readinto(self, b) -> int:
        import zstandard

        while not self.pending:
            data = self.f.read(self.read_bytes)
            if not data:
                if self.in_frame:
                    raise zstandard.ZstdError("truncated: the file ends inside a compressed frame")
                return 0
            while data:
                self.in_frame = True
                self.pending += self.obj.decompress(data)
                if not self.obj.eof:
                    break
                data, self.obj, self.in_frame = self.obj.unused_data, self.dctx.decompressobj(), False
        n = min(len(b), len(self.pending))
        b[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


def _zst_start(path: Path, n_bytes: int = 65536) -> tuple[bytes, str | None]:
    """Up to the first ``n_bytes`` of a zstd file, decompressed, and why decompressing stopped short
    (not zstd, truncated, corrupt; None when it did not)."""
    import zstandard

    done, buf = 0, bytearray(n_bytes)
    with open(path, "rb") as f:
        raw = ZstdFrames(f)
        try:
            while done < n_bytes and (n := raw.readinto(memoryview(buf)[done:])):
                done += n
        except zstandard.ZstdError as exc:
            return bytes(buf[:done]), str(exc)
    return bytes(buf[:done]), None


def _zst_head(path: Path, n_bytes: int = 65536) -> bytes:
    """The first ``n_bytes`` of a zstd file, decompressed (b'' when it is not zstd or is damaged there)."""
    return _zst_start(path, n_bytes)[0]


def zst_damage(path: Path) -> str | None:
    """Why zstd file ``path`` gives no byte at all (truncated or corrupt in its first frame), or None when
    something decompresses (a cut further on is reported as a bad record by :func:`zst_records`)."""
    head, why = _zst_start(path)
    return None if head else why


def zst_records(path: Path) -> Iterator[Record]:
    """(line, raw text, decode problem) per non-blank line of a zstd-compressed JSON-lines file, streamed.

    A file cut short or corrupt yields one problem record where it stops (the lines before are read).
    """
    import zstandard

    with open(path, "rb") as f:
        last = 0
        try:
            for rec in line_records(io.BufferedReader(ZstdFrames(f), 1 << 20)):
                last = rec[0]
                yield rec
        except zstandard.ZstdError as exc:
            yield last + 1, None, f"cannot decompress (zstd): damaged or truncated zstd file: {exc}; rest of file not read"


class RedditReader(JsonRecordsReader):
    """Reddit comments and submissions (``--format reddit``); layouts and mapping in the module doc."""

    name = "reddit"
    description = "Reddit: per-user comments.csv/submissions.csv folders, Pushshift NDJSON (.zst), API listings"
    reads_folders = True  # a folder of per-user histories is one input

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A per-user CSV (or a folder holding one) with the Reddit header, or JSON naming ``subreddit``
        with comment/submission fields (``link_id``, ``selftext``) or a ``Listing`` of ``t1``/``t3``."""
        if path.is_dir():
            first = next((p for name in _CSV_KINDS for p in path.rglob(name)), None)
            if first is None:
                first = next((p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(JSON_SUFFIXES)),
                             None)
            return first is not None and cls.sniff(first)
        if path.name in _CSV_KINDS:
            return tuple(_csv_columns(path)[1:]) == _CSV_KINDS[path.name][1]
        if path.name.lower().endswith(".zst"):
            head = _zst_head(path)
        elif first_char(path) in ("{", "["):
            head = head_bytes(path)
        else:
            return False
        return b'"subreddit"' in head and any(k in head for k in (b'"link_id"', b'"selftext"', b'"Listing"'))

    def records(self, path: Path) -> Iterator[Record]:
        """JSON lines of a zstd file (named .zst or told by its magic number), else :func:`file_records`
        (lines, array or pretty-printed values)."""
        zst = path.name.lower().endswith(".zst") or compression(path) == "zstd"
        return zst_records(path) if zst else file_records(path)

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        """Batches of the per-user CSV files at or under ``path``, then of its JSON files.

        Raises
        ------
        IngestError
            Neither a per-user CSV nor a JSON file is found at ``path``, or no CSV file has the
            Reddit header (the message names the first one and what it holds).
        """
        csvs, jsons = _history_files(path), _json_files(path)
        if not csvs and not jsons:
            raise IngestError(f"{path}: no comments.csv, submissions.csv or JSON file ({', '.join(JSON_SUFFIXES)}) "
                              "found for format reddit")
        if csvs:
            yield from self._read_histories(path, csvs, con, progress)
        for f in jsons:
            yield from super().read(f, con, progress)

    # -- per-user history folders -------------------------------------------------------------
    def _read_histories(self, path: Path, files: list[Path], con: duckdb.DuckDBPyConnection,
                        progress) -> Iterator[Batch]:
        good: dict[str, list[Path]] = {"comments.csv": [], "submissions.csv": []}
        errors = []
        for f in files:
            found = _csv_columns(f)
            expected = _CSV_KINDS[f.name][1]
            if tuple(found[1:]) != expected:
                missing = [c for c in expected if c not in found]
                errors.append(dict(file=str(f), line=1, field=",".join(missing) or None, raw_value=",".join(found),
                                   reason=(f"header does not match a reddit {f.name} "
                                           f"(expected: ,{','.join(expected)}); file skipped")))
            else:
                good[f.name].append(f)
        if not any(good.values()):
            raise IngestError(f"{path}: no per-user CSV has the reddit header; {errors[0]['file']}: "
                              f"{errors[0]['reason']}")
        if errors:
            yield Batch(errors=errors_table(errors), source_file=str(path))
        for name, fs in good.items():
            for i in range(0, len(fs), FILES_PER_BATCH):
                batch = self._history_batch(name, fs[i:i + FILES_PER_BATCH], con)
                if progress:
                    progress(batch.rows_read)
                yield batch

    def _history_batch(self, name: str, files: list[Path], con: duckdb.DuckDBPyConnection) -> Batch:
        kind, fields = _CSV_KINDS[name]
        rejects = load_csv(con, "_rd_src", files, ["_index", *fields])
        rejects = physical_lines(con, "_rd_src", files, rejects)
        user = r"regexp_extract(filename, '([^/\\]+)[/\\][^/\\]+$', 1)"
        if kind == "t1":
            things = f"""SELECT filename, line, record AS source_row, rec, 't1' AS kind, id, {user} AS author,
                                created AS ts_raw, body, NULL AS title, NULL AS selftext, NULL AS url,
                                NULL::BOOLEAN AS is_self, subreddit, parent_id, NULL AS link_id, NULL AS permalink,
                                NULL AS raw
                         FROM _rd_src"""
            id_field, id_reason = "id", "comment without id"
        else:
            things = f"""SELECT filename, line, record AS source_row, rec, 't3' AS kind,
                                nullif(regexp_extract(full_link, '/comments/([A-Za-z0-9]+)', 1), '') AS id,
                                {user} AS author, created AS ts_raw, NULL AS body, title, selftext, url,
                                starts_with(lower(domain), 'self.') AS is_self, subreddit, NULL AS parent_id,
                                NULL AS link_id, full_link AS permalink, NULL AS raw
                         FROM _rd_src"""
            id_field, id_reason = "full_link", "no submission id: full_link lacks /comments/<id>/"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _rd AS {things}")
        n_read = records_read(con, "_rd_src", rejects)
        con.execute("DROP TABLE _rd_src")
        posts, accounts, bad = map_things(con, "_rd", id_field=id_field, id_reason=id_reason, time_field="created")
        con.execute("DROP TABLE _rd")
        return Batch(posts=posts, accounts=accounts, errors=concat_errors(rejects, bad), rows_read=n_read,
                     source_file=os.path.commonpath([str(f) for f in files]))

    # -- JSON: Pushshift lines and API listings -----------------------------------------------
    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        """Posts, accounts and errors of the Pushshift records and API listings in temp table ``_records``."""
        struct = struct_sql(THING_STRUCT)
        # things: top-level t1/t3 things, listing children, and the replies nested in comments
        # (``data.replies`` is a listing of its own in a /comments/ response), to any depth
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _rd_items AS
            WITH RECURSIVE tree(filename, line, thing) AS (
                SELECT filename, line, CAST(raw AS JSON) FROM _records WHERE raw ->> '$.kind' IN ('t1', 't3')
                UNION ALL
                SELECT filename, line, unnest(json_extract(raw, '$.data.children[*]')) FROM _records
                WHERE raw ->> '$.kind' = 'Listing'
                UNION ALL
                SELECT filename, line, unnest(json_extract(thing, '$.data.replies.data.children[*]')) FROM tree
                WHERE json_type(thing, '$.data.replies') = 'OBJECT')
            SELECT filename, line, thing ->> '$.kind' AS kind, thing -> '$.data' AS raw FROM tree
            UNION ALL
            SELECT filename, line, raw ->> '$.kind' AS kind, raw FROM _records
            WHERE coalesce(raw ->> '$.kind' NOT IN ('t1', 't3', 'Listing'), true)""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _rd AS
            SELECT filename, line, line AS source_row, row_number() OVER (ORDER BY line) AS rec,
                   CASE WHEN kind IN ('t1', 't3') THEN kind
                        WHEN kind IS NOT NULL THEN NULL  -- another kind of thing ('more', 't2', ...): an error
                        WHEN starts_with(t.name, 't1_') OR t.body IS NOT NULL OR t.parent_id IS NOT NULL THEN 't1'
                        WHEN starts_with(t.name, 't3_') OR t.title IS NOT NULL THEN 't3' END AS kind,
                   nullif(regexp_replace(coalesce(t.id, t.name, ''), '^t[0-9]_', ''), '') AS id, t.author,
                   t.created_utc AS ts_raw, t.body, t.title, t.selftext, t.url, t.is_self, t.subreddit, t.parent_id,
                   t.link_id,
                   CASE WHEN starts_with(t.permalink, '/') THEN 'https://www.reddit.com' || t.permalink
                        ELSE t.permalink END AS permalink, left(raw, 300) AS raw
            FROM (SELECT *, json_transform(raw, {struct}) AS t FROM _rd_items);
            DROP TABLE _rd_items""")
        posts, accounts, bad = map_things(con, "_rd", id_field="id", id_reason="record without id",
                                          time_field="created_utc")
        con.execute("DROP TABLE _rd")
        return posts, accounts, bad


def map_things(con: duckdb.DuckDBPyConnection, src: str, *, id_field: str, id_reason: str,
               time_field: str) -> tuple[pa.Table | None, pa.Table | None, pa.Table | None]:
    """Canonical (posts, accounts, errors) of the Reddit comments and submissions in table ``src``.

    ``src`` columns: ``filename, line, source_row, rec, kind`` (``t1`` comment, ``t3`` submission,
    else NULL), ``id`` (base 36, no prefix), ``author, ts_raw`` (POSIX seconds or ISO 8601, UTC),
    ``body, title, selftext, url, is_self, subreddit, parent_id, link_id, permalink`` (absolute),
    ``raw`` (the record's JSON, for error rows; NULL for CSV).
    ``id_field`` / ``time_field`` name the input fields in error rows; ``id_reason`` says why an
    id is missing. The checks are listed in the module doc.
    """
    deleted = ", ".join(f"'{a}'" for a in DELETED_AUTHORS)
    reddit_hosts = ", ".join(f"'{h}'" for h in REDDIT_HOSTS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _rdm AS
        SELECT *, kind || '_' || id AS post_id, {time_sql('ts_raw')} AS created_at,
               CASE WHEN kind = 't1' THEN body
                    ELSE concat_ws(chr(10) || chr(10), nullif(title, ''), nullif(selftext, '')) END AS text,
               CASE WHEN kind = 't3' AND NOT coalesce(is_self, false)
                     AND canonical_url(url) IS DISTINCT FROM canonical_url(permalink)
                     AND NOT (url_host(url) IN ({reddit_hosts}) AND contains(url, '/comments/'))
                    THEN url END AS link_url
        FROM {src}""")
    checks = [
        Check("", "kind IS NULL", "neither a comment (t1: body, parent_id) nor a submission (t3: title), "
              "e.g. a listing's 'more' placeholder or another kind of thing",
              "coalesce(raw, left(coalesce(body, title), 200))"),
        # a record of no known kind gets that one error, not one per field it lacks
        Check(id_field, "kind IS NOT NULL AND id IS NULL", id_reason,
              "coalesce(permalink, left(coalesce(body, title), 200))"),
        Check("author", "kind IS NOT NULL AND nullif(trim(author), '') IS NULL", "no author", "post_id"),
        Check("author", f"kind IS NOT NULL AND author IN ({deleted})",
              "deleted or removed author: post kept aside, not linked to any account", "post_id"),
        Check(time_field, "kind IS NOT NULL AND created_at IS NULL",
              "missing or unparsable time (POSIX seconds or ISO 8601)", "ts_raw"),
        Check("parent_id",
              "kind IS NOT DISTINCT FROM 't1' "
              "AND NOT regexp_matches(coalesce(parent_id, link_id, ''), '^t[13]_[a-z0-9]+$')",
              "comment parent is not a t1_/t3_ fullname", "coalesce(parent_id, link_id)"),
    ]
    good, bad = split_checked(con, "_rdm", checks)
    posts = con.sql(f"""
        SELECT '{PLATFORM}' AS platform, post_id, author AS account_id, author AS handle, created_at,
               CASE WHEN kind = 't1' THEN 'reply' ELSE 'post' END AS kind, text,
               CASE WHEN kind = 't1' THEN '{PLATFORM}:' || coalesce(parent_id, link_id) END AS reply_to,
               {distinct_sql(f"list_concat(CASE WHEN link_url IS NOT NULL THEN [link_url] ELSE [] END, "
                             f"{urls_sql('coalesce(body, selftext)')})")} AS urls,
               []::VARCHAR[] AS hashtags, {reddit_mentions_sql('text')} AS mentions,
               'r/' || nullif(subreddit, '') AS context, source_row
        FROM _rdm WHERE {good} ORDER BY rec""").to_arrow_table()
    accounts = con.sql(f"""
        SELECT '{PLATFORM}' AS platform, author AS account_id, author AS handle
        FROM _rdm WHERE {good} GROUP BY author""").to_arrow_table()
    con.execute("DROP TABLE _rdm")
    return posts, accounts, bad
