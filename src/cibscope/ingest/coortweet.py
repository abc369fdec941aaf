"""Reader for CooRTweet's input layouts (``--format coortweet``).

CooRTweet (Righetti & Balluff, R package, github.com/nicolarighetti/CooRTweet)
detects coordinated sharing from a long table of share events. Two layouts of
its example data are read:

**Share events** (``russian_coord_tweets``): ``object_id, account_id, content_id, timestamp_share``,
one row per retweet (:data:`SHARE_FIELDS`):

    content_id      -> post_id (the retweet's id)
    account_id      -> account_id
    object_id       -> repost_of = ``<platform>:<object_id>`` (the retweeted tweet; ids share
                       one space, so a retweeted tweet in the data has post key
                       ``twitter:<content_id>``); kind = repost
    timestamp_share -> created_at (POSIX seconds, UTC)
    platform        :  ``twitter`` (the reader's ``platform`` option)

**Multi-modal posts** (``german_elections``): ``account_id, post_id, url_id, hashtag_id,
domain_id, phash_id, timestamp`` (:data:`MULTIMODAL_FIELDS`), one row per post and
object, so one post spans several rows; the rows of a post are grouped into
one canonical post in SQL. Every id is an anonymised integer, so ids are kept
inside a namespace ``<ns>`` = the file name's stem, lower-cased, non-alphanumerics as ``-``
(two anonymised data sets in one store never share an object by accident):

    account_id ``fb_<n>``/``tw_<n>`` -> platform facebook/twitter; account_id kept as is
    post_id    -> post_id = ``<ns>:<post_id>``
    url_id     -> urls: ``https://d<domain_id>.<ns>.coortweet.invalid/u<url_id>``, a
                  syntactically valid URL in the reserved ``.invalid`` TLD, so the store
                  derives a ``link`` object per url_id and a ``domain`` object per domain_id
                  (every url_id has exactly one domain_id in the data)
    domain_id  -> a row with a domain but no url_id gives ``https://d<domain_id>.<ns>.coortweet.invalid/``:
                  its ``domain`` object is right; its ``link`` object is the bare domain
    hashtag_id -> hashtags ``<ns>:<hashtag_id>``
    phash_id   -> media ``<ns>:<phash_id>`` (perceptual-hash id of the image)
    timestamp  -> created_at (POSIX seconds, UTC; the earliest if rows of a post differ)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from .base import Batch, IngestError, Reader
from .mapped import MappedCsvReader, Mapping
from .tabular import (Check, chunked_posts, concat_errors, duplicate_errors, header_fields, load_csv,
                      names_shown, posix_ts_sql, records_read, split_checked)

SHARE_FIELDS = ("object_id", "account_id", "content_id", "timestamp_share")
#: canonical field -> share-event column
SHARE_MAPPING = {"post_id": "content_id", "account_id": "account_id", "repost_of": "object_id",
                 "created_at": "timestamp_share"}
MULTIMODAL_FIELDS = ("account_id", "post_id", "url_id", "hashtag_id", "domain_id", "phash_id", "timestamp")
#: account id prefix -> platform in the multi-modal layout
PLATFORM_PREFIXES = {"fb": "facebook", "tw": "twitter"}
OPAQUE_URL_TLD = "coortweet.invalid"


def namespace(path: Path) -> str:
    """The namespace of a file's anonymised ids: its stem, lower-cased, non-alphanumerics as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "coortweet"


class CooRTweetReader(Reader):
    """CooRTweet share events or multi-modal posts (``--format coortweet``); mapping in the module doc.

    Parameters
    ----------
    platform : str, default ``"twitter"``
        Platform of the share-event layout (the multi-modal layout takes it from the account ids).
    chunk_bytes : int, optional
        Bytes of CSV scanned at a time in the share-event layout (default
        :data:`.tabular.CSV_CHUNK_BYTES`); a multi-modal file is scanned whole, since the
        rows of one post are grouped and need not be adjacent.
    """

    name = "coortweet"
    description = "CooRTweet: object_id,account_id,content_id,timestamp_share or german_elections layout"

    def __init__(self, *, platform: str = "twitter", chunk_bytes: int | None = None):
        self.platform, self.chunk_bytes = platform, chunk_bytes

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.is_file() and header_fields(path) in (list(SHARE_FIELDS), list(MULTIMODAL_FIELDS))

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format coortweet reads one CSV file")
        found = header_fields(path)
        if all(f in found for f in SHARE_FIELDS):
            shares = MappedCsvReader(Mapping(columns=dict(SHARE_MAPPING), platform=self.platform, kind="repost"),
                                     chunk_bytes=self.chunk_bytes)
            yield from shares.read(path, con, progress)
            return
        if not all(f in found for f in MULTIMODAL_FIELDS):
            raise IngestError(f"{path}: not a CooRTweet layout; expected columns {','.join(SHARE_FIELDS)} "
                              f"or {','.join(MULTIMODAL_FIELDS)} (found: {names_shown(found)})")
        yield from self._multimodal(path, found, con, progress)

    def _multimodal(self, path: Path, found: list[str], con: duckdb.DuckDBPyConnection,
                    progress: Callable[[int], None] | None) -> Iterator[Batch]:
        rejects = load_csv(con, "_src", [path], found)
        ns = namespace(path)
        prefixes = "|".join(PLATFORM_PREFIXES)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _rows AS
            SELECT *, {posix_ts_sql('"timestamp"')} AS ts,
                   regexp_extract(account_id, '^({prefixes})_[0-9A-Za-z]+$', 1) AS prefix,
                   nullif(trim(post_id), '') AS pid
            FROM _src""")
        checks = [Check("account_id", "prefix = ''",
                        f"account id must be {' or '.join(p + '_<n>' for p in PLATFORM_PREFIXES)}", "account_id"),
                  Check("post_id", "pid IS NULL", "missing post id", "post_id"),
                  Check("timestamp", "ts IS NULL", "missing or unparsable time (expected POSIX seconds)",
                        '"timestamp"')]
        good, bad = split_checked(con, "_rows", checks)
        platform = "CASE prefix " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in PLATFORM_PREFIXES.items()) + " END"
        host = f"'d' || trim(domain_id) || '.{ns}.{OPAQUE_URL_TLD}'"

        def ids(expr: str, col: str) -> str:
            return f"list(DISTINCT {expr} ORDER BY {expr}) FILTER (WHERE nullif(trim({col}), '') IS NOT NULL)"

        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _grouped AS
            SELECT {platform} AS platform, '{ns}:' || pid AS post_id, account_id, min(ts) AS created_at,
                   'post' AS kind,
                   coalesce({ids(f"'https://' || {host} || '/' || coalesce('u' || trim(url_id), '')",
                                 'domain_id')}, []) AS urls,
                   coalesce({ids(f"'{ns}:' || trim(hashtag_id)", 'hashtag_id')}, []) AS hashtags,
                   coalesce({ids(f"'{ns}:' || trim(phash_id)", 'phash_id')}, []) AS media,
                   min(record) AS source_row, min(line) AS line, min(rec) AS rec, any_value(filename) AS filename
            FROM _rows WHERE {good}
            GROUP BY ALL""")
        dups = duplicate_errors(con, "_grouped", "post_id", ["account_id"])
        con.execute("CREATE OR REPLACE TEMP TABLE _posts AS SELECT * EXCLUDE (line, filename) FROM _grouped")
        n_read = records_read(con, "_src", rejects)
        con.execute("DROP TABLE _src; DROP TABLE _rows; DROP TABLE _grouped")
        yield from chunked_posts(con, "_posts", errors=concat_errors(rejects, bad, dups), rows_read=n_read,
                                 source_file=str(path), progress=progress)
