"""Telegram Desktop export reader on a hand-made result.json in Telegram Desktop's JSON export layout."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from cibscope.ingest import IngestError, detect_format, ingest
from cibscope.ingest.text_entities import repost_key_sql
from conftest import FIXTURES, rows

RESULT = FIXTURES / "telegram" / "result.json"


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def test_sniffed():
    assert detect_format(RESULT) == "telegram"


def test_every_mapped_field(store):
    s = ingest(store, RESULT)
    # 6 messages, 1 service message (not a post)
    assert (s.rows_read, s.posts_added, s.errors) == (6, 5, 0)
    text = RESULT.read_text()
    p = {r["post_id"]: r for r in rows(store, "SELECT * EXCLUDE (dataset, source_file, context, quote_of) FROM posts")}
    assert p["1501234567/2"] == {
        "post_key": "telegram:1501234567/2", "platform": "telegram", "post_id": "1501234567/2",
        "account_key": "telegram:channel1501234567", "created_at": dt.datetime(2021, 9, 24, 12, 0, 10),
        "kind": "post",
        "text": "Das verschweigen die Medien! https://wahrheit-jetzt.example/artikel/4711 #btw21 via @buergerklarheit",
        "lang": None, "repost_of": None, "reply_to": None, "urls": ["https://wahrheit-jetzt.example/artikel/4711"],
        "hashtags": ["btw21"], "mentions": ["buergerklarheit"], "media": None, "client": None,
        "source_row": _line_of(text, '"id": 2,') - 1}  # the line of the message's "{"
    fwd = p["1501234567/3"]
    key = store.con.execute(f"SELECT {repost_key_sql('t')} FROM (SELECT ? AS t)", [fwd["text"]]).fetchall()[0][0]
    assert (fwd["kind"], fwd["repost_of"], fwd["urls"]) == ("repost", key, ["https://t.me/buergerklarheit/812"])
    assert fwd["text"] == "EILT: Wahlzettel im Müll gefunden! Alle teilen hier"
    assert (p["1501234567/4"]["kind"], p["1501234567/4"]["reply_to"]) == ("reply", "telegram:1501234567/2")
    assert (p["1501234567/5"]["text"], p["1501234567/5"]["client"]) == ("", "@ControllerBot")
    # no date_unixtime: date taken as UTC; a plain-string text has its entities extracted
    assert (p["1501234567/6"]["created_at"], p["1501234567/6"]["hashtags"]) == (dt.datetime(2021, 9, 24, 16), ["btw21"])
    assert rows(store, "SELECT account_id, display_name FROM accounts") == [
        {"account_id": "channel1501234567", "display_name": "Wahrheit Jetzt"}]


def test_bad_messages_and_truncation(store, tmp_path):
    chat = json.loads(RESULT.read_text())
    chat["messages"] += [{"id": 7, "type": "message", "date": "garbage", "from": "X", "from_id": "user1", "text": "a"},
                         {"id": 8, "type": "message", "date_unixtime": "1632488400", "text": "anonymous"}]
    f = tmp_path / "result.json"
    body = json.dumps(chat, indent=1)
    f.write_text(body[:body.rindex("]")] + ', {"id": 9, "type": "message", "text": oops}\n]}')
    s = ingest(store, f)
    assert s.posts_added == 5
    e = rows(store, "SELECT line, field, reason, raw_value FROM ingest_errors ORDER BY line")
    assert [(r["field"], r["raw_value"]) for r in e] == [("date_unixtime", "garbage"), ("from_id", "1501234567/8"),
                                                          (None, '{"id": 9, "type": "message", "text": oops}\n]}')]
    assert e[0]["line"] == _line_of(body, '"id": 7,') - 1
    assert "invalid JSON" in e[2]["reason"] and "rest of file not read" in e[2]["reason"]


def test_progress_reports_every_message(store):
    done: list[int] = []
    s = ingest(store, RESULT, progress=done.append)
    assert sum(done) == s.rows_read == 6


def test_full_account_export_refused(store, tmp_path):
    f = tmp_path / "result.json"
    f.write_text(json.dumps({"about": "x", "chats": {"list": [json.loads(RESULT.read_text())]}}))
    with pytest.raises(IngestError, match="one chat"):
        ingest(store, f, fmt="telegram")
