"""``cibscope watch SOURCE``: continuous monitoring with alerts (thin wrapper over :mod:`cibscope.watch`)."""
from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..detect import parse_duration
from ..report import TLP_LEVELS
from ..share.markings import PURPOSES
from ..text import plural
from ..watch import Cycle, Rules, StdinSpool, Watcher, WatchError, load_operations
from ..watch.sinks import LogSink, TaxiiSink, WebhookSink, check_http_url
from ..watch.state import reset as reset_state
from .common import (DbOption, MinCoactionsOption, MinLiftOption, SignalsOption, console, detection_params, fail,
                     is_interrupt, lower_case, open_store, out, signals_interrupt)


def watch(
    source: str = typer.Argument(..., help="Folder receiving export files, or '-' for JSON lines on stdin."),
    horizon: str = typer.Option("7d", "--horizon", help="Sliding detection horizon, e.g. 7d, 48h."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Input format (default: sniffed per file)."),
    dataset: str = typer.Option("watch", "--dataset", help="Dataset name of the ingested rows."),
    window: str = typer.Option("60s", "--window", help="Co-action time window."),
    signals: str = SignalsOption,
    min_coactions: int = MinCoactionsOption,
    min_lift: float = MinLiftOption,
    alpha: float = typer.Option(0.01, help="False-discovery rate for edges and clusters."),
    grow: float = typer.Option(1.5, "--grow", help="Alert again when a cluster reaches this x its alerted size."),
    operations: Optional[Path] = typer.Option(None, "--operations", help="Known operations (JSON) to recognise."),
    alert_log: Optional[Path] = typer.Option(None, "--alert-log",
                                             help="JSON-lines alert log (default: <db>.alerts.jsonl)."),
    webhook: Optional[str] = typer.Option(None, "--webhook", help="POST each alert as JSON to this URL."),
    taxii_url: Optional[str] = typer.Option(None, "--taxii-url", help="Push alerts as STIX to this TAXII API root."),
    taxii_collection: Optional[str] = typer.Option(None, "--taxii-collection", help="Collection id on the hub."),
    tlp: str = typer.Option("amber", "--tlp", callback=lower_case, help=f"TLP 2.0 level of pushed alerts: {', '.join(TLP_LEVELS)}."),
    purpose: Optional[str] = typer.Option(None, "--purpose", help=f"Purpose of pushed alerts: {', '.join(PURPOSES)}."),
    token: Optional[str] = typer.Option(None, "--token", envvar="CIBSCOPE_TOKEN", help="Hub API token."),
    poll: float = typer.Option(2.0, "--poll", help="Seconds between polls of the folder."),
    once: bool = typer.Option(False, "--once", help="Process what is there now, then exit (stdin: exit at its end)."),
    reset: bool = typer.Option(False, "--reset", help="Forget the watch state (not the data) and start over."),
    db: Path = DbOption,
) -> None:
    """Watch a folder (or stdin) for new data; update detection incrementally and raise alerts."""
    params = detection_params(window, signals, min_coactions, 2, 1000, alpha, False, False, 3, min_lift, 1.0, 42,
                              None)
    try:
        horizon_s = parse_duration(horizon)
        ops = load_operations(operations) if operations else []
        if webhook is not None:
            check_http_url(webhook, "--webhook")
        if taxii_url is not None:
            check_http_url(taxii_url, "--taxii-url")
    except ValueError as exc:
        fail(str(exc))
        raise
    if taxii_url and not (taxii_collection and purpose):
        fail("--taxii-url needs --taxii-collection and --purpose")
    if purpose and purpose not in PURPOSES:
        fail(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    if tlp not in TLP_LEVELS:
        fail(f"unknown TLP level {tlp!r}; known: {', '.join(TLP_LEVELS)}")
    stop = _Stop()
    with signals_interrupt(stop):  # the store is closed inside: a second signal does not cut that short
        try:
            with open_store(db) as store:
                if reset:
                    reset_state(store.con)
                sinks = [LogSink(alert_log or Path(f"{db}.alerts.jsonl"))]
                if webhook:
                    sinks.append(WebhookSink(webhook))
                if taxii_url:
                    sinks.append(TaxiiSink(store, taxii_url, taxii_collection, tlp=tlp, purpose=purpose, token=token))
                watcher = Watcher(store, params, horizon_s, rules=Rules(grow_factor=grow, operations=ops),
                                  sinks=sinks, fmt=fmt, dataset=dataset)
                until = None
                folder = Path(source)
                if source == "-":
                    folder = Path(f"{db}.spool")
                    spool = StdinSpool(sys.stdin, folder, idle_s=min(poll, 1.0))
                    until = spool.done.is_set
                elif not folder.is_dir():
                    fail(f"{source}: no such folder to watch")
                console.print(f"watching {escape(str(folder))} (horizon {horizon_s:g} s); alerts to "
                              + ", ".join(s.column.removeprefix('sent_') for s in sinks))
                n = watcher.run(folder, poll_s=poll, once=once and until is None, on_cycle=_show, until=until)
        except WatchError as exc:
            fail(str(exc))
        except BaseException as exc:  # Ctrl-C or SIGTERM, in Python or inside a DuckDB statement: one line
            if not is_interrupt(exc):
                raise
            what = {signal.SIGTERM: "SIGTERM"}.get(stop.signum, "Ctrl-C")
            console.print(f"stopped ({what}); an update in progress is finished at the next start")
            return
    out.print(f"{plural(n, 'file')} processed")


@dataclass
class _Stop:
    signum: int = 0  # the first SIGINT or SIGTERM received (common.signals_interrupt)


def _show(c: Cycle) -> None:
    if c.set_aside:
        console.print(f"[yellow]{escape(c.path)}: set aside, not ingested:[/yellow] {escape(c.set_aside)} "
                      "(kept in ingest_errors; watching on)")
        return
    u = c.update
    run = f"{u.run.n_actions:,} actions in horizon, {plural(u.run.n_clusters, 'cluster')}" if u.run else "no detection"
    console.print(f"[bold]{escape(c.path)}[/bold]: +{plural(c.posts_added, 'post')}, {u.n_new_actions:,} new actions, "
                  f"{u.touched:,} objects re-paired, {u.reused:,} rows reused; {run}; {u.seconds:.2f} s")
    for a in c.alerts:
        out.print(f"ALERT {a}")
    for f in c.delivered["failed"]:
        console.print(f"[yellow]delivery failed (will retry):[/yellow] {escape(f)}")

