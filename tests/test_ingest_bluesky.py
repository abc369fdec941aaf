"""Bluesky reader on hand-made Jetstream and listRecords lines built from the app.bsky.feed lexicons."""
from __future__ import annotations

import datetime as dt
import json

from cibscope.ingest import detect_format, ingest
from conftest import FIXTURES, rows

RECORDS = FIXTURES / "bluesky" / "records.jsonl"
A, B = "did:plc:z72i7hdynmk6r22z27h6tvur", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
ORIGINAL = f"at://{A}/app.bsky.feed.post/3k2yihcrp6f2c"
IMAGE = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"


def test_sniffed():
    assert detect_format(RECORDS) == "bluesky"


def test_every_mapped_field(store):
    s = ingest(store, RECORDS)
    assert (s.rows_read, s.posts_added) == (6, 4)
    p = {r["source_row"]: r for r in rows(store, "SELECT * EXCLUDE (dataset, source_file, context, quote_of) FROM posts")}
    assert p[1] == {
        "post_key": f"bluesky:{ORIGINAL}", "platform": "bluesky", "post_id": ORIGINAL, "account_key": f"bluesky:{A}",
        "created_at": dt.datetime(2021, 9, 24, 12, 0, 11), "kind": "post",
        "text": "Das verschweigen die Medien! wahrheit-jetzt.example/artikel/4711 #btw21 @buerger.bsky.social",
        "lang": "de", "repost_of": None, "reply_to": None, "urls": ["https://wahrheit-jetzt.example/artikel/4711"],
        "hashtags": ["btw21"], "mentions": [B], "media": [IMAGE], "client": None, "source_row": 1}
    assert (p[2]["kind"], p[2]["repost_of"], p[2]["account_key"]) == ("repost", f"bluesky:{ORIGINAL}", f"bluesky:{B}")
    assert p[2]["post_id"] == f"at://{B}/app.bsky.feed.repost/3k2yii0000000"
    # a listRecords line: reply, external embed, outline tags
    assert (p[4]["kind"], p[4]["reply_to"], p[4]["urls"], p[4]["hashtags"]) == (
        "reply", f"bluesky:{ORIGINAL}", ["https://bit.ly/3wahl21"], ["Briefwahl"])
    # a post view with recordWithMedia: a quote whose image is the same blob
    assert (p[5]["kind"], p[5]["media"]) == ("quote", [IMAGE])
    assert rows(store, "SELECT handle FROM accounts WHERE account_key = ?", [f"bluesky:{B}"]) == [
        {"handle": "buerger.bsky.social"}]
    # the repost resolves to the original post; the shared image is one object
    assert rows(store, "SELECT count(*) AS n FROM posts WHERE post_key = ?", [p[2]["repost_of"]])[0]["n"] == 1
    assert rows(store, "SELECT count(DISTINCT account_key) AS n FROM actions WHERE action_type = 'image'")[0]["n"] == 2


def test_other_records_reported_not_ingested(store, tmp_path):
    s = ingest(store, RECORDS)
    e = rows(store, "SELECT line, field, reason, raw_value FROM ingest_errors ORDER BY line")
    assert [(r["line"], r["field"], r["raw_value"]) for r in e] == [
        (3, "collection", "app.bsky.feed.like"), (6, "kind", "identity")]
    assert e[0]["reason"].startswith("1 record(s) not posts or reposts")
    assert s.errors == 2


def test_bad_records(store, tmp_path):
    f = tmp_path / "bad.jsonl"
    post = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "soon"}
    f.write_text("\n".join([
        json.dumps({"did": A, "kind": "commit", "commit": {"operation": "create", "collection": "app.bsky.feed.post",
                                                            "rkey": "3k1", "record": post}}),
        json.dumps({"kind": "commit", "commit": {"operation": "create", "collection": "app.bsky.feed.post",
                                                  "rkey": "3k2", "record": dict(post, createdAt="2021-09-24T12:00:00Z")}}),
        "[1, 2]"]) + "\n")
    s = ingest(store, f, fmt="bluesky")
    assert s.posts_added == 0
    e = rows(store, "SELECT line, field, reason, raw_value FROM ingest_errors ORDER BY line")
    assert [(r["line"], r["field"], r["raw_value"]) for r in e] == [(1, "createdAt", "soon"), (2, "did", "3k2"),
                                                                     (3, None, "[1, 2]")]
    assert e[2]["reason"] == "not a JSON object"
