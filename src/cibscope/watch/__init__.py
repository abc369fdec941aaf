"""Early warning: ``cibscope watch`` ingests new data as it arrives and raises alerts on forming operations.

One cycle per new file (:class:`Watcher`): ingest it (:func:`cibscope.ingest.ingest`), refresh partner
tips' matches, update detection incrementally over the sliding horizon (:mod:`.incremental`), carry
cluster ids over and raise alerts in the same transaction (:mod:`.alerts`), then deliver the alerts to
the log, webhook and TAXII hub (:mod:`.sinks`). docs/watch.md describes the design and its guarantees.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..detect import DetectionParams
from ..ingest import IngestError, ingest
from ..ingest.base import errors_table
from ..store.db import Store
from .alerts import Operation, Rules, load_operations, track
from .incremental import UpdateResult, WatchError, update
from .sinks import LogSink, Sink, TaxiiSink, WebhookSink, deliver
from .source import StdinSpool, pending_files


@dataclass
class Cycle:
    """One processed file: its name, the ingest counts, the update, alerts raised and delivery outcome."""

    path: str
    posts_added: int
    update: UpdateResult
    alerts: list[str]
    delivered: dict[str, list[str]]
    set_aside: str | None = None   # why the file was not ingested (it is kept in ingest_errors)


class Watcher:
    """Process new files of a folder into incremental detection and alerts.

    Parameters
    ----------
    store : Store
    params : DetectionParams
        Detection parameters (the same on every start against a store; checked).
    horizon_s : float
        Sliding horizon in seconds (e.g. 7 days = 604800).
    rules : Rules
        Alert thresholds, known operations, tip checking.
    sinks : list of Sink
        Outputs (:class:`LogSink`, :class:`WebhookSink`, :class:`TaxiiSink`).
    fmt : str, optional
        Input format of the files (default: sniffed per file).
    dataset : str
        Dataset name recorded on the ingested rows.
    """

    def __init__(self, store: Store, params: DetectionParams, horizon_s: float, *, rules: Rules | None = None,
                 sinks: list[Sink] | None = None, fmt: str | None = None, dataset: str = "watch"):
        self.store, self.params, self.horizon_s = store, params, horizon_s
        self.rules = rules or Rules()
        self.sinks = sinks or []
        self.fmt, self.dataset = fmt, dataset
        self.done: set[str] = set()

    def process(self, path: str | Path) -> Cycle:
        """Ingest one file, update detection and alerts, deliver alerts (also those left from earlier)."""
        path = Path(path)
        try:
            summary = ingest(self.store, path, fmt=self.fmt, dataset=self.dataset)
        except IngestError as exc:  # a stray file (not an export, empty, half-written) never stops the watch
            # no dataset is registered for it: a dataset comes with its first post (Store.add_batch)
            self.store.add_errors(self.dataset, errors_table([dict(
                file=str(path), line=None, field=None, raw_value=None, reason=f"file set aside by watch: {exc}")]))
            self.done.add(path.name)
            return Cycle(path.name, 0, UpdateResult(state_updates(self.store), 0, 0, 0, 0, None, None, 0.0), [],
                         {"sent": [], "failed": []}, set_aside=str(exc))
        if self.rules.tips:
            self._refresh_tips()
        raised: list[str] = []

        def on_run(run, update_no, horizon):
            raised.extend(track(self.store, run.run_id, update_no, horizon[1], self.rules))

        res = update(self.store, self.params, self.horizon_s, on_run=on_run)
        sent = deliver(self.store, self.sinks)
        self.done.add(path.name)
        return Cycle(path.name, summary.posts_added, res, raised, sent)

    def catch_up(self) -> Cycle | None:
        """Finish an update a killed process left undone (data ingested but not yet detected) and deliver
        alerts not yet sent; None when there was nothing to do."""
        raised: list[str] = []
        res = update(self.store, self.params, self.horizon_s,
                     on_run=lambda run, n, h: raised.extend(track(self.store, run.run_id, n, h[1], self.rules)))
        sent = deliver(self.store, self.sinks)
        return Cycle("(catch-up)", 0, res, raised, sent) if res.n_new_posts or sent["sent"] else None

    def run(self, folder: str | Path, *, poll_s: float = 2.0, once: bool = False,
            on_cycle: Callable[[Cycle], None] | None = None, until: Callable[[], bool] | None = None) -> int:
        """Poll ``folder`` and process each new file in name order.

        Parameters
        ----------
        poll_s : float
            Seconds between polls when nothing is pending.
        once : bool
            Process what is pending, then return (for cron jobs and tests).
        on_cycle : callable, optional
            Called with each :class:`Cycle` (the CLI prints it).
        until : callable, optional
            Polled between cycles; True stops the loop (e.g. standard input has ended).

        Returns
        -------
        int
            Files processed.
        """
        n = 0
        first = self.catch_up()
        if first and on_cycle:
            on_cycle(first)
        while True:
            stop = until() if until else False   # read before listing: a spool file written after is seen next
            files = pending_files(folder, self.done)
            for f in files:
                cycle = self.process(f)
                n += 1
                if on_cycle:
                    on_cycle(cycle)
            if once or (stop and not files):
                return n
            if not files:
                time.sleep(poll_s)

    def _refresh_tips(self) -> None:  # noqa: D401
        from ..cases.match import match_tip
        for (tip,) in self.store.con.execute("SELECT tip_id FROM tips ORDER BY tip_id").fetchall():
            match_tip(self.store, tip)


def state_updates(store: Store) -> int:
    """The number of updates the store's watch state has made (0 before the first)."""
    from . import state

    state.ensure(store.con)
    return state.get(store.con, "updates", 0)


__all__ = ["Cycle", "LogSink", "Operation", "Rules", "StdinSpool", "TaxiiSink", "WatchError", "Watcher",
           "WebhookSink", "load_operations", "update"]
