"""Mastodon reader on hand-made Status entities built from docs.joinmastodon.org (Entities: Status, Account)."""
from __future__ import annotations

import datetime as dt
import json

from cibscope.ingest import detect_format, ingest
from conftest import FIXTURES, rows

STATUSES = FIXTURES / "mastodon" / "statuses.json"


def _post(store, post_id: str) -> dict:
    return rows(store, "SELECT * EXCLUDE (dataset, source_file, context, quote_of) FROM posts WHERE post_id = ?", [post_id])[0]


def test_sniffed():
    assert detect_format(STATUSES) == "mastodon"


def test_every_mapped_field(store):
    s = ingest(store, STATUSES)
    assert (s.rows_read, s.posts_added, s.errors) == (3, 3, 0)
    text = STATUSES.read_text()
    reblog_line = text[:text.index('"id": "109123456789099999"')].count("\n")  # the line of the element's "{"
    assert _post(store, "109123456789012345") == {
        "post_key": "mastodon:109123456789012345", "platform": "mastodon", "post_id": "109123456789012345",
        "account_key": "mastodon:109302712345678901", "created_at": dt.datetime(2021, 9, 24, 12, 0, 20), "kind": "post",
        "text": "Das verschweigen die Medien! https://wahrheit-jetzt.example/artikel/4711?a=1&b=2 #btw21 @buerger",
        "lang": "de", "repost_of": None, "reply_to": None,
        # the content link and card.url are one URL; mention and hashtag links are not URLs
        "urls": ["https://wahrheit-jetzt.example/artikel/4711?a=1&b=2"], "hashtags": ["btw21"], "mentions": ["buerger"],
        "media": ["22345792"], "client": "Tusky",
        "source_row": reblog_line}  # first met inside the reblog
    rb = _post(store, "109123456789099999")
    assert (rb["kind"], rb["repost_of"], rb["account_key"], rb["source_row"]) == (
        "repost", "mastodon:109123456789012345", "mastodon:1", reblog_line)
    reply = _post(store, "109123456789100000")
    assert (reply["kind"], reply["reply_to"], reply["mentions"], reply["client"]) == (
        "reply", "mastodon:109123456789012345", ["wahrheit@social.example"], "Web")
    assert reply["text"] == '@wahrheit Genau so "ist" es <3\nZweiter Absatz'
    acc = rows(store, "SELECT * FROM accounts WHERE account_key = 'mastodon:1'")[0]
    assert (acc["handle"], acc["display_name"], acc["created_at"], acc["description"], acc["followers"],
            acc["following"]) == ("buerger", "Bürger für Klarheit", dt.datetime(2016, 3, 16),
                                  "Fragen stellen.\nAntworten finden.", 95, 40)


def test_jsonl_and_bad_records(store, tmp_path):
    statuses = json.loads(STATUSES.read_text())
    bad_reblog = dict(statuses[1], id="5", reblog=dict(statuses[2], id="6", created_at="never"))
    no_account = dict(statuses[2], id="7", account={})
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in [statuses[0], bad_reblog, no_account]) + "\n")
    s = ingest(store, f, fmt="mastodon")
    assert (s.rows_read, s.posts_added) == (3, 2)  # the reply, and the reblog whose original is bad
    e = rows(store, "SELECT line, field, raw_value FROM ingest_errors ORDER BY line")
    assert e == [{"line": 2, "field": "reblog.created_at", "raw_value": "never"},
                 {"line": 3, "field": "account.id", "raw_value": "7"}]
