"""``cibscope status``, ``export`` and ``import``: the store's row counts and its Parquet copy."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..text import plural
from .common import DbOption, fail, open_store, out


def status(db: Path = DbOption) -> None:
    """Row counts of every table in the store."""
    with open_store(db, read_only=True) as store:
        t = Table("table", "rows")
        for name, n in store.counts().items():
            t.add_row(name, f"{n:,}")
        out.print(t)


def export_cmd(folder: Path = typer.Argument(..., file_okay=False, help="Folder for <table>.parquet files."),
               db: Path = DbOption) -> None:
    """Export every table of the store to Parquet."""
    with open_store(db, read_only=True) as store:
        for p in store.export_parquet(folder):
            out.print(str(p))


def import_cmd(folder: Path = typer.Argument(..., help="Folder holding <table>.parquet files."),
               db: Path = DbOption) -> None:
    """Import Parquet tables written by `cibscope export` (existing rows are kept, not duplicated)."""
    with open_store(db) as store:
        try:
            added = store.import_parquet(folder)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        for t, n in added.items():
            out.print(f"{t}: {plural(n, 'row')} added")
