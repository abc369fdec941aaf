"""``cibscope ingest``: read exports into the store (thin wrapper over :func:`cibscope.ingest.ingest`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import duckdb
import typer
from rich.markup import escape

from ..ingest import READERS, IngestError, ingest as ingest_path, make_reader
from ..store.db import Store
from ..text import plural
from .common import DbOption, console, fail, open_store, out, progress_bar


def ingest(
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders to ingest (a folder: each file, or one ira-csv or reddit input)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                      help=f"Input format (detected when omitted): {', '.join(READERS)}."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset name (default: input name)."),
    mapping: Optional[list[str]] = typer.Option(
        None, "--map", help="column=field: map an input column to a canonical post field or the account label (csv, "
                         "parquet; repeat)."),
    platform: Optional[str] = typer.Option(
        None, "--platform", help="Platform of the rows (csv, parquet: default for blank cells; cnt-csv, coortweet)."),
    time_format: Optional[str] = typer.Option(
        None, "--time-format", help="strptime pattern of the time column (csv, parquet, ira-csv); default ISO "
                                    "8601 or POSIX seconds."),
    tz: Optional[list[str]] = typer.Option(
        None, "--tz", help="ABBR=+HH:MM: the offset of a time-zone abbreviation in the times, e.g. IST=+05:30 "
                           "(csv, parquet; needed for ambiguous ones; repeat)."),
    db: Path = DbOption,
) -> None:
    """Read exports into the store. Bad rows go to ingest_errors; re-ingesting adds nothing."""
    options = bool(mapping or platform or time_format or tz)
    zones = dict(z.partition("=")[::2] for z in tz or [])

    def reader_for(path: Path):
        if not options:
            return None
        try:  # --map without --format: the file's own format when detected, else csv (parquet by its magic)
            return make_reader(fmt or _options_format(path, bool(mapping or tz), bool(time_format)), mapping=mapping,
                               platform=platform, time_format=time_format, zones=zones)
        except IngestError as exc:
            fail(str(exc))

    if options and fmt:
        reader_for(paths[0])  # a bad option fails before the store is opened
    failed: list[str] = []
    created = not Path(db).exists()
    try:
        _ingest_all(paths, fmt, dataset, reader_for, db, failed)
    except BaseException as exc:  # an error exit, an interrupt, a crash: a failed first ingest leaves no store
        if created and getattr(exc, "exit_code", 1) != 0:
            _remove_unused_store(db)
        raise
    if failed:  # every record of these inputs was refused: nothing usable was read
        removed = created and _remove_unused_store(db)
        console.print(f"[red]error:[/red] every record was refused in {escape(', '.join(failed))}; "
                      "see the bad records above"
                      + (f" (the new store {escape(str(db))} was not kept: it would hold no posts)" if removed
                         else " (or ingest_errors)") + ", fix the options and run again")
        raise typer.Exit(code=1)


def _options_format(path: Path, column_options: bool, time_format: bool = False) -> str:
    """The format of ``path`` for ``--map``/``--platform``/``--time-format`` given without ``--format``
    (``--time-format`` alone keeps a detected ``ira-csv``)."""
    from ..ingest import detect_format

    if not column_options:
        try:
            found = detect_format(path)
            if not time_format or found == "ira-csv":
                return found
        except IngestError:
            pass
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(4) == b"PAR1":
                return "parquet"
    return "csv"


#: Tables an ingest that read nothing still writes: its bookkeeping and the refused records.
_BOOKKEEPING = {"datasets", "ingested_files", "ingest_errors"}


def _remove_unused_store(db: Path) -> bool:
    """Delete store ``db`` (and its WAL) when it holds nothing but ingest bookkeeping and refused records:
    it was created by this ingest, which failed. Returns True when it was deleted."""
    try:
        with Store(db, read_only=True) as store:
            if any(n for t, n in store.counts().items() if t not in _BOOKKEEPING):
                return False
    except (duckdb.Error, ValueError):
        return False
    for p in (Path(db), Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    return True


def _ingest_all(paths: list[Path], fmt: Optional[str], dataset: Optional[str], reader_for, db: Path,
                failed: list[str]) -> None:
    with open_store(db) as store:
        for path in paths:
            reader = reader_for(path)
            try:
                with progress_bar() as bar:
                    task = bar.add_task(f"ingest {path.name}", total=None)
                    summary = ingest_path(store, path, fmt=fmt, dataset=dataset, reader=reader,
                                          progress=lambda n: bar.advance(task, n))
            except IngestError as exc:
                fail(str(exc))
            if summary.skipped:
                out.print(f"{path}: already ingested as {summary.format} (nothing added)")
                continue
            out.print(f"{path}: {summary.format} -> dataset {summary.dataset!r}: "
                      f"{plural(summary.rows_read, 'record')}, "
                      f"{plural(summary.posts_added, 'post')} added, {summary.posts_known:,} already stored "
                      "or repeated in the input, "
                      f"{plural(summary.accounts_added, 'new account')}, "
                      f"{plural(summary.errors, 'bad record')} kept in ingest_errors")
            if summary.known_in:
                names = ", ".join(repr(d) for d in summary.known_in)
                out.print(f"  posts already stored are under dataset {escape(names)}"
                          + ("" if summary.posts_added or summary.errors
                             else f" (no dataset {summary.dataset!r} made: use that one)"), highlight=False)
            for s in summary.error_samples:
                out.print(f"  [yellow]bad:[/yellow] {escape(s)}", highlight=False)
            for s in summary.notes:
                out.print(f"  note: {escape(s)}", highlight=False)
            if summary.files_skipped:
                out.print(f"  {plural(len(summary.files_skipped), 'file')} not read:")
                for s in summary.files_skipped:
                    out.print(f"  [yellow]skipped:[/yellow] {escape(s)}", highlight=False)
            if (summary.errors or summary.files_skipped) and not summary.posts_added and not summary.posts_known:
                failed.append(str(path))
