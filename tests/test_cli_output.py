"""What the command line prints and loads: no heavy imports for `--help`, clean output in pipes and logs,
one-line errors for a bad CIBSCOPE_MEMORY_LIMIT."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cibscope.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "ira-sample"
#: Libraries that take most of the start-up time; only the steps that use them import them.
HEAVY = ("scipy", "igraph", "datasketch", "ibis", "stix2", "sqlalchemy")
#: Rich's default spinner ("dots") frames, its bar glyphs, and the characters of terminal control sequences.
SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏━╸╺")
CONTROL = re.compile(r"[\x1b\r\x08]")


def _plain_env() -> dict[str, str]:
    """This environment without variables that make Rich treat a pipe as a terminal."""
    drop = {"FORCE_COLOR", "FORCE_TERMINAL", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "CLICOLOR_FORCE", "COLUMNS"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point with stdout and stderr as pipes (as in CI logs or `| tee`)."""
    return subprocess.run([sys.executable, "-c", "from cibscope.cli import app; app()", *args],
                          capture_output=True, text=True, env=env or _plain_env(), timeout=600)


def test_importing_the_cli_loads_no_heavy_library():
    code = ("import json, sys; import cibscope.cli; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_plain_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_help_of_every_command_loads_no_heavy_library():
    # Typer builds every command's help from the option declarations: none may import a heavy library.
    code = ("import json, sys\nfrom typer.main import get_command\nfrom typer.testing import CliRunner\n"
            "from cibscope.cli import app\n"
            "cmd = get_command(app)\n"
            "names = [[n] for n in cmd.commands] + [[n, s] for n, c in cmd.commands.items()"
            " for s in getattr(c, 'commands', {})]\n"
            "bad = [n for n in names if CliRunner().invoke(app, [*n, '--help']).exit_code != 0]\n"
            f"print(json.dumps({{'n': len(names), 'bad': bad, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_plain_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["n"] >= 20 and res["bad"] == [] and res["heavy"] == []


def test_progress_in_a_pipe_is_one_plain_line_per_step(tmp_path):
    db = str(tmp_path / "s.duckdb")
    ingest = _cli("ingest", str(SAMPLE / "A"), "--format", "ira-csv", "--db", db)
    detect = _cli("detect", "--out", str(tmp_path / "out"), "--db", db)
    for r in (ingest, detect):
        assert r.returncode == 0, r.stderr
        for stream in (r.stdout, r.stderr):
            assert not SPINNER & set(stream), stream
            assert not CONTROL.search(stream), repr(stream)
    # each step once, in order, as a plain line; nothing else is drawn
    assert ingest.stderr.splitlines() == ["ingest A"]
    assert detect.stderr.splitlines() == [
        "detect", "detect: select actions", "detect: object statistics", "detect: co-action pairs",
        "detect: significance", "detect: clustering", "detect: save run", "detect: done",
        f"write outputs to {tmp_path / 'out'}"]
    # results are whole lines, not broken at 80 columns
    assert re.fullmatch(r".*/A: ira-csv -> dataset 'A': 10,007 records, 9,996 posts added, 11 already stored or repeated in the input, "
                        r"\d+ new accounts, 0 bad records kept in ingest_errors\n", ingest.stdout), ingest.stdout
    assert re.match(r"run 1: [\d,]+ actions of [\d,]+ accounts -> .* clusters in [\d.]+ s\n", detect.stdout)
    assert (tmp_path / "out" / "report.html").exists()
    # `runs` in a pipe: tab-separated whole lines, the parameters JSON intact
    runs = _cli("runs", "--db", db)
    assert runs.returncode == 0, runs.stderr
    header, row = runs.stdout.splitlines()
    assert header.split("\t") == ["run", "created (UTC)", "accounts", "edges", "clusters", "seconds", "parameters"]
    fields = row.split("\t")
    assert fields[0] == "1" and fields[3].isdigit() and json.loads(fields[6])["window_s"] == 60
    # the same through Typer's test runner (what users of the Python API see when they capture output)
    res = CliRunner().invoke(app, ["ingest", str(SAMPLE / "B"), "--format", "ira-csv", "--db", db])
    assert res.exit_code == 0, res.output
    assert not SPINNER & set(res.output) and not CONTROL.search(res.output), repr(res.output)
    assert res.output.splitlines()[0] == "ingest B" and len(res.output.splitlines()) == 2


@pytest.mark.parametrize("value", ["-1GB", "abc", "0"])
def test_bad_memory_limit_is_one_error_line_and_creates_nothing(tmp_path, monkeypatch, value):
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", value)
    db = tmp_path / "s.duckdb"
    for cmd in (["ingest", str(SAMPLE / "A"), "--format", "ira-csv"], ["tip", "match"], ["watch", str(tmp_path)]):
        r = CliRunner().invoke(app, [*cmd, "--db", str(db)])
        assert r.exit_code == 2, (cmd, r.output)
        assert r.output.startswith(f"error: CIBSCOPE_MEMORY_LIMIT={value!r} is not a memory limit")
        assert r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert not db.exists()
