"""``cibscope runs`` and ``report``: list saved detection runs and rebuild a run's outputs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..report import TLP_LEVELS
from .common import DbOption, latest_run, open_store, out
from .detect import write_run


def report(
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False),
    tlp: str = typer.Option("amber", help=f"TLP 2.0 marking: {', '.join(TLP_LEVELS)}."),
    top: int = typer.Option(50, help="Clusters drawn in full in report.html."),
    db: Path = DbOption,
) -> None:
    """Rebuild a saved run's outputs from the store, without recomputing detection."""
    with open_store(db, read_only=True) as store:
        write_run(store, latest_run(store, run, db), out_dir, tlp, top)


def runs(db: Path = DbOption) -> None:
    """List saved detection runs with their parameters (a table; tab-separated lines in a pipe)."""
    headers = ("run", "created (UTC)", "accounts", "edges", "clusters", "seconds", "parameters")
    with open_store(db, read_only=True) as store:
        rows = [(str(r[0]), f"{r[1]:%Y-%m-%d %H:%M:%S}", str(r[2]), str(r[3]), str(r[4]), f"{r[5]:.1f}", r[6])
                for r in store.con.execute("SELECT run_id || CASE WHEN k.kind IS NULL THEN '' ELSE ' (' || k.kind "
                                           "|| ')' END, created_at, n_accounts, n_edges, n_clusters, seconds, "
                                           "params FROM runs r LEFT JOIN run_kinds k USING (run_id) "
                                           "ORDER BY run_id").fetchall()]
    if not out.is_terminal:  # whole lines for grep/cut/jq: a table would cut the parameters at the width
        for row in (headers, *rows):
            print("\t".join(row))
        return
    t = Table(*headers)
    for row in rows:
        t.add_row(*row[:2], *(f"{int(v):,}" for v in row[2:5]), *row[5:])
    out.print(t)
