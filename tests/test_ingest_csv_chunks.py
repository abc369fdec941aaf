"""CSV files read in pieces (``tabular.scan_csv_chunks``) give exactly what one scan of the whole file gives.

The inputs are the readers' real fixtures (and, where present, the real files of ``../shared/data``)
grown to many pieces: rows repeated with new ids, a bad row in the middle, and a quoted field with
an embedded line break placed so that a piece's byte budget ends inside it.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cibscope.ingest import ingest, make_reader
from cibscope.ingest.coortweet import CooRTweetReader
from cibscope.ingest.crowdtangle import CrowdTangleReader
from cibscope.ingest.tabular import _record_end, csv_pieces
from cibscope.ingest.twitter_io import TwitterIOReader
from cibscope.store.db import Store
from conftest import FIXTURES, SHARED, rows

ONE_PIECE = 1 << 30
IO = FIXTURES / "twitter-io" / "ira_sample_tweets_csv_hashed.csv"
CT = FIXTURES / "crowdtangle" / "facebook_posts.csv"
AIRLINE_MAP = ["tweet_id=post_id", "name=account_id", "text=text", "tweet_created=created_at"]


def snapshot(path: Path, reader) -> dict:
    """Summary counts and every stored row of one ingest of ``path`` into a fresh store."""
    store = Store(":memory:")
    try:
        s = ingest(store, path, reader=reader, dataset="d")
        return {
            "summary": (s.rows_read, s.posts_added, s.posts_known, s.accounts_added, s.errors),
            "posts": rows(store, "SELECT * FROM posts ORDER BY post_key"),
            "actions": rows(store, "SELECT * FROM actions ORDER BY ALL"),
            "accounts": rows(store, "SELECT * FROM accounts ORDER BY account_key"),
            "errors": rows(store, "SELECT file, line, field, reason, raw_value FROM ingest_errors "
                                  "ORDER BY line, field"),
        }
    finally:
        store.close()


def records(data: bytes) -> list[list[str]]:
    """The CSV records of ``data`` (header first), parsed by Python's csv module."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def straddling_chunk(data: bytes, marker: bytes) -> int:
    """A piece budget whose first piece ends right after the line break inside the quoted field holding ``marker``."""
    header = data.index(b"\n") + 1
    inside = data.index(b"\n", data.index(marker)) + 1  # the field's embedded line break
    assert data.count(b'"', 0, inside) % 2 == 1        # ... is inside quotes
    return inside + 2 - header


def assert_pieces(path: Path, chunk: int, marker: bytes, tmp_path: Path) -> int:
    """The pieces of ``path`` are whole records that add up to the file; the field with ``marker`` is never split."""
    data, piece = path.read_bytes(), tmp_path / "piece.csv"
    header = data[:data.index(b"\n") + 1]
    parts = []
    for size in csv_pieces(path, piece, chunk):
        text = piece.read_bytes()
        assert text.startswith(header) and len(text) == len(header) + size
        parts.append(text[len(header):])
        assert text.count(b'"') % 2 == 0
    assert b"".join(parts) == data[len(header):]
    assert sum(marker in p for p in parts) == 1
    return len(parts)


def grow(src: Path, dst: Path, copies: int, fields: dict[str, callable], middle: dict[int, dict[str, str]]) -> bytes:
    """Write ``src``'s records ``copies`` times to ``dst`` with ``fields`` set per copy; ``middle`` edits some rows."""
    rec = records(src.read_bytes())
    header, body = rec[0], rec[1:]
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    n = 0
    for k in range(copies):
        for row in body:
            r = dict(zip(header, row))
            for f, make in fields.items():
                r[f] = make(k, n)
            r.update(middle.get(n, {}))
            w.writerow([r[h] for h in header])
            n += 1
    dst.write_bytes(out.getvalue().encode("utf-8"))
    return dst.read_bytes()


def test_record_end_respects_quotes():
    assert _record_end(b'a,b\nc,"x\ny"\nd,"e') == len(b'a,b\nc,"x\ny"\n')
    assert _record_end(b'a,"x\ny\nz') == 0                        # still inside the quoted field
    assert _record_end(b'a,"he said ""hi""\n",b\nc') == len(b'a,"he said ""hi""\n",b\n')
    assert _record_end(b"no line end") == 0


def test_twitter_io_pieces_equal_one_scan(tmp_path):
    path = tmp_path / "io_tweets_csv_hashed.csv"
    # 32 tweets by the fixture's accounts; row 13 has no tweet_time, row 4 a two-line text;
    # the last copy's counts are the newest
    data = grow(IO, path, 8, {
        "tweetid": lambda k, n: str(10**18 + n),
        "tweet_time": lambda k, n: f"2018-08-{10 + k:02d} 14:{n % 60:02d}",
        "follower_count": lambda k, n: str(100 + k)},
        {13: {"tweet_time": ""}, 4: {"tweet_text": "Breaking: first line\nsecond line #Election2018"}})
    chunk = straddling_chunk(data, b"Breaking: first line")
    assert assert_pieces(path, chunk, b"Breaking: first line", tmp_path) >= 5
    whole = snapshot(path, TwitterIOReader(chunk_bytes=ONE_PIECE))
    pieces = snapshot(path, TwitterIOReader(chunk_bytes=chunk))
    assert pieces == whole
    assert whole["summary"] == (32, 31, 0, 2, 1)
    # record 14 (line 15) is the bad one; the two-line text is record 5, and every later record keeps its number
    assert [(e["line"], e["field"]) for e in whole["errors"]] == [(15, "tweet_time")]
    post = {p["post_id"]: p for p in whole["posts"]}
    assert post[str(10**18 + 4)]["text"] == "Breaking: first line\nsecond line #Election2018"
    assert post[str(10**18 + 4)]["source_row"] == 5 and post[str(10**18 + 31)]["source_row"] == 32
    assert {a["followers"] for a in whole["accounts"] if a["followers"] is not None} == {107}


def test_crowdtangle_pieces_equal_one_scan(tmp_path):
    path = tmp_path / "facebook_posts.csv"
    data = grow(CT, path, 10, {
        "URL": lambda k, n: f"https://www.facebook.com/104357858224021/posts/{10**15 + n}",
        "Post Created": lambda k, n: f"2021-09-{10 + k:02d} 13:59:{n % 60:02d} CEST"},
        {2: {"Message": "Zwei Zeilen:\nBriefwahl #btw21"}, 11: {"Post Created": "gestern"}})
    with_short = data + b"Wahrheit Jetzt,wahrheitjetzt.de,104357858224021\n"   # too few fields
    path.write_bytes(with_short)
    chunk = straddling_chunk(with_short, b"Zwei Zeilen:")
    assert assert_pieces(path, chunk, b"Zwei Zeilen:", tmp_path) >= 5
    whole = snapshot(path, CrowdTangleReader(chunk_bytes=ONE_PIECE))
    assert snapshot(path, CrowdTangleReader(chunk_bytes=chunk)) == whole
    n = len(records(with_short)) - 1
    assert whole["summary"][0] == n and whole["summary"][4] == 2
    assert [(e["line"], e["field"]) for e in whole["errors"]] == [(13, "Post Created"), (n + 1, "Page Category")]


def test_unmapped_post_ids_and_repeats_across_pieces(tmp_path):
    """Identical rows get ordinal ids over the whole file; a repeated id with other values is reported once."""
    path = tmp_path / "cnt.csv"
    head = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"
    body = "".join(f'{i},u{i % 3},n{i % 3},,,"same text\nover two lines",1600000000,\n' for i in range(40))
    body += '5,u2,n2,,,"other text",1600000001,\n'  # id 5 again, other values: an error naming line 7
    path.write_text(head + body)
    whole = snapshot(path, make_reader("cnt-csv"))
    pieces = snapshot(path, make_reader("cnt-csv").__class__(chunk_bytes=200))
    assert pieces == whole
    assert [(e["line"], e["reason"]) for e in whole["errors"]] == [
        (42, "duplicate post id with other values than line 7, which is kept")]
    # no post id column: the md5 of account, time, text and the ordinal of identical rows
    gen = tmp_path / "gen.csv"
    gen.write_text("account_id,created_at,platform,text\n" + "a,2021-01-01T00:00:00Z,x,\"hi\nthere\"\n" * 30)
    whole = snapshot(gen, make_reader("csv"))
    assert snapshot(gen, make_reader("csv").__class__(chunk_bytes=100)) == whole
    assert whole["summary"][1] == 30


@pytest.mark.shared
def test_real_airline_tweets_in_pieces(tmp_path):
    """The real Kaggle file (multi-line texts, damaged rows) in 512 KiB pieces, plus bad rows appended."""
    src = SHARED / "airline-tweets" / "Tweets.csv"
    path = tmp_path / "Tweets.csv"
    path.write_bytes(src.read_bytes() + b'1,neutral,1,,,Delta,,a,,0,too few zqx\n'
                     b'5,neutral,1,,,Delta,,,,0,"no\nauthor",,2015-02-24 11:35:52 -0800,,\n')
    reader = make_reader("csv", mapping=AIRLINE_MAP, platform="twitter")
    whole = snapshot(path, reader)
    small = make_reader("csv", mapping=AIRLINE_MAP, platform="twitter")
    small.chunk_bytes = 512 << 10
    assert assert_pieces(path, 512 << 10, b"too few zqx", tmp_path) >= 6
    assert snapshot(path, small) == whole
    n = len(records(path.read_bytes())) - 1
    assert whole["summary"][0] == n
    assert [(e["line"], e["field"]) for e in whole["errors"][-2:]] == [(n, "tweet_coord"), (n + 1, "name")]


@pytest.mark.shared
def test_real_coortweet_shares_in_pieces():
    """CooRTweet's real share events (3.9 MB) in 1 MiB pieces."""
    path = SHARED / "coortweet" / "russian_coord_tweets.csv"
    whole = snapshot(path, CooRTweetReader(chunk_bytes=ONE_PIECE))
    assert snapshot(path, CooRTweetReader(chunk_bytes=1 << 20)) == whole
    assert whole["summary"][1] > 0
