"""Issue #18: real exports and a new user's workflow that broke ingest (one test per item, small fresh inputs)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.ingest import IngestError, ingest, make_reader
from conftest import rows

DAY_FIRST = ("post_id,account_id,created_at,text\n"
             "1,alice,24/02/2015 11:35:52,first post here\n"
             "2,bob,24/02/2015 11:35:53,second post here\n")


def _csv(tmp_path, text: str, name: str = "posts.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_item1_rerun_with_other_options_after_all_rows_failed(store, tmp_path):
    p = _csv(tmp_path, DAY_FIRST)
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    assert (s.posts_added, s.errors) == (0, 2)
    s = ingest(store, p, reader=make_reader("csv", platform="twitter", time_format="%d/%m/%Y %H:%M:%S"))
    assert not s.skipped and (s.posts_added, s.errors) == (2, 0)
    assert rows(store, "SELECT created_at FROM posts WHERE post_id = '1'")[0]["created_at"] == \
        dt.datetime(2015, 2, 24, 11, 35, 52)
    again = ingest(store, p, reader=make_reader("csv", platform="twitter", time_format="%d/%m/%Y %H:%M:%S"))
    assert again.skipped and again.posts_added == 0  # still idempotent
    # a file whose rows failed may be read again (after the store or the reader changed); adds nothing twice
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    assert not s.skipped and s.posts_added == 0
    assert rows(store, "SELECT count(*) AS n FROM posts")[0]["n"] == 2


def test_item2_all_rows_refused_exits_nonzero(tmp_path):
    p = _csv(tmp_path, DAY_FIRST)
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["ingest", str(p), "--format", "csv", "--platform", "twitter", "--db", str(db)])
    assert r.exit_code == 1, r.output
    assert "0 posts added" in r.output and "2 bad records" in r.output
    partly = _csv(tmp_path, DAY_FIRST + "3,carol,2015-02-24 11:35:54,third post here\n", "partly.csv")
    r = CliRunner().invoke(app, ["ingest", str(partly), "--format", "csv", "--platform", "twitter",
                                 "--db", str(db)])
    assert r.exit_code == 0, r.output


def test_item3_epoch_milliseconds_and_implausible_times(store, tmp_path):
    p = _csv(tmp_path, "post_id,account_id,created_at,text\n"
                       "1,alice,1424806552000,millis\n"
                       "2,bob,1424806552000000,micros\n"
                       "3,carol,1424806552,seconds\n"
                       "4,dave,2999-01-01T00:00:00,far future\n"
                       "5,erin,0,zero date\n")
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    got = {r["post_id"]: r["created_at"] for r in rows(store, "SELECT post_id, created_at FROM posts")}
    want = dt.datetime(2015, 2, 24, 19, 35, 52)
    assert got == {"1": want, "2": want, "3": want}
    assert s.errors == 2
    bad = rows(store, "SELECT field, reason FROM ingest_errors ORDER BY reason")
    assert all(b["field"] == "created_at" and "implausible time" in b["reason"] for b in bad)
