"""``cibscope detect`` and ``suggest-window``: find coordinated networks and write a run's outputs.

Also the two steps other commands reuse: :func:`run_detection` (with progress) and :func:`write_run`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import duckdb
import typer

from ..detect import STEPS, DetectionParams
from ..detect import detect as detect_run
from ..report import TLP_LEVELS
from ..store.db import MEMORY_LIMIT_ENV, Store
from ..text import plural
from .common import (DEFAULT_WINDOWS_OPTION, DbOption, MinCoactionsOption, MinLiftOption, SignalsOption,
                     check_datasets, detection_params, fail, lower_case, open_store, out, out_folder, progress_bar)


def run_detection(store: Store, params: DetectionParams, run: Optional[Callable] = None) -> int:
    """Run detection (``run``: :func:`cibscope.detect.detect` or another engine's) with a progress line per
    step, print the run's summary line and return its id; exits via :func:`fail` when DuckDB runs out of memory."""
    with progress_bar() as bar:
        task = bar.add_task("detect", total=len(STEPS))
        state = {"first": True}

        def step(name: str) -> None:
            if not state["first"]:
                bar.advance(task)
            state["first"] = False
            bar.update(task, description=f"detect: {name}")
            state["step"] = name

        try:
            result = (run or detect_run)(store, params, progress=step)
        except duckdb.OutOfMemoryException as exc:
            bar.stop()
            limit = store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            fail(f"detection ran out of memory (DuckDB memory_limit {limit}) while {state.get('step', 'running')}: "
                  f"raise {MEMORY_LIMIT_ENV} (e.g. {MEMORY_LIMIT_ENV}=8GB), or make the slow scales cheaper "
                  f"(--max-object-accounts-slow 30 --max-object-accounts-mid 100, or --windows 60s,10m, "
                  f"or one scale: --window 60s) "
                  f"[{str(exc).splitlines()[0][:200]}]")
        bar.update(task, completed=len(STEPS), description="detect: done")
    out.print(f"run {result.run_id}: {plural(result.n_actions, 'action')} of {plural(result.n_accounts, 'account')} -> "
              f"{plural(result.n_candidate_pairs, 'candidate pair')}, {plural(result.n_edges, 'significant edge')}, "
              f"{plural(result.n_clusters, 'cluster')} in {result.seconds:.1f} s")
    if result.n_actions == 0:
        out.print(f"warning: run {result.run_id} covered no action: its --signals, --dataset and "
                  "--min-account-actions selected nothing in this store (cibscope status lists what it holds)")
    return result.run_id


def check_outputs(tlp: str, top: int) -> None:
    """Exit via :func:`fail` on a bad ``--tlp`` (not a TLP 2.0 level) or ``--top`` (negative); commands call it
    before any work."""
    if tlp not in TLP_LEVELS:
        fail(f"--tlp {tlp}: must be one of {', '.join(TLP_LEVELS)}")
    from ..detect.params import MAX_CAP

    if not 0 <= top <= MAX_CAP:
        fail(f"--top {top}: must be 0 or more, at most {MAX_CAP} (clusters drawn in full in report.html)")


def write_run(store: Store, run_id: int, out_dir: Path, tlp: str, top: int) -> None:
    """Write run ``run_id``'s outputs (report.html, bundle.json marked ``tlp``, CSVs) to ``out_dir`` and print
    their paths; ``top`` clusters are drawn in full. A bad ``tlp`` or ``top`` exits via :func:`fail`
    (:func:`check_outputs`)."""
    check_outputs(tlp, top)
    from ..report import write_outputs

    with progress_bar() as bar:
        bar.add_task(f"write outputs to {out_dir}", total=None)
        written = write_outputs(store, run_id, out_dir, tlp=tlp, top_clusters=top)
    for name, path in written.items():
        out.print(f"  {name}: {path}")


def detect(
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False,
                                 help="Folder for report.html, bundle.json, CSVs."),
    windows: Optional[str] = typer.Option(None, "--windows", help="Time scales tested in one run, "
                                          f"comma-separated, at most 6 (default: {DEFAULT_WINDOWS_OPTION})."),
    window: Optional[str] = typer.Option(None, "--window", help="One time scale only, e.g. 30s, 5m, 1h "
                                         "(instead of --windows; not both)."),
    signals: str = SignalsOption,
    min_coactions: int = MinCoactionsOption,
    min_account_actions: int = typer.Option(2, help="Ignore accounts with fewer actions."),
    max_object_accounts: int = typer.Option(1000, help="At scales up to 60 s, do not expand objects shared by "
                                            "more accounts (and never at longer scales)."),
    max_object_accounts_mid: int = typer.Option(DetectionParams.model_fields["max_object_accounts_mid"].default,
                                                help="At scales over 60 s up to 10 min, do not expand objects "
                                                "shared by more accounts (clipped to --max-object-accounts)."),
    max_object_accounts_slow: int = typer.Option(DetectionParams.model_fields["max_object_accounts_slow"].default,
                                                 help="At scales over 10 min, do not expand objects shared by "
                                                 "more accounts (clipped to --max-object-accounts-mid)."),
    alpha: float = typer.Option(0.01, help="False-discovery rate for edges and clusters."),
    no_significance: bool = typer.Option(False, "--no-significance",
                                         help="Keep every pair with min-coactions (parity mode)."),
    no_discount: bool = typer.Option(False, "--no-discount", help="Weigh every object 1 (no popularity discount)."),
    min_cluster_size: int = typer.Option(3, help="Smallest reported cluster."),
    min_lift: float = MinLiftOption,
    min_overlap: float = typer.Option(0.07, help="Flag a cluster only if its pairs co-act on this share of "
                                      "their activity (median over edges)."),
    max_source_share: float = typer.Option(
        DetectionParams.model_fields["max_source_share"].default,
        help="Waive min-overlap for a cluster whose top source (link host, reposted author, object) holds less "
        "than this share of its co-actions (0: never) ..."),
    min_sources_per_member: float = typer.Option(
        DetectionParams.model_fields["min_sources_per_member"].default,
        help="... and whose co-actions span at least this many distinct sources per member."),
    near_dup_threshold: float = typer.Option(0.6, help="Jaccard threshold of near-duplicate text (text_near)."),
    near_dup_num_perm: int = typer.Option(32, help="MinHash permutations (text_near)."),
    fast_repost: str = typer.Option("30s", "--fast-repost", help="Max delay of a fast repost (fast_repost)."),
    burst_gap: str = typer.Option("60s", "--burst-gap", help="Max gap between posts of one session (burst)."),
    burst_min_posts: int = typer.Option(3, help="Posts in a session that make it a burst (burst)."),
    resolution: float = typer.Option(1.0, help="Leiden resolution."),
    seed: int = typer.Option(42, help="Leiden seed."),
    dataset: Optional[list[str]] = typer.Option(None, "--dataset", help="Restrict to this dataset (repeat for "
                                                "several: --dataset a --dataset b)."),
    tlp: str = typer.Option("amber", callback=lower_case, help=f"TLP 2.0 marking of bundle.json: {', '.join(TLP_LEVELS)}."),
    top: int = typer.Option(50, help="Clusters drawn in full in report.html."),
    engine: str = typer.Option("duckdb", "--engine", help="Where the co-action core runs: duckdb (embedded, "
                               "reads the store) or spark (reads --input Parquet; docs/scale.md)."),
    master: Optional[str] = typer.Option(None, "--master", help="Spark master URL (overrides the Spark "
                                         "configuration's; settings come from spark-defaults and the environment)."),
    input_uri: Optional[str] = typer.Option(None, "--input", help="With --engine spark: folder or URI holding "
                                            "the `cibscope export` Parquet tables (actions.parquet)."),
    db: Path = DbOption,
) -> None:
    """Detect coordinated account networks, save the run in the store and write its outputs."""
    params = detection_params(window, signals, min_coactions, min_account_actions, max_object_accounts, alpha,
                              no_significance, no_discount, min_cluster_size, min_lift, resolution, seed, dataset,
                              near_dup_threshold, near_dup_num_perm, fast_repost, burst_gap, burst_min_posts,
                              windows=windows, max_object_accounts_mid=max_object_accounts_mid,
                              max_object_accounts_slow=max_object_accounts_slow,
                              min_overlap=min_overlap, max_source_share=max_source_share,
                              min_sources_per_member=min_sources_per_member)
    check_outputs(tlp, top)
    if engine not in ("duckdb", "spark"):
        fail(f"--engine must be duckdb or spark, not {engine!r}")
    if engine == "spark":
        _detect_spark(params, master, input_uri, db, out_dir, tlp, top)
        return
    if master or input_uri:
        fail("--master and --input apply to --engine spark only")
    with open_store(db, must_exist=True) as store:
        if store.con.execute("SELECT count(*) FROM actions").fetchall()[0][0] == 0:
            fail(f"{db}: the store holds no actions; run `cibscope ingest` first")
        check_datasets(store, params.datasets, db)
        out_folder(out_dir)
        run_id = run_detection(store, params)
        write_run(store, run_id, out_dir, tlp, top)


def _detect_spark(params: DetectionParams, master: Optional[str], input_uri: Optional[str], db: Path,
                  out_dir: Path, tlp: str, top: int) -> None:
    from ..detect.spark import check_input, detect_parquet, spark_session

    if not input_uri:
        fail("--engine spark needs --input (a folder or URI written by `cibscope export`)")
    out_folder(out_dir)
    try:
        check_input(input_uri, params)  # before the 20 s of a Spark start
        session = spark_session(master)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    with open_store(db) as store:
        try:
            run_id = run_detection(store, params, lambda s, p, progress: detect_parquet(
                s, input_uri, p, session=session, progress=progress))
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        write_run(store, run_id, out_dir, tlp, top)


def _duration(seconds: float) -> str:
    """``90`` -> ``1.5 min``: a delay as a reader says it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _exact(seconds: float) -> str:
    """``8`` -> ``8 s``, ``450`` -> ``450 s (7.5 min)``: a measured delay before it is rounded."""
    text = f"{seconds:.3g} s" if seconds < 10 else f"{seconds:,.0f} s"
    return text if seconds < 60 else f"{text} ({_duration(seconds)})"


def suggest_window(
    signals: Optional[str] = typer.Option(None, "--signals", help="Comma-separated signals (default: every "
                                          "stored one but mention and domain)."),
    dataset: Optional[list[str]] = typer.Option(None, "--dataset", help="Restrict to this dataset (repeat for "
                                                "several)."),
    q: float = typer.Option(0.1, "--q", help="Quantile of the objects' median follow delay to suggest."),
    db: Path = DbOption,
) -> None:
    """How fast do accounts follow each other on the same object here? Quantiles and a suggested window."""
    from ..detect.interval import follow_delays

    with open_store(db, read_only=True) as store:
        check_datasets(store, dataset, db)
        try:
            res = follow_delays(store, signals=[x.strip() for x in signals.split(",")] if signals else None,
                                datasets=dataset or None, q=q)
        except ValueError as exc:
            fail(str(exc))
            raise
    out.print(f"{plural(res.n_objects, 'object')} acted on by two or more accounts, "
              f"{plural(res.n_follows, 'follow-up')}")
    out.print("follow delay (first action -> a later account's first action): " +
              ", ".join(f"{int(k * 100)}% within {_duration(v)}" for k, v in res.delay_quantiles.items()))
    out.print("per-object median follow delay: " +
              ", ".join(f"{int(k * 100)}% within {_duration(v)}" for k, v in res.object_median_quantiles.items()))
    rounded = ("" if res.quantile_s == res.suggested_s else ", rounded up to whole minutes"
               + (" (at least 1 min)" if res.quantile_s <= 0 else ""))
    out.print(f"suggested window: {res.suggested_s:g} s ({_duration(res.suggested_s)}): the {res.q:g} quantile of "
              f"the objects' median follow delay (CooRnet's coordination interval) is {_exact(res.quantile_s)}"
              f"{rounded}. {_window_advice(res.suggested_s)}")


def _window_advice(suggested_s: float) -> str:
    """Whether ``detect``'s default scales already test ``suggested_s`` (seconds), or the --windows that add it."""
    from ..detect.params import DEFAULT_WINDOWS, MAX_WINDOW_S

    names = dict(zip(DEFAULT_WINDOWS, DEFAULT_WINDOWS_OPTION.split(",")))
    if suggested_s > MAX_WINDOW_S:
        return (f"That is longer than the longest window `detect` accepts (31 days): accounts here follow each "
                f"other too slowly for a time window to mean \"at the same time\"; try a lower --q.")
    if suggested_s in names:
        return (f"`detect` already tests it: {names[suggested_s]} is one of its default scales "
                f"({DEFAULT_WINDOWS_OPTION}).")
    scales = sorted([*DEFAULT_WINDOWS, suggested_s])
    return (f"`detect` tests {DEFAULT_WINDOWS_OPTION} by default; add it with --windows "
            f"{','.join(names.get(w, f'{int(w)}s' if w == int(w) else f'{w}s') for w in scales)} if it is not "
            "close to one.")
