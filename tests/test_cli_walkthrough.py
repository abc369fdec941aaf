"""What a new user's walkthrough left open (issue 18): a failed first ingest leaves no store, a port in
use and a locked store get one clear line, compressed inputs get a clean dataset name, the web search
echoes no control character, and counts of one read "1 post". Small fresh inputs written per test."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.ingest import default_dataset, ingest
from cibscope.store.db import Store, StoreLockedError
from cibscope.text import plural
from cibscope.web.app import Settings, create_app
from web_fixtures import USERS, web_state

DAY_FIRST = ("post_id,account_id,created_at,text\n"
             "1,alice,24/02/2015 11:35:52,first post here\n"
             "2,bob,24/02/2015 11:35:53,second post here\n")
GOOD = ("post_id,account_id,created_at,text\n"
        "1,alice,2015-02-24T11:35:52Z,Eat at #KochFarms never again\n"
        "2,bob,2015-02-24T11:35:55Z,Eat at #KochFarms never again\n")


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _ingest(*args):
    return CliRunner().invoke(app, ["ingest", *map(str, args)])


def _posts(db) -> int:
    with Store(db, read_only=True) as s:
        return s.con.execute("SELECT count(*) FROM posts").fetchall()[0][0]


# -- 1. a failed first ingest leaves no store file behind --------------------------------------------------------

def test_failed_first_ingest_leaves_no_store_and_an_existing_store_is_kept(tmp_path):
    db = tmp_path / "new.duckdb"
    refused = _write(tmp_path, "dayfirst.csv", DAY_FIRST)
    r = _ingest(refused, "--format", "csv", "--platform", "twitter", "--db", db)
    assert r.exit_code == 2, r.output
    assert "every record was refused" in r.output and "was not kept" in r.output
    assert "kept in ingest_errors" not in r.output  # nothing was kept: the bad records are listed, not stored
    assert not db.exists() and not (tmp_path / "new.duckdb.wal").exists()

    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    unknown = _write(tmp_path, "notes.txt", "dear diary\nnothing here is a post\n")
    for bad in (png, unknown):
        r = _ingest(bad, "--db", db)
        assert r.exit_code == 2, r.output
        assert not db.exists() and not (tmp_path / "new.duckdb.wal").exists()

    # a store that existed is left as it was: still there, its posts untouched
    assert _ingest(_write(tmp_path, "good.csv", GOOD), "--format", "csv", "--platform", "twitter",
                   "--db", db).exit_code == 0
    r = _ingest(refused, "--format", "csv", "--platform", "twitter", "--db", db)
    assert r.exit_code == 2 and "the refused records are kept in ingest_errors" in r.output
    assert _ingest(png, "--db", db).exit_code == 2
    assert db.exists() and _posts(db) == 2


def test_first_ingest_interrupted_leaves_no_store(tmp_path, monkeypatch):
    import cibscope.cli.ingest as cli_ingest

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_ingest, "ingest_path", interrupted)
    db = tmp_path / "new.duckdb"
    r = _ingest(_write(tmp_path, "good.csv", GOOD), "--format", "csv", "--platform", "twitter", "--db", db)
    assert r.exit_code == 130 and f"interrupted: the new store {db} was not kept" in r.output
    assert not db.exists() and not (tmp_path / "new.duckdb.wal").exists()



#: Runs the CLI in a child with its ingest stopped by SIGTERM and a second signal during the clean-up (in a
#: child: a regression must fail the test, not kill the test run with the signal).
SECOND_SIGNAL = """
import os, signal, sys
import cibscope.cli.ingest as cli_ingest
from cibscope.cli import app
def stopped(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
real_count = cli_ingest._post_count
def count_under_a_second_signal(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return real_count(*args, **kwargs)
cli_ingest.ingest_path = stopped
cli_ingest._post_count = count_under_a_second_signal
app(sys.argv[1:], prog_name="cibscope")
"""


def test_a_second_signal_during_the_clean_up_of_an_interrupted_ingest_is_ignored(tmp_path):
    # SIGTERM stops the ingest; a second signal while it counts what was kept and removes the new store (a
    # service manager repeating SIGTERM, an impatient Ctrl-C) used to hit the default handlers, restored by
    # then: the process died without its line and left the empty store behind
    import os

    db = tmp_path / "new.duckdb"
    r = subprocess.run([sys.executable, "-c", SECOND_SIGNAL, "ingest", str(_write(tmp_path, "good.csv", GOOD)),
                        "--format", "csv", "--platform", "twitter", "--db", str(db)], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert r.returncode == 143, r.stdout + r.stderr                          # the first signal's status
    assert f"interrupted: the new store {db} was not kept" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert not db.exists() and not (tmp_path / "new.duckdb.wal").exists()


STARTING = """
import os, sys, time
SIG = int(sys.argv[1])
class SignalWhileLoading:  # the signal arrives while the CLI's modules load
    def find_spec(self, name, path=None, target=None):
        if name == "cibscope.cli":
            os.kill(os.getpid(), SIG)
            time.sleep(1)
        return None
sys.meta_path.insert(0, SignalWhileLoading())
sys.argv[1:] = ["--version"]
from cibscope.launcher import main
main()
"""


@pytest.mark.parametrize("signum, name", [(2, "Ctrl-C"), (15, "SIGTERM")])
def test_a_signal_while_the_cli_loads_ends_it_in_one_line(signum, name):
    r = subprocess.run([sys.executable, "-c", STARTING, str(signum)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 128 + signum, r.stderr
    assert r.stderr == f"stopped ({name}) while starting: nothing was read or written\n" and r.stdout == ""


def test_a_sigint_the_parent_ignores_stays_ignored_while_the_cli_loads():
    import signal

    r = subprocess.run([sys.executable, "-c", STARTING, "2"], capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert r.returncode == 0 and r.stdout.startswith("cibscope "), r.stderr   # went on to `cibscope --version`


# -- 2. a port in use is named before anything is printed or opened ----------------------------------------------

@pytest.mark.parametrize("command", [["serve", "--web-db", "{tmp}/web.sqlite", "--db", "{tmp}/s.duckdb"],
                                     ["serve-taxii", "--db", "{tmp}/hub.sqlite"]])
def test_server_on_a_port_in_use_says_so_in_one_line(tmp_path, command):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = [a.format(tmp=tmp_path) for a in command] + ["--host", "127.0.0.1", "--port", str(port)]
        r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and f"--port {port}: 127.0.0.1:{port} is already in use" in lines[0]
    assert f"a `cibscope {command[0]}` still running" in lines[0]     # the command actually run
    assert "http://" not in r.output
    assert not (tmp_path / "s.duckdb").exists() and not (tmp_path / "hub.sqlite").exists()


# -- 3. a store locked by another process ------------------------------------------------------------------------

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(120)"


def test_store_locked_by_another_process_is_explained(tmp_path):
    db = tmp_path / "s.duckdb"
    assert _ingest(_write(tmp_path, "good.csv", GOOD), "--format", "csv", "--platform", "twitter",
                   "--db", db).exit_code == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for command in (["detect"], ["runs"], ["search", "#KochFarms"]):
            r = CliRunner().invoke(app, [*command, "--db", str(db)])
            assert r.exit_code == 2, r.output
            assert f"{db}: the store is locked by another process (PID {holder.pid})" in r.output
            assert "cibscope serve" in r.output and "copy of the store" in r.output
            assert "Could not set lock" not in r.output
        with pytest.raises(StoreLockedError) as err:
            Store(db)
        assert isinstance(err.value, duckdb.IOException)  # callers catching DuckDB's error still catch it
    finally:
        holder.kill()
        holder.wait()
    assert CliRunner().invoke(app, ["runs", "--db", str(db)]).exit_code == 0  # the lock went with the process


# -- 4. dataset names of compressed inputs -----------------------------------------------------------------------

def test_dataset_name_of_a_compressed_input_drops_both_extensions(tmp_path, store):
    zstandard = pytest.importorskip("zstandard")
    lines = [{"id": f"c{i}", "author": f"user{i}", "created_utc": 1475500000 + i, "body": "same words here #tag",
              "parent_id": "t3_s1", "link_id": "t3_s1", "subreddit": "news"} for i in range(2)]
    dump = tmp_path / "RC_2016-10.ndjson.zst"
    dump.write_bytes(zstandard.ZstdCompressor().compress("\n".join(map(json.dumps, lines)).encode()))
    summary = ingest(store, dump)
    assert (summary.format, summary.dataset, summary.posts_added) == ("reddit", "RC_2016-10", 2)
    assert [default_dataset(tmp_path / n) for n in ("x.jsonl.zst", "x.csv.gz", "X.CSV.GZ", "RS_2016.10.zst",
                                                    "tweets.csv")] == ["x", "x", "X", "RS_2016.10", "tweets"]


# -- 5. the web search echoes no control character ---------------------------------------------------------------

def test_web_search_strips_control_characters_from_the_echoed_query(tmp_path):
    db = tmp_path / "s.duckdb"
    assert _ingest(_write(tmp_path, "good.csv", GOOD), "--format", "csv", "--platform", "twitter",
                   "--db", db).exit_code == 0
    web_state(tmp_path / "web.sqlite")
    name, _, password = USERS[0]
    with TestClient(create_app(Settings(str(db), str(tmp_path / "web.sqlite")))) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"name": name, "password": password, "csrf_token": token},
                      follow_redirects=False).status_code == 303
        page = c.get("/search?q=%00")
        assert page.status_code == 422 and "\x00" not in page.text
        assert 'name="q" value=""' in page.text and "empty search" in page.text   # nothing but controls: said so
        page = c.get("/search?q=%23Koch%00Farms%1b%07")
        assert page.status_code == 200 and not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page.text)
        assert 'name="q" value="#Koch Farms"' in page.text
        page = c.get("/search?q=%23KochFarms%00")
        assert 'value="#KochFarms"' in page.text and "#kochfarms" in page.text   # the query still searches
        api = c.get("/api/search?q=%00")
        assert api.status_code == 422 and "empty search" in api.text


# -- 6. counts of one ---------------------------------------------------------------------------------------------

def test_counts_of_one_read_in_the_singular(tmp_path):
    assert (plural(1, "post"), plural(0, "post"), plural(2_500, "bad record"), plural(1, "entry", "entries"),
            plural(3, "entry", "entries")) == ("1 post", "0 posts", "2,500 bad records", "1 entry", "3 entries")
    db = tmp_path / "s.duckdb"
    one = _write(tmp_path, "one.csv", GOOD.splitlines()[0] + "\n" + GOOD.splitlines()[1] + "\n")
    r = _ingest(one, "--format", "csv", "--platform", "twitter", "--db", db)
    assert r.exit_code == 0, r.output
    assert ": 1 record, 1 post added, 0 already stored or repeated in the input, 1 new account, " \
           "0 bad records kept in ingest_errors" in r.output
    r = CliRunner().invoke(app, ["search", "#KochFarms", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "hashtag kochfarms: 1 post by 1 account, " in r.output
