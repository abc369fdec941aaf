"""Reader for the IRA troll-tweet CSVs split by author (FiveThirtyEight / Linvill & Warren).

Layout (github.com/bet4a/russian-troll-tweets-by-author): a folder with
``authors.csv`` and ``<Letter>/<author_id>.csv`` files of tweets. A single tweet
file can be ingested too; ``authors.csv`` is then looked up two folders up.

Mapping (tweet file -> canonical post)
    author_id     -> account_id (the data's unique author key; the handle in nearly all cases)
    content       -> text; URLs, hashtags and mentions are extracted from it
    publish_date  -> created_at (``YYYY-MM-DD HH:MM[:SS]``, UTC, minute resolution)
    language      -> lang (a language *name*, e.g. "English")
    post_type/retweet/"RT @user:" -> kind 'repost' (retweets sometimes lack the prefix)
    repost_of     -> ``text:<md5(norm_text(content))>``: the data has no retweeted-tweet id
    post_id       -> md5 of author_id, publish_date, content and the duplicate's ordinal:
                     the data has no tweet id, so the key is derived, deterministically
``authors.csv`` -> accounts: author -> handle, account_category -> label ``IRA:<category>``;
region -> location and followers/following (latest) come from the tweets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import duckdb

from .base import Batch, IngestError, Reader, read_header
from .text_entities import hashtags_sql, mentions_sql, repost_key_sql, rt_source_sql, urls_sql

TWEET_FIELDS = ("author_id", "content", "region", "language", "publish_date", "harvested_date",
                "following", "followers", "updates", "post_type", "retweet")
AUTHOR_FIELDS = ("author_id", "author", "external_author_id", "account_type", "account_category",
                 "new_june_2018", "congress_2017_id", "in_congress_2017", "in_congress_2018")
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M"]
PLATFORM = "twitter"
FILES_PER_BATCH = 200
METADATA_FILES = {"authors.csv", "authors_tweet_general_statistics.csv",
                  "authors_tweet_language_counts.csv", "authors_tweet_region_counts.csv"}


def _tweet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.csv") if p.name not in METADATA_FILES)


def _authors_file(path: Path) -> Path | None:
    for folder in ([path] if path.is_dir() else [path.parent, path.parent.parent]):
        if (folder / "authors.csv").exists():
            return folder / "authors.csv"
    return None


def _csv_source(files: list[Path], fields: tuple[str, ...]) -> tuple[str, dict]:
    cols = {f: "VARCHAR" for f in fields}
    sql = ("read_csv($files, columns=$cols, header=true, auto_detect=false, delim=',', quote='\"', "
           "escape='\"', store_rejects=true, filename=true, null_padding=false)")
    return sql, {"files": [str(f) for f in files], "cols": cols}


class IRACsvReader(Reader):
    """IRA tweets by author (``--format ira-csv``): a folder with ``authors.csv``, or one tweet file."""

    name = "ira-csv"
    description = "IRA troll tweets split by author (FiveThirtyEight/Linvill-Warren), with authors.csv"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        files = _tweet_files(path) if path.is_dir() else [path]
        if not files or files[0].suffix.lower() != ".csv":
            return False
        header = [h.strip().strip('"') for h in read_header(files[0]).split(",")]
        return header[:5] == list(TWEET_FIELDS[:5])

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        files = _tweet_files(path)
        if not files:
            raise IngestError(f"{path}: no tweet CSV files found for format ira-csv")
        good, errors = [], []
        for f in files:
            header = [h.strip().strip('"') for h in read_header(f).split(",")]
            missing = [c for c in TWEET_FIELDS if c not in header]
            if header != list(TWEET_FIELDS):
                errors.append(dict(file=str(f), line=1, field=",".join(missing) or None,
                                   reason=(f"header does not match the ira-csv layout (missing: "
                                           f"{', '.join(missing) or 'none'}; found: {', '.join(header)}); "
                                           "file skipped"),
                                   raw_value=",".join(header)))
            else:
                good.append(f)
        if not good:
            raise IngestError(f"{path}: no file has the ira-csv header ({','.join(TWEET_FIELDS)})")
        authors = _authors_file(path)
        if errors:
            from .base import errors_table
            yield Batch(errors=errors_table(errors), rows_read=0, source_file=str(path))
        if authors is not None:
            yield self._authors_batch(authors, con)
        for i in range(0, len(good), FILES_PER_BATCH):
            chunk = good[i:i + FILES_PER_BATCH]
            batch = self._tweets_batch(chunk, con)
            if progress:
                progress(batch.rows_read)
            yield batch

    def _authors_batch(self, authors: Path, con: duckdb.DuckDBPyConnection) -> Batch:
        header = [h.strip().strip('"') for h in read_header(authors).split(",")]
        if header[:len(AUTHOR_FIELDS)] != list(AUTHOR_FIELDS):
            raise IngestError(f"{authors}: not an IRA authors.csv (expected columns {','.join(AUTHOR_FIELDS)})")
        src, params = _csv_source([authors], AUTHOR_FIELDS)
        accounts = con.sql(
            f"""SELECT '{PLATFORM}' AS platform, author_id AS account_id, author AS handle,
                       'IRA:' || account_category AS label
                FROM {src} WHERE coalesce(author_id, '') <> ''""", params=params).to_arrow_table()
        return Batch(accounts=accounts, errors=_rejects(con), rows_read=0, source_file=str(authors))

    def _tweets_batch(self, files: list[Path], con: duckdb.DuckDBPyConnection) -> Batch:
        src, params = _csv_source(files, TWEET_FIELDS)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _ira AS
            SELECT *, row_number() OVER () AS rec,
                   try_strptime(trim(publish_date), {TIME_FORMATS!r}) AS ts
            FROM {src}""", params)
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform,
                   md5(author_id || '|' || publish_date || '|' || coalesce(content, '') || '|' ||
                       row_number() OVER (PARTITION BY author_id, publish_date, content ORDER BY rec)) AS post_id,
                   author_id AS account_id, author_id AS handle, ts AS created_at,
                   CASE WHEN post_type = 'R' OR retweet = '1' OR {rt_source_sql('content')} IS NOT NULL
                        THEN 'repost' WHEN post_type = 'Q' THEN 'quote' ELSE 'post' END AS kind,
                   content AS text, language AS lang,
                   CASE WHEN post_type = 'R' OR retweet = '1' OR {rt_source_sql('content')} IS NOT NULL
                        THEN {repost_key_sql('content')} END AS repost_of,
                   {urls_sql('content')} AS urls, {hashtags_sql('content')} AS hashtags,
                   {mentions_sql('content')} AS mentions
            FROM _ira WHERE ts IS NOT NULL AND coalesce(author_id, '') <> ''
        """).to_arrow_table()
        accounts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, author_id AS account_id, author_id AS handle,
                   arg_max(region, ts) AS location,
                   arg_max(try_cast(followers AS BIGINT), ts) AS followers,
                   arg_max(try_cast(following AS BIGINT), ts) AS following
            FROM _ira WHERE ts IS NOT NULL AND coalesce(author_id, '') <> '' GROUP BY author_id
        """).to_arrow_table()
        bad = con.sql("""
            SELECT filename AS file, NULL::BIGINT AS line,
                   CASE WHEN ts IS NULL THEN 'publish_date' ELSE 'author_id' END AS field,
                   CASE WHEN ts IS NULL THEN 'unparsable or missing timestamp'
                        ELSE 'missing author_id' END AS reason,
                   CASE WHEN ts IS NULL THEN publish_date ELSE content END AS raw_value
            FROM _ira WHERE ts IS NULL OR coalesce(author_id, '') = ''
        """).to_arrow_table()
        rejects = _rejects(con)
        n_read = con.execute("SELECT count(*) FROM _ira").fetchone()[0] + (rejects.num_rows if rejects else 0)
        import pyarrow as pa
        errors = pa.concat_tables([t for t in (bad, rejects) if t is not None and t.num_rows],
                                  promote_options="permissive") if (bad.num_rows or rejects) else None
        return Batch(posts=posts, accounts=accounts, errors=errors, rows_read=n_read,
                     source_file=str(files[0].parent if len(files) > 1 else files[0]))


def _rejects(con: duckdb.DuckDBPyConnection):
    """DuckDB's CSV rejects of the last scan as an errors table (None when there are none)."""
    t = con.sql("""
        SELECT s.file_path AS file, e.line::BIGINT AS line, e.column_name AS field,
               lower(e.error_type) || ': ' || e.error_message AS reason, e.csv_line AS raw_value
        FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)
    """).to_arrow_table()
    con.execute("DELETE FROM reject_errors; DELETE FROM reject_scans")
    return t if t.num_rows else None
