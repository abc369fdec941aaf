"""Ingest: one reader per input format, all yielding the canonical model.

:func:`ingest` is the single entry point: it picks the reader (``fmt`` or
sniffing), skips inputs whose bytes were ingested before, writes each batch in
one transaction and returns an :class:`IngestSummary`.
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from ..store.db import Store, file_sha256
from ..store.normalize import install_macros
from .base import Batch, IngestError, Reader, compression, errors_table, read_head, read_header
from .bluesky import BlueskyReader
from .cnt_csv import CntCsvReader
from .coortweet import CooRTweetReader
from .crowdtangle import CrowdTangleReader
from .ira_csv import IRACsvReader
from .json_records import first_char
from .mastodon import MastodonReader
from .mapped import MappedCsvReader, MappedParquetReader, Mapping
from .prefetch import prefetched
from .reddit import RedditReader
from .tabular import OTHER_DELIMITERS, delimiter_hint
from .telegram import TelegramReader
from .tiktok import TikTokReader
from .twarc_csv import TwarcCsvReader
from .twitter_io import TwitterIOReader
from .twitter_v1 import TwitterV1Reader
from .twitter_v2 import TwitterV2Reader
from .youtube import YouTubeReader

#: Registered readers by ``--format`` name, in sniffing order (most specific first; the
#: column-mapped csv/parquet readers last: they match any file naming the canonical fields).
READERS: dict[str, type[Reader]] = {r.name: r for r in (
    IRACsvReader, CooRTweetReader, CntCsvReader, TwitterIOReader, CrowdTangleReader, TwarcCsvReader, TwitterV1Reader,
    TwitterV2Reader, TelegramReader, BlueskyReader, MastodonReader,
    TikTokReader, YouTubeReader, RedditReader, MappedCsvReader, MappedParquetReader)}


def register(reader: type[Reader]) -> type[Reader]:
    """Add a reader class to :data:`READERS` (usable as a decorator)."""
    READERS[reader.name] = reader
    return reader


@dataclass
class IngestSummary:
    """What one ``ingest`` call did."""

    path: str
    format: str
    dataset: str
    rows_read: int = 0
    posts_added: int = 0
    posts_known: int = 0           # valid posts not added: already in the store, or repeated in the input
    accounts_added: int = 0
    errors: int = 0
    skipped: bool = False          # True when the same bytes were ingested before
    error_samples: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)  # "<file>: <why>" for each file of a folder not read
    known_in: list[str] = field(default_factory=list)  # other datasets already holding posts of this input
    notes: list[str] = field(default_factory=list)  # remarks that are no errors ("<file>: columns not read: ...")


def make_reader(fmt: str, *, mapping: list[str] | dict[str, str] | None = None, platform: str | None = None,
                time_format: str | None = None, zones: dict[str, str] | None = None) -> Reader:
    """A configured reader of format ``fmt`` (the CLI's ``--map``/``--platform``/``--time-format``).

    ``mapping`` (``column=field`` pairs or ``{column: field}``) and
    ``time_format`` apply to ``csv`` and ``parquet`` (``time_format`` also to ``ira-csv``:
    its ``publish_date``); ``platform`` also to
    ``cnt-csv`` and ``coortweet`` (the platform of their rows).

    Raises
    ------
    IngestError
        Unknown format, an option the format does not take, or a bad mapping.
    """
    if fmt not in READERS:
        raise IngestError(f"unknown format {fmt!r}; known: {', '.join(READERS)}")
    cls = READERS[fmt]
    if cls in (MappedCsvReader, MappedParquetReader):
        return cls(mapping, platform=platform, time_format=time_format, zones=zones)
    if cls is IRACsvReader and time_format and not (mapping or zones or platform):
        return cls(time_format=time_format)
    if mapping or time_format:
        raise IngestError(f"--map and --time-format apply to formats csv and parquet (--time-format also to "
                          f"ira-csv), not {fmt}")
    if zones:
        raise IngestError(f"--tz applies to formats csv and parquet, not {fmt}")
    if platform:
        if cls not in (CntCsvReader, CooRTweetReader):
            raise IngestError(f"--platform applies to formats csv, parquet, cnt-csv and coortweet, not {fmt}")
        return cls(platform=platform)
    return cls()


def reader_options(reader: Reader) -> str:
    """The reader's options (mapping, platform, time format) as stable JSON; "" when it has none.

    Recorded with each ingested file: the same bytes read with other options are read again.
    """
    opts = {k: v for k, v in sorted(vars(reader).items()) if k != "chunk_bytes" and v not in (None, "", {}, [])}
    return json.dumps(opts, sort_keys=True, default=lambda o: vars(o) if hasattr(o, "__dict__") else str(o)) \
        if opts else ""


#: What reading a damaged gzip or zstd stream raises (:func:`cibscope.ingest.base.open_input`).
DAMAGED_STREAM = (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError)

#: Data suffixes a default dataset name drops after a compression suffix (alone, any last suffix goes).
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".parquet")


#: Compression suffixes a default dataset name drops (with the data suffix before them); the ones
#: readers stream are fewer (:data:`cibscope.ingest.base.STREAMED_COMPRESSIONS`).
COMPRESSION_SUFFIXES = (".zst", ".zstd", ".gz", ".bz2", ".xz", ".lz4", ".zip")


def default_dataset(path: Path) -> str:
    """The dataset name of an input given no ``--dataset``: its name without its extensions.

    ``tweets.csv`` -> ``tweets``; a compressed file loses both: ``RC_2024-01.ndjson.zst`` -> ``RC_2024-01``,
    ``x.csv.gz`` -> ``x``; after a compression suffix only a known data suffix (:data:`DATA_SUFFIXES`)
    goes, so ``RS_2024.01.zst`` keeps ``RS_2024.01``."""
    name = path.name
    lower = name.lower()
    for comp in COMPRESSION_SUFFIXES:
        if lower.endswith(comp) and len(name) > len(comp):
            name, lower = name[:-len(comp)], lower[:-len(comp)]
            data = next((d for d in DATA_SUFFIXES if lower.endswith(d) and len(name) > len(d)), None)
            return name[:-len(data)] if data else name
    return path.stem


def detect_format(path: Path) -> str:
    """Name of the first reader whose ``sniff`` accepts ``path``.

    Raises
    ------
    IngestError
        No reader recognises the input; the message lists the formats tried.
    """
    for name, reader in READERS.items():
        try:
            if reader.sniff(path):
                return name
        except (OSError, UnicodeError, ValueError, *DAMAGED_STREAM):
            continue
    hint = ""
    if path.is_file():
        check_readable(path)
        sep = other_delimiter(path)
        if sep:
            hint = delimiter_hint(sep)
        packed = compression(path)
        if packed:
            hint += f" in the {packed}-compressed file"
    raise IngestError(f"{path}: format not recognised{hint}; pass --format (one of: {', '.join(READERS)})")


def other_delimiter(path: Path) -> str | None:
    """The separator of a text file's header line when it is one of :data:`OTHER_DELIMITERS` and not a
    comma (it splits the header into more names than the comma does), else None."""
    try:
        header = read_header(path, 8192)
    except OSError:
        return None
    counts = {d: header.count(d) for d in OTHER_DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] >= 2 and counts[best] > header.count(",") else None


def ingest(store: Store, path: str | Path, *, fmt: str | None = None, dataset: str | None = None,
           reader: Reader | None = None, progress: Callable[[int], None] | None = None) -> IngestSummary:
    """Read ``path`` into ``store``.

    Parameters
    ----------
    store : Store
    path : str or Path
        A file, or a folder for layouts that span files (``ira-csv``, ``reddit``).
    fmt : str, optional
        A key of :data:`READERS`; detected from the content when omitted.
    dataset : str, optional
        Name recorded on every row; default: the input's file/folder name.
    reader : Reader, optional
        A configured reader instance (e.g. a column mapping); overrides ``fmt``.
    progress : callable, optional
        Called with the number of records done since the last call.

    Returns
    -------
    IngestSummary
        Counts; ``skipped`` is True when these bytes were ingested before
        (a re-run is idempotent: it adds nothing).

    Raises
    ------
    IngestError
        The input is missing or cannot be read at all (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    left_out: list[str] = []
    if path.is_dir():
        detected = reader is None and fmt is None
        if detected:
            try:
                fmt = detect_format(path)
            except IngestError:
                fmt = None
        cls = type(reader) if reader is not None else READERS.get(fmt) if fmt else None
        if cls is not None and cls.reads_folders:
            left_out = _outside_layout(cls, path, give_up_on_other_format=detected)
            if left_out is None:  # a file of another format: the folder is no such layout, read file by file
                cls = fmt = None
        if cls is None or not cls.reads_folders:
            return _ingest_folder(store, path, fmt=fmt, dataset=dataset, reader=reader, progress=progress)
    else:
        check_readable(path)
    if reader is None:
        fmt = fmt or detect_format(path)
        if fmt not in READERS:
            raise IngestError(f"{path}: unknown format {fmt!r}; known: {', '.join(READERS)}")
        reader = READERS[fmt]()
    fmt = reader.name
    packed = compression(path) if path.is_file() else None
    if packed and packed not in reader.reads_compressed:
        raise IngestError(f"{path}: a {packed}-compressed file; format {fmt} needs it unpacked "
                          f"({'gunzip' if packed == 'gzip' else 'zstd -d'} it first)")
    if fmt == "parquet" and path.is_file():
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                raise IngestError(f"{path}: not a Parquet file (it does not start with PAR1); "
                                  f"formats: {', '.join(READERS)}")
    dataset = dataset or default_dataset(path)
    sha = file_sha256(path)
    options = reader_options(reader)
    summary = IngestSummary(path=str(path), format=fmt, dataset=dataset, files_skipped=left_out)
    if store.already_ingested(sha, fmt, options):
        summary.skipped = True
        return summary
    store.forget_errors(sha, fmt, dataset, str(path))
    scratch = duckdb.connect()
    scratch.execute("SET enable_progress_bar = false")
    scratch.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ -> TIMESTAMP casts give UTC
    install_macros(scratch)
    # the reader runs one batch ahead in a thread while the store writes the last one (see .prefetch)
    batches = prefetched(_checked_batches(reader.read(path, scratch, progress), str(path)),
                         on_stop=scratch.interrupt)
    try:
        for batch in batches:
            res = store.add_batch(dataset=dataset, source_file=batch.source_file or str(path),
                                  posts=batch.posts, accounts=batch.accounts, errors=batch.errors)
            summary.rows_read += batch.rows_read
            summary.posts_added += res.posts_added
            known = (batch.posts.num_rows if batch.posts is not None else 0) - res.posts_added
            summary.posts_known += known
            if known and len(summary.known_in) < 5:
                summary.known_in += [d for d in store.datasets_holding(batch.posts, dataset)
                                     if d not in summary.known_in][:5 - len(summary.known_in)]
            summary.accounts_added += res.accounts_added
            summary.notes += batch.notes
            summary.errors += bad_records(batch.errors)
            if batch.errors is not None and len(summary.error_samples) < 5:
                for r in batch.errors.slice(0, 5 - len(summary.error_samples)).to_pylist():
                    summary.error_samples.append(
                        f"{r['file']}:{r['line'] or '?'} [{r['field'] or 'row'}] {r['reason']}")
    except (duckdb.IOException, duckdb.InvalidInputException, UnicodeError) as exc:
        # DuckDB's message ends with the SQL around the fault: the user needs its first line only
        raise IngestError(f"{path}: cannot be read as {fmt}: {str(exc).splitlines()[0]}") from exc
    except DAMAGED_STREAM as exc:  # a gzip/zstd file cut short or corrupt further on
        kept = f"; the {summary.posts_added:,} posts before the damage were stored" if summary.posts_added else ""
        raise IngestError(f"{path}: a damaged or truncated {packed or 'compressed'} file ({exc}){kept}") from exc
    finally:
        batches.close()  # stops and joins the reader's thread before its connection is closed
        scratch.close()
    if not summary.rows_read and not summary.errors:  # a header line, an empty list: nothing to read
        raise IngestError(f"{path}: no records: " + (
            "the file holds only a header line" if path.is_file() and first_char(path) not in ("[", "{")
            else f"nothing to read as {fmt}"))
    # the dataset is registered by the batch that adds its first post (Store.add_batch): an input that gave
    # none adds no empty dataset; its refused records stay in ingest_errors under its name
    store.record_file(sha, str(path), fmt, dataset, summary.rows_read, summary.posts_added, summary.errors,
                      options)
    return summary


#: File names of the Reddit per-user history layout (the account is the folder's name).
_REDDIT_HISTORY_FILES = ("comments.csv", "submissions.csv")

#: Magic numbers of binary files people pass by mistake -> what they are.
_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"PK\x03\x04": "a ZIP archive (an .xlsx workbook? save it as CSV; a zip: unpack it)",
          b"%PDF": "a PDF document",
          b"SQLite format 3": "an SQLite database"}


#: Share of a file's first block that must be NUL bytes, or not text (undecodable as UTF-8, control
#: characters), for the file to be taken as binary; below it a stray NUL is a bad row of a text file.
BINARY_SHARE = 0.1


def looks_binary(head: bytes) -> bool:
    """True when ``head`` (a file's first block) is not text: over :data:`BINARY_SHARE` of its bytes are
    NUL, or over that share of its characters are not UTF-8 or are control characters (tab, line ends
    and form feed aside). A CSV with one NUL byte or a few Latin-1 bytes is text with bad rows."""
    if not head:
        return False
    if head.count(b"\x00") > BINARY_SHARE * len(head):
        return True
    text = head.decode("utf-8", errors="replace")
    odd = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\t\r\n\f"))
    return odd > BINARY_SHARE * len(text)


def check_readable(path: Path) -> None:
    """Raise :class:`IngestError` for a file no reader can take: empty, binary (other than Parquet), or a
    gzip or zstd file that does not decompress from its start (truncated, corrupt); a compressed file is
    judged by what it holds (an empty ``x.csv.gz`` is empty)."""
    packed = compression(path)
    if packed == "zstd":  # a reddit .zst dump, a .csv.zst: read when it decompresses
        from .reddit import zst_damage

        damage = zst_damage(path)
        if damage:
            raise IngestError(f"{path}: a damaged or truncated zstd file ({damage}); nothing read")
    try:
        head = read_head(path, 4096)
    except zlib.error as exc:
        raise IngestError(f"{path}: a damaged gzip file ({exc}); nothing read") from exc
    if packed == "gzip" and not head:  # empty content, or a stream cut before its first byte
        try:
            gzip.decompress(path.read_bytes()[:1 << 20])
        except DAMAGED_STREAM as exc:
            raise IngestError(f"{path}: a damaged or truncated gzip file ({exc}); nothing read") from exc
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise IngestError(f"{path}: the file is empty" + (" (only blank lines)" if head else ""))
    if head.startswith(b"PAR1"):  # Parquet
        return
    kind = next((k for m, k in _MAGIC.items() if head.startswith(m)), None)
    if kind or looks_binary(head):
        what = kind or "a binary file (starts with bytes " + " ".join(f"{b:02x}" for b in head[:8]) + ")"
        raise IngestError(f"{path}: {what}, not a text export; formats: {', '.join(READERS)}")


def _visible_files(path: Path) -> list[Path]:
    """The files under folder ``path``, sorted, hidden ones (a part starting with ``.``) left out."""
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(path).parts))


def _outside_layout(cls: type[Reader], path: Path, *, give_up_on_other_format: bool) -> list[str] | None:
    """Files of folder ``path`` that folder format ``cls`` does not read, as ``"<file>: <why>"`` lines.

    A file belongs to the layout when ``cls.sniff`` accepts it or its name is one of
    ``cls.folder_side_files``. With ``give_up_on_other_format`` (the format was detected, not
    given), None when some other file is recognised as another format: the folder is then not
    that layout (an IRA CSV beside a Reddit ``submissions.csv``) and is read file by file.
    """
    out = []
    for f in _visible_files(path):
        try:
            if f.name in cls.folder_side_files or cls.sniff(f):
                continue
        except (OSError, UnicodeError, ValueError):
            pass
        try:  # a damaged file (a truncated .zst) is named with its real reason; the reader leaves it out
            check_readable(f)
        except IngestError as exc:
            out.append(f"{exc}" if str(exc).startswith(str(f)) else f"{f}: {exc}")
            continue
        if give_up_on_other_format:
            try:
                other = detect_format(f)
            except IngestError:
                other = None
            if other is not None:
                return None
        out.append(f"{f}: not read: not a file of the {cls.name} layout")
    return out


def _ingest_folder(store: Store, path: Path, *, fmt: str | None, dataset: str | None, reader: Reader | None,
                   progress: Callable[[int], None] | None) -> IngestSummary:
    """Ingest each file of folder ``path`` (sorted, hidden ones left out) into one dataset.

    A file that cannot be read (not recognised, binary, empty, or a Reddit per-user history file
    lying among files of other formats, whose folder name is then no user name) is set aside: one
    ``ingest_errors`` row names it and the reason, the summary lists it in ``files_skipped``, and the
    other files are read.
    """
    files = _visible_files(path)
    if not files:
        raise IngestError(f"{path}: the folder holds no files")
    dataset = dataset or default_dataset(path)
    total = IngestSummary(path=str(path), format=fmt or (reader.name if reader else ""), dataset=dataset,
                          skipped=True)
    formats = []
    for f in files:
        try:
            if fmt is None and reader is None and f.name in _REDDIT_HISTORY_FILES and f.parent == path \
                    and READERS["reddit"].sniff(f):
                raise IngestError(f"{f}: a Reddit per-user history file, whose account is its folder's name, but "
                                  f"folder {path.name!r} holds files of other formats too; put it in a folder "
                                  "named after the user and ingest that")
            s = ingest(store, f, fmt=fmt, dataset=dataset, reader=reader, progress=progress)
        except IngestError as exc:
            store.add_errors(dataset, errors_table([dict(file=str(f), line=None, field=None, raw_value=None,
                                                         reason=f"file set aside: {exc}")]))
            total.skipped = False
            total.files_skipped.append(str(exc) if str(exc).startswith(str(f)) else f"{f}: {exc}")
            continue
        formats.append(s.format)
        total.skipped = total.skipped and s.skipped
        for k in ("rows_read", "posts_added", "posts_known", "accounts_added", "errors"):
            setattr(total, k, getattr(total, k) + getattr(s, k))
        total.error_samples += s.error_samples[:5 - len(total.error_samples)]
        total.files_skipped += s.files_skipped
        total.known_in += [d for d in s.known_in if d not in total.known_in]
        total.notes += s.notes
    total.format = ", ".join(dict.fromkeys(formats)) or total.format or "none"
    return total


def bad_records(errors: pa.Table | None) -> int:
    """Records behind the error rows ``errors``: a record failing several checks has one row per check
    but counts once (rows are told apart by file and line; a row without a line counts alone)."""
    if errors is None or not errors.num_rows:
        return 0
    lines = errors.column("line")
    no_line = lines.null_count
    if no_line == errors.num_rows:
        return no_line
    keyed = errors.select(["file", "line"]).filter(pc.is_valid(lines))
    return no_line + keyed.group_by(["file", "line"]).aggregate([]).num_rows


#: Post times outside [EARLIEST_POST, now + FUTURE_SLACK] are refused: a millisecond epoch read as seconds
#: (year 47120) or a zero date is a wrong value, not a post.
EARLIEST_POST = dt.datetime(1990, 1, 1)
FUTURE_SLACK = dt.timedelta(days=2)


def _checked_batches(batches: Iterator[Batch], source_file: str) -> Iterator[Batch]:
    """``batches`` with :func:`implausible_times` applied (in the reader's thread, see :mod:`.prefetch`)."""
    for batch in batches:
        yield implausible_times(batch, source_file)


def implausible_times(batch: Batch, source_file: str) -> Batch:
    """``batch`` with posts whose ``created_at`` is before 1990 or in the future moved to its errors.

    Set-based (Arrow compute); the error names the post id and the time as read.
    """
    posts = batch.posts
    if posts is None or not posts.num_rows or "created_at" not in posts.column_names:
        return batch
    ts = posts.column("created_at")
    if ts.type != pa.timestamp("us"):
        ts = ts.cast(pa.timestamp("us"))
    latest = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + FUTURE_SLACK
    bad = pc.or_(pc.less(ts, pa.scalar(EARLIEST_POST, pa.timestamp("us"))),
                 pc.greater(ts, pa.scalar(latest, pa.timestamp("us"))))
    bad = pc.fill_null(bad, False)
    n_bad = pc.sum(bad).as_py() or 0
    if not n_bad:
        return batch
    wrong = posts.filter(bad)
    n = wrong.num_rows
    rows = wrong.column("source_row").to_pylist() if "source_row" in wrong.column_names else [None] * n
    errors = pa.table({
        "file": pa.array([source_file] * n, pa.string()),
        "line": pa.array([None] * n, pa.int64()),
        "field": pa.array(["created_at"] * n, pa.string()),
        "reason": pa.array([f"implausible time (before {EARLIEST_POST:%Y} or in the future) of post "
                            f"{pid}" + (f", record {r}" if r is not None else "")
                            for pid, r in zip(wrong.column("post_id").to_pylist(), rows)], pa.string()),
        "raw_value": pc.cast(wrong.column("created_at"), pa.string()),
    })
    from .tabular import concat_errors

    return replace(batch, posts=posts.filter(pc.invert(bad)), errors=concat_errors(batch.errors, errors))


__all__ = ["Batch", "IngestError", "IngestSummary", "Mapping", "READERS", "Reader", "detect_format", "ingest",
           "make_reader", "register"]
