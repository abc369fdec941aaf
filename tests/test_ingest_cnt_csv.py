"""cnt-csv reader: rows of the benchmark generator (tests/fixtures/cnt, from shared/bench/gen_posts.py, seed 7)."""
from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.ingest import IngestError, detect_format, ingest
from conftest import FIXTURES, SHARED, errors, rows, with_bad_rows

POSTS = FIXTURES / "cnt" / "posts.csv"


def test_known_rows(store):
    assert detect_format(POSTS) == "cnt-csv"
    s = ingest(store, POSTS)
    assert (s.rows_read, s.posts_added, s.errors) == (100, 100, 0)
    got = {r["post_id"]: r for r in rows(store, "SELECT * FROM posts")}
    first = got["1000000000"]
    assert first["account_key"] == "twitter:10027230" and first["kind"] == "post"
    assert first["created_at"] == dt.datetime(2024, 3, 1, 0, 22, 50)  # 1709252570
    assert first["hashtags"] == ["rntr"] and first["urls"] == [] and first["source_row"] == 1
    assert got["1000000004"]["urls"] == ["https://fqdrxjbfj.com/a/959"]
    rt = got["1000000008"]  # "RT @user10036919: ..." with repost_id 1000000001
    assert rt["kind"] == "repost" and rt["repost_of"] == "twitter:1000000001" and rt["mentions"] == []
    reply = got["1000000046"]
    assert reply["kind"] == "reply" and reply["reply_to"] == "twitter:1000000042"
    assert reply["mentions"] == ["user10013507"]
    acc = rows(store, "SELECT handle FROM accounts WHERE account_key = 'twitter:10027230'")
    assert acc == [{"handle": "user10027230"}]


def test_bad_rows(store, tmp_path):
    bad = tmp_path / "posts.csv"
    lines = with_bad_rows(POSTS, bad, [
        b"2000000001,10027230,user10027230,,,text only,1709252570",          # missing column (urls)
        b"2000000002,10027230,user10027230,,,some text,2024-13-45 99:00,",   # unparsable time
        b'2000000003,10027230,user10027230,,,"quoted"tail,1709252570,',      # broken quoting
        b"2000000004,10027230,user10027230,,,caf\xe9 au lait,1709252570,",   # latin-1 byte
        b"2000000005,,user1,,,no user id,1709252570,",                      # missing account id
        b"1000000000,10027230,user10027230,,,other text,1709252570,",        # repeated id, other values
    ])
    s = ingest(store, bad)
    assert s.posts_added == 100 and s.rows_read == 106
    e = errors(store)
    assert {ln: e[ln]["field"] for ln in lines} == {
        lines[0]: "urls", lines[1]: "timestamp", lines[2]: "message", lines[3]: "message",
        lines[4]: "user_id", lines[5]: "message_id"}
    assert e[lines[1]]["raw_value"] == "2024-13-45 99:00"
    assert "line 2, which is kept" in e[lines[5]]["reason"]
    assert rows(store, "SELECT text FROM posts WHERE post_id = '1000000000'")[0]["text"].endswith("#rntr")


def test_missing_header_column_names_file_and_column(store, tmp_path):
    f = tmp_path / "nourls.csv"
    f.write_text("message_id,user_id,username,repost_id,reply_id,message,timestamp\n1,2,u,,,hi,1709252570\n")
    with pytest.raises(IngestError, match=r"nourls.csv: column\(s\) urls missing"):
        ingest(store, f, fmt="cnt-csv")


def test_cli_twice_is_idempotent(tmp_path):
    db = tmp_path / "s.duckdb"
    runner = CliRunner(env={"COLUMNS": "300"})
    res = runner.invoke(app, ["ingest", str(POSTS), "--db", str(db)])
    assert res.exit_code == 0 and "100 posts added" in res.output, res.output
    res = runner.invoke(app, ["ingest", str(POSTS), "--db", str(db), "--platform", "twitter", "-f", "cnt-csv"])
    assert res.exit_code == 0 and "already ingested" in res.output, res.output


@pytest.mark.shared
def test_generator_output(store, tmp_path):
    gen = SHARED.parent / "bench" / "gen_posts.py"
    subprocess.run([sys.executable, str(gen), "--posts", "20000", "--out", str(tmp_path)], check=True,
                   capture_output=True)
    with open(tmp_path / "posts.csv", newline="") as f:
        src = list(csv.DictReader(f))
    s = ingest(store, tmp_path / "posts.csv")
    assert s.posts_added == len(src) == json.loads((tmp_path / "meta.json").read_text())["rows"]
    kinds = {r["kind"]: r["n"] for r in rows(store, "SELECT kind, count(*) AS n FROM posts GROUP BY kind")}
    assert kinds["repost"] == sum(1 for r in src if r["repost_id"])
    assert kinds.get("reply", 0) == sum(1 for r in src if r["reply_id"] and not r["repost_id"])
