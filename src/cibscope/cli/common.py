"""What every command of the ``cibscope`` command line shares.

The Rich consoles (:data:`console` for progress and errors on standard error, :data:`out` for
results on standard output), the one error exit (:func:`fail`, exit status 2), opening the store
(:func:`open_store`), the shared options (:data:`DbOption`, :data:`SignalsOption`), detection
parameters from options (:func:`detection_params`), the run a command works on (:func:`latest_run`)
and the progress display (:func:`progress_bar`).

Only :mod:`cibscope.cli` imports this module; the pipeline stages never import the command line.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Protocol

import duckdb
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..detect import DEFAULT_SIGNALS, SIGNALS, DetectionParams, parse_duration
from ..store.db import DEFAULT_DB, Store, StoreLockedError, latest_run_id
from ..store.db import check_datasets as check_store_datasets


def click_style_help() -> None:
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


click_style_help()

# soft_wrap: a line is never broken at the console width (80 columns in a pipe), so logs keep whole lines
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DbOption = typer.Option(DEFAULT_DB, "--db", help="DuckDB store file.")
SignalsOption = typer.Option(", ".join(DEFAULT_SIGNALS), "--signals",
                             help=f"Comma-separated signals: {', '.join(SIGNALS)}.")
MinCoactionsOption = typer.Option(3, "--min-coactions", help="Minimum co-action events (post pairs sharing an object "
                                                                "within the window) per account pair.")
MinLiftOption = typer.Option(DetectionParams.model_fields["min_lift"].default, "--min-lift", help="Flag a cluster only at this many times the expected co-actions.")
#: ``--platform`` of ``intel import`` and ``tip ingest``: handles in a plain list carry no platform.
ListPlatformOption = typer.Option(None, "--platform", help="Platform of bare handles in a list.")
#: ``--windows`` default: the default time scales of :data:`cibscope.detect.params.DEFAULT_WINDOWS`.
DEFAULT_WINDOWS_OPTION = "60s,10m,1h"


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


def lower_case(value: Optional[str]) -> Optional[str]:
    """Option callback: TLP levels and other keywords are accepted in any case (``RED`` is ``red``)."""
    return value.lower() if isinstance(value, str) else value


def progress_bar() -> Progress:
    """The progress display every long step uses (on stderr; see :class:`StepProgress`)."""
    return StepProgress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False)


def fail(msg: str) -> None:
    """Print ``error: <msg>`` (one line, markup escaped) on standard error and exit with status 2.

    Raises
    ------
    typer.Exit
        Always, with ``exit_code`` 2.
    """
    console.print(f"[red]error:[/red] {escape(msg)}")
    raise typer.Exit(code=2)


def check_port(host: str, port: int, command: str) -> None:
    """Exit via :func:`fail` unless a server can listen on ``host:port`` now: the port in use (another server,
    a ``cibscope <command>`` still running: ``command`` is the one being run, ``serve`` or ``serve-taxii``),
    an address not of this machine, a port below 1024 without the right.

    A test bind as Uvicorn's ``Config.bind_socket`` makes it (IPv6 when the host holds ``:``, ``SO_REUSEADDR``,
    so a port left in TIME_WAIT by a stopped server passes). Servers call it before printing their address,
    so no URL is shown for a server that never listens."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except socket.gaierror as exc:
        fail(f"--host {host}: not an address of this machine ({exc.strerror})")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"--port {port}: {host}:{port} is already in use (another server, or a `cibscope {command}` "
                 "still running); stop it or pass another --port")
        fail(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})")


def open_store(db: Path, read_only: bool = False, must_exist: bool = False) -> Store:
    """Open the store or exit with a clear message (missing folder, locked or foreign file).

    ``read_only`` or ``must_exist``: a missing file is an error (a mistyped ``--db`` must not
    quietly create an empty store)."""
    if (read_only or must_exist) and not Path(db).exists():
        fail(f"{db}: no such store (run `cibscope ingest` first, or pass --db)")
    try:
        return Store(db, read_only=read_only)
    except StoreLockedError as exc:  # names the file, the process holding it and what to do
        fail(str(exc))
        raise  # unreachable
    except duckdb.Error as exc:
        fail(f"{db}: cannot open the store: {str(exc).splitlines()[0]}")
        raise  # unreachable
    except ValueError as exc:  # a bad CIBSCOPE_MEMORY_LIMIT (the message names it and the value)
        fail(str(exc))
        raise  # unreachable


def out_folder(path: Path, option: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents) now, or exit via :func:`fail` naming ``option``
    and the path: a file in the way, a folder that cannot be created or written. Commands call it before
    any work, so a bad ``--out`` never costs a detection run. Returns ``path``."""
    _make_folder(path, f"{option} {path}")
    return path


def out_file(path: Path, option: str) -> Path:
    """Check that the output file ``path`` can be written, creating its folder, before any work, or exit via
    :func:`fail` naming ``option`` and the path (a folder in its place, a file in the way of its folder, a
    folder that cannot be made or written). Returns ``path``."""
    if path.is_dir():
        fail(f"{option} {path}: is a folder, not a file")
    _make_folder(path.parent, f"{option} {path}")
    return path


def _make_folder(folder: Path, what: str) -> None:
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                fail(f"{what}: {p} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{what}: cannot create the folder {folder} ({exc.strerror or exc})")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"{what}: the folder {folder} is not writable")


def check_datasets(store: Store, datasets: Optional[list[str]], db: Path) -> None:
    """Exit via :func:`fail` when a name of ``datasets`` (``--dataset``, repeated) is not in the store, or
    the named datasets hold no actions (:func:`cibscope.store.db.check_datasets` gives the message)."""
    try:
        check_store_datasets(store.con, datasets)
    except ValueError as exc:
        fail(f"{db}: {exc}")


def latest_run(store: Store, run: Optional[int], db: Path) -> int:
    """``run``, or the latest full detection run (not a watch run); exits when there is none."""
    if run is None:
        run = latest_run_id(store.con)
    if run is None or not store.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run]).fetchall():
        fail(f"{db}: no detection run" + (f" {run}" if run is not None else "") + " (run `cibscope detect` first)")
    return run


def validation_message(exc: ValidationError) -> str:
    """One line per problem, without pydantic's links: 'signals: Input should be ...'."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'][:1]) or 'value'}: {e['msg']}" for e in exc.errors())


def detection_params(window: Optional[str], signals: str, min_coactions: int, min_account_actions: int,
                     max_object_accounts: int, alpha: float, no_significance: bool, no_discount: bool,
                     min_cluster_size: int, min_lift: float, resolution: float, seed: int,
                     datasets: Optional[list[str]], near_dup_threshold: float = 0.6, near_dup_num_perm: int = 32,
                     fast_repost: str = "30s", burst_gap: str = "60s", burst_min_posts: int = 3, *,
                     windows: Optional[str] = None,
                     max_object_accounts_mid: int = DetectionParams.model_fields["max_object_accounts_mid"].default,
                     max_object_accounts_slow: int = DetectionParams.model_fields["max_object_accounts_slow"].default,
                     min_overlap: float = 0.07,
                     max_source_share: float = DetectionParams.model_fields["max_source_share"].default,
                     min_sources_per_member: float = DetectionParams.model_fields["min_sources_per_member"].default,
                     ) -> DetectionParams:
    """Detection parameters from CLI options: ``window`` (one scale) or ``windows`` (a comma-separated list;
    default :data:`DEFAULT_WINDOWS_OPTION`), not both (exits via :func:`fail`).

    Durations are strings such as ``60s``, ``10m``, ``1h``; a bad value or parameter exits via :func:`fail`
    with a one-line message (see docs/detection.md for every parameter)."""
    unknown = [x.strip() for x in signals.split(",") if x.strip() and x.strip() not in SIGNALS]
    if unknown:
        fail(f"unknown signals {', '.join(unknown)}; known: {', '.join(SIGNALS)}")
    if window is not None and windows is not None:
        fail(f"--window {window} and --windows {windows} exclude each other: pass one scale with --window, "
             "or several with --windows")
    try:
        if windows is not None and not windows.replace(",", "").strip():
            fail("--windows is empty: give one or more time scales, e.g. --windows 60s,10m,1h")
        scales = [parse_duration(window)] if window is not None else \
            [parse_duration(w) for w in (windows or DEFAULT_WINDOWS_OPTION).split(",") if w.strip()]
    except ValueError as exc:
        fail(str(exc))
        raise
    try:
        return DetectionParams(
            windows=scales, signals=[x.strip() for x in signals.split(",") if x.strip()],
            min_coactions=min_coactions, min_account_actions=min_account_actions,
            max_object_accounts=max_object_accounts, max_object_accounts_mid=max_object_accounts_mid,
            max_object_accounts_slow=max_object_accounts_slow,
            min_overlap=min_overlap, max_source_share=max_source_share,
            min_sources_per_member=min_sources_per_member, alpha=alpha, significance=not no_significance,
            discount=not no_discount, min_cluster_size=min_cluster_size, min_lift=min_lift,
            resolution=resolution, seed=seed, datasets=datasets or None,
            near_dup_threshold=near_dup_threshold, near_dup_num_perm=near_dup_num_perm,
            fast_repost_s=parse_duration(fast_repost), burst_gap_s=parse_duration(burst_gap),
            burst_min_posts=burst_min_posts)
    except ValidationError as exc:
        fail(f"bad detection parameters: {validation_message(exc)}")
        raise  # unreachable
    except ValueError as exc:
        fail(f"bad detection parameters: {exc}")
        raise  # unreachable


class Stoppable(Protocol):
    """What :func:`signals_interrupt` records: the first SIGINT or SIGTERM received (0: none)."""

    signum: int


@contextmanager
def signals_interrupt(record: Stoppable) -> Iterator[None]:
    """While the block runs, the first SIGINT or SIGTERM stops it as Ctrl-C does (``KeyboardInterrupt``,
    which DuckDB turns into its "Query interrupted" error inside a statement) and is recorded in
    ``record.signum``; later ones are ignored (to the end of the process once a stop began), so a command
    that keeps its clean-up inside the block (a rollback, the one line saying what it left, removing a new
    empty store) is not cut short by an impatient second Ctrl-C or a service manager's repeated SIGTERM,
    and exits with the first signal's status (``cibscope ingest``: 128 + the signal; ``cibscope watch``:
    0, a stop is how a watch ends). SIGKILL still ends it; a signal the parent set to be ignored stays
    ignored. Outside the main thread (no handler can be set) it does nothing."""
    def stop(signum, frame):
        if record.signum:  # a stop is under way: let its clean-up finish
            return
        record.signum = signum
        raise KeyboardInterrupt

    try:
        # a signal the parent set to be ignored stays ignored (a background job of a script ignores SIGINT)
        before = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)
                  if signal.getsignal(s) is not signal.SIG_IGN}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for s, handler in before.items():
            # after a stop the command is on its way out: restoring the previous handlers let a second Ctrl-C
            # end it with 130 between its last line and its exit; ignore further signals to the end instead
            signal.signal(s, signal.SIG_IGN if record.signum else handler)


def is_interrupt(exc: BaseException) -> bool:
    """True for a Ctrl-C or a signal that stopped the work: ``KeyboardInterrupt`` in Python, or DuckDB's
    ``InterruptException`` / "Query interrupted" error when it arrived inside a statement."""
    return isinstance(exc, (KeyboardInterrupt, duckdb.InterruptException)) or str(exc) == "Query interrupted"
