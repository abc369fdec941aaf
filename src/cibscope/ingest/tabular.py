"""Shared machinery for tabular inputs (CSV, Parquet): scanning, line numbers, row checks, times.

Every tabular reader loads its input into a DuckDB temp table with four
bookkeeping columns and then maps it to canonical posts in SQL:

``filename``
    the file the row came from;
``rec``
    the record's ordinal in the scan (file order; DuckDB preserves insertion order);
``line``
    the record's 1-based line in its file, header = line 1, counted the way
    DuckDB's CSV rejects count it (a quoted field spanning several lines keeps
    one number), so good rows and rejected rows share one numbering. For
    Parquet it is the 1-based row number;
``record``
    the 1-based record number, header excluded (the posts' ``source_row``).

CSV rows that do not parse (broken quoting, too few/many fields, bytes that
are not UTF-8) are kept by DuckDB's ``store_rejects`` and returned as error
rows; rows that parse but hold a bad value are found by :func:`split_checked`.

A single CSV file is read in pieces (:func:`scan_csv_chunks`): Python cuts the
file at record ends at most about :data:`CSV_CHUNK_BYTES` apart (a line end with
an even number of ``"`` before it since the last cut, so a quoted field that spans
lines is never split) and DuckDB scans one piece at a time, with the numbering
above continued across pieces. Memory is bounded by one piece, not the file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .base import Batch, IngestError, errors_table, is_compressed, open_input, read_header

#: Rows per batch handed to the store (bounds the Arrow tables held in memory).
BATCH_ROWS = 500_000

#: Bytes of CSV handed to DuckDB at once, about (bounds memory: one piece is staged and mapped at a time).
#: 64 MiB: smaller pieces lower the peak but cost time (48 MiB: cnt-csv 27 % slower at 1M; 32 MiB:
#: twitter-io and crowdtangle 17-35 % slower): ``bench/bench_ingest.py --csv-chunk-mib``,
#: docs/benchmarks.md "Issue 19's targets, where each stands".
CSV_CHUNK_BYTES = 64 << 20
#: How far past a piece's end a record end is looked for before the piece is cut at a line end
#: anyway: only an unterminated quote (a bad row DuckDB reports) makes a record this long.
MAX_RECORD_BYTES = 64 << 20

#: A number of seconds since 1970-01-01 UTC (POSIX time), optionally with a fraction.
POSIX_RE = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


def sql_literal(value: str) -> str:
    """``value`` as a quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def header_fields(path: Path) -> list[str]:
    """Column names of a CSV file's header line (quotes and blanks stripped).

    A name repeated in the header (``id,query,id``: minet/twitwi layouts) is kept first as is
    and then as ``id.2``, ``id.3`` (its occurrence), so every column is read; :func:`duplicated_columns`
    names them for a mapping that would be ambiguous.
    """
    names = [h.strip().strip('"').strip() for h in read_header(path).split(",")]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}.{seen[n]}")
    return out


def names_shown(names: list[str], most: int = 10, chars: int = 200) -> str:
    """``names`` joined for a message, cut to the first ``most`` names and ``chars`` characters
    ("... (N names)" after a cut): a JSON file read as CSV has its whole first line as the "header".
    A header that is one name holding ``;``, tab or ``|`` separators is said to be one."""
    shown = ", ".join(names[:most])
    if len(shown) > chars:
        shown = shown[:chars].rstrip()
    if len(names) > most or len(shown) < len(", ".join(names[:most])):
        shown += f" ... ({len(names):,} names, {len(','.join(names)):,} characters)"
    sep = next((d for d in OTHER_DELIMITERS if len(names) == 1 and names[0].count(d) >= 2), None)
    return shown + delimiter_hint(sep) if sep else shown


#: Field separators other than the comma that spreadsheets write (a European Excel CSV uses ";").
OTHER_DELIMITERS = (";", "\t", "|")


def delimiter_hint(sep: str) -> str:
    """The message part saying a header is separated by ``sep`` (one of :data:`OTHER_DELIMITERS`)."""
    return (f"; the header is separated by {sep!r}, not commas: cibscope reads comma-separated CSV, "
            "so save or convert it with commas")


def duplicated_columns(found: list[str]) -> dict[str, list[int]]:
    """Names that :func:`header_fields` found more than once -> their 1-based column positions."""
    dup = {n.rsplit(".", 1)[0] for n in found if "." in n and n.rsplit(".", 1)[1].isdigit()
           and n.rsplit(".", 1)[0] in found}
    return {d: [i + 1 for i, n in enumerate(found) if n == d or (n.startswith(d + ".") and n[len(d) + 1:].isdigit())]
            for d in sorted(dup)}


def require_columns(path: Path, found: list[str], required: list[str], fmt: str) -> None:
    """Raise :class:`IngestError` naming ``path`` and every column of ``required`` missing from ``found``."""
    missing = [c for c in required if c not in found]
    if missing:
        raise IngestError(f"{path}: column(s) {', '.join(missing)} missing for format {fmt} "
                          f"(found: {names_shown(found) or 'no header'})")


def posix_ts_sql(col: str) -> str:
    """SQL: POSIX time in VARCHAR ``col`` as a UTC ``TIMESTAMP`` (NULL when not a number).

    The unit is told by the size: below 1e11 seconds (1e11 s is the year 5138), below 1e14
    milliseconds, below 1e17 microseconds, else nanoseconds (JavaScript, Java and pandas
    write epoch milliseconds or nanoseconds).
    """
    num = f"CAST(trim({col}) AS DOUBLE)"
    scale = (f"CASE WHEN abs({num}) < 1e11 THEN 1e6 WHEN abs({num}) < 1e14 THEN 1e3 "
             f"WHEN abs({num}) < 1e17 THEN 1 ELSE 1e-3 END")
    return (f"CASE WHEN regexp_matches({col}, '{POSIX_RE}') "
            f"THEN make_timestamp(CAST(round({num} * {scale}) AS BIGINT)) END")


#: Time-zone abbreviations read after a time (``2022-05-01 10:00:00 AEDT``) -> their UTC offset. Only
#: unambiguous ones: DuckDB (ICU) would read ``BST`` as Bangladesh and ``IST`` as India silently.
TZ_ABBREVIATIONS = {
    "UTC": "+00:00", "UT": "+00:00", "GMT": "+00:00", "WET": "+00:00", "WEST": "+01:00", "CET": "+01:00",
    "CEST": "+02:00", "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00", "EST": "-05:00", "EDT": "-04:00",
    "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00",
    "AKDT": "-08:00", "HST": "-10:00", "NST": "-03:30", "NDT": "-02:30", "BRT": "-03:00", "ART": "-03:00",
    "WAT": "+01:00", "CAT": "+02:00", "SAST": "+02:00", "EAT": "+03:00", "PKT": "+05:00", "NPT": "+05:45",
    "WIB": "+07:00", "ICT": "+07:00", "SGT": "+08:00", "HKT": "+08:00", "PHT": "+08:00", "AWST": "+08:00",
    "JST": "+09:00", "KST": "+09:00", "ACST": "+09:30", "ACDT": "+10:30", "AEST": "+10:00", "AEDT": "+11:00",
    "NZST": "+12:00", "NZDT": "+13:00"}
#: Abbreviations that name several zones: refused unless the user says which (``--tz IST=+05:30``).
AMBIGUOUS_TZ = {"IST": "India +05:30, Ireland +01:00, Israel +02:00",
                "CST": "US Central -06:00, China +08:00, Cuba -05:00",
                "BST": "British Summer +01:00, Bangladesh +06:00",
                "AST": "Atlantic -04:00, Arabia +03:00", "GST": "Gulf +04:00, South Georgia -02:00",
                "SST": "Samoa -11:00, Singapore +08:00", "ADT": "Atlantic -03:00, Arabia +04:00"}
#: A trailing zone abbreviation of a time value.
TZ_ABBR_RE = r"\s([A-Z]{2,5})$"


def check_zones(zones: dict[str, str] | None) -> dict[str, str]:
    """``{ABBR: offset}`` given by the user (``--tz ABBR=+HH:MM``), checked; raises ``IngestError``."""
    import re

    out = {}
    for k, v in (zones or {}).items():
        k, v = k.strip().upper(), v.strip()
        if not re.fullmatch(r"[A-Z]{2,5}", k) or not re.fullmatch(r"[+-][0-9]{2}:[0-9]{2}", v):
            raise IngestError(f"--tz {k}={v}: expected an abbreviation and an offset, e.g. IST=+05:30")
        out[k] = v
    return out


def tz_abbr_sql(v: str) -> str:
    """SQL: the trailing zone abbreviation of time text ``v`` ('' when none)."""
    return f"regexp_extract({v}, '{TZ_ABBR_RE}', 1)"


def time_sql(col: str, time_format: str | None = None, zones: dict[str, str] | None = None) -> str:
    """SQL: the UTC ``TIMESTAMP`` in ``col`` (any type; NULL when it cannot be parsed).

    With ``time_format`` (a ``strptime`` pattern, ``%z`` allowed) only that
    pattern is tried. Otherwise POSIX seconds, then ISO 8601 (``T`` or blank
    separator; an offset such as ``+02:00``, ``+0200`` or `` -0800`` is
    converted to UTC, no offset means UTC; a trailing zone abbreviation of
    :data:`TZ_ABBREVIATIONS` or ``zones`` is read as its offset, any other one,
    including those of :data:`AMBIGUOUS_TZ`, gives NULL). Needs the connection's ``TimeZone`` set to UTC (``ingest``
    does this), which makes the ``TIMESTAMPTZ -> TIMESTAMP`` cast a UTC one.
    """
    v = f"trim(CAST({col} AS VARCHAR))"
    if time_format:
        fmt = time_format.replace("'", "''")
        return f"CAST(try_strptime({v}, '{fmt}') AS TIMESTAMP)"

    def parse(x: str) -> str:
        # "2015-02-24 11:35:52 -0800" -> "2015-02-24 11:35:52-08:00", which the ISO cast accepts
        iso = f"regexp_replace({x}, '\\s*([+-][0-9]{{2}}):?([0-9]{{2}})$', '\\1:\\2')"
        return f"coalesce({posix_ts_sql(x)}, CAST(try_cast({iso} AS TIMESTAMPTZ) AS TIMESTAMP))"

    known = {**TZ_ABBREVIATIONS, **check_zones(zones)}
    cases = " ".join(f"WHEN '{k}' THEN '{o}'" for k, o in known.items())
    abbr = tz_abbr_sql(v)
    fixed = f"regexp_replace({v}, '{TZ_ABBR_RE}', '') || (CASE {abbr} {cases} END)"
    return f"CASE WHEN {abbr} = '' THEN {parse(v)} ELSE {parse(fixed)} END"


def tz_reason_sql(raw: str, zones: dict[str, str] | None = None) -> str:
    """SQL: why time text ``raw`` failed when it ends in a zone abbreviation not read (NULL otherwise)."""
    known = {**TZ_ABBREVIATIONS, **check_zones(zones)}
    v = f"trim(CAST({raw} AS VARCHAR))"
    abbr = tz_abbr_sql(v)
    amb = " ".join(f"WHEN {abbr} = '{k}' THEN 'ambiguous time-zone abbreviation {k} ({z}): pass --tz {k}=+HH:MM to "
                   f"say which'" for k, z in AMBIGUOUS_TZ.items() if k not in known)
    known_list = ", ".join(f"'{k}'" for k in known)
    return (f"CASE WHEN {abbr} = '' OR {abbr} IN ({known_list}) THEN NULL "
            f"{amb} ELSE 'unknown time-zone abbreviation ' || {abbr} || ' (give an offset such as +11:00, "
            f"or pass --tz ' || {abbr} || '=+HH:MM)' END")


#: Cell values that stand for "no value" in exports written by pandas, R and JavaScript: never a list item
#: (a URL "None" would otherwise be a link and domain object every such post shares).
NULL_TOKENS = ("none", "null", "nan", "n/a", "undefined", "nil")
_NOT_NULL_TOKEN = "lambda x: x IS NOT NULL AND x <> '' AND lower(x) NOT IN (" + \
    ", ".join(f"'{t}'" for t in NULL_TOKENS) + ")"


def id_list_sql(col: str, sep: str = r"[\s,;]+") -> str:
    """SQL: a delimited string column as a list of non-empty items (NULL string -> empty list).

    Items that are a :data:`NULL_TOKENS` word (``None``, ``NaN``, ...) are dropped.
    """
    return (f"list_filter(string_split_regex(trim(coalesce(CAST({col} AS VARCHAR), '')), '{sep}'), "
            f"{_NOT_NULL_TOKEN})")


def list_cell_sql(col: str, sep: str, keys: tuple[str, ...] = ()) -> str:
    """SQL: a list cell as a list: a JSON array (``[{"url": ...}]``, ``["a", "b"]``) parsed, else split on ``sep``.

    twarc-csv and other flatteners write entity lists as JSON arrays of objects; an object
    element gives the first of ``keys`` it holds (e.g. ``expanded_url``, then ``url``), a string
    element itself. :data:`NULL_TOKENS` items are dropped either way. A Python list repr
    (``['a', 'b']``, as pandas writes list columns) is read as JSON with its quotes swapped, and
    ``[a, b]`` (no quotes or braces) as a delimited list. Any other cell starting with ``[`` is
    broken JSON: NULL, which the mapped readers report as a bad row (a junk "URL" such as
    ``[{"url":`` would otherwise be an object every such post shares).
    """
    v = f"trim(CAST({col} AS VARCHAR))"
    pick = ", ".join(f"e->>'{k}'" for k in keys) or "NULL"
    elem = (f"CASE WHEN json_type(e) = 'OBJECT' THEN coalesce({pick}) WHEN json_type(e) = 'VARCHAR' "
            f"THEN e->>'$' WHEN json_type(e) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(e AS VARCHAR) END")
    swapped = "replace(" + v + ", '''', '\"')"
    j = f"CASE WHEN json_valid({v}) THEN {v} WHEN json_valid({swapped}) THEN {swapped} END"
    parsed = f"list_filter(list_transform(CAST(json_extract({j}, '$[*]') AS JSON[]), lambda e: {elem}), {_NOT_NULL_TOKEN})"
    bare = id_list_sql("trim(" + v + ", '[]')", r"[\s,;]+")
    no_quotes = "NOT regexp_matches(" + v + ", '[{}\"'']')"
    return (f"CASE WHEN {v} IS NULL OR NOT starts_with({v}, '[') THEN {id_list_sql(col, sep)} "
            f"WHEN coalesce(json_type({j}) = 'ARRAY', false) THEN {parsed} "
            f"WHEN {no_quotes} THEN {bare} END")


def load_csv(con: duckdb.DuckDBPyConnection, table: str, files: list[Path],
             columns: list[str]) -> pa.Table | None:
    """Scan CSV ``files`` (header line, comma, ``"`` quoting) into temp table ``table``.

    Every column is read as ``VARCHAR`` under the names ``columns`` (in file
    order); ``filename``, ``rec``, ``line`` and ``record`` are added (see the module doc).

    Returns
    -------
    pyarrow.Table or None
        The rows DuckDB rejected, as an errors table (file, line, field,
        reason, raw line), or None when there are none.

    Raises
    ------
    duckdb.IOException, duckdb.InvalidInputException
        A file cannot be opened or scanned at all (``ingest`` turns these into
        an :class:`IngestError` naming the input).
    """
    file_errors = _scan_csv(con, table, files, columns)
    # DuckDB reports a row with n missing fields n times: keep the first field per line and error type
    # (a whole-line error such as LINE SIZE OVER MAXIMUM has no column: its index is NULL, which arg_min skips)
    rejects = con.sql("""
        SELECT s.file_path AS file, e.line::BIGINT AS line, arg_min(e.column_name, coalesce(e.column_idx, 0)) AS field,
               lower(e.error_type::VARCHAR) || ': '
                   || coalesce(arg_min(e.error_message, coalesce(e.column_idx, 0)), 'no detail given') AS reason,
               any_value(e.csv_line) AS raw_value
        FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)
        GROUP BY s.file_path, e.line, e.error_type ORDER BY file, line""").to_arrow_table()
    con.execute("DELETE FROM reject_errors; DELETE FROM reject_scans")
    if rejects.num_rows or len(files) > 1:
        # A good record's line = its ordinal in its file + 1 (header) + the rejected
        # records before it. Reject j (1-based, in line order) follows g_j = line_j - 1 - j
        # good records, so it precedes good record r exactly when g_j < r.
        con.register("_rejects", rejects)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {table} AS
            WITH s AS (SELECT * EXCLUDE (line, record), rec - min(rec) OVER (PARTITION BY filename) + 1 AS r
                       FROM {table}),
            k AS (SELECT file, line, row_number() OVER (PARTITION BY file ORDER BY line) AS n_before FROM _rejects),
            j AS (SELECT file, line - 1 - n_before AS g, max(n_before) AS n_before FROM k GROUP BY ALL)
            SELECT s.* EXCLUDE (r), s.r + 1 + coalesce(j.n_before, 0) AS line, s.r + coalesce(j.n_before, 0) AS record
            FROM s ASOF LEFT JOIN j ON s.filename = j.file AND s.r > j.g""")
        con.unregister("_rejects")
    rejects = _recover_swallowed_lines(con, table, columns, _one_error_per_line(rejects))
    rejects = concat_errors(rejects, file_errors, _nul_rows(con, table, columns))
    return rejects if rejects is not None and rejects.num_rows else None


def _nul_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> pa.Table | None:
    """Move the rows of ``table`` holding a NUL byte in some field out of it, as error rows.

    A stray NUL is damage (a text export holds none), not data: the row is kept aside naming its
    first such field; the raw value shows the NUL as ``\\0``.
    """
    has = {c: f'contains("{c}", chr(0))' for c in columns}
    where = " OR ".join(has.values())
    if not con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]:
        return None
    field = "CASE " + " ".join(f"WHEN {h} THEN {sql_literal(c)}" for c, h in has.items()) + " END"
    raw = "CASE " + " ".join(f'WHEN {h} THEN replace("{c}", chr(0), \'\\0\')' for c, h in has.items()) + " END"
    bad = con.sql(f"""SELECT filename AS file, line, {field} AS field,
                             'NUL byte in the field: a damaged row (a text export holds none)' AS reason,
                             left({raw}, 2000) AS raw_value
                      FROM {table} WHERE {where} ORDER BY file, line""").to_arrow_table()
    con.execute(f"DELETE FROM {table} WHERE {where}")
    return bad


def physical_lines(con: duckdb.DuckDBPyConnection, table: str, files: list[Path],
                   rejects: pa.Table | None) -> pa.Table | None:
    """Renumber ``line`` of ``table`` and of ``rejects`` (from :func:`load_csv` of ``files``) as physical lines.

    :func:`load_csv` counts a record whose quoted field spans several lines once; this turns each
    record's number into the 1-based line of the file where the record starts (the line an editor
    shows; a line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as DuckDB's scanner and Python's
    universal newlines count them). Set-based: each file is read whole (``read_text``) and split into
    lines, and a line starts a record when an even number of ``"`` precede it in the file (RFC 4180
    quoting, ``"`` as escape). For files of moderate size (the whole text is held once); rows of
    files not in ``files`` keep their number.

    Returns
    -------
    pyarrow.Table or None
        ``rejects`` with ``line`` renumbered the same way.
    """
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _phys AS
        WITH l AS (SELECT filename, unnest(lines) AS txt, unnest(range(1, len(lines) + 1)) AS n
                   FROM (SELECT filename, string_split_regex(content, '\\r\\n|\\r|\\n') AS lines
                         FROM read_text($files))),
        q AS (SELECT filename, n, coalesce(sum(length(txt) - length(replace(txt, '"', ''))) OVER (
                     PARTITION BY filename ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
              FROM l)
        SELECT filename, row_number() OVER (PARTITION BY filename ORDER BY n) AS rec_line, n AS phys_line
        FROM q WHERE before % 2 = 0""", {"files": [str(p) for p in files]})
    con.execute(f"""UPDATE {table} t SET line = p.phys_line FROM _phys p
                    WHERE p.filename = t.filename AND p.rec_line = t.line""")
    if rejects is not None:
        con.register("_rej_in", rejects)
        rejects = con.sql("""
            SELECT r.* REPLACE (coalesce(p.phys_line, r.line) AS line)
            FROM _rej_in r LEFT JOIN _phys p ON p.filename = r.file AND p.rec_line = r.line
            ORDER BY r.file, line""").to_arrow_table()
        con.unregister("_rej_in")
    con.execute("DROP TABLE _phys")
    return rejects


def _record_end(buf: bytes) -> int:
    """Offset just past the last line end of ``buf`` that ends a CSV record, or 0 when none does.

    ``buf`` starts at a record start. With ``"`` as quote and escape (RFC 4180)
    a line end ends a record exactly when an even number of ``"`` precede it.
    Lines are walked back from the end only while the count is odd (inside a
    quoted field: usually one or two lines).
    """
    end = buf.rfind(b"\n")
    quotes = buf.count(b'"', 0, end) if end >= 0 else 0
    while end >= 0:
        if quotes % 2 == 0:
            return end + 1
        prev = buf.rfind(b"\n", 0, end)
        quotes -= buf.count(b'"', prev + 1, end)
        end = prev
    return 0


def csv_pieces(path: Path, piece: Path, chunk_bytes: int = CSV_CHUNK_BYTES) -> Iterator[int]:
    """Write ``path`` piece by piece to ``piece`` (header line + whole records); yield each piece's byte size.

    Pieces are cut at record ends (:func:`_record_end`) about ``chunk_bytes``
    apart; when no record ends within :data:`MAX_RECORD_BYTES` past that (an
    unterminated quote), at the last line end. ``piece`` is overwritten for
    each piece, so read it before asking for the next.
    """
    with open_input(path) as f:  # a gzip/zstd file is decompressed as it is read
        header = f.readline()
        buf = b""
        while True:
            data = f.read(chunk_bytes)
            buf = buf + data if buf else data
            if not data:
                cut = len(buf)
            else:
                cut = _record_end(buf)
                if not cut and len(buf) >= chunk_bytes + MAX_RECORD_BYTES:
                    cut = buf.rfind(b"\n") + 1
                if not cut:
                    continue
            if data or buf.strip():  # the last piece may be only blank lines
                with open(piece, "wb") as out:
                    out.write(header)
                    out.write(memoryview(buf)[:cut])
                yield cut
            buf = buf[cut:]
            if not data:
                return


def scan_csv_chunks(con: duckdb.DuckDBPyConnection, table: str, path: Path, columns: list[str],
                    chunk_bytes: int | None = None) -> Iterator[tuple[pa.Table | None, int]]:
    """Scan one CSV file into temp table ``table`` a piece at a time, as :func:`load_csv` would the whole file.

    A file of at most ``chunk_bytes`` (default :data:`CSV_CHUNK_BYTES`) is one
    piece, read in place; a larger one, or a gzip/zstd file (read decompressed), is cut by :func:`csv_pieces` into a
    temporary file. Each piece replaces ``table``, with ``filename`` = ``path``
    and ``line``, ``record`` and ``rec`` continued from the previous pieces, so
    the rows and errors of all pieces together equal those of one scan.

    Yields
    ------
    rejects : pyarrow.Table or None
        The piece's rows DuckDB rejected (see :func:`load_csv`), naming ``path``.
    rows_read : int
        The piece's records, good and bad (:func:`records_read`).

    Raises
    ------
    duckdb.IOException, duckdb.InvalidInputException
        As :func:`load_csv`.
    """
    chunk_bytes = chunk_bytes or CSV_CHUNK_BYTES
    if path.stat().st_size <= chunk_bytes and not is_compressed(path):
        rejects = load_csv(con, table, [path], columns)
        yield rejects, records_read(con, table, rejects)
        return
    records, recs = 0, 0  # records and largest rec of the pieces before
    with tempfile.TemporaryDirectory(prefix="cibscope-csv-") as tmp:
        # a piece is plain CSV: named .csv, never .gz (DuckDB would take it for gzip by its name)
        piece = Path(tmp) / (path.name if not is_compressed(path) else "piece.csv")
        for _ in csv_pieces(path, piece, chunk_bytes):
            rejects = load_csv(con, table, [piece], columns)
            n = records_read(con, table, rejects)
            con.execute(f"UPDATE {table} SET filename = $f, line = line + $n, record = record + $n, rec = rec + $r",
                        {"f": str(path), "n": records, "r": recs})
            recs = con.execute(f"SELECT coalesce(max(rec), $r) FROM {table}", {"r": recs}).fetchall()[0][0]
            if rejects is not None:
                file = pa.array([str(path)] * rejects.num_rows, rejects.schema.field("file").type)
                rejects = rejects.set_column(rejects.schema.get_field_index("file"), "file", file)
                i = rejects.schema.get_field_index("line")
                rejects = rejects.set_column(i, "line", pc.add(rejects.column("line"), records))
            yield rejects, n
            records += n


class AccountCarry:
    """Each account's newest non-NULL value of every field, over all pieces of one input.

    ``add`` takes a piece's rows; :meth:`table` gives the accounts of all pieces
    (as one ``arg_max`` over the whole file would). Held in DuckDB temp table
    ``_carry_accounts``: one row per account (memory grows with accounts, not posts).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    fields : dict
        Account column (of :data:`~cibscope.store.db.ACCOUNT_COLUMNS`) -> SQL over the piece.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, fields: dict[str, str]):
        self.con, self.fields = con, fields
        self._started = False  # whether _carry_accounts holds this input's accounts
        con.execute("DROP TABLE IF EXISTS _carry_accounts")

    def add(self, src: str, platform: str, account_id: str, ts: str, where: str = "true") -> None:
        """Merge the accounts of table ``src`` (SQL ``platform``, ``account_id``; newest by SQL ``ts``)."""
        values = ", ".join(f"{e} AS {f}" for f, e in self.fields.items())
        piece = ", ".join(f"arg_max({f}, _ts) AS {f}, max(_ts) FILTER (WHERE {f} IS NOT NULL) AS {f}__ts"
                          for f in self.fields)
        new = (f"SELECT platform, account_id, {piece} FROM (SELECT {platform} AS platform, "
               f"{account_id} AS account_id, {ts} AS _ts, {values} FROM {src} WHERE {where}) GROUP BY ALL")
        if not self._started:
            self.con.execute(f"CREATE TEMP TABLE _carry_accounts AS {new}")
            self._started = True
            return
        merged = ", ".join(f"arg_max({f}, {f}__ts) AS {f}, max({f}__ts) AS {f}__ts" for f in self.fields)
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE _carry_accounts AS
                             SELECT platform, account_id, {merged}
                             FROM (SELECT * FROM _carry_accounts UNION ALL {new}) GROUP BY ALL""")

    def table(self) -> pa.Table | None:
        """The merged accounts (``platform``, ``account_id`` and the fields); None before any ``add``."""
        if not self._started:
            return None
        t = self.con.sql(f"SELECT platform, account_id, {', '.join(self.fields)} FROM _carry_accounts").to_arrow_table()
        self.con.execute("DROP TABLE _carry_accounts")
        self._started = False
        return t


def _one_error_per_line(rejects: pa.Table) -> pa.Table | None:
    """One error row per rejected line (its reasons joined), so a bad row counts once."""
    if not rejects.num_rows:
        return None
    merged: dict[tuple, dict] = {}
    for r in rejects.to_pylist():
        key = (r["file"], r["line"])
        if key in merged:
            merged[key]["reason"] += "; " + r["reason"]
        else:
            merged[key] = dict(r)
    return errors_table(list(merged.values()))


def _recover_swallowed_lines(con: duckdb.DuckDBPyConnection, table: str, columns: list[str],
                             rejects: pa.Table | None, depth: int = 0) -> pa.Table | None:
    """Re-read the lines an unterminated quote swallowed, so no good row is lost.

    A quote left open on one line makes the CSV scanner read every following line
    into the same rejected record (its ``raw_value`` spans several lines). Only the
    first of those lines is bad: the rest are scanned again on their own (with the
    header), appended to ``table`` with their true file and line numbers, and the
    reject keeps its first line only. Nested cases are handled recursively.
    """
    if rejects is None or depth > 50:
        return rejects

    cols = ", ".join(f'"{c}"' for c in columns)
    out = []
    known_lines = {(r["file"], r["line"]) for r in rejects.to_pylist()}
    for r in rejects.to_pylist():
        raw = r["raw_value"] or ""
        first, sep, rest = raw.partition("\n")
        if not sep or not rest.strip() or "unquoted value" not in r["reason"]:
            out.append(r)
            continue
        out.append({**r, "raw_value": first.rstrip("\r")})
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8", newline="") as tmp:
            tmp.write(",".join(columns) + "\n" + rest)
        sub = f"{table}_rescan{depth}"
        try:
            sub_rejects = load_csv(con, sub, [Path(tmp.name)], columns)
        finally:
            os.unlink(tmp.name)
        offset = int(r["line"]) - 1  # the rescanned file's line 2 is the line after the reject
        top = con.execute(f"SELECT coalesce(max(rec), 0) FROM {table}").fetchall()[0][0]
        # DuckDB may also have read some of these lines on its own (parallel scan): add only rows
        # whose values are not in the table yet, and only errors of lines not reported yet.
        con.execute(f"""INSERT INTO {table} BY NAME
                        SELECT * REPLACE (? AS filename, line + {offset} AS line, record + {offset} AS record,
                                          rec + {top} AS rec)
                        FROM {sub} n
                        WHERE NOT EXISTS (SELECT 1 FROM {table} o WHERE o.filename = ?
                                          AND ({cols}) IS NOT DISTINCT FROM (SELECT ({cols}) FROM {sub} x
                                                                             WHERE x.rec = n.rec))""",
                    [r["file"], r["file"]])
        con.execute(f"DROP TABLE {sub}")
        for e in (sub_rejects.to_pylist() if sub_rejects is not None else []):
            line = (e["line"] + offset) if e["line"] else None
            if (r["file"], line) not in known_lines:
                known_lines.add((r["file"], line))
                out.append({**e, "file": r["file"], "line": line})
    return errors_table(out)


def _scan_csv(con: duckdb.DuckDBPyConnection, table: str, files: list[Path], columns: list[str]) -> pa.Table | None:
    """Scan ``files`` into ``table`` (with ``rec``, ``line``, ``record``); one bad file never sinks the rest.

    All files are scanned in one statement. If DuckDB cannot scan them (a file
    whose structure breaks the CSV state machine, such as mixed CRLF/LF line
    endings), each file is scanned alone, a failing one again without strict
    mode, and a file that still cannot be scanned becomes one error row
    (field NULL, reason naming the problem) instead of failing the input.
    """
    cols = {c: "VARCHAR" for c in columns}

    def scan(paths: list[Path], strict: bool, create: bool) -> None:
        verb = f"CREATE OR REPLACE TEMP TABLE {table} AS" if create else f"INSERT INTO {table}"
        con.execute(f"""
            {verb}
            SELECT *, rec + 1 AS line, rec AS record FROM (
                SELECT *, row_number() OVER () AS rec
                FROM read_csv($files, columns=$cols, header=true, auto_detect=false, delim=',', quote='"',
                              escape='"', store_rejects=true, filename=true, null_padding=false,
                              strict_mode={str(strict).lower()}))""", {"files": [str(p) for p in paths], "cols": cols})

    try:
        scan(files, True, True)
        return None
    except duckdb.InvalidInputException:
        if len(files) == 1 and not files[0].exists():
            raise
    errors, created = [], False
    for path in files:
        for strict in (True, False):
            try:
                scan([path], strict, not created)
                created = True
                break
            except duckdb.InvalidInputException as exc:
                if not strict:
                    errors.append(dict(file=str(path), line=None, field=None, raw_value=None,
                                       reason="file skipped: DuckDB cannot scan it as CSV even in lenient mode: "
                                              + str(exc).splitlines()[0]))
    if not created:
        raise duckdb.InvalidInputException("; ".join(f"{e['file']}: {e['reason']}" for e in errors))
    return errors_table(errors)


def records_read(con: duckdb.DuckDBPyConnection, table: str, rejects: pa.Table | None) -> int:
    """Records of a scan: the rows of ``table`` plus the distinct lines DuckDB rejected."""
    n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if rejects is not None:
        n += len(set(zip(rejects.column("file").to_pylist(), rejects.column("line").to_pylist())))
    return n


def load_parquet(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> dict[str, str]:
    """Load a Parquet file into temp table ``table`` (``filename``, ``rec``, ``line``, ``record`` added).

    ``line`` is the 1-based row number. Returns the file's columns and their DuckDB types.
    """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS rec, file_row_number + 1 AS line,
               file_row_number + 1 AS record
        FROM read_parquet($f, filename=true, file_row_number=true)""", {"f": str(path)})
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()
            if r[0] not in ("filename", "rec", "line", "record")}


@dataclass(frozen=True)
class Check:
    """One row-level rule: rows where ``bad`` (SQL) holds become error rows.

    ``field`` names the input column at fault, ``reason`` says what is wrong and
    ``raw`` (SQL) is the offending value kept with the error.
    """

    field: str
    bad: str
    reason: str
    raw: str
    reason_sql: str | None = None  # SQL over the row giving the reason (``reason`` when it is NULL)


def split_checked(con: duckdb.DuckDBPyConnection, table: str, checks: list[Check],
                  field_prefix: str = "''") -> tuple[str, pa.Table | None]:
    """Error rows of ``table`` for every failed check, and the SQL condition of the good rows.

    A row failing several checks gives one error row per failed check.
    ``field_prefix`` (SQL over ``table``) is put before each field name, e.g.
    the path of an embedded record; an empty ``Check.field`` gives NULL.

    Returns
    -------
    good : str
        SQL boolean: the row passes every check (use it in ``WHERE``).
    errors : pyarrow.Table or None
    """
    if not checks:
        return "true", None
    union = " UNION ALL ".join(
        f"SELECT filename AS file, line, {f'{field_prefix} || {sql_literal(c.field)}' if c.field else 'NULL'} AS field, "
        f"{f'coalesce({c.reason_sql}, {sql_literal(c.reason)})' if c.reason_sql else sql_literal(c.reason)} AS reason, "
        f"CAST({c.raw} AS VARCHAR) AS raw_value "
        f"FROM {table} WHERE coalesce({c.bad}, true)" for c in checks)
    errors = con.sql(f"SELECT * FROM ({union}) ORDER BY file, line, field, reason").to_arrow_table()
    good = " AND ".join(f"NOT coalesce({c.bad}, true)" for c in checks)
    return good, errors if errors.num_rows else None


def duplicate_errors(con: duckdb.DuckDBPyConnection, table: str, key: str, payload: list[str],
                     field: str | None = None, seen: str | None = None) -> pa.Table | None:
    """Error rows for records of ``table`` that repeat an earlier record's ``key`` with other values.

    ``field`` is the input column named in the errors (default: ``key``).

    Records identical in ``payload`` (SQL expressions) to the first record of
    their key are plain repeats: the store keeps the first one and nothing is
    reported. A repeat that differs cannot be kept (one post, one row): it
    becomes an error row pointing at the line that was kept.

    ``seen`` names a temp table (``k``, ``seen_fp``, ``seen_line``; created when missing)
    of the keys of earlier pieces of the same input: a record is compared with
    the first record of its key there, and the first record of each new key is
    added to it, so pieces read one after another give the errors of one scan.
    """
    fp = f"hash({', '.join(payload)})"
    rows = f"SELECT filename, line, rec, CAST({key} AS VARCHAR) AS k, {fp} AS fp FROM {table}"
    if seen is None:
        first = "first_value(line) OVER w AS first_line, first_value(fp) OVER w AS first_fp"
        src = f"({rows})"
    else:
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {seen} (k VARCHAR, seen_fp UBIGINT, seen_line BIGINT)")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _dup_rows AS {rows}")
        first = ("coalesce(seen_line, first_value(line) OVER w) AS first_line, "
                 "coalesce(seen_fp, first_value(fp) OVER w) AS first_fp")
        src = f"_dup_rows LEFT JOIN {seen} USING (k)"
    t = con.sql(f"""
        SELECT filename AS file, line, {sql_literal(field or key)} AS field,
               'duplicate post id with other values than line ' || first_line || ', which is kept' AS reason,
               k AS raw_value
        FROM (SELECT filename, line, k, fp, {first}
              FROM {src} WINDOW w AS (PARTITION BY k ORDER BY rec))
        WHERE fp <> first_fp ORDER BY file, line""").to_arrow_table()
    if seen is not None:
        con.execute(f"""INSERT INTO {seen}
                        SELECT k, arg_min(fp, rec), arg_min(line, rec) FROM _dup_rows
                        WHERE k IS NOT NULL AND k NOT IN (SELECT k FROM {seen}) GROUP BY k;
                        DROP TABLE _dup_rows""")
    return t if t.num_rows else None


def concat_errors(*tables: pa.Table | None) -> pa.Table | None:
    """One errors table from several (None entries skipped); None when all are empty."""
    from ..store.db import ERROR_COLUMNS, conform

    parts = [conform(t, ERROR_COLUMNS) for t in tables if t is not None and t.num_rows]
    return pa.concat_tables(parts) if parts else None


def chunked_posts(con: duckdb.DuckDBPyConnection, table: str, *, errors: pa.Table | None = None,
                  rows_read: int = 0, source_file: str = "", progress=None):
    """Yield :class:`~cibscope.ingest.base.Batch` es of at most :data:`BATCH_ROWS` posts from ``table``.

    ``table`` holds canonical post columns plus ``rec`` (file order, dropped
    here); ``errors`` and ``rows_read`` go with the first batch. At least one
    batch is yielded, so errors of an input without a good row still arrive.
    """
    lo, hi = con.execute(f"SELECT coalesce(min(rec), 0), coalesce(max(rec), -1) FROM {table}").fetchall()[0]
    for i, start in enumerate(range(lo, hi + 1, BATCH_ROWS) or [lo]):
        posts = con.sql(f"SELECT * EXCLUDE (rec) FROM {table} WHERE rec >= {start} "
                        f"AND rec < {start + BATCH_ROWS} ORDER BY rec").to_arrow_table()
        if progress:
            progress(posts.num_rows)
        yield Batch(posts=posts, errors=errors if i == 0 else None, rows_read=rows_read if i == 0 else 0,
                    source_file=source_file)
