"""X/Twitter API v2 reader on hand-made responses built from the v2 tweet/user object docs (tests/fixtures/twitter-v2)."""
from __future__ import annotations

import datetime as dt
import json

from cibscope.ingest import detect_format, ingest
from conftest import FIXTURES, rows

JSONL = FIXTURES / "twitter-v2" / "responses.jsonl"
SINGLE = FIXTURES / "twitter-v2" / "single_response.json"


def _post(store, post_id: str) -> dict:
    return rows(store, "SELECT * EXCLUDE (dataset, source_file, context) FROM posts WHERE post_key = ?",
                [f"twitter:{post_id}"])[0]


def test_sniffed_as_v2_not_v1():
    assert detect_format(JSONL) == "twitter-v2"
    assert detect_format(SINGLE) == "twitter-v2"
    assert detect_format(FIXTURES / "pheme" / "charliehebdo_20.jsonl") == "twitter-v1"


def test_every_mapped_field(store):
    s = ingest(store, JSONL)
    # 2 responses, 4 tweets in data, 1 referenced tweet in includes
    assert (s.format, s.rows_read, s.posts_added, s.errors) == ("twitter-v2", 2, 5, 0)
    assert _post(store, "1471544416227463168") == {
        "post_key": "twitter:1471544416227463168", "platform": "twitter", "post_id": "1471544416227463168",
        "account_key": "twitter:1468391230219239425", "created_at": dt.datetime(2021, 12, 16, 18, 40, 57),
        "kind": "post", "text": "Was die Medien verschweigen: https://t.co/AbCdEf1234 #Wahlbetrug #btw21 @XDevelopers",
        "lang": "de", "repost_of": None, "reply_to": None,
        "urls": ["https://wahrheit-jetzt.example/artikel/4711?utm_source=tw"], "hashtags": ["Wahlbetrug", "btw21"],
        "mentions": ["XDevelopers"], "media": ["3_1471544410000000000"], "client": "Twitter Web App", "source_row": 1,
        "quote_of": None}
    rt = _post(store, "1471544500000000001")
    assert (rt["kind"], rt["repost_of"]) == ("repost", "twitter:1460323737035677698")
    reply = _post(store, "1471600000000000002")
    assert (reply["kind"], reply["reply_to"], reply["source_row"]) == ("reply", "twitter:1460323737035677698", 2)
    assert reply["urls"] == ["https://twitter.com/XDevelopers/status/1460323737035677698"]
    # a long post: note_tweet's full text and entities win; a quote keeps repost_of empty
    note = _post(store, "1471600000000000003")
    assert note["text"].startswith("Lest das! Ein sehr langer Beitrag") and note["hashtags"] == ["Wahl"]
    assert (note["kind"], note["repost_of"], note["urls"]) == ("quote", None, ["https://bit.ly/3wahl21"])
    # the retweeted tweet from includes.tweets is a post of its own, with its author
    orig = _post(store, "1460323737035677698")
    assert (orig["account_key"], orig["client"], orig["created_at"]) == (
        "twitter:2244994945", "Sprinklr", dt.datetime(2021, 11, 15, 19, 8, 5))
    acc = rows(store, "SELECT * FROM accounts WHERE account_key = 'twitter:1468391230219239425'")[0]
    assert (acc["handle"], acc["display_name"], acc["created_at"], acc["description"], acc["location"],
            acc["followers"], acc["following"]) == (
        "heimat_news24", "Heimat News 24", dt.datetime(2021, 12, 8, 1, 10, 3), "Nachrichten, die andere verschweigen.",
        "Deutschland", 1843, 2201)


def test_single_pretty_printed_response(store):
    s = ingest(store, SINGLE)
    assert (s.rows_read, s.posts_added) == (1, 1)
    p = _post(store, "1445880548472328192")
    assert (p["hashtags"], p["account_key"], p["source_row"]) == (["v2"], "twitter:2244994945", 1)


def test_bad_records(store, tmp_path):
    good = JSONL.read_text().splitlines()
    tweet = {"id": "1", "text": "no time", "author_id": "7"}
    bad = [
        "{not json",
        json.dumps({"errors": [{"title": "Not Found Error", "detail": "Could not find tweet with ids: [9]."}]}),
        json.dumps({"data": [tweet, {"id": "2", "text": "anonymous", "created_at": "2021-01-01T00:00:00Z"}]}),
    ]
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(good + bad) + "\n")
    s = ingest(store, f, fmt="twitter-v2")
    assert (s.rows_read, s.posts_added) == (5, 5)
    e = rows(store, "SELECT line, field, reason, raw_value FROM ingest_errors ORDER BY line, field")
    assert [(r["line"], r["field"]) for r in e] == [(3, None), (4, "data"), (5, "data.author_id"),
                                                     (5, "data.created_at")]
    assert e[0]["reason"] == "invalid JSON"
    assert "Could not find tweet with ids: [9]." in e[1]["reason"]
    assert e[2]["raw_value"] == "2" and "author_id" in e[2]["reason"]
    assert e[3]["raw_value"] is None and "created_at" in e[3]["reason"]
