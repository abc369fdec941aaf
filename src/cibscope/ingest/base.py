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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterator

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


def read_header(path: Path, n_bytes: int = 65536) -> str:
    """The first line of a text file (decoded leniently), for sniffing."""
    with open(path, "rb") as f:
        head = f.read(n_bytes)
    return head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0] if head else ""
