"""``cibscope runs``, ``report`` and ``export-graph``: list saved detection runs, rebuild a run's outputs and
export its account network."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..report import TLP_LEVELS
from ..text import plural
from .common import DbOption, fail, latest_run, lower_case, open_store, out, out_file, out_folder
from .detect import check_outputs, write_run


def report(
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False,
                                 help="Folder for report.html, bundle.json, CSVs (created if missing)."),
    tlp: str = typer.Option("amber", callback=lower_case, help=f"TLP 2.0 marking: {', '.join(TLP_LEVELS)}."),
    top: int = typer.Option(50, help="Clusters drawn in full in report.html."),
    db: Path = DbOption,
) -> None:
    """Rebuild a saved run's outputs from the store, without recomputing detection."""
    check_outputs(tlp, top)
    with open_store(db, read_only=True) as store:
        rid = latest_run(store, run, db)
        write_run(store, rid, out_folder(out_dir), tlp, top)


def export_graph(
    out_path: Path = typer.Argument(..., dir_okay=False, help="File to write (.gexf or .graphml); its folder is "
                                                              "created if missing."),
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="gexf or graphml (default: from the file's suffix)."),
    db: Path = DbOption,
) -> None:
    """Write a run's account network as GEXF 1.3 or GraphML (Gephi, networkx, igraph).

    With weights, clusters, flags, scores, signals, p/q values and first/last seen (docs/outputs.md)."""
    from ..report.graph_export import export_graph as write_graph

    with open_store(db, read_only=True) as store:
        rid = latest_run(store, run, db)
        out_file(out_path, "export-graph")
        try:
            res = write_graph(store, rid, out_path, fmt)
        except ValueError as exc:
            fail(str(exc))
        except OSError as exc:  # the message names the file asked for, not the temporary .part beside it
            fail(f"{out_path}: cannot write the graph ({exc.strerror or exc})")
    out.print(f"{res['path']}: run {rid} as {res['format']}, {plural(res['nodes'], 'account')}, "
              f"{plural(res['edges'], 'edge')}")


def runs(db: Path = DbOption) -> None:
    """List saved detection runs with their parameters (a table; tab-separated lines in a pipe)."""
    headers = ("run", "created (UTC)", "accounts", "edges", "clusters", "seconds", "parameters")
    with open_store(db, read_only=True) as store:
        rows = [(str(r[0]), f"{r[1]:%Y-%m-%d %H:%M:%S}", str(r[2]), str(r[3]), str(r[4]), f"{r[5]:.1f}", r[6])
                for r in store.con.execute("SELECT run_id || CASE WHEN k.kind IS NULL THEN '' ELSE ' (' || k.kind "
                                           "|| ')' END, created_at, n_accounts, n_edges, n_clusters, seconds, "
                                           "params FROM runs r LEFT JOIN run_kinds k USING (run_id) "
                                           "ORDER BY run_id").fetchall()]
    if not rows:
        out.print(f"{db}: no detection run yet (run `cibscope detect`)", markup=False, highlight=False)
        return
    if not out.is_terminal:  # whole lines for grep/cut/jq: a table would cut the parameters at the width
        for row in (headers, *rows):
            print("\t".join(row))
        return
    t = Table(*headers)
    for row in rows:
        t.add_row(*row[:2], *(f"{int(v):,}" for v in row[2:5]), *row[5:])
    out.print(t)
