"""Reader for the IRA troll-tweet CSVs split by author (FiveThirtyEight / Linvill & Warren).

Layout (github.com/bet4a/russian-troll-tweets-by-author): a folder with
``authors.csv`` and ``<Letter>/<author_id>.csv`` files of tweets. A single tweet
file can be ingested too; ``authors.csv`` is then looked up two folders up.

Mapping (tweet file -> canonical post)
    author_id     -> account_id (the data's unique author key; the handle in nearly all cases)
    content       -> text; URLs, hashtags and mentions are extracted from it
    publish_date  -> created_at (``YYYY-MM-DD HH:MM[:SS]`` or ``MM/DD/YYYY HH:MM``, UTC, minute resolution;
                     ``--time-format`` gives another pattern, e.g. ``%d/%m/%Y %H:%M`` for a day-first
                     file; in a file where some NN/NN/YYYY date has a first number over 12 (day-first),
                     every NN/NN/YYYY row is refused with that hint rather than read month-first)
    language      -> lang (a language *name*, e.g. "English")
    post_type/retweet/"RT @user:" -> kind 'repost' (retweets sometimes lack the prefix)
    repost_of     -> ``text:<md5(norm_text(content))>``: the data has no retweeted-tweet id
    post_id       -> md5 of author_id, publish_date, content and the duplicate's ordinal:
                     the data has no tweet id, so the key is derived, deterministically; a row
                     repeated whole (all columns equal, ``updates`` too) is the same tweet twice and
                     gets the first copy's id, so the store counts it as a duplicate
``authors.csv`` -> accounts of the authors whose tweet files are read: author -> handle,
account_category -> label ``IRA:<category>``;
region -> location and followers/following (latest) come from the tweets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import duckdb

from .base import Batch, IngestError, Reader, errors_table
from .tabular import concat_errors, header_fields, load_csv, records_read, names_shown
from .text_entities import hashtags_sql, mentions_sql, repost_key_sql, rt_source_sql, urls_sql

TWEET_FIELDS = ("author_id", "content", "region", "language", "publish_date", "harvested_date",
                "following", "followers", "updates", "post_type", "retweet")
AUTHOR_FIELDS = ("author_id", "author", "external_author_id", "account_type", "account_category",
                 "new_june_2018", "congress_2017_id", "in_congress_2017", "in_congress_2018")
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M"]
#: A ``NN/NN/YYYY`` date at the start of ``publish_date`` (groups: first and second number).
SLASH_DATE = r"^([0-9]{1,2})/([0-9]{1,2})/[0-9]{4}"
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


class IRACsvReader(Reader):
    """IRA tweets by author (``--format ira-csv``): a folder with ``authors.csv``, or one tweet file."""

    reads_folders = True
    folder_side_files = frozenset({"authors.csv"})

    name = "ira-csv"
    description = "IRA troll tweets split by author (FiveThirtyEight/Linvill-Warren), with authors.csv"

    def __init__(self, time_format: str | None = None):
        #: strptime pattern of ``publish_date`` (``--time-format``); default: :data:`TIME_FORMATS`
        self.time_format = time_format

    @classmethod
    def sniff(cls, path: Path) -> bool:
        files = _tweet_files(path) if path.is_dir() else [path]
        if not files or files[0].suffix.lower() != ".csv":
            return False
        return header_fields(files[0])[:5] == list(TWEET_FIELDS[:5])

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        files = _tweet_files(path)
        if not files:
            raise IngestError(f"{path}: no tweet CSV files found for format ira-csv")
        good, errors = [], []
        for f in files:
            header = header_fields(f)
            missing = [c for c in TWEET_FIELDS if c not in header]
            if header != list(TWEET_FIELDS):
                errors.append(dict(file=str(f), line=1, field=",".join(missing) or None,
                                   reason=(f"header does not match the ira-csv layout (missing: "
                                           f"{', '.join(missing) or 'none'}; found: {names_shown(header)}); "
                                           "file skipped"),
                                   raw_value=",".join(header)[:2000]))
            else:
                good.append(f)
        if not good:
            first = errors[0]
            raise IngestError(f"{path}: no file has the ira-csv header ({','.join(TWEET_FIELDS)}); "
                              f"{first['file']}: {first['reason']}")
        authors = _authors_file(path)
        if errors:
            yield Batch(errors=errors_table(errors), rows_read=0, source_file=str(path))
        if authors is not None:
            yield self._authors_batch(authors, [f.stem for f in good], con)
        for i in range(0, len(good), FILES_PER_BATCH):
            chunk = good[i:i + FILES_PER_BATCH]
            batch = self._tweets_batch(chunk, con)
            if progress:
                progress(batch.rows_read)
            yield batch

    def _authors_batch(self, authors: Path, author_ids: list[str], con: duckdb.DuckDBPyConnection) -> Batch:
        """Accounts (handle, label) of the authors whose tweet files are ingested (file stem = author_id)."""
        header = header_fields(authors)
        if header[:len(AUTHOR_FIELDS)] != list(AUTHOR_FIELDS):
            raise IngestError(f"{authors}: not an IRA authors.csv (expected columns {','.join(AUTHOR_FIELDS)})")
        rejects = load_csv(con, "_authors", [authors], header)
        accounts = con.sql(
            f"""SELECT '{PLATFORM}' AS platform, author_id AS account_id, author AS handle,
                       'IRA:' || account_category AS label
                FROM _authors WHERE author_id IN (SELECT unnest($ids))""", params={"ids": author_ids}).to_arrow_table()
        con.execute("DROP TABLE _authors")
        return Batch(accounts=accounts, errors=rejects, rows_read=0, source_file=str(authors))

    def _tweets_batch(self, files: list[Path], con: duckdb.DuckDBPyConnection) -> Batch:
        rejects = load_csv(con, "_ira_src", files, list(TWEET_FIELDS))
        first = f"try_cast(regexp_extract(trim(publish_date), '{SLASH_DATE}', 1) AS INT)"
        second = f"try_cast(regexp_extract(trim(publish_date), '{SLASH_DATE}', 2) AS INT)"
        day_first_sql = f"coalesce(bool_or({first} > 12 AND {second} <= 12) OVER (PARTITION BY filename), false)"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _ira AS
            SELECT * EXCLUDE (_ts), CASE WHEN _day_first AND regexp_matches(trim(publish_date), '{SLASH_DATE}')
                                         THEN NULL ELSE _ts END AS ts
            FROM (SELECT *, try_strptime(trim(publish_date), {[self.time_format] if self.time_format else TIME_FORMATS!r})
                          AS _ts,
                   -- a file with a slash date whose first number is over 12 is day-first: read month-first,
                   -- its other slash dates would be wrong days and months, so none of them is taken
                   {'false' if self.time_format else day_first_sql} AS _day_first,
                   -- a row repeated whole (every column, the author's running tweet count 'updates' too) is
                   -- the same tweet recorded twice: it shares the first copy's ordinal, hence its post_id
                   min(rec) OVER (PARTITION BY {', '.join(TWEET_FIELDS)}) AS _first_rec
            FROM _ira_src);
            DROP TABLE _ira_src""")
        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform,
                   md5(author_id || '|' || publish_date || '|' || coalesce(content, '') || '|' ||
                       dense_rank() OVER (PARTITION BY author_id, publish_date, content ORDER BY _first_rec))
                       AS post_id,
                   author_id AS account_id, author_id AS handle, ts AS created_at,
                   CASE WHEN post_type = 'R' OR retweet = '1' OR {rt_source_sql('content')} IS NOT NULL
                        THEN 'repost' WHEN post_type = 'Q' THEN 'quote' ELSE 'post' END AS kind,
                   content AS text, language AS lang,
                   CASE WHEN post_type = 'R' OR retweet = '1' OR {rt_source_sql('content')} IS NOT NULL
                        THEN {repost_key_sql('content')} END AS repost_of,
                   {urls_sql('content')} AS urls, {hashtags_sql('content')} AS hashtags,
                   {mentions_sql('content')} AS mentions, record AS source_row
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
            SELECT filename AS file, line,
                   CASE WHEN ts IS NULL THEN 'publish_date' ELSE 'author_id' END AS field,
                   CASE WHEN ts IS NULL AND _day_first AND regexp_matches(trim(publish_date), $slash)
                        THEN 'ambiguous date: the file looks day-first (DD/MM/YYYY: some dates have a first '
                             || 'number over 12), so none of its NN/NN/YYYY dates is read month-first; pass '
                             || '--time-format ''%d/%m/%Y %H:%M'' and ingest it again'
                        WHEN ts IS NULL THEN 'unparsable or missing timestamp'
                        ELSE 'missing author_id' END AS reason,
                   CASE WHEN ts IS NULL THEN publish_date ELSE content END AS raw_value
            FROM _ira WHERE ts IS NULL OR coalesce(author_id, '') = '' ORDER BY filename, line
        """, params={"slash": SLASH_DATE}).to_arrow_table()
        n_read = records_read(con, "_ira", rejects)
        con.execute("DROP TABLE _ira")
        errors = concat_errors(rejects, bad)
        return Batch(posts=posts, accounts=accounts, errors=errors, rows_read=n_read,
                     source_file=str(files[0].parent if len(files) > 1 else files[0]))
