"""Restart safety of ``cibscope watch``: a watch process killed with SIGKILL in the middle of the stream and
started again ends with the same state, the same alerts and the same alert log as an uninterrupted watch
(no data lost, no alert raised or logged twice). Real IRA days around the #KochFarms flood."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from _watch_data import day_files, run_rows
from cibscope.detect import DetectionParams
from cibscope.store.db import Store
from cibscope.watch import LogSink, Watcher, state

ARGS = ["--once", "--format", "ira-csv", "--dataset", "ira", "--min-lift", "3", "--horizon", "7d", "--poll", "0.2"]
KILL_AFTER = "2015-11-25.csv:"       # printed when that day's update is done; the #KochFarms evening (26 Nov) follows


def _watch_cmd(folder, db, log):
    return [sys.executable, "-c", "from cibscope.cli import app; app()", "watch", str(folder), "--db", str(db),
            "--alert-log", str(log), *ARGS]


def _state(db):
    with Store(db, read_only=True) as s:
        con = s.con
        run = state.get(con, "run_id")
        return {"alerts": [r[0] for r in con.execute("SELECT alert_id FROM watch_alerts ORDER BY seq").fetchall()],
                "clusters": con.execute("SELECT * EXCLUDE (updated_update) FROM watch_clusters ORDER BY ALL"
                                        ).fetchall(),
                "members": con.execute("SELECT * FROM watch_members ORDER BY ALL").fetchall(),
                "posts": con.execute("SELECT count(*) FROM posts").fetchall()[0][0],
                "result": {t: run_rows(s, t, run) for t in ("edges", "clusters", "cluster_members")},
                "updates": state.get(con, "updates")}


def test_sigkill_mid_stream_then_restart_equals_uninterrupted(tmp_path):
    files = day_files(tmp_path / "in", "2015-11-25", "2015-11-28")
    # the uninterrupted reference, in process
    with Store(tmp_path / "ref.duckdb") as s:
        Watcher(s, DetectionParams(window_s=60, min_lift=3.0), 7 * 86400, sinks=[LogSink(tmp_path / "ref.jsonl")],
                fmt="ira-csv", dataset="ira").run(tmp_path / "in", once=True)
    ref = _state(tmp_path / "ref.duckdb")
    assert len(ref["alerts"]) >= 4

    db, log = tmp_path / "w.duckdb", tmp_path / "w.jsonl"
    proc = subprocess.Popen(_watch_cmd(tmp_path / "in", db, log), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "400"})
    seen: list[str] = []
    threading.Thread(target=lambda: seen.extend(proc.stderr), daemon=True).start()
    deadline = time.monotonic() + 120
    while not any(KILL_AFTER in line for line in seen) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "".join(seen)          # still working on the stream when killed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed = _state(db)
    assert killed["updates"] < ref["updates"] and len(killed["alerts"]) < len(ref["alerts"])

    res = subprocess.run(_watch_cmd(tmp_path / "in", db, log), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    after = _state(db)
    assert after["alerts"] == ref["alerts"]             # same alerts, same order, none twice
    for key in ("clusters", "members", "posts", "result"):
        assert after[key] == ref[key], key
    logged = [json.loads(line)["alert_id"] for line in log.read_text().splitlines()]
    assert logged == ref["alerts"]
    assert logged == [json.loads(line)["alert_id"] for line in (tmp_path / "ref.jsonl").read_text().splitlines()]
