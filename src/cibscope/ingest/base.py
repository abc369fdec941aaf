"""The reader contract shared by every input format.

A reader turns one input (a file, or a folder for layouts that span several
files) into :class:`Batch` objects holding Arrow tables in the canonical
columns of :mod:`cibscope.store.db` (``POST_COLUMNS``, ``ACCOUNT_COLUMNS``,
``ERROR_COLUMNS``). Readers never write to the store; :func:`cibscope.ingest.ingest`
does, one transaction per batch.

Bad records are never dropped silently: each one becomes a row of the batch's
``errors`` table (file, 1-based line where known, field, reason, raw value).
A file that cannot be read at all raises :class:`IngestError` naming it.
"""
from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, ClassVar, Iterator

import duckdb
import pyarrow as pa


class IngestError(Exception):
    """A whole input cannot be read (missing, empty, wrong layout). The message names the file."""


@dataclass
class Batch:
    """One chunk of canonical rows from a reader.

    Attributes
    ----------
    posts, accounts, errors : pyarrow.Table or None
        Canonical columns (see ``cibscope.store.db``); None when the chunk has none.
    rows_read : int
        Input records consumed by this chunk (good and bad).
    source_file : str
        The file the chunk came from (errors name their own file too).
    notes : list of str
        Remarks on the input that are not errors (``<file>: columns not read: ...``), for the
        ingest summary; a reader gives each once per file.
    """

    posts: pa.Table | None = None
    accounts: pa.Table | None = None
    errors: pa.Table | None = None
    rows_read: int = 0
    source_file: str = ""
    notes: list[str] = field(default_factory=list)


class Reader:
    """Base class of a format reader.

    Subclasses set :attr:`name` (the ``--format`` value), implement
    :meth:`sniff` and :meth:`read`, and keep their format's field names as
    module constants next to their mapping.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: True when the format spans the files of a folder (``ira-csv``); a folder given to another
    #: format is read file by file (:func:`cibscope.ingest.ingest`).
    reads_folders: ClassVar[bool] = False
    #: Names of side files a folder layout holds besides its records (``ira-csv``: ``authors.csv``):
    #: a folder with such files still looks like the layout (:func:`cibscope.ingest.ingest`).
    folder_side_files: ClassVar[frozenset[str]] = frozenset()
    #: Compressions (:func:`compression`) the reader reads as it goes; another compressed file is refused
    #: with "needs it unpacked" (:func:`cibscope.ingest.ingest`).
    reads_compressed: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """True if ``path`` looks like this format (cheap: header or first record only)."""
        raise NotImplementedError

    def read(self, path: Path, con: duckdb.DuckDBPyConnection,
             progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
        """Yield batches from ``path``.

        ``con`` is a scratch DuckDB connection readers may use for parsing (CSV,
        JSON, Parquet); ``progress`` is called with the number of records done
        since the last call.

        Raises
        ------
        IngestError
            The input cannot be read at all.
        """
        raise NotImplementedError


def errors_table(rows: list[dict]) -> pa.Table | None:
    """Build an errors table from dicts with keys file, line, field, reason, raw_value."""
    if not rows:
        return None
    from ..store.db import ERROR_COLUMNS

    return pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in ERROR_COLUMNS.items()})


#: Magic numbers of the compressed files readers take (RFC 1952 section 2.3.1; RFC 8878 section 3.1.1).
COMPRESSION_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


#: The compressions :func:`open_input` streams (a reader reading through it sets ``reads_compressed`` to them).
STREAMED_COMPRESSIONS = frozenset(COMPRESSION_MAGIC.values())


def compression(path: Path) -> str | None:
    """``"gzip"`` or ``"zstd"`` when the file starts with that magic number (whatever its name), else None."""
    with open(path, "rb") as f:
        head = f.read(4)
    return next((c for m, c in COMPRESSION_MAGIC.items() if head.startswith(m)), None)


def data_suffix(path: Path) -> str:
    """The file's data suffix, lower case, under a compression suffix: ``x.csv.gz`` -> ``.csv``."""
    name = path.name.lower()
    for comp in (".gz", ".zst", ".zstd"):
        if name.endswith(comp):
            name = name[:-len(comp)]
            break
    return Path(name).suffix


def is_compressed(path: Path) -> bool:
    """True when the file is compressed (:func:`compression`): readers then cannot seek in its bytes."""
    return compression(path) is not None


def open_input(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes; a gzip or zstd file (told by its magic number: ``x.csv.gz``,
    ``x.csv.zst``) is decompressed as it is read (Python's :mod:`gzip`, :class:`cibscope.ingest.reddit.ZstdFrames`;
    streamed: memory stays small).

    Raises
    ------
    OSError
        The file cannot be opened. Reading a damaged stream raises ``gzip.BadGzipFile`` (an ``OSError``),
        ``EOFError`` (gzip cut short), ``zlib.error`` or ``zstandard.ZstdError``.
    """
    kind = compression(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "zstd":
        from .reddit import ZstdFrames

        return io.BufferedReader(ZstdFrames(open(path, "rb")), 1 << 20)
    return open(path, "rb")


def read_head(path: Path, n_bytes: int = 65536) -> bytes:
    """Up to the first ``n_bytes`` of the file's content (a gzip or zstd file decompressed), for sniffing: a
    stream cut short gives what decompresses before the cut (reading it whole then names the damage).

    Raises
    ------
    zlib.error
        A gzip file corrupt from its start.
    """
    kind = compression(path)
    if kind == "zstd":
        from .reddit import _zst_head

        return _zst_head(path, n_bytes)
    with open(path, "rb") as f:
        if kind != "gzip":
            return f.read(n_bytes)
        raw = f.read(max(n_bytes, 1 << 16))
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, n_bytes)  # 16+: a gzip header (zlib manual)


def read_header(path: Path, n_bytes: int = 65536) -> str:
    """The first line of a text file (decoded leniently; a gzip/zstd file decompressed), for sniffing."""
    head = read_head(path, n_bytes)
    return head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0] if head else ""
