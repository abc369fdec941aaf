"""CooRTweet reader on real rows of its two example data sets (tests/fixtures/coortweet, MIT)."""
from __future__ import annotations

import datetime as dt
import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.ingest import IngestError, detect_format, ingest
from conftest import FIXTURES, errors, rows, with_bad_rows

SHARES = FIXTURES / "coortweet" / "russian_coord_tweets.csv"
MULTI = FIXTURES / "coortweet" / "german_elections.csv"


def test_sniffs_both_layouts():
    assert detect_format(SHARES) == "coortweet"
    assert detect_format(MULTI) == "coortweet"


def test_share_events_map_to_reposts(store):
    s = ingest(store, SHARES)
    assert (s.format, s.rows_read) == ("coortweet", 50)
    # line 2 of the real file
    p = rows(store, "SELECT * FROM posts WHERE post_id = '114e22f1b2b648528277b76f0b0224e7'")[0]
    assert p["platform"] == "twitter" and p["kind"] == "repost"
    assert p["account_key"] == "twitter:0fb4232d1b7b37069c13ee17579bd10e"
    assert p["repost_of"] == "twitter:85d2d12251a735ce05255061f7f231e2"
    assert p["created_at"] == dt.datetime(2021, 6, 16, 22, 4, 51)  # 1623881091
    assert p["source_row"] == 1
    # line 4 is itself a retweet whose content_id is line 2's object_id: ids share one space,
    # so the retweeted tweet is a post of the store under the key line 2 reposts
    original = rows(store, "SELECT * FROM posts WHERE post_key = ?", [p["repost_of"]])[0]
    assert original["source_row"] == 3
    assert original["account_key"] == "twitter:2e1140330c02584ffabaf1da362f8e10"


def test_repeated_tweet_id_with_other_object_is_kept_once_and_reported(store):
    # lines 23/24 and 42/43 of the real file repeat a content_id with another object_id
    s = ingest(store, SHARES)
    kept = rows(store, "SELECT source_row, repost_of FROM posts WHERE post_id = '77f7a2d01238779cf4f9c84e57dce19a'")
    assert kept == [{"source_row": 22, "repost_of": "twitter:bb1fe038be0d8fde2ec6b8d5173b0f2b"}]
    errs = errors(store)
    assert s.posts_added == 48
    assert list(errs) == [24, 43]
    assert errs[24]["field"] == "content_id" and "line 23" in errs[24]["reason"]
    assert errs[24]["raw_value"] == "77f7a2d01238779cf4f9c84e57dce19a"


def test_multimodal_rows_grouped_into_one_post(store):
    s = ingest(store, MULTI)
    assert s.rows_read == 55
    n_posts = rows(store, "SELECT count(*) AS n FROM posts")[0]["n"]
    assert n_posts == 55 - (2 - 1) - (4 - 1) - (3 - 1) - (4 - 1) - (3 - 1) - (3 - 1)
    p = rows(store, "SELECT * FROM posts WHERE post_key = 'twitter:german-elections:44962'")[0]
    assert p["account_key"] == "twitter:tw_30428"
    assert p["hashtags"] == ["german-elections:42613"]
    assert p["media"] == ["german-elections:21223", "german-elections:4579"]
    assert p["created_at"] == dt.datetime(2021, 9, 24, 13, 59, 41)
    fb = rows(store, "SELECT * FROM posts WHERE post_key = 'facebook:german-elections:129235'")[0]
    assert fb["account_key"] == "facebook:fb_12670"
    assert fb["urls"] == ["https://d3498.german-elections.coortweet.invalid/u23678"]
    acts = {(r["action_type"], r["object_key"]) for r in rows(
        store, "SELECT action_type, object_key FROM actions WHERE post_key = 'facebook:german-elections:129235'")}
    assert acts == {("link", "d3498.german-elections.coortweet.invalid/u23678"),
                    ("domain", "d3498.german-elections.coortweet.invalid")}
    # url id 13609 shared by four Facebook posts on lines 7, 12, 13, 14: one link object
    shared = rows(store, "SELECT count(DISTINCT account_key) AS n FROM actions WHERE action_type = 'link' "
                         "AND object_key = 'd5804.german-elections.coortweet.invalid/u13609'")
    assert shared[0]["n"] == 4


def test_bad_rows_are_reported_and_good_rows_kept(store, tmp_path):
    bad = tmp_path / "russian_coord_tweets.csv"
    lines = with_bad_rows(SHARES, bad, [
        b"85d2d12251a735ce05255061f7f231e2,aaaa,bbbb",                       # missing column
        b"85d2d12251a735ce05255061f7f231e2,aaaa,cccc,16 June 2021",          # unparsable time
        b'85d2d12251a735ce05255061f7f231e2,"aaaa"x,dddd,1623881091',          # broken quoting
        b"85d2d12251a735ce05255061f7f231e2,caf\xe9,eeee,1623881091",         # latin-1 byte
    ])
    s = ingest(store, bad)
    errs = errors(store)
    assert s.posts_added == 48 and s.rows_read == 54
    assert {ln: errs[ln]["field"] for ln in lines} == {
        lines[0]: "timestamp_share", lines[1]: "timestamp_share", lines[2]: "account_id", lines[3]: "account_id"}
    assert "missing columns" in errs[lines[0]]["reason"]
    assert errs[lines[1]]["raw_value"] == "16 June 2021"
    assert "quote" in errs[lines[2]]["reason"]
    assert "encoding" in errs[lines[3]]["reason"]
    assert all(e["file"] == str(bad) for e in errs.values())


def test_multimodal_bad_account_prefix(store, tmp_path):
    bad = tmp_path / "german_elections.csv"
    (line,) = with_bad_rows(MULTI, bad, [b"ig_77,999,,,,,1629589836"])
    ingest(store, bad)
    e = errors(store)[line]
    assert e["field"] == "account_id" and e["raw_value"] == "ig_77"


def test_reingest_adds_nothing(store):
    ingest(store, MULTI)
    before = rows(store, "SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM actions) a")
    again = ingest(store, MULTI)
    assert again.skipped and again.posts_added == 0
    assert rows(store, "SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM actions) a") == before


def test_unreadable_input_names_the_file(store, tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x1f\x8b\x08\x00binary")
    with pytest.raises(IngestError, match="junk.csv"):
        ingest(store, junk, fmt="coortweet")


def test_cli_ingest(tmp_path):
    db = tmp_path / "s.duckdb"
    runner = CliRunner(env={"COLUMNS": "300"})
    res = runner.invoke(app, ["ingest", str(SHARES), "--format", "coortweet", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "48 posts added" in res.output and "2 bad records" in res.output
    assert "russian_coord_tweets.csv:24 [content_id] duplicate post id" in res.output
    res = runner.invoke(app, ["ingest", str(SHARES), "--db", str(db)])
    assert "already ingested" in res.output
