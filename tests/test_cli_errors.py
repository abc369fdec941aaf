"""Mistakes a new user makes on the command line get one clear error and change nothing."""
from __future__ import annotations

from typer.testing import CliRunner

from cibscope.cli import app


def test_mistyped_db_is_refused_and_not_created(tmp_path):
    db = tmp_path / "typo.duckdb"
    r = CliRunner().invoke(app, ["detect", "--db", str(db), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "no such store" in " ".join(r.output.split())
    assert not db.exists()


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path):
    f = tmp_path / "handles.csv"
    f.write_text("handle\n@TEN_GOP\n")
    for cmd in (["detect", "--out", str(f)], ["report", "--out", str(f)], ["export", str(f)],
                ["case", "expand", "--tip", "T1", "--out", str(f)]):
        r = CliRunner().invoke(app, [*cmd, "--db", str(tmp_path / "none.duckdb")])
        assert r.exit_code == 2 and "is a file" in r.output, (cmd, r.output)
        assert "Traceback" not in r.output
    assert f.read_text() == "handle\n@TEN_GOP\n"


def test_port_out_of_range_is_refused():
    r = CliRunner().invoke(app, ["serve", "--port", "99999"])
    assert r.exit_code == 2 and "--port" in r.output


def test_unknown_signal_is_named(tmp_path):
    from cibscope.store.db import Store
    db = tmp_path / "s.duckdb"
    Store(db).con.close()
    r = CliRunner().invoke(app, ["detect", "--signals", "repost,bogus", "--db", str(db), "--out", str(tmp_path / "o")])
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and "unknown signals bogus; known: repost" in text, r.output


def test_detection_out_of_memory_says_what_to_change(tmp_path, monkeypatch):
    # the shipped IRA sample needs more than DuckDB's smallest limit: a clear error, no traceback
    from pathlib import Path
    from cibscope.ingest import ingest
    from cibscope.store.db import Store

    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        ingest(s, Path(__file__).resolve().parents[1] / "data" / "sample" / "ira-sample", fmt="ira-csv")
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", "32MB")
    r = CliRunner().invoke(app, ["detect", "--db", str(db), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert "ran out of memory" in r.output and "CIBSCOPE_MEMORY_LIMIT" in r.output and "--window 60s" in r.output
    assert "Traceback" not in r.output
