"""Reader for CrowdTangle-style CSV exports of Facebook and Instagram posts (``--format crowdtangle``).

The historical-data CSVs of CrowdTangle (Meta), whose layout the Meta Content
Library's CSV downloads of page posts follow for these columns. Facebook
exports (:data:`FACEBOOK_FIELDS` used)::

    Page Name, User Name, Facebook Id, Page Category, Page Admin Top Country, Page Description,
    Page Created, Followers at Posting, Post Created, Type, URL, Message, Link, Final Link,
    Description, ...

Instagram exports (:data:`INSTAGRAM_FIELDS` used)::

    Account, User Name, Followers at Posting, Post Created, Type, URL, Link, Description, ...

Mapping (column -> canonical; read with DuckDB's CSV scanner a piece at a time,
:func:`.tabular.scan_csv_chunks`, and :func:`.mapped.map_posts`, so checks and line numbers are
those of ``--format csv``):

    Platform (if present), else the host of URL -> platform: ``instagram`` for instagram.com,
                          else ``facebook``
    URL                -> post_id: the post's permalink (the exports have no post id column)
    Facebook Id        -> account_id (Facebook: the page/group id)
    User Name          -> handle; account_id when there is no Facebook Id (Instagram)
    Post Created       -> created_at: ``2021-09-24 13:59:41 CEST``; the zone abbreviation is
                          converted with :data:`TZ_OFFSETS` (an ISO offset works too); older
                          exports name this column ``Created`` (read the same)
    Message (Facebook), Description (Instagram: the caption) -> text
    Final Link, else Link -> urls (the shared link, resolved where CrowdTangle resolved it),
                          plus URLs in the text; a link to the post itself is dropped
    (text)             -> hashtags, mentions (Instagram handles may hold dots)
    kind               :  ``post``
Accounts (values of the newest post): Page Name / Account -> display_name,
Page Description -> description, Page Created -> created_at,
Page Admin Top Country -> location, Followers at Posting -> followers.
Not used: Page Category, Type, interaction counts, Image Text, Link Text, Sponsor columns.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import duckdb

from .base import STREAMED_COMPRESSIONS, Batch, IngestError, Reader
from .mapped import Mapping, derived_batches, start_carry
from .tabular import AccountCarry, header_fields, scan_csv_chunks, time_sql, names_shown
from .text_entities import DOTTED_HANDLE, TWITTER_HANDLE, distinct_sql, hashtags_sql, mentions_sql, urls_sql

FACEBOOK_FIELDS = ("Page Name", "User Name", "Facebook Id", "Page Admin Top Country", "Page Description",
                   "Page Created", "Followers at Posting", "Post Created", "URL", "Message", "Link", "Final Link")
INSTAGRAM_FIELDS = ("Account", "User Name", "Followers at Posting", "Post Created", "URL", "Link", "Description")
REQUIRED = ("Post Created", "URL")
#: The post time column of older CrowdTangle exports, read when ``Post Created`` is absent.
OLD_CREATED = "Created"
#: Time-zone abbreviations of ``Post Created`` -> UTC offset (others: an error naming the value).
TZ_OFFSETS = {"UTC": "+00:00", "GMT": "+00:00", "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00",
              "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00",
              "CET": "+01:00", "CEST": "+02:00", "BST": "+01:00", "EET": "+02:00", "EEST": "+03:00",
              "MSK": "+03:00"}


def ct_time_sql(col: str) -> str:
    """SQL: a ``Post Created`` value with its zone abbreviation as a UTC ``TIMESTAMP`` (NULL if unknown)."""
    abbr = f"regexp_extract(trim({col}), '\\s([A-Z]{{3,4}})$', 1)"
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in TZ_OFFSETS.items())
    fixed = (f"CASE WHEN {abbr} = '' THEN trim({col}) ELSE "
             f"regexp_replace(trim({col}), '\\s[A-Z]{{3,4}}$', '') || (CASE {abbr} {cases} END) END")
    return time_sql(fixed)


def _with_post_created(found: list[str]) -> list[str]:
    """Header names with an older export's ``Created`` read as ``Post Created`` (same values)."""
    if "Post Created" in found or OLD_CREATED not in found:
        return found
    return ["Post Created" if c == OLD_CREATED else c for c in found]


class CrowdTangleReader(Reader):
    """CrowdTangle-style Facebook/Instagram post CSV (``--format crowdtangle``); mapping in the module doc."""

    name = "crowdtangle"
    reads_compressed = STREAMED_COMPRESSIONS  # scan_csv_chunks reads a compressed file through open_input
    description = "CrowdTangle / Meta Content Library CSV of Facebook or Instagram posts"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A CSV whose header names ``Post Created``, ``URL`` and ``Facebook Id`` or ``User Name``."""
        if not path.is_file():
            return False
        found = _with_post_created(header_fields(path))
        return all(c in found for c in REQUIRED) and ("Facebook Id" in found or "User Name" in found)

    def __init__(self, *, chunk_bytes: int | None = None):
        self.chunk_bytes = chunk_bytes  # bytes of CSV scanned at a time (default: tabular.CSV_CHUNK_BYTES)

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        """Post batches piece by piece (:func:`.tabular.scan_csv_chunks`), then one batch of accounts."""
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format crowdtangle reads one CSV file")
        header = header_fields(path)
        found = _with_post_created(header)
        if not all(c in found for c in REQUIRED) or not ("Facebook Id" in found or "User Name" in found):
            raise IngestError(f"{path}: column(s) Post Created, URL and Facebook Id or User Name needed "
                              f"for format crowdtangle (older exports: Created for Post Created; "
                              f"found: {names_shown(header)})")

        def col(c: str) -> str:  # optional columns are NULL when absent
            return '"' + c + '"' if c in found else "NULL::VARCHAR"

        def blank(c: str) -> str:
            return f"nullif(trim({col(c)}), '')"

        facebook = "Facebook Id" in found
        text, account = ("Message", "Facebook Id") if facebook else ("Description", "User Name")
        accounts = AccountCarry(con, {
            "handle": col("User Name"), "display_name": f"coalesce({blank('Page Name')}, {blank('Account')})",
            "created_at": ct_time_sql(col("Page Created")), "description": col("Page Description"),
            "location": col("Page Admin Top Country"),
            "followers": f"try_cast(replace({col('Followers at Posting')}, ',', '') AS BIGINT)"})
        # handle comes with the accounts (the newest one), not from the posts of the first piece
        mapping = Mapping(columns={"platform": "_platform", "post_id": "URL", "account_id": account,
                                   "created_at": "Post Created", "text": "_text", "urls": "_urls",
                                   "hashtags": "_hashtags", "mentions": "_mentions"}, kind="post")
        start_carry(con)
        for rejects, n_read in scan_csv_chunks(con, "_ct_src", path, found, self.chunk_bytes):
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _ct AS
                SELECT *, coalesce(lower({blank('Platform')}),
                                   CASE WHEN regexp_matches("URL", '^https?://([a-z0-9-]+\\.)*instagram\\.com/')
                                        THEN 'instagram' ELSE 'facebook' END) AS _platform,
                       {blank(account)} AS _account, {ct_time_sql('"Post Created"')} AS _time, _text,
                       {distinct_sql(f"list_filter(list_prepend(coalesce({blank('Final Link')}, {blank('Link')}), "
                                     f"coalesce({urls_sql('_text')}, [])), lambda u: rtrim(u, '/') <> " + '"URL")')}
                           AS _urls,
                       coalesce({hashtags_sql('_text')}, []) AS _hashtags,
                       coalesce({mentions_sql('_text', TWITTER_HANDLE if facebook else DOTTED_HANDLE)}, []) AS _mentions
                FROM (SELECT * REPLACE (rtrim(trim("URL"), '/') AS "URL"), {blank(text)} AS _text FROM _ct_src);
                DROP TABLE _ct_src""")
            accounts.add("_ct", "_platform", "_account", "_time", where="_account IS NOT NULL AND _time IS NOT NULL")
            con.execute("UPDATE _ct SET \"Post Created\" = CAST(_time AS VARCHAR) WHERE _time IS NOT NULL")
            yield from derived_batches(con, "_ct", mapping, path, rejects=rejects, rows_read=n_read,
                                       progress=progress)
        yield Batch(accounts=accounts.table(), source_file=str(path))
