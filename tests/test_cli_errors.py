"""Mistakes a new user makes on the command line get one clear error and change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
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


# --- a store with real actions and one real run: bad options are refused before detection saves another ---

SAMPLE_A = Path(__file__).resolve().parents[1] / "data" / "sample" / "ira-sample" / "A"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    """Shipped IRA sample A ingested, with one detection run (60 s)."""
    from cibscope.ingest import ingest
    from cibscope.store.db import Store

    db = tmp_path_factory.mktemp("cli") / "s.duckdb"
    with Store(db) as s:
        ingest(s, SAMPLE_A, fmt="ira-csv", dataset="A")
    r = CliRunner().invoke(app, ["detect", "--db", str(db), "--window", "60s", "--top", "1",
                                 "--out", str(db.parent / "out")])
    assert r.exit_code == 0, r.output
    return db


def _runs(db: Path) -> int:
    from cibscope.store.db import Store

    with Store(db, read_only=True) as s:
        return s.con.execute("SELECT count(*) FROM runs").fetchone()[0]


def _error(args: list[str]) -> str:
    """Run the CLI, expect exit 2 with one error line and no traceback; return that line."""
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, (args, r.output)
    assert "Traceback" not in r.output and not isinstance(r.exception, (ValueError, OSError)), r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    return r.output


def test_detect_options_are_checked_before_detection_saves_a_run(sample_db, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    before = _runs(sample_db)
    cases = [(["--top", "-1"], "--top -1: must be 0 or more"),
             (["--tlp", "purple"], "--tlp purple: must be one of clear, green, amber"),
             (["--out", str(afile / "sub")], f"--out {afile / 'sub'}: {afile} is a file, not a folder"),
             (["--window", "1h", "--windows", "60s"], "--window 1h and --windows 60s exclude each other"),
             (["--dataset", "A,B"], "no dataset named A,B; known: A; --dataset takes one name and repeats"),
             (["--windows", ""], "--windows is empty"),
             (["--max-object-accounts", "9223372036854775808"], "max_object_accounts"),
             (["--min-lift", "inf"], "min_lift"),
             (["--signals", "burst", "--burst-gap", "inf"], "burst_gap_s"),
             (["--signals", "fast_repost", "--fast-repost", "inf"], "fast_repost_s")]
    for extra, msg in cases:
        line = _error(["detect", "--db", str(sample_db), "--out", str(tmp_path / "o"), *extra])
        assert msg in line, (extra, line)
    assert _runs(sample_db) == before
    assert not (tmp_path / "o").exists()  # nothing written either


def test_report_out_that_cannot_be_made_names_the_path(sample_db, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _error(["report", "--db", str(sample_db), "--out", str(afile / "sub")])
    assert f"--out {afile / 'sub'}: {afile} is a file, not a folder" in line
    line = _error(["report", "--db", str(sample_db), "--out", "/proc/nope"])
    assert "--out /proc/nope: cannot create the folder /proc/nope" in line
    assert "--top -2: must be 0 or more" in _error(["report", "--db", str(sample_db), "--top", "-2",
                                                     "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_export_graph_creates_its_folder_and_never_names_the_part_file(sample_db, tmp_path):
    target = tmp_path / "newdir" / "deeper" / "g.gexf"
    r = CliRunner().invoke(app, ["export-graph", str(target), "--db", str(sample_db)])
    assert r.exit_code == 0, r.output
    assert target.read_text().startswith("<?xml") and not list(target.parent.glob("*.part"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _error(["export-graph", str(afile / "g.gexf"), "--db", str(sample_db)])
    assert f"{afile} is a file, not a folder" in line and ".part" not in line


def test_suggest_window_names_a_bad_signal_or_dataset_and_a_covered_scale(sample_db, monkeypatch):
    line = _error(["suggest-window", "--db", str(sample_db), "--signals", "repost,foo"])
    assert "unknown signals foo; known: repost" in line
    line = _error(["suggest-window", "--db", str(sample_db), "--dataset", "nosuch"])
    assert "no dataset named nosuch; known: A" in line
    from cibscope.cli.detect import _window_advice

    assert "already tests it: 60s is one of its default scales" in _window_advice(60.0)
    assert "add it with --windows 60s,480s,10m,1h" in _window_advice(480.0)
    assert "add it with --windows 60s,10m,1h,7200s" in _window_advice(7200.0)
    assert "add it with --windows 60s,10m,1h,2000000s" in _window_advice(2_000_000.0)   # 23 days: exact
    assert "longer than the longest window" in _window_advice(3_446_160.0)   # 39.9 days: detect refuses it
    r = CliRunner().invoke(app, ["suggest-window", "--db", str(sample_db), "--signals", "repost"])
    assert r.exit_code == 0, r.output
    assert "suggested window:" in r.output and ("already tests it" in r.output or "add it with" in r.output)


def test_explain_profiles_that_cannot_be_read_name_the_file(sample_db, tmp_path):
    line = _error(["explain", "--db", str(sample_db), "--profiles", str(tmp_path / "nosuch.csv")])
    assert f"--profiles {tmp_path / 'nosuch.csv'}: no such file" in line
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 20)  # binary: DuckDB cannot sniff it as CSV
    line = _error(["explain", "--db", str(sample_db), "--profiles", str(garbage)])
    assert f"--profiles {garbage}: cannot read it as a user CSV" in line


def test_explain_refuses_an_edited_ai_text_model_before_any_work(sample_db, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import shutil
    from importlib import resources

    import duckdb

    from cibscope.explain import aitext_tuned

    ref = resources.files("cibscope.explain").joinpath("data/ai_text_tuned.onnx")
    with resources.as_file(ref) as p:
        shutil.copy(p, tmp_path / "m.onnx")
        shutil.copy(Path(p).with_suffix(".json"), tmp_path / "m.json")
    blob = bytearray((tmp_path / "m.onnx").read_bytes())
    blob[-100] ^= 0x01                                    # an insider's one-bit edit of a weight
    (tmp_path / "m.onnx").write_bytes(bytes(blob))
    real = aitext_tuned.load_model
    monkeypatch.setattr(aitext_tuned, "load_model", lambda *a, **k: real(tmp_path / "m.onnx"))
    with duckdb.connect(str(sample_db), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM cluster_authenticity").fetchone()[0]
    line = _error(["explain", "--db", str(sample_db)])
    assert f"{tmp_path / 'm.onnx'}: sha256" in line and "differs from the record" in line
    with duckdb.connect(str(sample_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM cluster_authenticity").fetchone()[0] == before


def test_watch_webhook_that_is_not_a_url_is_refused_at_start(tmp_path):
    db = tmp_path / "w.duckdb"
    line = _error(["watch", str(tmp_path), "--once", "--webhook", "notaurl", "--db", str(db)])
    assert "--webhook 'notaurl' is not an http(s) URL" in line
    assert "--webhook 'ftp://x/' is not" in _error(["watch", str(tmp_path), "--webhook", "ftp://x/", "--db", str(db)])
    assert not db.exists()


def test_runs_on_an_empty_store_says_there_is_none(tmp_path):
    from cibscope.store.db import Store

    db = tmp_path / "e.duckdb"
    Store(db).con.close()
    r = CliRunner().invoke(app, ["runs", "--db", str(db)])
    assert r.exit_code == 0 and r.output == f"{db}: no detection run yet (run `cibscope detect`)\n", r.output


def test_help_describes_every_out_option_and_keeps_one_line_per_command():
    for cmd in ("report", "demo"):
        r = CliRunner().invoke(app, [cmd, "--help"], terminal_width=200)
        line = next(x for x in r.output.splitlines() if "--out" in x)
        assert "Folder for report.html" in line, (cmd, r.output)
    # the first paragraph of a docstring is the command's line in `cibscope --help`: a line break there
    # shows as a stray break in the listing
    from typer.main import get_command

    commands = get_command(app).commands
    named = [(n, c) for n, c in commands.items()] + \
        [(f"{n} {s}", sc) for n, c in commands.items() for s, sc in getattr(c, "commands", {}).items()]
    assert len(named) > 20
    broken = [n for n, c in named if "\n" in (c.help or "").strip().split("\n\n")[0]]
    assert broken == []


def test_detect_on_a_dataset_without_actions_is_refused_before_a_run(tmp_path):
    """A dataset whose posts give no action (no text, link or tag), or a file whose every row is bad (it
    makes no dataset: its errors stay in ingest_errors); detecting on it alone used to save an empty run
    and an empty report without a word."""
    first = next(SAMPLE_A.glob("*.csv"))
    header = first.read_text(encoding="utf-8").splitlines()[0]
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\n" + ",".join(["x"] * len(header.split(","))) + "\n", encoding="utf-8")
    silent = tmp_path / "silent.csv"
    silent.write_text("post_id,account_id,created_at,platform,text\n9,alice,2022-05-01T10:00:00Z,twitter,\n")
    db = tmp_path / "d.duckdb"
    r = CliRunner().invoke(app, ["ingest", str(first), "--format", "ira-csv", "--db", str(db)])
    assert r.exit_code == 0, r.output                  # a store with data, and one dataset without
    r = CliRunner().invoke(app, ["ingest", str(bad), "--format", "ira-csv", "--db", str(db)])
    assert r.exit_code == 2, r.output
    assert CliRunner().invoke(app, ["ingest", str(silent), "--db", str(db)]).exit_code == 0
    from cibscope.store.db import Store

    with Store(db, read_only=True) as s:
        names = {d for (d,) in s.con.execute("SELECT dataset FROM datasets").fetchall()}
        assert "silent" in names and "bad" not in names, r.output
    line = _error(["detect", "--db", str(db), "--dataset", "silent", "--out", str(tmp_path / "o")])
    assert "dataset silent holds no actions" in line and "nothing to detect" in line
    assert "no dataset named bad" in _error(["detect", "--db", str(db), "--dataset", "bad", "--out",
                                             str(tmp_path / "o")])
    assert _runs(db) == 0 and not (tmp_path / "o").exists()


def test_tlp_levels_are_accepted_in_any_case(sample_db, tmp_path):
    r = CliRunner().invoke(app, ["report", "--db", str(sample_db), "--tlp", "RED", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "<title>cibscope run 1 - TLP:RED</title>" in (tmp_path / "o" / "report.html").read_text()
    line = _error(["report", "--db", str(sample_db), "--tlp", "Purple", "--out", str(tmp_path / "p")])
    assert "purple" in line and "amber+strict" in line


def test_a_run_whose_filters_select_nothing_says_so(sample_db, tmp_path):
    # the IRA sample has no images: the run is saved (it is a valid, empty run) and the user is told why
    r = CliRunner().invoke(app, ["detect", "--db", str(sample_db), "--signals", "image", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "0 actions of 0 accounts" in r.output and "covered no action" in " ".join(r.output.split())
