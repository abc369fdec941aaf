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
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from .base import Batch, IngestError, errors_table, read_header

#: Rows per batch handed to the store (bounds the Arrow tables held in memory).
BATCH_ROWS = 500_000

#: A number of seconds since 1970-01-01 UTC (POSIX time), optionally with a fraction.
POSIX_RE = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


def sql_literal(value: str) -> str:
    """``value`` as a quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def header_fields(path: Path) -> list[str]:
    """Column names of a CSV file's header line (quotes and blanks stripped)."""
    return [h.strip().strip('"').strip() for h in read_header(path).split(",")]


def require_columns(path: Path, found: list[str], required: list[str], fmt: str) -> None:
    """Raise :class:`IngestError` naming ``path`` and every column of ``required`` missing from ``found``."""
    missing = [c for c in required if c not in found]
    if missing:
        raise IngestError(f"{path}: column(s) {', '.join(missing)} missing for format {fmt} "
                          f"(found: {', '.join(found) or 'no header'})")


def posix_ts_sql(col: str) -> str:
    """SQL: POSIX seconds in VARCHAR ``col`` as a UTC ``TIMESTAMP`` (NULL when not a number)."""
    return (f"CASE WHEN regexp_matches({col}, '{POSIX_RE}') "
            f"THEN make_timestamp(CAST(round(CAST(trim({col}) AS DOUBLE) * 1e6) AS BIGINT)) END")


def time_sql(col: str, time_format: str | None = None) -> str:
    """SQL: the UTC ``TIMESTAMP`` in ``col`` (any type; NULL when it cannot be parsed).

    With ``time_format`` (a ``strptime`` pattern, ``%z`` allowed) only that
    pattern is tried. Otherwise POSIX seconds, then ISO 8601 (``T`` or blank
    separator; an offset such as ``+02:00``, ``+0200`` or `` -0800`` is
    converted to UTC, no offset means UTC). Needs the connection's ``TimeZone`` set to UTC (``ingest``
    does this), which makes the ``TIMESTAMPTZ -> TIMESTAMP`` cast a UTC one.
    """
    v = f"trim(CAST({col} AS VARCHAR))"
    if time_format:
        fmt = time_format.replace("'", "''")
        return f"CAST(try_strptime({v}, '{fmt}') AS TIMESTAMP)"
    # "2015-02-24 11:35:52 -0800" -> "2015-02-24 11:35:52-08:00", which the ISO cast accepts
    iso = f"regexp_replace({v}, '\\s*([+-][0-9]{{2}}):?([0-9]{{2}})$', '\\1:\\2')"
    return f"coalesce({posix_ts_sql(v)}, CAST(try_cast({iso} AS TIMESTAMPTZ) AS TIMESTAMP))"


def id_list_sql(col: str, sep: str = r"[\s,;]+") -> str:
    """SQL: a delimited string column as a list of non-empty items (NULL string -> empty list)."""
    return (f"list_filter(string_split_regex(trim(coalesce(CAST({col} AS VARCHAR), '')), '{sep}'), "
            f"lambda x: x <> '')")


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
    rejects = con.sql("""
        SELECT s.file_path AS file, e.line::BIGINT AS line, arg_min(e.column_name, e.column_idx) AS field,
               lower(e.error_type::VARCHAR) || ': ' || arg_min(e.error_message, e.column_idx) AS reason,
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
    rejects = concat_errors(rejects, file_errors)
    return rejects if rejects is not None and rejects.num_rows else None


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
        f"{sql_literal(c.reason)} AS reason, CAST({c.raw} AS VARCHAR) AS raw_value "
        f"FROM {table} WHERE coalesce({c.bad}, true)" for c in checks)
    errors = con.sql(f"SELECT * FROM ({union}) ORDER BY file, line").to_arrow_table()
    good = " AND ".join(f"NOT coalesce({c.bad}, true)" for c in checks)
    return good, errors if errors.num_rows else None


def duplicate_errors(con: duckdb.DuckDBPyConnection, table: str, key: str, payload: list[str],
                     field: str | None = None) -> pa.Table | None:
    """Error rows for records of ``table`` that repeat an earlier record's ``key`` with other values.

    ``field`` is the input column named in the errors (default: ``key``).

    Records identical in ``payload`` (SQL expressions) to the first record of
    their key are plain repeats: the store keeps the first one and nothing is
    reported. A repeat that differs cannot be kept (one post, one row): it
    becomes an error row pointing at the line that was kept.
    """
    fp = f"md5(CAST(row({', '.join(payload)}) AS VARCHAR))"
    t = con.sql(f"""
        SELECT filename AS file, line, {sql_literal(field or key)} AS field,
               'duplicate post id with other values than line ' || first_line || ', which is kept' AS reason,
               CAST(k AS VARCHAR) AS raw_value
        FROM (SELECT filename, line, {key} AS k, {fp} AS fp,
                     first_value(line) OVER w AS first_line, first_value({fp}) OVER w AS first_fp
              FROM {table} WINDOW w AS (PARTITION BY {key} ORDER BY rec))
        WHERE fp <> first_fp ORDER BY file, line""").to_arrow_table()
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
