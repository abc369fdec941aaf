"""The ``cibscope`` command line: a thin Typer wrapper over the Python API.

Every command takes ``--db`` (default ``./cibscope.duckdb``). Long steps show
Rich progress bars on standard error; results go to standard output.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .ingest import READERS, IngestError, ingest as ingest_path
from .store.db import DEFAULT_DB, Store

app = typer.Typer(help="Find coordinated inauthentic behaviour (CIB) and share it as STIX 2.1.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
out = Console()

DbOption = typer.Option(DEFAULT_DB, "--db", help="DuckDB store file.")


def progress_bar() -> Progress:
    """The progress bar every long step uses (on stderr)."""
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False)


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code=2)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders to ingest."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                      help=f"Input format (detected when omitted): {', '.join(READERS)}."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset name (default: input name)."),
    db: Path = DbOption,
) -> None:
    """Read exports into the store. Bad rows go to ingest_errors; re-ingesting adds nothing."""
    with Store(db) as store:
        for path in paths:
            try:
                with progress_bar() as bar:
                    task = bar.add_task(f"ingest {path.name}", total=None)
                    summary = ingest_path(store, path, fmt=fmt, dataset=dataset,
                                          progress=lambda n: bar.advance(task, n))
            except IngestError as exc:
                _fail(str(exc))
            if summary.skipped:
                out.print(f"{path}: already ingested as {summary.format} (nothing added)")
                continue
            out.print(f"{path}: {summary.format} -> dataset {summary.dataset!r}: {summary.rows_read:,} records, "
                      f"{summary.posts_added:,} posts added, {summary.accounts_added:,} new accounts, "
                      f"{summary.errors:,} bad records kept in ingest_errors")
            for s in summary.error_samples:
                out.print(f"  [yellow]bad:[/yellow] {escape(s)}", highlight=False)


@app.command()
def status(db: Path = DbOption) -> None:
    """Row counts of every table in the store."""
    with Store(db, read_only=True) as store:
        t = Table("table", "rows")
        for name, n in store.counts().items():
            t.add_row(name, f"{n:,}")
        out.print(t)


@app.command("export")
def export_cmd(folder: Path = typer.Argument(..., help="Folder for <table>.parquet files."),
               db: Path = DbOption) -> None:
    """Export every table of the store to Parquet."""
    with Store(db, read_only=True) as store:
        for p in store.export_parquet(folder):
            out.print(str(p))


@app.command("import")
def import_cmd(folder: Path = typer.Argument(..., help="Folder holding <table>.parquet files."),
               db: Path = DbOption) -> None:
    """Import Parquet tables written by `cibscope export` (existing rows are kept, not duplicated)."""
    with Store(db) as store:
        try:
            added = store.import_parquet(folder)
        except FileNotFoundError as exc:
            _fail(str(exc))
        for t, n in added.items():
            out.print(f"{t}: {n:,} rows added")


def main() -> None:  # pragma: no cover - console entry
    app()
