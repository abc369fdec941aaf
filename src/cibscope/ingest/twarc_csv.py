"""Reader for the CSV that twarc2's ``csv`` plugin writes from X API v2 responses (``--format twarc-csv``).

``twarc2 csv tweets.jsonl tweets.csv`` flattens each tweet into one row with dotted column
names; entity lists are JSON arrays in one cell (``entities.urls`` holds
``[{"start": 0, "end": 23, "url": "https://t.co/..", "expanded_url": "..."}]``), so they are
parsed as JSON, never split on blanks (:func:`.tabular.list_cell_sql`).

Mapping (column -> canonical; read with DuckDB's CSV scanner a piece at a time and
:func:`.mapped.map_posts`, so checks and line numbers are those of ``--format csv``)
    id                               -> post_id
    author_id                        -> account_id; author.username -> handle
    created_at (ISO 8601)            -> created_at (UTC)
    text, lang, source               -> text, lang, client
    referenced_tweets.retweeted.id   -> kind repost, repost_of = ``twitter:<id>``
    referenced_tweets.quoted.id      -> kind quote, quote_of = ``twitter:<id>``
    referenced_tweets.replied_to.id  -> kind reply, reply_to = ``twitter:<id>``
    entities.urls (``unwound_url``, ``expanded_url``, ``url``) -> urls
    entities.hashtags (``tag``)      -> hashtags;  entities.mentions (``username``) -> mentions
    attachments.media_keys           -> media
Accounts (values of the newest post): author.username -> handle, author.name -> display_name,
author.created_at, author.description, author.location,
author.public_metrics.followers_count / following_count -> followers / following.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import duckdb

from .base import STREAMED_COMPRESSIONS, Batch, IngestError, Reader
from .mapped import Mapping, map_posts, start_carry
from .tabular import AccountCarry, chunked_posts, concat_errors, header_fields, scan_csv_chunks, time_sql, names_shown

PLATFORM = "twitter"
REQUIRED = ("id", "author_id", "created_at", "text")
#: Canonical field -> twarc-csv column (used when the file has it).
COLUMNS = {"post_id": "id", "account_id": "author_id", "handle": "author.username", "created_at": "created_at",
           "text": "text", "lang": "lang", "client": "source", "repost_of": "referenced_tweets.retweeted.id",
           "quote_of": "referenced_tweets.quoted.id", "reply_to": "referenced_tweets.replied_to.id",
           "urls": "entities.urls", "hashtags": "entities.hashtags", "mentions": "entities.mentions",
           "media": "attachments.media_keys"}
#: Columns of which at least one marks the twarc-csv layout (sniffing).
MARKERS = ("__twarc.retrieved_at", "entities.urls", "referenced_tweets.retweeted.id", "author.username")


class TwarcCsvReader(Reader):
    """twarc2 ``csv`` plugin output (``--format twarc-csv``); mapping in the module doc."""

    name = "twarc-csv"
    reads_compressed = STREAMED_COMPRESSIONS  # scan_csv_chunks reads a compressed file through open_input
    description = "twarc2 csv plugin output (flattened X API v2 tweets, JSON entity cells)"

    def __init__(self, *, chunk_bytes: int | None = None):
        self.chunk_bytes = chunk_bytes

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A CSV whose header names ``id``, ``author_id``, ``created_at``, ``text`` and a twarc column."""
        if not path.is_file():
            return False
        found = header_fields(path)
        return all(c in found for c in REQUIRED) and any(c in found for c in MARKERS)

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format twarc-csv reads one CSV file")
        found = header_fields(path)
        missing = [c for c in REQUIRED if c not in found]
        if missing:
            raise IngestError(f"{path}: column(s) {', '.join(missing)} missing for format twarc-csv "
                              f"(found: {names_shown(found)})")
        m = Mapping(columns={f: c for f, c in COLUMNS.items() if c in found}, platform=PLATFORM)
        fields = {"handle": "author.username", "display_name": "author.name", "description": "author.description",
                  "location": "author.location"}

        def col(c: str) -> str:
            return '"' + c + '"' if c in found else "NULL::VARCHAR"

        accounts = AccountCarry(con, {
            **{f: f"nullif(trim({col(c)}), '')" for f, c in fields.items()},
            "created_at": time_sql(col("author.created_at")),
            "followers": f"try_cast({col('author.public_metrics.followers_count')} AS BIGINT)",
            "following": f"try_cast({col('author.public_metrics.following_count')} AS BIGINT)"})
        start_carry(con)
        for rejects, n_read in scan_csv_chunks(con, "_src", path, found, self.chunk_bytes):
            accounts.add("_src", f"'{PLATFORM}'", 'nullif(trim("author_id"), \'\')', time_sql('"created_at"'),
                         where="nullif(trim(\"author_id\"), '') IS NOT NULL")
            posts, errors = map_posts(con, "_src", m, {}, carry=True)
            con.execute("DROP TABLE _src")
            yield from chunked_posts(con, posts, errors=concat_errors(rejects, errors), rows_read=n_read,
                                     source_file=str(path), progress=progress)
        yield Batch(accounts=accounts.table(), source_file=str(path))
