"""twitter-v1 reader on 20 real PHEME tweets (tests/fixtures/pheme, CC BY 4.0 annotations), JSONL and array."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from cibscope.ingest import IngestError, detect_format, ingest
from conftest import FIXTURES, errors, rows

ARRAY = FIXTURES / "pheme" / "charliehebdo_20.json"
JSONL = FIXTURES / "pheme" / "charliehebdo_20.jsonl"


@pytest.mark.parametrize("src", [ARRAY, JSONL])
def test_known_tweet_mapped(store, src):
    assert detect_format(src) == "twitter-v1"
    s = ingest(store, src)
    assert (s.rows_read, s.posts_added, s.errors) == (20, 20, 0)
    p = rows(store, "SELECT * FROM posts WHERE post_key = 'twitter:552808620187217920'")[0]
    assert p["account_key"] == "twitter:" + json.loads(JSONL.read_text().splitlines()[4])["user"]["id_str"]
    assert p["created_at"] == dt.datetime(2015, 1, 7, 12, 47, 0)
    assert p["text"].startswith("PHOTO: Armed gunmen face police officers near #CharlieHebdo")
    assert p["kind"] == "post" and p["lang"] == "en" and p["client"] == "TweetDeck"
    assert p["urls"] == ["http://on.rt.com/k5ivya"]
    assert p["hashtags"] == ["CharlieHebdo"] and p["media"] == ["552808094992850945"]
    assert p["source_row"] == 5
    a = rows(store, "SELECT * FROM accounts WHERE account_key = ?", [p["account_key"]])[0]
    # the profile as of RT_com's newest tweet in the file
    newest = max((json.loads(x) for x in JSONL.read_text().splitlines()
                  if json.loads(x)["user"]["screen_name"] == "RT_com"),
                 key=lambda t: dt.datetime.strptime(t["created_at"], "%a %b %d %H:%M:%S %z %Y"))["user"]
    assert (a["handle"], a["display_name"]) == ("RT_com", "RT")
    assert (a["followers"], a["following"]) == (newest["followers_count"], newest["friends_count"]) != (842236, 460)
    assert a["created_at"] == dt.datetime(2009, 8, 11, 6, 12, 45)


def test_retweet_and_reply(store, tmp_path):
    tweets = [json.loads(x) for x in JSONL.read_text().splitlines()]
    # a retweet record as the v1.1 API shapes it, built from two real tweets: the original is embedded
    rt = dict(tweets[0], id_str="900000000000000001", retweeted_status=tweets[4],
              text="RT @RT_com: " + tweets[4]["text"])
    reply = dict(tweets[1], id_str="900000000000000002", in_reply_to_status_id_str=tweets[4]["id_str"])
    f = tmp_path / "rt.jsonl"
    f.write_text(json.dumps(rt) + "\n" + json.dumps(reply) + "\n")
    s = ingest(store, f)
    assert s.posts_added == 3  # the retweet, the reply and the embedded original
    got = {r["post_id"]: r for r in rows(store, "SELECT * FROM posts")}
    assert got["900000000000000001"]["kind"] == "repost"
    assert got["900000000000000001"]["repost_of"] == "twitter:552808620187217920"
    assert got["900000000000000002"]["kind"] == "reply"
    assert got["900000000000000002"]["reply_to"] == "twitter:552808620187217920"
    assert got["552808620187217920"]["kind"] == "post" and got["552808620187217920"]["source_row"] == 1


def test_embedded_tweet_field_named_by_its_path(store, tmp_path):
    tweets = [json.loads(x) for x in JSONL.read_text().splitlines()]
    broken = dict(tweets[4], created_at="not a date")
    f = tmp_path / "rt.jsonl"
    f.write_text(json.dumps(dict(tweets[0], id_str="900000000000000003", retweeted_status=broken)) + "\n")
    s = ingest(store, f)
    assert s.posts_added == 1  # the retweet itself; its broken original is reported
    (e,) = rows(store, "SELECT * FROM ingest_errors")
    assert (e["line"], e["field"], e["raw_value"]) == (1, "retweeted_status.created_at", "not a date")


def test_bad_jsonl_lines(store, tmp_path):
    lines = JSONL.read_bytes().splitlines()
    t = json.loads(lines[0])
    no_user = json.dumps({k: v for k, v in t.items() if k != "user"} | {"id_str": "1"}).encode()
    bad_time = json.dumps(t | {"id_str": "2", "created_at": "yesterday"}).encode()
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b"\n".join(lines[:3] + [b'{"id_str": "3", "text": "cut', no_user, bad_time,
                                           b'{"id_str": "4", "text": "caf\xe9"}', b"[1, 2]"] + lines[3:]) + b"\n")
    s = ingest(store, f)
    assert s.posts_added == 20 and s.rows_read == 25
    e = errors(store)
    assert {ln: (r["field"], r["reason"].split(" (")[0]) for ln, r in e.items()} == {
        4: (None, "invalid JSON"), 5: ("user.id_str", "tweet without user.id_str/user.id"),
        6: ("created_at", "missing or unparsable created_at"),
        7: (None, "not UTF-8: invalid continuation byte at byte 28"),
        8: (None, "not a JSON object")}
    assert e[6]["raw_value"] == "yesterday"


def test_broken_array_keeps_elements_before_the_fault(store, tmp_path):
    text = ARRAY.read_text()
    cut = text.index('{"contributors"', 1000)  # start of an element after the first
    f = tmp_path / "broken.json"
    f.write_text(text[:cut] + '{"id_str": oops}, ' + text[cut:])
    n_before = len(json.loads(text[:cut].rstrip().rstrip(",") + "]"))
    s = ingest(store, f)
    assert s.posts_added == n_before >= 1
    e = rows(store, "SELECT * FROM ingest_errors")
    assert len(e) == 1 and e[0]["line"] == n_before + 1 and "invalid JSON" in e[0]["reason"]
    assert "array element" in e[0]["reason"] and e[0]["raw_value"].startswith('{"id_str": oops}')


def test_reingest_adds_nothing(store):
    ingest(store, ARRAY)
    assert ingest(store, ARRAY).skipped
    assert rows(store, "SELECT count(*) AS n FROM posts")[0]["n"] == 20
    # the same tweets as JSON lines are new bytes but the same posts: nothing added
    assert ingest(store, JSONL).posts_added == 0


def test_unreadable_file(store, tmp_path):
    f = tmp_path / "notjson.json"
    f.write_text("id,text\n1,a\n")
    with pytest.raises(IngestError, match="notjson.json"):
        ingest(store, f, fmt="twitter-v1")
