"""Streaming JSON input shared by the JSON readers: Python splits, DuckDB parses.

A JSON reader never loads its file whole. Python only finds where each record
starts and ends (JSON lines: one line each; a top-level array: each element,
split by DuckDB's ``read_json_objects`` and located in the file by byte search
(:func:`array_records`), with Python's incremental decoder taking over from the
first element DuckDB cannot split or that DuckDB's parser would accept but JSON
forbids; a top-level object: its members, one array member
streamed element by element; a stream of pretty-printed values: each value),
:data:`RECORDS_PER_BATCH` records or :data:`BATCH_CHARS` characters at a time, and hands their raw text to
DuckDB, which validates them and parses each once into a typed struct
(``json_transform``). The mapping to canonical posts is SQL over that struct.

Record numbering (the ``line`` of error rows and of ``source_row``): the
1-based line where the record starts, except where a reader asks for array
element numbers (``twitter-v1``, whose documentation says so).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb
import pyarrow as pa

from .base import (STREAMED_COMPRESSIONS, Batch, IngestError, Reader, errors_table, is_compressed,
                   open_input, read_head)
from .tabular import Check, concat_errors, split_checked, sql_literal

#: Records handed to DuckDB at once, at most (bounds memory: a batch's raw text and its parsed structs).
#: Each batch is one store transaction (fewer, larger ones store faster; see docs/benchmarks.md, "Reading
#: and storing overlap"), and an interrupted or damaged input keeps whole batches.
RECORDS_PER_BATCH = 50_000
#: Characters of raw JSON handed to DuckDB at once, at most: an API response holds a page of posts
#: (100 tweets, 10 kB and more), so a batch is also closed at this size.
BATCH_CHARS = 32 << 20
#: Largest single JSON value held while looking for its end.
MAX_ELEMENT_CHARS = 64 << 20

#: (line or element number, raw JSON text or None, problem or None) of one record.
Record = tuple[int, "str | None", "str | None"]


def head_bytes(path: Path, n_bytes: int = 65536) -> bytes:
    """The first ``n_bytes`` of a file (of its content when gzip/zstd-compressed), for sniffing."""
    return read_head(path, n_bytes)


def first_char(path: Path) -> str:
    """The first non-blank character of a file (BOM skipped), '' when empty."""
    return head_bytes(path, 4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")[:1]


def sniff_json(path: Path, *keys: bytes, first: tuple[str, ...] = ("{", "[")) -> bool:
    """A file starting with one of ``first`` whose first 64 KiB hold every byte string of ``keys``."""
    if not path.is_file() or first_char(path) not in first:
        return False
    head = head_bytes(path)
    return all(k in head for k in keys)


def jsonl_records(path: Path) -> Iterator[Record]:
    """(line, raw text, decode problem) per non-blank line (a gzip/zstd file decompressed as it is read)."""
    with open_input(path) as f:
        yield from line_records(f)


def line_records(lines: Iterable[bytes]) -> Iterator[Record]:
    """(line, raw text, decode problem) per non-blank line of ``lines`` (bytes, e.g. a binary file or stream)."""
    for line_no, b in enumerate(lines, 1):
        try:
            text = b.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            yield (line_no, b.decode("utf-8", errors="replace").strip(),
                   f"not UTF-8: {exc.reason} at byte {exc.start}")
            continue
        if text:
            yield line_no, text.lstrip("\ufeff") if line_no == 1 else text, None


class _Scanner:
    """An incremental JSON tokenizer over a text file: whitespace, punctuation, whole values, line numbers."""

    def __init__(self, f, chunk_chars: int = 1 << 20):
        self.f, self.chunk_chars = f, chunk_chars
        self.buf, self.pos, self.eof = "", 0, False
        self.mark_pos, self.mark_line = 0, 1  # line number at buf[mark_pos]
        self.dec = json.JSONDecoder()
        self.lenient = json.JSONDecoder(strict=False)  # raw control characters inside strings

    def more(self) -> None:
        self.line()  # count the newlines of the text about to be dropped
        data = self.f.read(self.chunk_chars)
        self.eof = not data
        self.buf, self.mark_pos, self.pos = self.buf[self.pos:] + data, 0, 0

    def line(self) -> int:
        """1-based line of ``buf[pos]``."""
        self.mark_line += self.buf.count("\n", self.mark_pos, self.pos)
        self.mark_pos = self.pos
        return self.mark_line

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file), not consumed."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n\ufeff":
                self.pos += 1
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos:self.pos + 1]
            self.more()

    def value(self) -> tuple[str | None, str | None]:
        """(raw text of the next JSON value, None) or (raw excerpt, problem) when it does not parse.

        A raw control character inside a string (Telegram exports hold them) is not valid JSON but
        is no reason to lose the value, nor the rest of the file: such a value is decoded leniently
        and handed on re-encoded (the character escaped).
        """
        self.peek()
        fixed = None
        while True:
            try:
                _, end = self.dec.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:
                    break
            except json.JSONDecodeError as exc:
                if exc.msg.startswith("Invalid control character"):
                    try:
                        obj, end = self.lenient.raw_decode(self.buf, self.pos)
                        if end < len(self.buf) or self.eof:
                            fixed = json.dumps(obj, ensure_ascii=False)
                            break
                    except json.JSONDecodeError as exc2:
                        exc = exc2
                if self.eof or len(self.buf) - self.pos > MAX_ELEMENT_CHARS:
                    return self.buf[self.pos:self.pos + 2000], f"invalid JSON: {exc.msg}"
            self.more()
        raw, self.pos = self.buf[self.pos:end], end
        return (fixed if fixed is not None else raw), None


class _Truncated(Exception):
    """Raised inside a stream after a fault that makes the rest of the file unreadable."""


def _elements(sc: _Scanner, by_element: bool, n: int = 0) -> Iterator[Record]:
    """Records of the array whose '[' was just consumed, up to and including its ']'.

    ``n``: elements of the array before the scanner's position (a scan resumed after them).
    """
    while True:
        c = sc.peek()
        if not c:
            yield n + 1 if by_element else sc.line(), None, "the array is not closed (file truncated?)"
            return
        if c == "]":
            sc.pos += 1
            return
        if n:
            if c != ",":
                yield (n + 1 if by_element else sc.line(), sc.buf[sc.pos:sc.pos + 200],
                       f"expected ',' or ']' after element {n}; rest of file not read")
                raise _Truncated
            sc.pos += 1
            sc.peek()
        where = n + 1 if by_element else sc.line()
        raw, problem = sc.value()
        n += 1
        if problem:
            yield where, raw, problem + "; rest of file not read"
            raise _Truncated
        yield where, raw, None


def _scan(path: Path, body: Callable[[_Scanner], Iterator[Record]]) -> Iterator[Record]:
    with io.TextIOWrapper(open_input(path), encoding="utf-8-sig") as f:
        sc = _Scanner(f)
        try:
            yield from body(sc)
        except _Truncated:
            return
        except UnicodeDecodeError as exc:
            yield sc.line(), None, f"not UTF-8 ({exc.reason}); rest of file not read"


def array_records(path: Path, *, by_element: bool = False) -> Iterator[Record]:
    """Records of a top-level JSON array, read incrementally (numbered by line, or by element).

    DuckDB splits the array (``read_json_objects(format='array')``, streamed) and each element's
    text is found in the file by byte search from the end of the previous one, which gives its
    line. Python's decoder (:func:`_elements`, the same records and problems) takes over from
    the end of the last element so found when DuckDB stops at an element it cannot read (broken
    JSON, a raw control character, a lone surrogate: the Python path reports or repairs it), when
    an element holds a ``,`` before a closing bracket that JSON forbids but DuckDB accepts (checked
    with :func:`json.loads`), or when an element's text is not found where expected.
    """
    if first_char(path) != "[" or is_compressed(path):  # DuckDB's split reads the bytes of the file as they lie
        return _python_array_records(path, by_element)
    return _duckdb_array_records(path, by_element)


def _python_array_records(path: Path, by_element: bool, offset: int = 0, line: int = 1,
                          n: int = 0) -> Iterator[Record]:
    """:func:`array_records` by Python's decoder, from byte ``offset`` (line ``line``, ``n`` elements before)."""
    if not offset:
        def body(sc: _Scanner) -> Iterator[Record]:
            if sc.peek() != "[":
                raise IngestError(f"{path}: not a JSON array")
            sc.pos += 1
            yield from _elements(sc, by_element)
        return _scan(path, body)

    def resumed() -> Iterator[Record]:
        with open(path, "rb") as raw:
            raw.seek(offset)
            sc = _Scanner(io.TextIOWrapper(raw, encoding="utf-8"))
            sc.mark_line = line
            try:
                yield from _elements(sc, by_element, n)
            except _Truncated:
                return
            except UnicodeDecodeError as exc:
                yield sc.line(), None, f"not UTF-8 ({exc.reason}); rest of file not read"
    return resumed()


#: Elements DuckDB hands over at a time.
_SPLIT_ROWS = 4096
#: Most bytes of blanks and ``,`` looked through between two elements; bytes of the file read at a time.
_MAX_GAP, _READ_BYTES = 1 << 16, 1 << 22


class _Resume(Exception):
    """DuckDB's split of an array cannot be used from here on."""


def _duckdb_array_records(path: Path, by_element: bool) -> Iterator[Record]:
    n, pos, line = 0, 0, 1  # elements yielded, byte offset after the last one, line at that offset
    # per element, from DuckDB (vectorised): its text, its length in bytes, its line ends (\n, \r\n or a lone \r,
    # as Python's text mode reads them), and whether it holds a ',' before a closing bracket (checked by
    # json.loads: JSON forbids it, DuckDB accepts it)
    query = """SELECT j, strlen(j), CASE WHEN contains(j, chr(13)) THEN len(regexp_extract_all(j, '\\r\\n?|\\n'))
                                     ELSE length(j) - length(replace(j, chr(10), '')) END, regexp_matches(j, ',\\s*[\\]}]')
               FROM (SELECT CAST(json AS VARCHAR) AS j FROM read_json_objects($p, format='array'))"""
    with open(path, "rb") as f:
        buf, base = b"", 0  # the file's bytes from offset base on, read as needed (memory: a few MiB)
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            for batch in con.sql(query, params={"p": str(path)}).to_arrow_reader(_SPLIT_ROWS):
                for raw, size, newlines, suspect in zip(*(c.to_pylist() for c in batch.columns)):
                    want = pos + _MAX_GAP + size - base  # the gap before the element and the element itself
                    if want > len(buf):
                        buf, base = buf[pos - base:] + f.read(max(want - len(buf), _READ_BYTES)), pos
                    at = pos - base
                    rel = buf.find(raw[:16].encode("utf-8"), at, at + _MAX_GAP + 16)
                    end = rel + size
                    if rel < 0 or buf[at:rel].strip(b" \t\r\n,[\xef\xbb\xbf") or \
                            buf[end - 1:end] != raw[-1:].encode("utf-8"):
                        raise _Resume
                    if suspect:
                        try:
                            json.loads(raw)
                        except ValueError:
                            raise _Resume from None
                    gap = buf[at:rel]
                    line += gap.count(b"\n") + gap.count(b"\r") - gap.count(b"\r\n")
                    n += 1
                    if "\r" in raw:  # the text as the Python path reads it (universal newlines)
                        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
                    yield n if by_element else line, raw, None
                    line += newlines
                    pos = base + end
            return
        except (_Resume, duckdb.Error, pa.ArrowException, OSError, UnicodeError):  # a fault mid-stream: OSError
            pass
        finally:
            con.close()
    yield from _python_array_records(path, by_element, pos, line, n)


def value_records(path: Path) -> Iterator[Record]:
    """Records of a file of one or more top-level JSON values (pretty-printed or not), by line."""
    def body(sc: _Scanner) -> Iterator[Record]:
        while sc.peek():
            where = sc.line()
            raw, problem = sc.value()
            if problem:
                yield where, raw, problem + "; rest of file not read"
                return
            yield where, raw, None
    return _scan(path, body)


def member_records(path: Path, key: str, members: dict) -> Iterator[Record]:
    """Elements of array member ``key`` of a top-level JSON object, streamed, by line.

    Every other member is decoded whole into ``members`` as it is passed, so
    members written before ``key`` are known when its first element arrives.
    """
    def body(sc: _Scanner) -> Iterator[Record]:
        if sc.peek() != "{":
            raise IngestError(f"{path}: not a JSON object")
        sc.pos += 1
        while True:
            c = sc.peek()
            if c == "}" or not c:
                return
            if c == ",":
                sc.pos += 1
                continue
            line = sc.line()
            name, problem = sc.value()
            if problem or sc.peek() != ":":
                yield line, name, "expected a member name and ':' in the top-level object; rest of file not read"
                return
            sc.pos += 1
            name = json.loads(name)
            if name == key and sc.peek() == "[":
                sc.pos += 1
                yield from _elements(sc, False)
                continue
            sc.peek()
            line = sc.line()
            raw, problem = sc.value()
            if problem:
                yield line, raw, f"member {name!r}: {problem}; rest of file not read"
                return
            members[name] = json.loads(raw)
    return _scan(path, body)


def file_records(path: Path) -> Iterator[Record]:
    """Records of a JSON-lines file, a top-level array, or a file of pretty-printed JSON values.

    A file whose first line is a JSON value on its own is JSON lines (a bad
    line further on is then one bad record, not the end of the file).
    """
    first = first_char(path)
    if first == "[":
        return array_records(path)
    if first != "{":
        raise IngestError(f"{path}: not JSON lines, a JSON array or a JSON object (starts with {first!r})")
    with open_input(path) as f:
        line = f.readline(MAX_ELEMENT_CHARS)
    try:
        json.loads(line.decode("utf-8-sig"))
        return jsonl_records(path)
    except (ValueError, UnicodeDecodeError):
        return value_records(path)


def load_records(con: duckdb.DuckDBPyConnection, chunk: list[Record], path: Path,
                 where: str = "") -> pa.Table | None:
    """Put ``chunk`` into temp table ``_records`` (``filename, line, raw``: the JSON objects only).

    Returns the error rows of records that are not UTF-8, not valid JSON or
    not an object; ``where`` is appended to their reasons.
    """
    raw = pa.table({"line": pa.array([r[0] for r in chunk], pa.int64()),
                    "raw": pa.array([r[1] for r in chunk], pa.string()),
                    "problem": pa.array([r[2] for r in chunk], pa.string())})
    problems = [dict(file=str(path), line=r[0], field=None, reason=r[2] + where, raw_value=r[1])
                for r in chunk if r[2] is not None]
    con.register("_raw", raw)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _records AS
        SELECT *, valid AND starts_with(ltrim(raw, ' ' || chr(9) || chr(10) || chr(13)), '{{') AS is_object
        FROM (SELECT {sql_literal(str(path))} AS filename, line, raw, json_valid(raw) AS valid
              FROM _raw WHERE problem IS NULL)""")
    # valid JSON is an object exactly when its first character after JSON blanks is '{': no second parse
    con.unregister("_raw")
    bad_json = [Check("", "NOT valid", f"invalid JSON{where}", "raw"),
                Check("", "valid AND NOT is_object", f"not a JSON object{where}", "left(raw, 200)")]
    _, bad = split_checked(con, "_records", bad_json)
    con.execute("DELETE FROM _records WHERE NOT is_object")
    return concat_errors(errors_table(problems), bad)


def struct_sql(struct: dict) -> str:
    """A ``json_transform`` structure as a SQL string literal."""
    return sql_literal(json.dumps(struct))


class JsonRecordsReader(Reader):
    """Base of the JSON readers: records in batches (:data:`RECORDS_PER_BATCH`, :data:`BATCH_CHARS`), mapped in SQL.

    Subclasses implement :meth:`map_records` (SQL over temp table ``_records``)
    and may override :meth:`records` (how the file splits into records).
    """

    #: Appended to the reasons of errors, e.g. how ``line`` is numbered.
    where: str = ""
    reads_compressed = STREAMED_COMPRESSIONS  # every record source goes through open_input

    def records(self, path: Path) -> Iterator[Record]:
        """The file's records (default: :func:`file_records`)."""
        return file_records(path)

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        if path.is_dir():
            raise IngestError(f"{path}: is a folder; format {self.name} reads one JSON file")
        chunk: list[Record] = []
        chars = 0
        for rec in self.records(path):
            chunk.append(rec)
            chars += len(rec[1] or "")
            if len(chunk) >= RECORDS_PER_BATCH or chars >= BATCH_CHARS:
                yield self._batch(chunk, path, con, progress)
                chunk, chars = [], 0
        if chunk:
            yield self._batch(chunk, path, con, progress)

    def _batch(self, chunk: list[Record], path: Path, con: duckdb.DuckDBPyConnection, progress) -> Batch:
        bad = load_records(con, chunk, path, self.where)
        posts, accounts, errors = self.map_records(con, path)
        con.execute("DROP TABLE IF EXISTS _records")
        if progress:
            progress(len(chunk))
        return Batch(posts=posts, accounts=accounts, errors=concat_errors(bad, errors),
                     rows_read=len(chunk), source_file=str(path))

    def map_records(self, con: duckdb.DuckDBPyConnection,
                    path: Path) -> tuple[pa.Table | None, pa.Table | None, pa.Table | None]:
        """(posts, accounts, errors) of the JSON objects in temp table ``_records``."""
        raise NotImplementedError


def items_sql(items: str, src: str, cond: str = "true", path: str = "") -> str:
    """SQL: one row ``(filename, line, path, o)`` per element of list ``items`` (SQL over ``src``).

    ``path`` is kept for error fields (e.g. ``data.``); ``cond`` filters the rows of ``src``.
    Readers parse a whole record once into a struct whose record lists are typed lists, and
    unnest them with this.
    """
    return f"SELECT filename, line, '{path}' AS path, unnest({items}) AS o FROM {src} WHERE {cond}"


def api_errors(con: duckdb.DuckDBPyConnection, cond: str, message: str, field: str,
               src: str = "_resp") -> pa.Table | None:
    """Error rows for the API responses of ``src`` (``filename, line, raw``) where ``cond`` holds.

    ``message`` is SQL giving the API's own explanation, kept in the reason;
    ``field`` names the member that should have held the records.
    """
    t = con.sql(f"""
        SELECT filename AS file, line, {sql_literal(field)} AS field,
               'API response without records: ' || {message} AS reason, left(raw, 300) AS raw_value
        FROM {src} WHERE {cond} ORDER BY line""").to_arrow_table()
    return t if t.num_rows else None
