"""``cibscope watch -``: newline-delimited JSON on standard input (20 real PHEME tweets, Twitter API v1.1
objects, tests/fixtures/pheme), spooled to files, ingested and watched; a broken line is reported with its
spool file and line, not dropped silently."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.store.db import Store
from cibscope.watch import state

PHEME = Path(__file__).parent / "fixtures" / "pheme" / "charliehebdo_20.jsonl"


def test_stdin_json_lines_are_spooled_ingested_and_watched(tmp_path):
    lines = PHEME.read_text().splitlines()
    text = "\n".join(lines[:10] + ["{not json"] + lines[10:]) + "\n"
    db = tmp_path / "s.duckdb"
    res = CliRunner().invoke(app, ["watch", "-", "--format", "twitter-v1", "--db", str(db), "--poll", "0.2",
                                   "--dataset", "pheme"], input=text)
    assert res.exit_code == 0, res.output
    spooled = sorted((tmp_path / "s.duckdb.spool").glob("stdin-*.jsonl"))
    assert spooled and sum(len(p.read_text().splitlines()) for p in spooled) == 21
    with Store(db, read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM posts WHERE dataset = 'pheme'").fetchall()[0][0] == 20
        assert state.get(s.con, "updates") >= 1
        assert s.con.execute("SELECT count(*) FROM posts p WHERE NOT EXISTS "
                             "(SELECT 1 FROM watch_seen w WHERE w.post_key = p.post_key)").fetchall()[0][0] == 0
        err = s.con.execute("SELECT file, line FROM ingest_errors").fetchall()
    assert len(err) == 1 and err[0][0].endswith(".jsonl") and "stdin-" in err[0][0] and err[0][1] == 11


def _run(*args):
    r = CliRunner().invoke(app, ["watch", *map(str, args)])
    return r.exit_code, " ".join(r.output.split())          # Rich wraps long lines


def test_bad_options_are_refused_with_a_clear_message(tmp_path):
    db = tmp_path / "s.duckdb"
    assert _run(tmp_path / "nope", "--db", db, "--once") == (2, f"error: {tmp_path / 'nope'}: no such folder to watch")
    code, msg = _run(tmp_path, "--db", db, "--taxii-url", "http://127.0.0.1:9/hub/")
    assert code == 2 and "--taxii-url needs --taxii-collection and --purpose" in msg
    code, msg = _run(tmp_path, "--db", db, "--signals", "text_near", "--once")
    assert code == 2 and "signals ['text_near'] are derived" in msg


def test_a_failed_output_keeps_its_alerts_and_delivers_them_later(tmp_path):
    import json
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cibscope.watch import LogSink, WebhookSink
    from cibscope.watch.sinks import deliver

    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    with socket.socket() as sock:                       # a free port, nothing listening yet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Store(tmp_path / "s.duckdb") as s:
        state.ensure(s.con)
        for i in (1, 2):
            s.con.execute("INSERT INTO watch_alerts (alert_id, seq, raised_at, kind, wid, payload) "
                          "VALUES (?, ?, now(), 'new', 'W1', ?)", [f"A{i}", i, json.dumps({"alert_id": f"A{i}"})])
        sinks = [LogSink(tmp_path / "a.jsonl"), WebhookSink(f"http://127.0.0.1:{port}/", timeout_s=2)]
        first = deliver(s, sinks)
        assert first["sent"] == ["sent_log:A1", "sent_log:A2"] and first["failed"][0].startswith("sent_webhook:A1")
        http = ThreadingHTTPServer(("127.0.0.1", port), Hook)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        try:
            assert deliver(s, sinks)["sent"] == ["sent_webhook:A1", "sent_webhook:A2"]
        finally:
            http.shutdown()
        assert [a["alert_id"] for a in got] == ["A1", "A2"] and deliver(s, sinks) == {"sent": [], "failed": []}
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2


def test_a_stop_inside_a_duckdb_statement_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    # Ctrl-C while DuckDB runs a statement surfaces as DuckDB's error, not as KeyboardInterrupt; the
    # watch reports it like any stop (it printed a "Query interrupted" traceback and exited 1 before)
    import duckdb

    from cibscope.watch import Watcher

    for error in (duckdb.InterruptException("INTERRUPT Error: Interrupted!"), RuntimeError("Query interrupted"),
                  KeyboardInterrupt()):
        def interrupted(self, *args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(Watcher, "run", interrupted)
        code, msg = _run(tmp_path, "--db", tmp_path / "s.duckdb")
        assert code == 0, msg
        assert msg.startswith("watching ") and msg.endswith(
            "stopped (Ctrl-C); an update in progress is finished at the next start"), msg
        assert "Traceback" not in msg


def test_an_error_that_is_not_a_stop_still_fails(tmp_path, monkeypatch):
    from cibscope.watch import Watcher

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Watcher, "run", broken)
    r = CliRunner().invoke(app, ["watch", str(tmp_path), "--db", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 1 and isinstance(r.exception, RuntimeError) and "stopped" not in r.output


#: The watch in a child, stopped by SIGTERM, with two more signals while it closes its store (in a child: a
#: regression must fail the test, not kill the test run with the signal).
SECOND_SIGNAL = """
import os, signal, sys
from cibscope.cli import app
from cibscope.store.db import Store
from cibscope.watch import Watcher
def stopped(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
real_close = Store.close
def close_under_more_signals(self):
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    return real_close(self)
Watcher.run = stopped
Store.close = close_under_more_signals
app(sys.argv[1:], prog_name="cibscope")
"""


def test_a_second_signal_while_the_watch_closes_its_store_is_ignored(tmp_path):
    # the first SIGTERM stops the watch; more while the store closes (a service manager repeating it) hit the
    # default handlers, restored by then: the process died by the signal instead of the stop's status 0
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", SECOND_SIGNAL, "watch", str(tmp_path), "--db", str(tmp_path / "s.duckdb")],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.rstrip().splitlines()[-1] == "stopped (SIGTERM); an update in progress is finished at the next start"
