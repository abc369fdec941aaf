"""``cibscope explain``: authenticity signals and narratives of a run's clusters (:mod:`cibscope.explain`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..store.db import Store
from ..text import plural

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
    from ..explain import aitext_tuned
    from ..explain.authenticity import save_authenticity
    from ..explain.embeddings import EmbeddingsUnavailable
    from ..explain.narratives import load_library, resolve_representation, sample_size, save_narratives
    from ..explain.profiles import enrich_profiles

    if profiles and not profiles.is_file():
        fail(f"--profiles {profiles}: {'not a file' if profiles.exists() else 'no such file'}")
    with open_store(db) as store:
        run = latest_run(store, run, db)
        if profiles:
            try:
                got = enrich_profiles(store, profiles)
            except ValueError as exc:
                fail(f"--profiles {exc}")
            out.print(f"{profiles}: {plural(got['rows'], 'user')}, {plural(got['matched'], 'account')} matched by "
                      "handle; filled "
                      f"created_at {got['created_at']:,}, description {got['description']:,}")
        try:
            lib = load_library(library or [])
            rep = resolve_representation(representation)
            if aitext_tuned.available():
                aitext_tuned.load_model()           # its sha256 checked before any work (an edited file is refused)
        except (OSError, ValueError, EmbeddingsUnavailable) as exc:
            fail(str(exc))
        with progress_bar() as bar:
            bar.add_task(f"explain run {run}: authenticity signals of every cluster", total=None)
            n = save_authenticity(store, run)
        out.print(f"run {run}: {n:,} authenticity rows stored")
        if narratives > 0:
            ids = [r[0] for r in store.con.execute("SELECT cluster_id FROM clusters WHERE run_id = ? "
                                                   "ORDER BY rank LIMIT ?", [run, narratives]).fetchall()]
            n_sample = sample_size(rep, len(ids))
            with progress_bar() as bar:
                tasks: dict = {}

                def step(what: str, done: int, total: int) -> None:
                    if what not in tasks:
                        tasks[what] = bar.add_task(
                            f"explain run {run}: embed the {total:,} distinct sampled texts" if what == "embed"
                            else f"explain run {run}: narratives of {plural(total, 'cluster')} ({rep})", total=total)
                    bar.update(tasks[what], completed=done)

                n_groups = save_narratives(store, run, ids, library=lib, representation=rep, max_posts=n_sample,
                                           progress=step)
            out.print(f"run {run}: {plural(n_groups, 'narrative group')} stored for {plural(len(ids), 'cluster')} "
                      f"({rep}); up to "
                      f"{plural(n_sample, 'post')} sampled per cluster")
        _print_explain_summary(store, run, top)


def _print_explain_summary(store: Store, run: int, top: int) -> None:
    """What explain found, two lines per cluster (:func:`cibscope.explain.summary.run_summary`)."""
    from ..explain.summary import run_summary

    rows = run_summary(store, run, top)
    out.print(f"run {run}: what explain found in the {plural(len(rows), 'best-ranked cluster')}:")
    for r in rows:
        head = f"[bold]#{r['rank']} {r['cluster_id']}[/bold]"
        out.print(f"{head}: {plural(r['n_accounts'], 'account')}{', flagged' if r['flagged'] else ''}; strongest "
                  "account "
                  f"signals: {escape(', '.join(r['signals'][:4]) or '-')}")
        nar = "; ".join(f"{name} {100 * share:.0f}%" for name, share in r["narratives"])
        out.print(f"{head} narratives: {escape(nar or '- (not computed: see --narratives)')}")
    if any(sig.startswith("ai_text_model ") for r in rows for sig in r["signals"]):
        from ..explain.fingerprints import AI_CAVEAT

        out.print(f"ai_text_model: {AI_CAVEAT}")
    lacking = sorted(set.intersection(*(set(r["unknown"]) for r in rows))) if rows else []
    if lacking:
        out.print(f"not in this data for any of them: {', '.join(lacking)}")
    out.print(f"every signal's explanation and the example posts: cibscope report --run {run}")
