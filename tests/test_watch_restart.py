"""Restart safety of ``cibscope watch``: a watch process killed with SIGKILL, or stopped with Ctrl-C (SIGINT) or
SIGTERM, in the middle of the stream and started again ends with the same state, the same alerts and the same
alert log as an uninterrupted watch (no data lost, no alert raised or logged twice). A stop by signal says so in
one line and exits 0, wherever it lands (in Python or inside a DuckDB statement: no traceback). Real IRA days
around the #KochFarms flood."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The input days and the state, alert log of an uninterrupted watch over them (in process)."""
    tmp = tmp_path_factory.mktemp("watch_ref")
    day_files(tmp / "in", "2015-11-25", "2015-11-28")
    with Store(tmp / "ref.duckdb") as s:
        Watcher(s, DetectionParams(window_s=60, min_lift=3.0), 7 * 86400, sinks=[LogSink(tmp / "ref.jsonl")],
                fmt="ira-csv", dataset="ira").run(tmp / "in", once=True)
    ref = _state(tmp / "ref.duckdb")
    assert len(ref["alerts"]) >= 4
    return tmp, ref


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["SIGKILL", "SIGINT", "SIGTERM"])
def test_stopped_mid_stream_then_restart_equals_uninterrupted(tmp_path, reference, signum):
    ref_dir, ref = reference
    files = ref_dir / "in"
    db, log = tmp_path / "w.duckdb", tmp_path / "w.jsonl"
    proc = subprocess.Popen(_watch_cmd(files, db, log), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "400"})
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any(KILL_AFTER in line for line in seen) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "".join(seen)          # still working on the stream when killed
    os.kill(proc.pid, signum)
    proc.wait(timeout=60)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # a stop, not a crash: one line saying so, exit 0, wherever the signal landed
        reader.join(timeout=30)  # every line the process wrote
        text = "".join(seen)
        assert proc.returncode == 0, text
        assert "Traceback" not in text and "Query interrupted" not in text, text
        said = "stopped (Ctrl-C)" if signum == signal.SIGINT else "stopped (SIGTERM)"
        assert text.rstrip().splitlines()[-1].startswith(said), text
    killed = _state(db)
    assert killed["updates"] < ref["updates"] and len(killed["alerts"]) < len(ref["alerts"])

    res = subprocess.run(_watch_cmd(files, db, log), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    after = _state(db)
    assert after["alerts"] == ref["alerts"]             # same alerts, same order, none twice
    for key in ("clusters", "members", "posts", "result"):
        assert after[key] == ref[key], key
    logged = [json.loads(line)["alert_id"] for line in log.read_text().splitlines()]
    assert logged == ref["alerts"]
    assert logged == [json.loads(line)["alert_id"] for line in (ref_dir / "ref.jsonl").read_text().splitlines()]
