"""Generic column-mapped CSV reader on 40 real airline tweets (tests/fixtures/airline, CC BY-NC-SA 4.0)."""
from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.ingest import IngestError, ingest, make_reader
from conftest import FIXTURES, errors, rows, with_bad_rows
from _store_rows import CLUSTER_INSERT

TWEETS = FIXTURES / "airline" / "Tweets.csv"
MAP = ["tweet_id=post_id", "name=account_id", "text=text", "tweet_created=created_at"]


def _reader(**kw):
    return make_reader("csv", mapping=kw.pop("mapping", MAP), platform=kw.pop("platform", "twitter"), **kw)


@pytest.mark.parametrize("time_format", [None, "%Y-%m-%d %H:%M:%S %z"])
def test_known_row_and_utc(store, time_format):
    s = ingest(store, TWEETS, reader=_reader(time_format=time_format))
    # 40 lines, 39 records (line 7's text spans two lines); three real rows are shifted by a
    # "&lt;" -> "&lt," damage in this Kaggle copy, so their time column holds other text
    assert (s.format, s.rows_read, s.posts_added, s.errors) == ("csv", 39, 36, 3)
    e = errors(store)
    assert {ln: (r["field"], r["raw_value"]) for ln, r in e.items()} == {
        13: ("tweet_created", None), 14: ("tweet_created", "p"), 25: ("tweet_created", None)}
    assert rows(store, "SELECT count(*) AS n FROM posts WHERE post_id = '570289584061481000'")[0]["n"] == 0
    p = rows(store, "SELECT * FROM posts WHERE post_key = 'twitter:570306133677761000'")[0]
    assert p["account_key"] == "twitter:cairdin" and p["kind"] == "post"
    assert p["created_at"] == dt.datetime(2015, 2, 24, 19, 35, 52)  # 11:35:52 -0800
    assert p["text"] == "@VirginAmerica What @dhepburn said."
    assert p["mentions"] == ["VirginAmerica", "dhepburn"]  # from the text: no column mapped
    tags = rows(store, "SELECT hashtags FROM posts WHERE post_id = '570287408438121000'")[0]["hashtags"]
    assert tags == ["fabulous", "Seductive", "stress"]


def test_mapping_errors_name_file_and_column(store, tmp_path):
    with pytest.raises(IngestError, match=r"Tweets.csv: column\(s\) user_name missing"):
        ingest(store, TWEETS, reader=_reader(mapping=MAP + ["user_name=handle"]))
    with pytest.raises(IngestError, match="Tweets.csv: no platform column; pass --platform"):
        ingest(store, TWEETS, reader=_reader(platform=None))
    with pytest.raises(IngestError, match="unknown field 'author'"):
        _reader(mapping=["name=author"])
    with pytest.raises(IngestError, match="--map and --time-format apply to formats csv and parquet"):
        make_reader("cnt-csv", mapping=MAP)


def test_bad_rows(store, tmp_path):
    bad = tmp_path / "Tweets.csv"
    lines = with_bad_rows(TWEETS, bad, [
        b"1,neutral,1,,,Delta,,a,,0,too few",                                                   # missing column
        b"2,neutral,1,,,Delta,,b,,0,hi there,,24/02/2015 11:35,,",                            # unparsable time
        b'3,neutral,1,,,Delta,,c,,0,"hi"there,,2015-02-24 11:35:52 -0800,,',                  # broken quoting
        b"4,neutral,1,,,Delta,,d,,0,caf\xe9,,2015-02-24 11:35:52 -0800,,",                   # latin-1 byte
        b"5,neutral,1,,,Delta,,,,0,no author,,2015-02-24 11:35:52 -0800,,",                   # missing account
    ])
    s = ingest(store, bad, reader=_reader())
    assert s.posts_added == 36 and s.rows_read == 44
    e = errors(store)
    assert {ln: e[ln]["field"] for ln in lines} == {
        lines[0]: "tweet_coord", lines[1]: "tweet_created", lines[2]: "text", lines[3]: "text", lines[4]: "name"}
    assert e[lines[1]]["raw_value"] == "24/02/2015 11:35" and all(r["file"] == str(bad) for r in e.values())


def test_cli_map_and_reingest(tmp_path):
    db = tmp_path / "s.duckdb"
    args = ["ingest", str(TWEETS), "-f", "csv", "--platform", "twitter", "--db", str(db)]
    for m in MAP:
        args += ["--map", m]
    runner = CliRunner(env={"COLUMNS": "300"})
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "36 posts added" in res.output, res.output
    assert "Tweets.csv:14 [tweet_created] missing or unparsable time" in res.output
    assert "already ingested" in runner.invoke(app, args).output
    res = runner.invoke(app, ["ingest", str(TWEETS), "--map", "a=b", "--db", str(db)])
    assert res.exit_code == 2 and "unknown field 'b'" in res.output  # --map without --format: csv (issue #18)


def test_a_grown_file_adds_its_new_rows_and_records_old_bad_rows_once(store, tmp_path):
    grown = tmp_path / "Tweets.csv"
    lines = with_bad_rows(TWEETS, grown, [b"2,neutral,1,,,Delta,,b,,0,hi there,,24/02/2015 11:35,,"])
    first = ingest(store, grown, reader=_reader())
    n_errors = store.con.execute("SELECT count(*) FROM ingest_errors").fetchall()[0][0]
    assert first.posts_added == 36 and n_errors == first.errors > 0  # the fixture's own bad rows and the added one
    with open(grown, "ab") as f:  # the export grew: one more good tweet
        f.write(b"570000000000000001,neutral,1,,,Delta,,newcomer,,0,@Delta thanks for the upgrade,,"
                b"2015-02-25 09:00:00 -0800,,\n")
    again = ingest(store, grown, reader=_reader())
    assert again.posts_added == 1
    assert store.con.execute("SELECT count(*) FROM ingest_errors").fetchall()[0][0] == n_errors
    assert errors(store)[lines[0]]["field"] == "tweet_created"


def test_a_field_over_the_line_size_limit_is_kept_aside_with_its_reason(store, tmp_path):
    # a 3 MB text cell passes DuckDB's 2 MB max line size: the row is rejected without a column index,
    # which once left its reason NULL and crashed the ingest on ingest_errors.reason NOT NULL
    p = tmp_path / "big.csv"
    p.write_text("post_id,account_id,created_at,text\n1,alice,2015-02-24T11:00:00,hello there friend\n"
                 f"2,bob,2015-02-24T11:00:01,{'x' * (3 << 20)}\n3,carol,2015-02-24T11:00:02,third post\n")
    s = ingest(store, p, reader=_reader(mapping=None))
    assert (s.rows_read, s.posts_added, s.errors) == (3, 2, 1)
    bad = errors(store)[3]
    assert bad["file"] == str(p) and "line size over maximum" in bad["reason"] and "bytes" in bad["reason"]
    assert ingest(store, p, reader=_reader(mapping=None)).skipped  # idempotent
    assert len(errors(store)) == 1


def test_a_stray_nul_byte_is_a_bad_row_not_a_binary_file(store, tmp_path):
    p = tmp_path / "nul.csv"  # was refused whole as "a binary file (starts with bytes 70 6f 73 74 ...)"
    p.write_bytes(b"post_id,account_id,created_at,text\n1,alice,2015-02-24T11:00:00,hello there\n"
                  b"2,bob,2015-02-24T11:00:01,bad\x00cell\n3,carol,2015-02-24T11:00:02,third post\n")
    s = ingest(store, p, reader=_reader(mapping=None))
    assert (s.rows_read, s.posts_added, s.errors) == (3, 2, 1)
    bad = errors(store)[3]
    assert (bad["field"], bad["raw_value"]) == ("text", "bad\\0cell") and "NUL byte" in bad["reason"]
    garbage = tmp_path / "garbage.csv"  # real binary content is still refused whole, with its bytes
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(IngestError, match=r"garbage.csv: a binary file \(starts with bytes 00 01 02"):
        ingest(store, garbage, reader=_reader(mapping=None))
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("post_id,account_id,created_at,text\n1,a,2015-02-24T11:00:00,x\n".encode("utf-16-le"))
    with pytest.raises(IngestError, match="utf16.csv: a binary file"):
        ingest(store, utf16, reader=_reader(mapping=None))


def test_a_semicolon_separated_file_is_named_as_such(store, tmp_path):
    p = tmp_path / "semi.csv"  # was only "format not recognised"
    p.write_text("post_id;account_id;created_at;text\n1;alice;2015-02-24T11:00:00;hello, there\n")
    for reader in (None, _reader(mapping=None)):
        with pytest.raises(IngestError, match=r"semi.csv: .*the header is separated by ';', not commas"):
            ingest(store, p, reader=reader)


#: Reddit-like rows through the generic mapping (issue 20): a link column, links in the body, a troll label.
REDDIT_LIKE = """author,created_utc,body,link,troll_type,subreddit,score
alice,1500000000,see https://a.example/x and https://b.example/y.,https://a.example/x,,news,3
alice,1500000060,nothing here,https://c.example/z,troll:Right,news,1
bob,1500000120,body link https://d.example/q,,troll:Left,pol,2
carol,1500000180,plain,,,pol,5
"""
REDDIT_MAP = ["author=account_id", "created_utc=created_at", "body=text", "link=urls"]


def _reddit_like(tmp_path, body: str = REDDIT_LIKE):
    p = tmp_path / "reddit_like.csv"
    p.write_text(body)
    return p


def test_unmapped_columns_are_named_once_per_file_not_as_errors(store, tmp_path):
    from cibscope.ingest.mapped import MappedCsvReader

    src = _reddit_like(tmp_path, REDDIT_LIKE + "".join(f"dave,{1500000240 + i},x{i},,,pol,1\n" for i in range(40)))
    # pieces of ~200 bytes: the note still comes once, from the whole header
    s = ingest(store, src, reader=MappedCsvReader(REDDIT_MAP, platform="reddit", chunk_bytes=200))
    assert (s.posts_added, s.errors) == (44, 0)
    assert s.notes == [f"{src}: columns not read: troll_type, subreddit, score (map them with --map column=field)"]
    # a mapped (or auto-recognised) column is not named: here troll_type is read as the account label
    s = ingest(store, src, reader=make_reader("csv", mapping=REDDIT_MAP + ["troll_type=label"], platform="reddit"))
    assert s.notes == [f"{src}: columns not read: subreddit, score (map them with --map column=field)"]
    # a folder names each file's own
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "a.csv").write_text(REDDIT_LIKE)
    (folder / "b.csv").write_text("author,created_utc,body,link,troll_type\nerin,1500000000,hi,,\n")
    s = ingest(store, folder, reader=make_reader("csv", mapping=REDDIT_MAP, platform="reddit"))
    assert s.notes == [f"{folder / 'a.csv'}: columns not read: troll_type, subreddit, score "
                       "(map them with --map column=field)",
                       f"{folder / 'b.csv'}: columns not read: troll_type (map them with --map column=field)"]


def test_unmapped_parquet_columns_and_the_cli_summary(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "r.parquet"
    pq.write_table(pa.table({"account_id": ["a", "b"], "created_at": [1500000000, 1500000060],
                             "platform": ["reddit", "reddit"], "subreddit": ["news", "pol"]}), src)
    res = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["ingest", str(src), "--db", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0 and "2 posts added" in res.output and "0 bad records" in res.output, res.output
    assert f"note: {src}: columns not read: subreddit (map them with --map column=field)" in res.output


def test_mapped_urls_keep_the_links_of_the_text(store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ingest(store, _reddit_like(tmp_path), reader=make_reader("csv", mapping=REDDIT_MAP, platform="reddit"))
    got = {r["text"]: r["urls"] for r in rows(store, "SELECT text, urls FROM posts")}
    assert got == {  # the column's first, then the text's not among them (trailing '.' not part of a URL)
        "see https://a.example/x and https://b.example/y.": ["https://a.example/x", "https://b.example/y"],
        "nothing here": ["https://c.example/z"], "body link https://d.example/q": ["https://d.example/q"],
        "plain": []}
    # a Parquet list column the same way, a NULL list included
    src = tmp_path / "l.parquet"
    pq.write_table(pa.table({"account_id": ["a", "b"], "created_at": [1500000000, 1500000060],
                             "text": ["read https://e.example/1", "and https://f.example/2"],
                             "urls": pa.array([["https://g.example/3"], None], pa.list_(pa.string()))}), src)
    ingest(store, src, reader=make_reader("parquet", platform="web"))
    got = {r["text"]: r["urls"] for r in rows(store, "SELECT text, urls FROM posts WHERE platform = 'web'")}
    assert got == {"read https://e.example/1": ["https://g.example/3", "https://e.example/1"],
                   "and https://f.example/2": ["https://f.example/2"]}
    # a broken list cell is still a bad row, not a post with the text's links only
    bad = _reddit_like(tmp_path, REDDIT_LIKE.replace(",https://c.example/z,", ',"[{""url"":",'))
    s = ingest(store, bad, reader=make_reader("csv", mapping=REDDIT_MAP, platform="reddit2"))
    assert s.errors == 1 and s.posts_added == 3


def test_label_is_mapped_to_the_account_and_evaluate_uses_it(store, tmp_path):
    src = _reddit_like(tmp_path)
    db = tmp_path / "s.duckdb"
    args = ["ingest", str(src), "-f", "csv", "--platform", "reddit", "--db", str(db)]
    for m in REDDIT_MAP + ["troll_type=label"]:
        args += ["--map", m]
    runner = CliRunner(env={"COLUMNS": "300"})
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "4 posts added" in res.output and "3 new accounts" in res.output, res.output
    from cibscope.store.db import Store

    with Store(str(db)) as s:
        # alice's first row has no label: her first non-empty one counts; carol has none
        assert {r["account_key"]: r["label"] for r in rows(s, "SELECT account_key, label FROM accounts")} == {
            "reddit:alice": "troll:Right", "reddit:bob": "troll:Left", "reddit:carol": None}
        s.con.execute("INSERT INTO runs VALUES (1, now()::TIMESTAMP, '{}', NULL, 0, 0, 0, 1, 0)")
        s.con.execute(CLUSTER_INSERT + "VALUES (1, 'A', 1, 2, 1, 5, 1.0, 1e-5, 5, 5, true, '{}', "
                      "now()::TIMESTAMP, now()::TIMESTAMP, 's', NULL, NULL)")
        s.con.executemany("INSERT INTO cluster_members VALUES (1, 'A', ?, 1, 1.0, 5.0)",
                          [["reddit:alice"], ["reddit:carol"]])
    res = runner.invoke(app, ["evaluate", "--label-prefix", "troll:", "--min-posts", "1", "--db", str(db)])
    assert res.exit_code == 0, res.output
    # positives alice, bob; flagged alice, carol: one true positive of two flagged and two positive
    assert "(2 positive, 2 flagged)" in res.output and "precision 0.500  recall 0.500" in res.output, res.output
