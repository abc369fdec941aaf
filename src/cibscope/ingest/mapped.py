"""Column-mapped tables (``--format csv`` / ``--format parquet``) and the mapping core other readers reuse.

A :class:`Mapping` says which input column holds which canonical post field.
:func:`map_posts` turns a loaded table (see :mod:`.tabular`) into canonical
posts and error rows in SQL; the fixed layouts of the coordination-network-
toolkit (:mod:`.cnt_csv`) and CooRTweet (:mod:`.coortweet`) are mappings too.

Mapping rules
    post_id              -> post_id; when unmapped, the md5 of account, time, text and the
                            ordinal of identical rows (deterministic, so re-ingest adds nothing)
    account_id           -> account_id (required)
    created_at           -> created_at (required): POSIX seconds, ISO 8601 (an offset is
                            converted to UTC; none means UTC) or the reader's ``time_format``
    repost_of, reply_to,
    quote_of             -> ``<platform>:<value>``: the native id of the other post
    urls                 -> list: a list column as is, a JSON array cell parsed (objects give
                            ``unwound_url``/``expanded_url``/``url``), another string split on whitespace
    hashtags, mentions,
    media                -> list: a list column as is, a JSON array cell parsed (objects give
                            ``tag``/``username``/``media_key``), another string split on blanks, ``,`` or ``;``;
                            ``None``, ``null``, ``NaN`` (:data:`.tabular.NULL_TOKENS`) are no items
    (urls/hashtags/mentions unmapped and text mapped: extracted from the text)
    (urls and text both mapped, ``--format csv``/``parquet``: the column's URLs, then those
     of the text not among them: links in the body are not lost)
    platform             -> per-row platform; blank cells take the reader's default platform
    kind                 -> post|repost|quote|reply; when unmapped: repost if repost_of,
                            quote if quote_of, reply if reply_to, else post
    handle, text, lang, client -> as is
    label                -> the account's ``accounts.label`` (account-level, :data:`ACCOUNT_FIELDS`): the
                            first non-empty value of each account in file order; a label stored before is kept
    (other columns)      -> not read; the reader says which (:func:`unread_note`), not an error
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, ClassVar, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..store.db import POST_COLUMNS
from .base import STREAMED_COMPRESSIONS, Batch, IngestError, Reader, data_suffix
from .tabular import (_NOT_NULL_TOKEN, Check, check_zones, chunked_posts, concat_errors, duplicate_errors,
                      duplicated_columns, header_fields, list_cell_sql, load_parquet, names_shown, records_read,
                      require_columns, scan_csv_chunks, split_checked, sql_literal, time_sql, tz_reason_sql)
from .text_entities import distinct_sql, hashtags_sql, mentions_sql, urls_sql

#: Canonical post fields an input column can be mapped to (``--map column=field``).
POST_FIELDS = ("post_id", "account_id", "handle", "created_at", "text", "lang", "platform", "kind",
               "repost_of", "reply_to", "urls", "hashtags", "mentions", "media", "client", "context", "quote_of")
#: Account fields an input column can be mapped to: set on the posts' author (``accounts.label``).
ACCOUNT_FIELDS = ("label",)
#: Every field ``--map`` takes.
MAP_FIELDS = POST_FIELDS + ACCOUNT_FIELDS
REQUIRED_FIELDS = ("account_id", "created_at")
KINDS = ("post", "repost", "quote", "reply")
#: Separators of list cells in text: URLs by whitespace only (a URL may hold ',' or ';').
URL_SEP = r"\s+"
ID_SEP = r"[\s,;]+"
#: Keys of the objects in a JSON-array list cell (twarc-csv ``entities.urls``...), first present wins.
JSON_KEYS = {"urls": ("unwound_url", "expanded_url", "url"), "hashtags": ("tag", "text"),
             "mentions": ("username", "screen_name"), "media": ("media_key", "media_url_https", "url", "id")}


def _q(col: str) -> str:
    """A quoted SQL identifier."""
    return '"' + col.replace('"', '""') + '"'


@dataclass
class Mapping:
    """Which input column holds which canonical field, plus defaults.

    Attributes
    ----------
    columns : dict
        Canonical field (one of :data:`MAP_FIELDS`) -> input column name.
    platform : str, optional
        Platform of every row (or of rows whose mapped platform cell is blank).
    time_format : str, optional
        ``strptime`` pattern of ``created_at``; default: POSIX seconds or ISO 8601.
    kind : str, optional
        A fixed kind for every row (a layout of reposts only).
    zones : dict, optional
        Time-zone abbreviation -> UTC offset (``--tz IST=+05:30``), over :data:`.tabular.TZ_ABBREVIATIONS`.
    """

    columns: dict[str, str] = field(default_factory=dict)
    platform: str | None = None
    time_format: str | None = None
    kind: str | None = None
    zones: dict[str, str] | None = None

    @classmethod
    def from_pairs(cls, pairs: dict[str, str] | list[str] | None, **kw) -> "Mapping":
        """Build from ``column=field`` pairs (CLI ``--map``) or a ``{column: field}`` dict.

        Raises
        ------
        IngestError
            A pair is malformed, names an unknown field, or maps two columns to one field.
        """
        if isinstance(pairs, dict):
            items = list(pairs.items())
        else:
            items = []
            for p in pairs or []:
                col, sep, fld = p.partition("=")
                if not sep or not col.strip() or not fld.strip():
                    raise IngestError(f"--map {p!r}: expected column=field")
                items.append((col.strip(), fld.strip()))
        columns: dict[str, str] = {}
        for col, fld in items:
            if fld not in MAP_FIELDS:
                raise IngestError(f"--map {col}={fld}: unknown field {fld!r}; fields: {', '.join(MAP_FIELDS)}")
            if fld in columns:
                raise IngestError(f"--map: field {fld!r} mapped twice ({columns[fld]!r} and {col!r})")
            columns[fld] = col
        return cls(columns=columns, **kw)

    def resolved(self, path: Path, found: list[str], fmt: str) -> "Mapping":
        """This mapping completed for a file with columns ``found``.

        A column named like a canonical field maps to it unless that field is
        mapped explicitly.

        Raises
        ------
        IngestError
            A mapped column is not in the file, a required field is unmapped,
            or neither a platform column nor a default platform is given
            (the message names the file and the column or field).
        """
        cols = {f: f for f in MAP_FIELDS
                if f in found and f not in self.columns and f not in self.columns.values()}
        cols.update(self.columns)
        dups = duplicated_columns(found)
        for fld, col in cols.items():
            if col in dups:
                where = ", ".join(str(i) for i in dups[col])
                others = ", ".join(f"{col}.{k}" for k in range(2, len(dups[col]) + 1))
                raise IngestError(f"{path}: column {col!r} (mapped to {fld}) appears {len(dups[col])} times in the "
                                  f"header (columns {where}); map one of them by position: {col} is the first, "
                                  f"{others} the others (e.g. --map {col}.2={fld})")
        require_columns(path, found, list(cols.values()), fmt)
        missing = [f for f in REQUIRED_FIELDS if f not in cols]
        if missing:
            raise IngestError(f"{path}: no column mapped to {', '.join(missing)} (use --map column=field; "
                              f"columns: {names_shown(found)})")
        if "platform" not in cols and not self.platform:
            raise IngestError(f"{path}: no platform column; pass --platform")
        return Mapping(columns=cols, platform=self.platform, time_format=self.time_format, kind=self.kind,
                       zones=self.zones)


#: Temp tables that carry state from one piece of an input to the next (see ``map_posts(carry=True)``).
CARRY_TABLES = ("_carry_ordinals", "_carry_seen")


def start_carry(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the state of an earlier input before the first piece of a new one is mapped with ``carry``."""
    for t in CARRY_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {t}")


def unread_note(path: Path, found: list[str], m: Mapping) -> str | None:
    """The summary line naming the columns of ``found`` that resolved mapping ``m`` does not read, or None.

    Not an error: a user who mapped a subreddit or score column by mistake, or not at all,
    learns that it was left out (``<path>: columns not read: a, b (map them with --map column=field)``).
    """
    used = set(m.columns.values())
    unread = [c for c in found if c not in used]
    if not unread:
        return None
    return f"{path}: columns not read: {names_shown(unread)} (map them with --map column=field)"


def map_posts(con: duckdb.DuckDBPyConnection, src: str, m: Mapping,
              types: dict[str, str] | None = None, carry: bool = False,
              text_urls_too: bool = False) -> tuple[str, pa.Table | None]:
    """Map loaded table ``src`` to canonical posts in temp table ``_posts``.

    Parameters
    ----------
    src : str
        A table from :func:`.tabular.load_csv` / ``load_parquet``.
    m : Mapping
        A resolved mapping (every column exists).
    types : dict, optional
        DuckDB type of each input column (list columns are used as lists).
    carry : bool
        ``src`` is one piece of an input read in pieces (after :func:`start_carry`):
        the ordinals of identical rows (unmapped post_id) and the repeated post
        ids are counted over all pieces so far, as over the whole input.
    text_urls_too : bool
        With ``urls`` and ``text`` both mapped, a post's urls are the column's followed by
        the text's URLs not among them (the generic ``csv``/``parquet`` rule); else the
        column's only (fixed layouts whose urls column is the complete list).

    Returns
    -------
    table : str
        ``"_posts"``: :data:`~cibscope.store.db.POST_COLUMNS` plus ``rec``, plus ``_label``
        when ``label`` is mapped (see :func:`label_accounts`).
    errors : pyarrow.Table or None
        Rows with a missing account id / post id or an unparsable time, and
        repeats of a post id with other values.
    """
    types = types or {}
    c = {f: _q(col) for f, col in m.columns.items()}

    def text_of(f: str) -> str:
        return f"nullif(trim(CAST({c[f]} AS VARCHAR)), '')" if f in c else "NULL::VARCHAR"

    default_platform = sql_literal(m.platform) if m.platform else "NULL"
    platform = f"coalesce({text_of('platform')}, {default_platform})" if "platform" in c else default_platform

    def ref(f: str) -> str:  # a native id of another post -> its post key
        return f"{platform} || ':' || {text_of(f)}" if f in c else "NULL::VARCHAR"

    def as_list(f: str, sep: str, from_text) -> str:
        if f in c:
            if types.get(m.columns[f], "").endswith("[]"):
                return f"list_filter(CAST({c[f]} AS VARCHAR[]), {_NOT_NULL_TOKEN})"
            return list_cell_sql(c[f], sep, JSON_KEYS[f])
        return from_text("_text") if "text" in c else "NULL::VARCHAR[]"

    urls, url_parts = as_list('urls', URL_SEP, urls_sql), ""
    if text_urls_too and "urls" in c and "text" in c:  # a broken cell stays NULL: reported as a bad row below
        url_parts = f", {urls} AS _col_urls, {urls_sql(text_of('text'))} AS _text_urls"  # each parsed once
        both = "list_concat(coalesce(_col_urls, []), coalesce(_text_urls, []))"
        urls = f"CASE WHEN _col_urls IS NOT NULL OR {c['urls']} IS NULL THEN {distinct_sql(both)} END"

    if m.kind:
        kind = sql_literal(m.kind)
    elif "kind" in c:
        kind = f"lower({text_of('kind')})"
    else:
        kind = (f"CASE WHEN {text_of('repost_of')} IS NOT NULL THEN 'repost' "
                f"WHEN {text_of('quote_of')} IS NOT NULL THEN 'quote' "
                f"WHEN {text_of('reply_to')} IS NOT NULL THEN 'reply' ELSE 'post' END")
    # list fields read from text cells: a cell that is broken JSON gives NULL, reported as a bad row below
    raw_lists = [f for f in ("urls", "hashtags", "mentions", "media")
                 if f in c and not types.get(m.columns[f], "").endswith("[]")]
    raw_list_cols = ", ".join(f"CAST({c[f]} AS VARCHAR) AS _raw_{f}" for f in raw_lists) or "NULL AS _raw_none"
    ordinal = "row_number() OVER (PARTITION BY _acc, _raw_time, _text ORDER BY rec)"
    ordinals = carry and "post_id" not in c
    if ordinals:  # identical rows of earlier pieces come first
        con.execute("CREATE TEMP TABLE IF NOT EXISTS _carry_ordinals (_ord_key UHUGEINT, n BIGINT)")
        ordinal += " + coalesce(_ord_before, 0)"
    post_id = text_of("post_id") if "post_id" in c else f"md5(concat_ws('|', _acc, _raw_time, _text, {ordinal}))"
    inner = (f"SELECT *, {text_of('account_id')} AS _acc, CAST({c['created_at']} AS VARCHAR) AS _raw_time, "
             f"{text_of('text')} AS _text, {kind} AS _kind, "
             f"{text_of('kind') if 'kind' in c else 'NULL'} AS _raw_kind{url_parts} FROM {src}")
    if ordinals:
        inner = (f"SELECT x.*, o.n AS _ord_before FROM (SELECT *, md5_number(CAST(to_json([_acc, _raw_time, _text]) "
                 f"AS VARCHAR)) AS _ord_key FROM ({inner})) x LEFT JOIN _carry_ordinals o USING (_ord_key)")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _mapped AS
        SELECT filename, rec, line, _raw_time, _raw_kind, {platform} AS platform,
               {post_id} AS post_id,
               _acc AS account_id, {text_of('handle')} AS handle,
               {time_sql('_raw_time', m.time_format, m.zones)} AS created_at,
               _kind AS kind, _text AS text, {text_of('lang')} AS lang,
               {ref('repost_of')} AS repost_of, {ref('reply_to')} AS reply_to,
               {urls} AS urls,
               {as_list('hashtags', ID_SEP, hashtags_sql)} AS hashtags,
               {as_list('mentions', ID_SEP, mentions_sql)} AS mentions,
               {as_list('media', ID_SEP, lambda _: 'NULL::VARCHAR[]')} AS media,
               {text_of('client')} AS client, {text_of('context')} AS context,
               record AS source_row, {ref('quote_of')} AS quote_of,
               {text_of('label')} AS _label, {raw_list_cols}{', _ord_key' if ordinals else ''}
        FROM ({inner})""")
    if ordinals:
        con.execute("""CREATE OR REPLACE TEMP TABLE _carry_ordinals AS
                       SELECT _ord_key, sum(n)::BIGINT AS n FROM (
                           SELECT * FROM _carry_ordinals UNION ALL SELECT _ord_key, count(*) FROM _mapped GROUP BY ALL)
                       GROUP BY ALL""")
    checks = [Check(m.columns["account_id"], "account_id IS NULL", "missing account id", "NULL"),
              Check(m.columns["created_at"], "created_at IS NULL",
                    "missing or unparsable time (expected " + (f"format {m.time_format}" if m.time_format
                                                               else "ISO 8601 or POSIX seconds") + ")",
                    "_raw_time", None if m.time_format else tz_reason_sql("_raw_time", m.zones)),
              Check(m.columns.get("platform", "platform"), "platform IS NULL", "missing platform", "NULL")]
    if "post_id" in c:
        checks.append(Check(m.columns["post_id"], "post_id IS NULL", "missing post id", "NULL"))
    if "kind" in c and not m.kind:
        checks.append(Check(m.columns["kind"], f"kind NOT IN {KINDS}",
                            f"unknown kind (expected one of {', '.join(KINDS)})", "_raw_kind"))
    for f in raw_lists:
        checks.append(Check(m.columns[f], f"{f} IS NULL AND _raw_{f} IS NOT NULL",
                            "not a valid list: a cell starting with '[' must be a JSON array (or a Python list)",
                            f"_raw_{f}"))
    good, bad = split_checked(con, "_mapped", checks)
    good_rows = f"(SELECT * FROM _mapped WHERE {good})"
    dups = None
    if "post_id" in c and (carry or con.execute(
            f"SELECT count(*) > count(DISTINCT (platform, post_id)) FROM {good_rows}").fetchall()[0][0]):
        dups = duplicate_errors(con, good_rows, "post_id",
                                ["platform", "account_id", "created_at", "kind", "text", "repost_of",
                                 "reply_to", "quote_of", "urls", "hashtags", "mentions", "media"],
                                field=m.columns["post_id"],
                                seen="_carry_seen" if carry else None)
    kept = good_rows
    if dups is not None:  # a repeat with other values is a bad record, not also a post the store drops as known
        con.register("_dup_errors", dups)
        kept = (f"(SELECT * FROM {good_rows} g WHERE NOT EXISTS (SELECT 1 FROM _dup_errors d "
                f"WHERE d.file = g.filename AND d.line = g.line))")
    label = ", _label" if "label" in c else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _posts AS SELECT {', '.join(POST_COLUMNS)}, rec{label} FROM {kept}")
    if dups is not None:
        con.unregister("_dup_errors")
    con.execute("DROP TABLE _mapped")
    return "_posts", concat_errors(bad, dups)


def label_accounts(con: duckdb.DuckDBPyConnection, posts: str) -> pa.Table | None:
    """The account labels of posts table ``posts`` (from :func:`map_posts`), its ``_label`` column dropped.

    Returns
    -------
    pyarrow.Table or None
        ``platform``, ``account_id``, ``label``: each account's first non-empty label in
        file order (``rec``), for :meth:`~cibscope.store.db.Store.add_batch`, which keeps a
        label stored before; None when ``label`` is not mapped.
    """
    if "_label" not in [r[0] for r in con.execute(f"DESCRIBE {posts}").fetchall()]:
        return None
    t = con.sql(f"""SELECT platform, account_id, arg_min(_label, rec) AS label FROM {posts}
                    WHERE _label IS NOT NULL GROUP BY ALL ORDER BY ALL""").to_arrow_table()
    con.execute(f"ALTER TABLE {posts} DROP COLUMN _label")
    return t


def derived_batches(con: duckdb.DuckDBPyConnection, src: str, m: Mapping, path: Path, *,
                    rejects: pa.Table | None, rows_read: int,
                    progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
    """Post batches of one piece whose list fields a fixed-layout reader derived in SQL first.

    ``src`` (dropped here) holds the input columns plus derived list columns of type
    ``VARCHAR[]`` named ``_urls``, ``_hashtags``, ``_mentions`` where the reader made them;
    ``m`` maps canonical fields to them. Mapped with ``carry`` (call :func:`start_carry`
    before the first piece); the reader yields its accounts after the last piece.
    """
    list_cols = {c: "VARCHAR[]" for c in ("_urls", "_hashtags", "_mentions")}
    posts, errors = map_posts(con, src, m, list_cols, carry=True)
    con.execute(f"DROP TABLE {src}")
    yield from chunked_posts(con, posts, errors=concat_errors(rejects, errors), rows_read=rows_read,
                             source_file=str(path), progress=progress)


class MappedCsvReader(Reader):
    """A CSV file whose columns are mapped to canonical fields (``--format csv``).

    Parameters
    ----------
    mapping : Mapping, dict or list of str, optional
        A :class:`Mapping`, ``{column: field}`` or ``["column=field", ...]``.
        Columns named like a canonical field need no entry.
    platform : str, optional
        Default platform (required when no column maps to ``platform``).
    time_format : str, optional
        ``strptime`` pattern of the time column.
    zones : dict, optional
        Time-zone abbreviation -> UTC offset (``--tz``), e.g. ``{"IST": "+05:30"}``.
    chunk_bytes : int, optional
        Bytes of CSV scanned at a time (default :data:`.tabular.CSV_CHUNK_BYTES`).
    """

    name = "csv"
    reads_compressed = STREAMED_COMPRESSIONS  # scan_csv_chunks reads a compressed file through open_input
    description = "any CSV with a column mapping (--map column=field, --platform, --time-format)"
    #: With urls and text both mapped, add the text's URLs to the column's (see :func:`map_posts`).
    text_urls_too: ClassVar[bool] = True

    def __init__(self, mapping: Mapping | dict | list | None = None, *, platform: str | None = None,
                 time_format: str | None = None, chunk_bytes: int | None = None,
                 zones: dict[str, str] | None = None):
        base = mapping if isinstance(mapping, Mapping) else Mapping.from_pairs(mapping)
        self.chunk_bytes = chunk_bytes
        self.mapping = replace(base, platform=platform or base.platform,
                               time_format=time_format or base.time_format,
                               zones=check_zones(zones) or base.zones)

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A CSV whose header names ``account_id``, ``created_at`` and ``platform``."""
        if path.is_dir() or data_suffix(path) not in (".csv", ".txt"):
            return False
        found = header_fields(path)
        return all(f in found for f in (*REQUIRED_FIELDS, "platform"))

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format {self.name} reads one CSV file")
        found = header_fields(path)
        m = self.mapping.resolved(path, found, self.name)
        start_carry(con)
        note = unread_note(path, found, m)
        for rejects, n_read in scan_csv_chunks(con, "_src", path, found, self.chunk_bytes):
            yield from self._emit(con, path, m, rejects, {}, progress, n_read, carry=True, note=note)
            note = None

    def _emit(self, con, path, m, rejects, types, progress, n_read, carry=False, note=None):
        """Batches of the piece in ``_src``: its posts, with the account labels and ``note`` on the first."""
        posts, errors = map_posts(con, "_src", m, types, carry=carry, text_urls_too=self.text_urls_too)
        con.execute("DROP TABLE _src")
        accounts = label_accounts(con, posts)
        for i, batch in enumerate(chunked_posts(con, posts, errors=concat_errors(rejects, errors), rows_read=n_read,
                                                source_file=str(path), progress=progress)):
            yield replace(batch, accounts=accounts, notes=[note] if note else []) if i == 0 else batch


class MappedParquetReader(MappedCsvReader):
    """A Parquet file whose columns are mapped to canonical fields (``--format parquet``).

    Same options as :class:`MappedCsvReader`; list columns (``VARCHAR[]``) are
    taken as lists and timestamp columns as they are (a ``TIMESTAMPTZ`` is
    converted to UTC). ``line`` in errors is the 1-based row number.
    """

    name = "parquet"
    reads_compressed = frozenset()  # DuckDB reads the Parquet file in place
    description = "any Parquet file with a column mapping (--map column=field, --platform, --time-format)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A ``PAR1`` file whose schema names the required canonical fields and ``platform``."""
        if path.is_dir():
            return False
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                return False
        names = pq.read_schema(path).names
        return all(f in names for f in (*REQUIRED_FIELDS, "platform"))

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format parquet reads one Parquet file")
        types = load_parquet(con, "_src", path)
        m = self.mapping.resolved(path, list(types), self.name)
        yield from self._emit(con, path, m, None, types, progress, records_read(con, "_src", None),
                              note=unread_note(path, list(types), m))
