"""``cibscope explain``: authenticity signals and narratives of a run's clusters (:mod:`cibscope.explain`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .common import DbOption, fail, latest_run, open_store, out, progress_bar


def explain(
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    top: int = typer.Option(10, help="Clusters printed (best rank first); every cluster is stored."),
    profiles: Optional[Path] = typer.Option(
        None, "--profiles", help="Twitter user CSV (screen_name, created_at, description, ...) filling missing "
                                 "account fields first, e.g. nbc-ira-users/users.csv."),
    narratives: int = typer.Option(20, "--narratives", help="Best-ranked clusters whose narratives are stored "
                                                             "(0: none)."),
    library: Optional[list[Path]] = typer.Option(None, "--library", help="Extra narrative library JSON (repeat)."),
    representation: str = typer.Option("auto", "--representation",
                                       help="Narrative text representation: auto (embeddings when the `embed` "
                                            "extra is installed), embedding, or tfidf (fast)."),
    db: Path = DbOption,
) -> None:
    """Store authenticity signals of every cluster, and narratives of the best-ranked, for the report."""
    from ..explain.authenticity import save_authenticity
    from ..explain.embeddings import EmbeddingsUnavailable
    from ..explain.narratives import load_library, resolve_representation, save_narratives
    from ..explain.profiles import enrich_profiles

    with open_store(db) as store:
        run = latest_run(store, run, db)
        if profiles:
            try:
                got = enrich_profiles(store, profiles)
            except ValueError as exc:
                fail(str(exc))
            out.print(f"{profiles}: {got['rows']:,} users, {got['matched']:,} accounts matched by handle; filled "
                      f"created_at {got['created_at']:,}, description {got['description']:,}")
        try:
            lib = load_library(library or [])
            rep = resolve_representation(representation)
        except (OSError, ValueError, EmbeddingsUnavailable) as exc:
            fail(str(exc))
        with progress_bar() as bar:
            bar.add_task(f"explain run {run}: authenticity signals of every cluster", total=None)
            n = save_authenticity(store, run)
        out.print(f"run {run}: {n:,} authenticity rows stored")
        if narratives > 0:
            ids = [r[0] for r in store.con.execute("SELECT cluster_id FROM clusters WHERE run_id = ? "
                                                   "ORDER BY rank LIMIT ?", [run, narratives]).fetchall()]
            with progress_bar() as bar:
                task = bar.add_task(f"explain run {run}: narratives of {len(ids)} clusters ({rep})", total=len(ids))
                n_groups = save_narratives(store, run, ids, library=lib, representation=rep,
                                           progress=lambda k: bar.advance(task, k))
            out.print(f"run {run}: {n_groups:,} narrative groups stored for {len(ids)} clusters ({rep})")
        for cid, rank, sig, expl in store.con.execute(
                "SELECT a.cluster_id, c.rank, a.signal, a.explanation FROM cluster_authenticity a "
                "JOIN clusters c USING (run_id, cluster_id) WHERE a.run_id = ? AND c.rank <= ? "
                "ORDER BY c.rank, a.signal", [run, top]).fetchall():
            out.print(f"[bold]#{rank} {cid}[/bold] {sig}: {escape(expl)}")
        for cid, rank, groups in store.con.execute(
                "SELECT n.cluster_id, c.rank, "
                "list(n.name || ' ' || round(100 * n.share)::INT || '%' ORDER BY n.group_no) "
                "FROM cluster_narratives n JOIN clusters c USING (run_id, cluster_id) WHERE n.run_id = ? "
                "AND c.rank <= ? GROUP BY ALL ORDER BY c.rank", [run, top]).fetchall():
            out.print(f"[bold]#{rank} {cid}[/bold] narratives: {escape('; '.join(groups))}")
