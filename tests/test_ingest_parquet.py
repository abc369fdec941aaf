"""Generic column-mapped Parquet reader: the real airline tweets with typed columns."""
from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from cibscope.ingest import IngestError, detect_format, ingest, make_reader
from conftest import FIXTURES, rows

TWEETS = FIXTURES / "airline" / "Tweets.csv"


@pytest.fixture
def parquet(tmp_path):
    """The airline fixture as Parquet: a TIMESTAMPTZ time, a list of hashtags, canonical column names."""
    out = tmp_path / "tweets.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/Los_Angeles'")
    con.execute(f"""COPY (SELECT 'twitter' AS platform, tweet_id AS post_id, name AS account_id, text,
                               try_strptime(tweet_created, '%Y-%m-%d %H:%M:%S %z') AS created_at,
                               regexp_extract_all(text, '#(\\w+)', 1) AS tags
                        FROM read_csv('{TWEETS}', all_varchar=true)
                        WHERE created_at IS NOT NULL) TO '{out}' (FORMAT parquet)""")
    con.close()
    return out


def test_typed_columns(store, parquet):
    assert detect_format(parquet) == "parquet"
    s = ingest(store, parquet, reader=make_reader("parquet", mapping=["tags=hashtags"]))
    assert (s.posts_added, s.errors) == (36, 0)  # the 3 damaged rows are left out of the file
    p = rows(store, "SELECT * FROM posts WHERE post_key = 'twitter:570287408438121000'")[0]
    assert p["hashtags"] == ["fabulous", "Seductive", "stress"] and p["account_key"] == "twitter:mollanderson"
    first = rows(store, "SELECT created_at, source_row FROM posts WHERE post_id = '570306133677761000'")[0]
    assert first == {"created_at": dt.datetime(2015, 2, 24, 19, 35, 52), "source_row": 1}


def test_missing_mapped_column(store, parquet):
    with pytest.raises(IngestError, match=r"tweets.parquet: column\(s\) hashtag_list missing"):
        ingest(store, parquet, reader=make_reader("parquet", mapping=["hashtag_list=hashtags"]))


def test_not_parquet(store, tmp_path):
    f = tmp_path / "fake.parquet"
    f.write_bytes(b"PAR1 not really")
    with pytest.raises(IngestError, match="fake.parquet"):
        ingest(store, f, fmt="parquet")


def test_import_with_a_truncated_file_names_it_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from cibscope.cli import app
    from cibscope.store.db import Store

    src = tmp_path / "src.duckdb"
    with Store(src) as s:
        ingest(s, TWEETS, reader=make_reader("csv", platform="twitter", mapping=[
            "tweet_id=post_id", "name=account_id", "text=text", "tweet_created=created_at"]))
        s.export_parquet(tmp_path / "export")
    posts = tmp_path / "export" / "posts.parquet"
    posts.write_bytes(posts.read_bytes()[: posts.stat().st_size // 2])  # cut short: no footer
    db = tmp_path / "dst.duckdb"
    r = CliRunner().invoke(app, ["import", str(tmp_path / "export"), "--db", str(db)])
    assert r.exit_code != 0 and "posts.parquet: not a readable Parquet file" in r.output, r.output
    with Store(db) as s:  # nothing half-imported (accounts.parquet is sound but came before posts)
        assert not any(s.counts().values())
