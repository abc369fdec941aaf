"""``cibscope ingest``: read exports into the store (thin wrapper over :func:`cibscope.ingest.ingest`)."""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import duckdb
import typer
from rich.markup import escape

from ..ingest import READERS, IngestError, ingest as ingest_path, make_reader
from ..store.db import Store
from ..text import plural
from .common import DbOption, console, fail, is_interrupt, open_store, out, progress_bar, signals_interrupt


def ingest(
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders to ingest (a folder: each file, or one ira-csv or reddit input; several: each "
                  "read, one that cannot be read set aside; .gz/.zst read as they are)."),
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
    """Read exports into the store. Bad rows go to ingest_errors; re-ingesting adds nothing.

    Exit status 0 when some input gave posts, 2 on an error or if every record was refused, 130/143 on Ctrl-C/SIGTERM.
    """
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
    run = _Run(created=not Path(db).exists())
    with signals_interrupt(run):  # the clean-up below stays inside: a second signal does not cut it short
        try:
            _ingest_all(paths, fmt, dataset, reader_for, db, run)
        except BaseException as exc:  # an error exit, an interrupt, a crash: a failed first ingest leaves no store
            if run.signum or is_interrupt(exc):
                _interrupted(db, run)
            if run.created and getattr(exc, "exit_code", 1) != 0:
                _remove_unused_store(db)
            raise
    _finish(paths, db, run)


@dataclass
class _Run:
    """What one ``cibscope ingest`` command did so far, input by input."""

    created: bool                  # the store did not exist before this command
    posts_before: int = 0
    signum: int = 0                # SIGINT or SIGTERM received during the ingest
    stored: list[str] = field(default_factory=list)     # inputs that gave posts (or were ingested before)
    refused: list[str] = field(default_factory=list)    # inputs read whose every record was refused
    set_aside: list[str] = field(default_factory=list)  # inputs not read: "<why>" naming the input
    posts_added: int = 0


def _interrupted(db: Path, run: _Run) -> None:
    """Say in one line what an interrupted ingest left, remove a new store holding no post, exit 130
    (SIGINT) or 143 (SIGTERM). Each batch is written in one transaction: what was written is whole."""
    removed = run.created and _remove_unused_store(db)
    kept = 0 if removed else _post_count(db) - run.posts_before
    if removed:
        msg = f"the new store {db} was not kept"
    elif not kept:
        msg = "nothing of this ingest was kept" + ("" if run.created else f" ({db} is as it was)")
    else:
        msg = (f"{plural(kept, 'post')} written before the interrupt stay in {db} (whole batches); run the same "
               "command again to read the rest (posts already stored are skipped)")
    console.print(f"[red]interrupted:[/red] {escape(msg)}", highlight=False)
    raise typer.Exit(code=128 + (run.signum or signal.SIGINT))


def _post_count(db: Path, missing: int = 0) -> int:
    """Posts in store ``db``; ``missing`` when it cannot be opened (not a store, locked)."""
    try:
        with Store(db, read_only=True) as store:
            return store.con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
    except (duckdb.Error, ValueError):
        return missing


def _finish(paths: list[Path], db: Path, run: _Run) -> None:
    """The summary of several inputs, and the error exit (status 2) when no input gave a post."""
    if len(paths) > 1:
        out.print(f"{len(paths)} inputs: {plural(run.posts_added, 'post')} added from {len(run.stored)} of them"
                  + (f"; every record refused in {escape(', '.join(run.refused))}" if run.refused else "")
                  + (f"; {len(run.set_aside)} set aside (not read)" if run.set_aside else ""), highlight=False)
    if run.stored or not (run.refused or run.set_aside):
        return
    removed = run.created and _remove_unused_store(db)
    what = f"every record was refused in {', '.join(run.refused)} (see the bad records above)" if run.refused \
        else "no input could be read"
    if removed:
        where = f"nothing was stored, and the new store {db} was not kept"
    else:
        where = "no post was stored" + (" (the refused records are kept in ingest_errors)" if run.refused else "")
    fail(f"{what}; {where}; fix the input or the options and run again")


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


def _remove_unused_store(db: Path) -> bool:
    """Delete store ``db`` (and its WAL) when it holds no post: it was created by this ingest, which failed or
    was interrupted (accounts, refused records and bookkeeping it wrote are of no use without posts).
    Returns True when it was deleted."""
    if _post_count(db, missing=-1):
        return False
    for p in (Path(db), Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    return True


def _ingest_all(paths: list[Path], fmt: Optional[str], dataset: Optional[str], reader_for, db: Path,
                run: _Run) -> None:
    """Ingest each input in turn; with several, one that cannot be read is set aside (its reason printed)
    and the others are read, as the files of a folder are."""
    with open_store(db) as store:
        run.posts_before = store.con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
        for path in paths:
            reader = reader_for(path)
            try:
                with progress_bar() as bar:
                    task = bar.add_task(f"ingest {path.name}", total=None)
                    summary = ingest_path(store, path, fmt=fmt, dataset=dataset, reader=reader,
                                          progress=lambda n: bar.advance(task, n))
            except IngestError as exc:
                if len(paths) == 1:
                    fail(str(exc))
                out.print(f"[yellow]set aside:[/yellow] {escape(str(exc))}", highlight=False)
                run.set_aside.append(str(path))
                continue
            _report(summary, path, run)


def _report(summary, path: Path, run: _Run) -> None:
    """Print what the ingest of ``path`` did and note it in ``run``."""
    if summary.skipped:
        out.print(f"{path}: already ingested as {summary.format} (nothing added)")
        run.stored.append(str(path))
        return
    gave_posts = bool(summary.posts_added or summary.posts_known)
    refused = bool(summary.errors or summary.files_skipped) and not gave_posts
    run.posts_added += summary.posts_added
    (run.stored if gave_posts or not refused else run.refused).append(str(path))
    # refused records stay in ingest_errors unless a new store is dropped for holding no post
    kept = not run.created or run.posts_added or gave_posts
    out.print(f"{path}: {summary.format} -> dataset {summary.dataset!r}: "
              f"{plural(summary.rows_read, 'record')}, "
              f"{plural(summary.posts_added, 'post')} added, {summary.posts_known:,} already stored "
              "or repeated in the input, "
              f"{plural(summary.accounts_added, 'new account')}, "
              f"{plural(summary.errors, 'bad record')}" + (" kept in ingest_errors" if kept else ""))
    if summary.known_in:
        names = ", ".join(repr(d) for d in summary.known_in)
        out.print(f"  posts already stored are under dataset {escape(names)}"
                  + ("" if summary.posts_added else f" (no dataset {summary.dataset!r} made: use that one)"),
                  highlight=False)
    for s in summary.error_samples:
        out.print(f"  [yellow]bad:[/yellow] {escape(s)}", highlight=False)
    for s in summary.notes:
        out.print(f"  note: {escape(s)}", highlight=False)
    if summary.files_skipped:
        out.print(f"  {plural(len(summary.files_skipped), 'file')} not read:")
        for s in summary.files_skipped:
            out.print(f"  [yellow]skipped:[/yellow] {escape(s)}", highlight=False)
