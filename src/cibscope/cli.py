"""The ``cibscope`` command line: a thin Typer wrapper over the Python API.

Every command takes ``--db`` (default ``./cibscope.duckdb``). Long steps show
Rich progress bars on standard error when it is a terminal, and one plain line per
step otherwise (CI logs, ``| tee``); results go to standard output.

Heavy libraries (Ibis, SciPy, igraph, datasketch, stix2) are imported by the steps
that use them, not here, so ``cibscope --help`` starts quickly
(``tests/test_cli_output.py`` checks it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pydantic import ValidationError

from .detect import DEFAULT_SIGNALS, SIGNALS, STEPS, DetectionParams, parse_duration
from .detect import detect as detect_run
from .report import TLP_LEVELS
from .ingest import READERS, IngestError, ingest as ingest_path, make_reader
from .store.db import DEFAULT_DB, MEMORY_LIMIT_ENV, Store, latest_run_id


def _click_style_help() -> None:
    """Help in click's conventions: ``--flag`` without ``<bool>``, ``--db PATH``, usage ``PATHS...``.

    This Typer writes Python type names (``<bool>``, ``<list[Path]>``) after every option, even flags,
    and ``{paths}...`` in the usage line; click's own metavars read better and are what the docs show.
    """
    import typer.core as tc

    names = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "path": "PATH", "Path": "PATH",
             "file": "FILE", "directory": "DIR"}

    def option_type(self, ctx):
        if self.is_flag or self.count:
            return None
        if self.metavar:
            return self.metavar
        label = self.display_type(ctx).strip("<>")
        label = label[5:-1] if label.startswith("list[") else label
        return names.get(label, label.upper())

    def usage_name(self):
        name = (self.metavar or self.name or "").upper() + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    tc.TyperOption.display_type_rich = option_type
    tc.TyperArgument.display_type_rich = lambda self, ctx: None
    tc.TyperArgument._usage_display_name = usage_name


_click_style_help()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("cibscope")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            v = "unknown"
        print(f"cibscope {v}")
        raise typer.Exit()


app = typer.Typer(help="Find coordinated inauthentic behaviour (CIB) and share it as STIX 2.1.",
                  no_args_is_help=True, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the cibscope version and exit.")) -> None:
    """Find coordinated inauthentic behaviour (CIB) and share it as STIX 2.1."""


# soft_wrap: a line is never broken at the console width (80 columns in a pipe), so logs keep whole lines
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DbOption = typer.Option(DEFAULT_DB, "--db", help="DuckDB store file.")


class StepProgress(Progress):
    """Rich ``Progress`` that draws only on an interactive terminal.

    Elsewhere (a pipe, a file, a CI log) it draws nothing - no spinner frames, bars or
    control sequences - and prints each new task description once, as a plain line, so a
    log shows which step ran: ``add_task`` and ``update(description=...)`` print it.
    """

    def __init__(self, *columns, console: Console, **kwargs) -> None:
        # is_terminal looks at the console's file now (is_interactive was fixed when it was created)
        interactive = console.is_terminal and not console.is_dumb_terminal
        super().__init__(*columns, console=console, disable=not interactive, **kwargs)

    def add_task(self, description: str, *args, **kwargs):
        self._plain(description)
        return super().add_task(description, *args, **kwargs)

    def update(self, task_id, *, description: Optional[str] = None, **kwargs) -> None:
        if description is not None and description != self._tasks[task_id].description:
            self._plain(description)
        super().update(task_id, description=description, **kwargs)

    def _plain(self, text: str) -> None:
        if self.disable:
            self.console.print(text, markup=False, highlight=False)


def progress_bar() -> Progress:
    """The progress display every long step uses (on stderr; see :class:`StepProgress`)."""
    return StepProgress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False)


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {escape(msg)}")
    raise typer.Exit(code=2)


def open_store(db: Path, read_only: bool = False, must_exist: bool = False) -> Store:
    """Open the store or exit with a clear message (missing folder, locked or foreign file).

    ``read_only`` or ``must_exist``: a missing file is an error (a mistyped ``--db`` must not
    quietly create an empty store)."""
    if (read_only or must_exist) and not Path(db).exists():
        _fail(f"{db}: no such store (run `cibscope ingest` first, or pass --db)")
    try:
        return Store(db, read_only=read_only)
    except duckdb.Error as exc:
        _fail(f"{db}: cannot open the store: {str(exc).splitlines()[0]}")
        raise  # unreachable
    except ValueError as exc:  # a bad CIBSCOPE_MEMORY_LIMIT (the message names it and the value)
        _fail(str(exc))
        raise  # unreachable


def _validation_message(exc: ValidationError) -> str:
    """One line per problem, without pydantic's links: 'signals: Input should be ...'."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'][:1]) or 'value'}: {e['msg']}" for e in exc.errors())


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders to ingest (a folder: each file, or one ira-csv or reddit input)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                      help=f"Input format (detected when omitted): {', '.join(READERS)}."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset name (default: input name)."),
    mapping: Optional[list[str]] = typer.Option(
        None, "--map", help="column=field: map an input column to a canonical post field (csv, parquet; repeat)."),
    platform: Optional[str] = typer.Option(
        None, "--platform", help="Platform of the rows (csv, parquet: default for blank cells; cnt-csv, coortweet)."),
    time_format: Optional[str] = typer.Option(
        None, "--time-format", help="strptime pattern of the time column (csv, parquet); default ISO 8601 or "
                                    "POSIX seconds."),
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
            return make_reader(fmt or _options_format(path, bool(mapping or time_format or tz)), mapping=mapping,
                               platform=platform, time_format=time_format, zones=zones)
        except IngestError as exc:
            _fail(str(exc))

    if options and fmt:
        reader_for(paths[0])  # a bad option fails before the store is opened
    failed: list[str] = []
    created = not Path(db).exists()
    try:
        _ingest_all(paths, fmt, dataset, reader_for, db, failed)
    except typer.Exit as exc:
        if created and exc.exit_code == 2:
            _remove_empty_store(db)  # a failed first ingest leaves no empty store behind
        raise
    if failed:  # every record of these inputs was refused: nothing usable was read
        console.print(f"[red]error:[/red] every record was refused in {escape(', '.join(failed))}; "
                      "see the bad records above (or ingest_errors), fix the options and run again")
        raise typer.Exit(code=1)


def _options_format(path: Path, column_options: bool) -> str:
    """The format of ``path`` for ``--map``/``--platform`` given without ``--format``."""
    from .ingest import detect_format

    if not column_options:
        try:
            return detect_format(path)
        except IngestError:
            pass
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(4) == b"PAR1":
                return "parquet"
    return "csv"


def _remove_empty_store(db: Path) -> None:
    """Delete store ``db`` (and its WAL) if it holds no data: it was created by a command that failed."""
    try:
        with Store(db, read_only=True) as store:
            if any(store.counts().values()):
                return
    except (duckdb.Error, ValueError):
        return
    for p in (Path(db), Path(f"{db}.wal")):
        p.unlink(missing_ok=True)


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
                _fail(str(exc))
            if summary.skipped:
                out.print(f"{path}: already ingested as {summary.format} (nothing added)")
                continue
            out.print(f"{path}: {summary.format} -> dataset {summary.dataset!r}: {summary.rows_read:,} records, "
                      f"{summary.posts_added:,} posts added, {summary.posts_known:,} already stored, "
                      f"{summary.accounts_added:,} new accounts, "
                      f"{summary.errors:,} bad records kept in ingest_errors")
            for s in summary.error_samples:
                out.print(f"  [yellow]bad:[/yellow] {escape(s)}", highlight=False)
            if summary.errors and not summary.posts_added and not summary.posts_known:
                failed.append(str(path))


@app.command()
def status(db: Path = DbOption) -> None:
    """Row counts of every table in the store."""
    with open_store(db, read_only=True) as store:
        t = Table("table", "rows")
        for name, n in store.counts().items():
            t.add_row(name, f"{n:,}")
        out.print(t)


@app.command("export")
def export_cmd(folder: Path = typer.Argument(..., file_okay=False, help="Folder for <table>.parquet files."),
               db: Path = DbOption) -> None:
    """Export every table of the store to Parquet."""
    with open_store(db, read_only=True) as store:
        for p in store.export_parquet(folder):
            out.print(str(p))


@app.command("import")
def import_cmd(folder: Path = typer.Argument(..., help="Folder holding <table>.parquet files."),
               db: Path = DbOption) -> None:
    """Import Parquet tables written by `cibscope export` (existing rows are kept, not duplicated)."""
    with open_store(db) as store:
        try:
            added = store.import_parquet(folder)
        except FileNotFoundError as exc:
            _fail(str(exc))
        for t, n in added.items():
            out.print(f"{t}: {n:,} rows added")


#: ``--windows`` default: the default time scales of :data:`cibscope.detect.params.DEFAULT_WINDOWS`.
DEFAULT_WINDOWS_OPTION = "60s,10m,1h"

SignalsOption = typer.Option(", ".join(DEFAULT_SIGNALS), "--signals",
                             help=f"Comma-separated signals: {', '.join(SIGNALS)}.")


def _params(window: Optional[str], signals: str, min_coactions: int, min_account_actions: int,
            max_object_accounts: int, alpha: float, no_significance: bool, no_discount: bool,
            min_cluster_size: int, min_lift: float, resolution: float, seed: int,
            datasets: Optional[list[str]], near_dup_threshold: float = 0.6, near_dup_num_perm: int = 32,
            fast_repost: str = "30s", burst_gap: str = "60s", burst_min_posts: int = 3, *,
            windows: str = DEFAULT_WINDOWS_OPTION, max_object_accounts_slow: int = 100,
            min_overlap: float = 0.07) -> DetectionParams:
    """Detection parameters from CLI options: ``window`` (one scale) wins over ``windows`` (a list)."""
    unknown = [x.strip() for x in signals.split(",") if x.strip() and x.strip() not in SIGNALS]
    if unknown:
        _fail(f"unknown signals {', '.join(unknown)}; known: {', '.join(SIGNALS)}")
    try:
        scales = [parse_duration(window)] if window is not None else \
            [parse_duration(w) for w in windows.split(",") if w.strip()]
    except ValueError as exc:
        _fail(str(exc))
        raise
    try:
        return DetectionParams(
            windows=scales, signals=[x.strip() for x in signals.split(",") if x.strip()],
            min_coactions=min_coactions, min_account_actions=min_account_actions,
            max_object_accounts=max_object_accounts, max_object_accounts_slow=max_object_accounts_slow,
            min_overlap=min_overlap, alpha=alpha, significance=not no_significance,
            discount=not no_discount, min_cluster_size=min_cluster_size, min_lift=min_lift,
            resolution=resolution, seed=seed, datasets=datasets or None,
            near_dup_threshold=near_dup_threshold, near_dup_num_perm=near_dup_num_perm,
            fast_repost_s=parse_duration(fast_repost), burst_gap_s=parse_duration(burst_gap),
            burst_min_posts=burst_min_posts)
    except ValidationError as exc:
        _fail(f"bad detection parameters: {_validation_message(exc)}")
        raise  # unreachable
    except ValueError as exc:
        _fail(f"bad detection parameters: {exc}")
        raise  # unreachable


def _run_detection(store: Store, params: DetectionParams, run: Optional[Callable] = None) -> int:
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
            _fail(f"detection ran out of memory (DuckDB memory_limit {limit}) while {state.get('step', 'running')}: "
                  f"raise {MEMORY_LIMIT_ENV} (e.g. {MEMORY_LIMIT_ENV}=8GB), or make the slow scales cheaper "
                  f"(--max-object-accounts-slow 30, or --windows 60s,10m, or one scale: --window 60s) "
                  f"[{str(exc).splitlines()[0][:200]}]")
        bar.update(task, completed=len(STEPS), description="detect: done")
    out.print(f"run {result.run_id}: {result.n_actions:,} actions of {result.n_accounts:,} accounts -> "
              f"{result.n_candidate_pairs:,} candidate pairs, {result.n_edges:,} significant edges, "
              f"{result.n_clusters:,} clusters in {result.seconds:.1f} s")
    return result.run_id


def _write(store: Store, run_id: int, out_dir: Path, tlp: str, top: int) -> None:
    if tlp not in TLP_LEVELS:
        _fail(f"--tlp must be one of {', '.join(TLP_LEVELS)}")
    from .report import write_outputs

    with progress_bar() as bar:
        bar.add_task(f"write outputs to {out_dir}", total=None)
        written = write_outputs(store, run_id, out_dir, tlp=tlp, top_clusters=top)
    for name, path in written.items():
        out.print(f"  {name}: {path}")


@app.command()
def detect(
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False,
                                 help="Folder for report.html, bundle.json, CSVs."),
    windows: str = typer.Option(DEFAULT_WINDOWS_OPTION, "--windows",
                                help="Time scales tested in one run, comma-separated (e.g. 60s,10m,1h)."),
    window: Optional[str] = typer.Option(None, "--window", help="One time scale only, e.g. 30s, 5m, 1h "
                                         "(instead of --windows)."),
    signals: str = SignalsOption,
    min_coactions: int = typer.Option(3, help="Minimum distinct co-acted objects per account pair."),
    min_account_actions: int = typer.Option(2, help="Ignore accounts with fewer actions."),
    max_object_accounts: int = typer.Option(1000, help="Do not expand objects shared by more accounts."),
    max_object_accounts_slow: int = typer.Option(100, help="Above the fastest scale, do not expand objects "
                                                 "shared by more accounts."),
    alpha: float = typer.Option(0.01, help="False-discovery rate for edges."),
    no_significance: bool = typer.Option(False, "--no-significance",
                                         help="Keep every pair with min-coactions (parity mode)."),
    no_discount: bool = typer.Option(False, "--no-discount", help="Weigh every object 1 (no popularity discount)."),
    min_cluster_size: int = typer.Option(3, help="Smallest reported cluster."),
    min_lift: float = typer.Option(10.0, help="Flag a cluster only at this many times the expected co-actions."),
    min_overlap: float = typer.Option(0.07, help="Flag a cluster only if its pairs co-act on this share of "
                                      "their activity (median over edges)."),
    near_dup_threshold: float = typer.Option(0.6, help="Jaccard threshold of near-duplicate text (text_near)."),
    near_dup_num_perm: int = typer.Option(32, help="MinHash permutations (text_near)."),
    fast_repost: str = typer.Option("30s", "--fast-repost", help="Max delay of a fast repost (fast_repost)."),
    burst_gap: str = typer.Option("60s", "--burst-gap", help="Max gap between posts of one session (burst)."),
    burst_min_posts: int = typer.Option(3, help="Posts in a session that make it a burst (burst)."),
    resolution: float = typer.Option(1.0, help="Leiden resolution."),
    seed: int = typer.Option(42, help="Leiden seed."),
    dataset: Optional[list[str]] = typer.Option(None, "--dataset", help="Restrict to these datasets."),
    tlp: str = typer.Option("amber", help=f"TLP 2.0 marking of bundle.json: {', '.join(TLP_LEVELS)}."),
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
    params = _params(window, signals, min_coactions, min_account_actions, max_object_accounts, alpha,
                     no_significance, no_discount, min_cluster_size, min_lift, resolution, seed, dataset,
                     near_dup_threshold, near_dup_num_perm, fast_repost, burst_gap, burst_min_posts,
                     windows=windows, max_object_accounts_slow=max_object_accounts_slow, min_overlap=min_overlap)
    if engine not in ("duckdb", "spark"):
        _fail(f"--engine must be duckdb or spark, not {engine!r}")
    if engine == "spark":
        _detect_spark(params, master, input_uri, db, out_dir, tlp, top)
        return
    if master or input_uri:
        _fail("--master and --input apply to --engine spark only")
    with open_store(db, must_exist=True) as store:
        if store.con.execute("SELECT count(*) FROM actions").fetchall()[0][0] == 0:
            _fail(f"{db}: the store holds no actions; run `cibscope ingest` first")
        if params.datasets:
            known = {r[0] for r in store.con.execute("SELECT dataset FROM datasets").fetchall()}
            unknown = sorted(set(params.datasets) - known)
            if unknown:
                _fail(f"{db}: no dataset named {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        run_id = _run_detection(store, params)
        _write(store, run_id, out_dir, tlp, top)


def _detect_spark(params: DetectionParams, master: Optional[str], input_uri: Optional[str], db: Path,
                  out_dir: Path, tlp: str, top: int) -> None:
    from .detect.spark import check_input, detect_parquet, spark_session

    if not input_uri:
        _fail("--engine spark needs --input (a folder or URI written by `cibscope export`)")
    try:
        check_input(input_uri, params)  # before the 20 s of a Spark start
        session = spark_session(master)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    with open_store(db) as store:
        try:
            run_id = _run_detection(store, params, lambda s, p, progress: detect_parquet(
                s, input_uri, p, session=session, progress=progress))
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        _write(store, run_id, out_dir, tlp, top)


def _latest_run(store: Store, run: Optional[int], db: Path) -> int:
    """``run``, or the latest full detection run (not a watch run); exits when there is none."""
    if run is None:
        run = latest_run_id(store.con)
    if run is None or not store.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run]).fetchall():
        _fail(f"{db}: no detection run {run if run is not None else ''} (run `cibscope detect` first)")
    return run


@app.command()
def report(
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False),
    tlp: str = typer.Option("amber", help=f"TLP 2.0 marking: {', '.join(TLP_LEVELS)}."),
    top: int = typer.Option(50, help="Clusters drawn in full in report.html."),
    db: Path = DbOption,
) -> None:
    """Rebuild a saved run's outputs from the store, without recomputing detection."""
    with open_store(db, read_only=True) as store:
        _write(store, _latest_run(store, run, db), out_dir, tlp, top)


@app.command("export-graph")
def export_graph_cmd(
    out_file: Path = typer.Argument(..., dir_okay=False, help="File to write (.gexf or .graphml)."),
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="gexf or graphml (default: from the file's suffix)."),
    db: Path = DbOption,
) -> None:
    """Write a run's account network for Gephi, networkx or igraph: GEXF 1.3 or GraphML, with weights,
    clusters, flags, scores, signals, p/q values and first/last seen (docs/outputs.md)."""
    from .report.graph_export import export_graph

    with open_store(db, read_only=True) as store:
        rid = _latest_run(store, run, db)
        try:
            res = export_graph(store, rid, out_file, fmt)
        except (ValueError, OSError) as exc:
            _fail(str(exc))
            raise
    out.print(f"{res['path']}: run {rid} as {res['format']}, {res['nodes']:,} accounts, {res['edges']:,} edges")


@app.command()
def search(
    query: str = typer.Argument(..., help="@account, #hashtag, a URL or words."),
    kind: Optional[str] = typer.Option(None, "--kind", help="account, hashtag, url or text (default: guessed)."),
    run: Optional[int] = typer.Option(None, "--run", help="Only this run's clusters and data sets."),
    limit: int = typer.Option(20, "--limit", help="Most rows per list (1-500)."),
    db: Path = DbOption,
) -> None:
    """Find an account, hashtag, URL or text across runs, with the clusters that involve it."""
    from .store.search import search as do_search

    with open_store(db, read_only=True, must_exist=True) as store:
        try:
            res = do_search(store, query, kind=kind, run_id=run, limit=limit)
        except ValueError as exc:
            _fail(str(exc))
            raise

    def where(cs: list) -> str:
        return "; ".join(f"run {c['run_id']} #{c['rank']} {c['cluster_id']}{' flagged' if c['flagged'] else ''}"
                         + (f" ({c['n_pairs']} pairs)" if "n_pairs" in c else "") for c in cs) or "in no cluster"

    out.print(f"searched {', '.join(res['kinds'])} for {res['query']!r}" + (f" in run {run}" if run else ""))
    for a in res.get("accounts", []):
        out.print(f"account {a['account_key']} ({a['handle'] or ''}, {a['n_posts']:,} posts"
                  f"{', ' + a['label'] if a['label'] else ''}): {where(a['clusters'])}", markup=False)
    for name in ("hashtags", "urls"):
        for o in res.get(name, []):
            out.print(f"{o['action_type']} {o['object_key']}: {o['n_posts']:,} posts by {o['n_accounts']:,} accounts, "
                      f"{o['first_ts']:%Y-%m-%d} to {o['last_ts']:%Y-%m-%d}; {where(o['clusters'])}", markup=False)
    for p in res.get("posts", []):
        text = " ".join((p["text"] or "").split())
        out.print(f"post {p['post_key']} by {p['handle'] or p['account_key']} at {p['created_at']:%Y-%m-%d %H:%M}: "
                  f"{text[:100]}{'…' if len(text) > 100 else ''} [{where(p['clusters'])}]", markup=False)
    if not any(res.get(k) for k in ("accounts", "hashtags", "urls", "posts")):
        out.print("nothing found")
    for name in res["truncated"]:
        out.print(f"more {name} match: raise --limit or narrow the search")


@app.command()
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


def _duration(seconds: float) -> str:
    """``90`` -> ``1.5 min``: a delay as a reader says it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


@app.command("suggest-window")
def suggest_window(
    signals: Optional[str] = typer.Option(None, "--signals", help="Comma-separated signals (default: every "
                                          "stored one but mention and domain)."),
    dataset: Optional[list[str]] = typer.Option(None, "--dataset", help="Restrict to these datasets."),
    q: float = typer.Option(0.1, "--q", help="Quantile of the objects' median follow delay to suggest."),
    db: Path = DbOption,
) -> None:
    """How fast do accounts follow each other on the same object here? Quantiles and a suggested window."""
    from .detect.interval import follow_delays

    with open_store(db, read_only=True) as store:
        try:
            res = follow_delays(store, signals=[x.strip() for x in signals.split(",")] if signals else None,
                                datasets=dataset or None, q=q)
        except ValueError as exc:
            _fail(str(exc))
            raise
    out.print(f"{res.n_objects:,} objects acted on by two or more accounts, {res.n_follows:,} follow-ups")
    out.print("follow delay (first action -> a later account's first action): " +
              ", ".join(f"{int(k * 100)}% within {_duration(v)}" for k, v in res.delay_quantiles.items()))
    out.print("per-object median follow delay: " +
              ", ".join(f"{int(k * 100)}% within {_duration(v)}" for k, v in res.object_median_quantiles.items()))
    out.print(f"suggested window: {res.suggested_s:g} s ({_duration(res.suggested_s)}; the {res.q:g} quantile of "
              f"the objects' median follow delay, CooRnet's coordination interval). `detect` tests 60 s, 10 min "
              f"and 1 h by default; add it with --windows 60s,{res.suggested_s:g}s,10m,1h if it is not close to one.")


@app.command()
def demo(
    sample: Path = typer.Argument(Path("data/sample/ira-sample"), help="The shipped real IRA sample."),
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False),
    db: Path = DbOption,
) -> None:
    """The main job on the shipped sample: ingest, detect (60 s, 10 min and 1 h scales), write out/."""
    with open_store(db) as store:
        try:
            summary = ingest_path(store, sample, fmt="ira-csv", dataset="ira-sample")
        except IngestError as exc:
            _fail(str(exc))
        out.print(f"{sample}: " + ("already ingested" if summary.skipped else
                                   f"{summary.posts_added:,} posts, {summary.errors:,} bad records"))
        run_id = _run_detection(store, DetectionParams(datasets=["ira-sample"]))
        _write(store, run_id, out_dir, "amber", 50)
    out.print(f"open {out_dir / 'report.html'}")


@app.command()
def evaluate(
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="CSV with account_key,label (or account,label: bare names) of known positives."),
    negative_label: Optional[list[str]] = typer.Option(
        None, "--negative-label", help="A label of --labels that marks known negatives, e.g. organic (repeat)."),
    label_prefix: str = typer.Option("IRA:", "--label-prefix", help="Positives: accounts.label with this prefix."),
    min_posts: int = typer.Option(20, "--min-posts", help="Only accounts with at least this many posts."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    db: Path = DbOption,
) -> None:
    """Account-level precision, recall, F1, PR-AUC and AMI of a run against known labels."""
    import json

    from .evaluate import evaluate as evaluate_run, read_labels

    with open_store(db, read_only=True) as store:
        run = _latest_run(store, run, db)
        try:
            res = evaluate_run(store, run, labels=read_labels(labels) if labels else None,
                               label_prefix=None if labels else label_prefix, min_posts=min_posts,
                               negative_labels=tuple(negative_label or ()))
        except ValueError as exc:
            _fail(str(exc))
    if labels:
        sample = ", ".join(res["labels_unmatched_sample"])
        out.print(f"labels: {res['labels_matched']:,} of {res['labels_matched'] + res['labels_unmatched']:,} "
                  f"matched an account; {res['labels_unmatched']:,} did not" + (f" (e.g. {sample})" if sample else ""))
    out.print(f"run {res['run_id']}, accounts with >= {res['min_posts']} posts: {res['n_accounts']:,} "
              f"({res['n_positive']:,} positive, {res['n_flagged']:,} flagged)")
    def num(v: Optional[float]) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    out.print(f"precision {num(res['precision'])}  recall {res['recall']:.3f}  F1 {res['f1']:.3f}  "
              f"PR-AUC {num(res['pr_auc'])}  (TP {res['tp']}, FP {res['fp']}, FN {res['fn']})")
    b = res["baseline"]
    out.print(f"baseline, every clustered account ({b['n_flagged']:,}): precision {num(b['precision'])}  "
              f"recall {b['recall']:.3f}  F1 {b['f1']:.3f}; PR-AUC of a random score {b['pr_auc']:.3f}")
    for w in res["warnings"]:
        out.print(f"[yellow]warning:[/yellow] {escape(w)}")
    ami = "n/a" if res["ami"] is None else f"{res['ami']:.3f}"
    out.print(f"AMI clusters vs categories: {ami} ({res['ami_n']} clustered positives in {res['ami_clusters']} "
              "clusters)")
    t = Table("category", "accounts", "flagged", "recall", "precision")
    for c in res["categories"]:
        t.add_row(c["category"], str(c["n"]), str(c["flagged"]), f"{c['recall']:.3f}", num(c["precision"]))
    out.print(t)
    t = Table("dataset", "accounts", "positive", "flagged positive", "negative", "flagged negative")
    for d in res["datasets"]:
        t.add_row(d["dataset"], str(d["n"]), str(d["n_positive"]), str(d["flagged_positive"]),
                  str(d["n_negative"]), str(d["flagged_negative"]))
    out.print(t)
    if json_out:
        json_out.write_text(json.dumps(res, indent=2))


@app.command()
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
    from .explain.authenticity import save_authenticity
    from .explain.embeddings import EmbeddingsUnavailable
    from .explain.narratives import load_library, resolve_representation, save_narratives
    from .explain.profiles import enrich_profiles

    with open_store(db) as store:
        run = _latest_run(store, run, db)
        if profiles:
            try:
                got = enrich_profiles(store, profiles)
            except ValueError as exc:
                _fail(str(exc))
            out.print(f"{profiles}: {got['rows']:,} users, {got['matched']:,} accounts matched by handle; filled "
                      f"created_at {got['created_at']:,}, description {got['description']:,}")
        try:
            lib = load_library(library or [])
            rep = resolve_representation(representation)
        except (OSError, ValueError, EmbeddingsUnavailable) as exc:
            _fail(str(exc))
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


def main() -> None:  # pragma: no cover - console entry
    app()
# Command groups of the later pipeline stages register themselves on the same app.
from .cases.cli import register as _register_cases  # noqa: E402
from .intel.cli import register as _register_intel  # noqa: E402
from .share.cli import register as _register_share  # noqa: E402
from .web.cli import register as _register_web  # noqa: E402

_register_share(app)
_register_intel(app)
_register_cases(app)
_register_web(app)
from .watch.cli import register as _register_watch  # noqa: E402

_register_watch(app)
