#!/usr/bin/env python3
"""``cibscope watch`` throughput and arrival-to-alert delay on a synthetic stream, 7-day horizon.

Input: ``posts.csv`` written by ``../shared/bench/gen_posts.py`` (coordination-network-toolkit CSV layout;
organic layer, feed bots, planted coordinated groups; ``--days`` of activity). The script cuts it into one
file per ``--batch`` of data time (``0000.csv``, ``0001.csv``, ... in time order: files as an exporter would
drop them) and runs :class:`cibscope.watch.Watcher` over the folder in this process, fresh store per
repetition, alerts to a JSON-lines log. Per cycle (one file) it records the new actions, the cycle's wall
time (ingest + incremental update + alerts + delivery) and the alerts raised.

Reported (median over repetitions):

* **sustained actions/s**: new actions / cycle seconds, over the cycles once the horizon is full (data
  time past the first 7 days), i.e. with the sliding window dropping old actions as new ones arrive;
* **arrival-to-alert delay**: for cycles that raised alerts, the seconds from the file being picked up to
  the alert written to the log (a watch that keeps up picks a file up within ``--poll`` seconds of its
  arrival; add half the poll interval on average);
* **anchor**: one batch ``detect`` over the same final horizon (``batch_core(between=...)``), the cost a
  non-incremental watch would pay for every file.

Usage::

    python3 ../shared/bench/gen_posts.py --posts 100000 --accounts 10000 --days 14 --out /tmp/g100k
    python bench/bench_watch.py --data /tmp/g100k --batch 12h --repeat 3
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import duckdb

from cibscope.detect import DetectionParams, batch_core, detect, parse_duration
from cibscope.store.db import Store
from cibscope.watch import LogSink, Watcher, state

HORIZON_S = 7 * 86400


def split(posts: Path, out: Path, batch_s: float) -> int:
    """Cut ``posts.csv`` into one CNT-layout file per ``batch_s`` seconds of ``timestamp``; returns the count."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{posts}', all_varchar = true, header = true)")
    con.execute("ALTER TABLE t ADD COLUMN b BIGINT")
    con.execute(f"UPDATE t SET b = CAST(floor(CAST(timestamp AS DOUBLE) / {batch_s}) AS BIGINT)")
    cols = "message_id, user_id, username, repost_id, reply_id, message, timestamp, urls"
    bs = [b for (b,) in con.execute("SELECT DISTINCT b FROM t ORDER BY b").fetchall()]
    for i, b in enumerate(bs):
        con.execute(f"COPY (SELECT {cols} FROM t WHERE b = {b} ORDER BY CAST(timestamp AS DOUBLE), message_id) "
                    f"TO '{out}/{i:04d}.csv' (HEADER)")
    return len(bs)


def one_run(folder: Path, work: Path, params: DetectionParams) -> dict:
    db = work / "watch.duckdb"
    for p in work.glob("watch.duckdb*"):
        p.unlink()
    cycles = []
    with Store(db) as store:
        w = Watcher(store, params, HORIZON_S, sinks=[LogSink(work / "alerts.jsonl")], fmt="cnt-csv", dataset="bench")
        started = [time.perf_counter()]

        def on_cycle(c):
            now = time.perf_counter()
            h = c.update.horizon
            cycles.append({"file": c.path, "new_actions": c.update.n_new_actions, "seconds": now - started[0],
                           "update_s": c.update.seconds, "alerts": len(c.alerts),
                           "touched": c.update.touched, "reused": c.update.reused,
                           "data_end": h[1].isoformat() if h else None,
                           "horizon_actions": c.update.run.n_actions if c.update.run else 0})
            started[0] = time.perf_counter()

        w.run(folder, once=True, on_cycle=on_cycle)
        h = state.get(store.con, "horizon")
        t = time.perf_counter()
        detect(store, params, core=partial(batch_core, between=(dt.datetime.fromisoformat(h[0]),
                                                                dt.datetime.fromisoformat(h[1]))))
        anchor = time.perf_counter() - t
    first_end = dt.datetime.fromisoformat(next(c["data_end"] for c in cycles if c["data_end"]))
    full = [c for c in cycles if c["data_end"] and
            (dt.datetime.fromisoformat(c["data_end"]) - first_end).total_seconds() >= HORIZON_S]
    delays = [c["seconds"] for c in cycles if c["alerts"]]
    return {"cycles": cycles, "anchor_batch_detect_s": anchor,
            "sustained_actions_per_s": sum(c["new_actions"] for c in full) / sum(c["seconds"] for c in full),
            "median_cycle_s_full": statistics.median(c["seconds"] for c in full),
            "median_horizon_actions": statistics.median(c["horizon_actions"] for c in full),
            "median_new_actions_per_file": statistics.median(c["new_actions"] for c in full),
            "alert_delay_median_s": statistics.median(delays) if delays else None,
            "alert_delay_max_s": max(delays) if delays else None,
            "n_alerts": sum(c["alerts"] for c in cycles), "n_files": len(cycles)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with gen_posts.py's posts.csv")
    ap.add_argument("--batch", default="12h", help="data time per file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="bench-watch-"))
    folder = work / "in"
    shutil.rmtree(folder, ignore_errors=True)
    n = split(a.data / "posts.csv", folder, parse_duration(a.batch))
    load = [os.getloadavg()[0]]
    runs = []
    for i in range(a.repeat):
        runs.append(one_run(folder, work, DetectionParams()))
        load.append(os.getloadavg()[0])
        r = runs[-1]
        print(f"run {i + 1}: {r['sustained_actions_per_s']:,.0f} actions/s sustained, median cycle "
              f"{r['median_cycle_s_full']:.2f} s, alert delay median {r['alert_delay_median_s']} s, "
              f"anchor batch detect {r['anchor_batch_detect_s']:.2f} s, {r['n_alerts']} alerts")
    med = {k: statistics.median(r[k] for r in runs if r[k] is not None)
           for k in ("sustained_actions_per_s", "median_cycle_s_full", "median_horizon_actions",
                     "median_new_actions_per_file", "alert_delay_median_s", "alert_delay_max_s",
                     "anchor_batch_detect_s")}
    out = {"data": str(a.data), "batch": a.batch, "files": n, "repeat": a.repeat, "medians": med,
           "load_avg_1min": load, "runs": runs}
    (work / "results-watch.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({"files": n, "medians": med, "load_avg_1min": load}, indent=1))
    print(f"results: {work / 'results-watch.json'}")


if __name__ == "__main__":
    main()
