"""Twitter Information Operations archive reader on a hand-made file in the archive's column layout."""
from __future__ import annotations

import datetime as dt

from cibscope.ingest import detect_format, ingest
from conftest import FIXTURES, errors, rows, with_bad_rows

IO = FIXTURES / "twitter-io" / "ira_sample_tweets_csv_hashed.csv"
HASHED = "wFs7GKMoTgvLaCG0xBSNdhr0ByGc4Cs36ExlqqTHJ0w="


def test_sniffed():
    assert detect_format(IO) == "twitter-io"


def test_every_mapped_field(store):
    s = ingest(store, IO)
    assert (s.format, s.rows_read, s.posts_added, s.errors) == ("twitter-io", 4, 4, 0)
    p = rows(store, "SELECT * EXCLUDE (dataset, source_file, context, quote_of) FROM posts ORDER BY source_row")
    assert p[0] == {
        "post_key": "twitter:1034443829443059713", "platform": "twitter", "post_id": "1034443829443059713",
        "account_key": f"twitter:{HASHED}", "created_at": dt.datetime(2018, 8, 28, 14, 2), "kind": "post",
        "text": "Breaking: the truth about the election they don't want you to see #Election2018 #StopTheSteal "
                "https://t.co/k2Jd8s0aQ1",
        "lang": "en", "repost_of": None, "reply_to": None,
        "urls": ["https://newsfront-daily.example/2018/08/28/truth-election"],
        "hashtags": ["Election2018", "StopTheSteal"], "mentions": [], "media": None, "client": "Twitter Web Client",
        "source_row": 1}
    assert (p[1]["kind"], p[1]["repost_of"], p[1]["mentions"]) == ("repost", "twitter:1034443000000000000", ["985224271"])
    assert (p[2]["kind"], p[2]["reply_to"]) == ("reply", "twitter:1034443829443059713")
    # a quoted URL holding a comma stays whole; bare ids split on commas
    assert (p[3]["kind"], p[3]["urls"], p[3]["mentions"]) == (
        "quote", ["https://newsfront-daily.example/a?x=1,2", "http://bit.ly/2Lq9xYz"], ["2931841537", "985224271"])
    acc = rows(store, "SELECT * FROM accounts WHERE account_key = 'twitter:2931841537'")[0]
    assert (acc["handle"], acc["display_name"], acc["location"], acc["description"], acc["created_at"],
            acc["lang"], acc["followers"], acc["following"]) == (
        "PatriotMomUSA", "Patriot Mom USA", "Texas, USA", "Mother. Patriot. God & country.", dt.datetime(2014, 12, 17),
        "en", 4530, 3981)  # the newest tweet's counts


def test_bad_rows(store, tmp_path):
    f = tmp_path / "io.csv"
    n = len(IO.read_text().splitlines()[0].split(","))
    lines = with_bad_rows(IO, f, [
        b"1034449999,123,,,,,,1,1,2017-01-01,en,en,text,yesterday" + b"," * (n - 14),
        b"1034449998,,,,,,,1,1,2017-01-01,en,en,text,2018-08-28 15:00" + b"," * (n - 14),
        b"1034449997,123,too few fields"])
    s = ingest(store, f)
    assert (s.rows_read, s.posts_added) == (7, 4)
    e = errors(store)
    assert (e[lines[0]]["field"], e[lines[0]]["raw_value"]) == ("tweet_time", "yesterday")
    assert e[lines[1]]["field"] == "userid" and "missing account id" in e[lines[1]]["reason"]
    assert "missing columns" in e[lines[2]]["reason"]


def test_memory_limit_spills_without_changing_the_result(tmp_path, monkeypatch):
    """A store opened with a small DuckDB memory limit (CIBSCOPE_MEMORY_LIMIT) ingests the same rows."""
    from cibscope.store.db import Store
    free = Store(tmp_path / "free.duckdb")
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", "64MB")
    tight = Store(tmp_path / "tight.duckdb")
    assert tight.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "61.0 MiB"
    for s in (free, tight):
        ingest(s, IO, fmt="twitter-io")
    q = "SELECT * FROM actions ORDER BY ALL"
    assert free.con.sql(q).to_arrow_table().equals(tight.con.sql(q).to_arrow_table())
    assert tight.con.execute("SELECT count(*) FROM posts").fetchall()[0][0] > 0


def test_bad_memory_limit_is_a_clear_cli_error(tmp_path, monkeypatch):
    from typer.testing import CliRunner
    from cibscope.cli import app
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", "lots")
    r = CliRunner().invoke(app, ["ingest", str(IO), "--db", str(tmp_path / "s.duckdb")])
    assert r.exit_code != 0 and "CIBSCOPE_MEMORY_LIMIT" in r.output and "lots" in r.output


def test_rows_already_stored_are_counted_not_lost(store, tmp_path):
    """A second export repeating the first one's tweets plus one new tweet: the repeats are counted as
    already stored, so records = added + already stored + bad."""
    first = ingest(store, IO)
    lines = IO.read_text(encoding="utf-8").splitlines(keepends=True)
    last = lines[-1].split(",", 1)
    bigger = tmp_path / "more_tweets_csv_hashed.csv"
    bigger.write_text("".join(lines) + "9" + last[0] + "," + last[1], encoding="utf-8")
    second = ingest(store, bigger, fmt="twitter-io")
    assert (first.posts_added, first.posts_known) == (4, 0)
    assert (second.rows_read, second.posts_added, second.posts_known, second.errors) == (5, 1, 4, 0)


def _adds_up(s) -> bool:
    return s.rows_read == s.posts_added + s.posts_known + s.errors


def test_counts_add_up_with_an_exact_repeat_and_a_repeat_with_other_values(store, tmp_path):
    lines = IO.read_text().splitlines()
    p = tmp_path / "io.csv"  # line 6 repeats line 2 exactly, line 7 repeats line 2's id with other text
    p.write_text("\n".join(lines + [lines[1], lines[1].replace("Breaking:", "BREAKING:")]) + "\n")
    s = ingest(store, p)
    # the conflicting repeat was counted both as a bad record and as a post "already stored": now only bad
    assert (s.rows_read, s.posts_added, s.posts_known, s.errors) == (6, 4, 1, 1)
    assert _adds_up(s)
    assert errors(store)[7]["reason"] == "duplicate post id with other values than line 2, which is kept"
    again = ingest(store, p, dataset="again")  # another dataset: same bytes, skipped
    assert again.skipped
