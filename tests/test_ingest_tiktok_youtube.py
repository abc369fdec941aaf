"""TikTok Research API and YouTube Data API readers on hand-made responses built from their API references."""
from __future__ import annotations

import datetime as dt
import json

from cibscope.ingest import detect_format, ingest
from conftest import FIXTURES, rows

TIKTOK = FIXTURES / "tiktok" / "video_query.jsonl"
YOUTUBE = FIXTURES / "youtube" / "responses.jsonl"


def _posts(store) -> dict:
    return {r["post_id"]: r for r in rows(store, "SELECT * EXCLUDE (dataset, source_file, context, quote_of) FROM posts")}


def test_sniffed():
    assert detect_format(TIKTOK) == "tiktok"
    assert detect_format(YOUTUBE) == "youtube"


def test_tiktok_every_mapped_field(store):
    s = ingest(store, TIKTOK)
    assert (s.rows_read, s.posts_added, s.errors) == (2, 3, 0)
    p = _posts(store)
    assert p["7011536772089924869"] == {
        "post_key": "tiktok:7011536772089924869", "platform": "tiktok", "post_id": "7011536772089924869",
        "account_key": "tiktok:wahrheit.jetzt", "created_at": dt.datetime(2021, 9, 24, 12, 0, 30), "kind": "post",
        "text": "Das verschweigen die Medien! #btw21 #Wahlbetrug Link: https://wahrheit-jetzt.example/artikel/4711 "
                "@buerger.klarheit",
        "lang": None, "repost_of": None, "reply_to": None, "urls": ["https://wahrheit-jetzt.example/artikel/4711"],
        # hashtag_names first; #Wahlbetrug of the text is listed already (case-insensitively)
        "hashtags": ["btw21", "wahlbetrug", "fyp"], "mentions": ["buerger.klarheit"], "media": None, "client": None,
        "source_row": 1}
    # an empty hashtag_names list: the text's hashtags
    assert (p["7011550000000000002"]["hashtags"], p["7011550000000000002"]["source_row"]) == (["Briefwahl"], 2)
    assert rows(store, "SELECT handle, location FROM accounts WHERE account_key = 'tiktok:deutschland_heute_'") == [
        {"handle": "deutschland_heute_", "location": "AT"}]


def test_tiktok_bad_records(store, tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join([
        json.dumps({"data": {}, "error": {"code": "invalid_params", "message": "Invalid query: max_count", "log_id": "x"}}),
        json.dumps({"id": 1, "create_time": "yesterday", "username": "a", "video_description": "v"}),
        json.dumps({"data": {"videos": [{"id": 2, "create_time": 1632484830, "video_description": "no user"}]},
                    "error": {"code": "ok"}})]) + "\n")
    s = ingest(store, f, fmt="tiktok")
    assert s.posts_added == 0
    e = rows(store, "SELECT line, field, reason, raw_value FROM ingest_errors ORDER BY line")
    assert [(r["line"], r["field"]) for r in e] == [(1, "data.videos"), (2, "create_time"), (3, "data.videos.username")]
    assert e[0]["reason"] == "API response without records: invalid_params: Invalid query: max_count"
    assert (e[1]["raw_value"], e[2]["raw_value"]) == ("yesterday", "2")


def test_youtube_every_mapped_field(store):
    s = ingest(store, YOUTUBE)
    assert (s.rows_read, s.posts_added) == (2, 2)
    p = _posts(store)
    assert p["dQw4w9WgXcQ"] == {
        "post_key": "youtube:dQw4w9WgXcQ", "platform": "youtube", "post_id": "dQw4w9WgXcQ",
        "account_key": "youtube:UCwahrheitJetzt0000000000", "created_at": dt.datetime(2021, 9, 24, 12, 0, 30),
        "kind": "post",
        "text": "Wahlbetrug? Was die Medien verschweigen #btw21\n\nAlle Quellen: "
                "https://wahrheit-jetzt.example/artikel/4711\nFolgt @buergerklarheit #Briefwahl",
        "lang": "de", "repost_of": None, "reply_to": None, "urls": ["https://wahrheit-jetzt.example/artikel/4711"],
        "hashtags": ["Wahl 2021", "btw21", "Briefwahl"], "mentions": ["buergerklarheit"], "media": None, "client": None,
        "source_row": 1}
    # search.list: id.videoId
    assert (p["Xy12Ab34Cd5"]["account_key"], p["Xy12Ab34Cd5"]["text"]) == (
        "youtube:UCbuergerKlarheit00000000", "Briefwahl: die Fakten\n\nKurz erklärt.")
    assert rows(store, "SELECT display_name FROM accounts WHERE account_key = 'youtube:UCwahrheitJetzt0000000000'") == [
        {"display_name": "Wahrheit Jetzt TV"}]
    # a channel in the search results is not a video: reported
    e = rows(store, "SELECT line, field, reason, raw_value FROM ingest_errors")
    assert e == [{"line": 2, "field": "items.id", "reason": "search result is not a video", "raw_value": "youtube#channel"}]


def test_youtube_bad_records(store, tmp_path):
    f = tmp_path / "y.json"
    f.write_text(json.dumps({"error": {"code": 403, "message": "The request cannot be completed because you have "
                                                             "exceeded your quota."}}, indent=2))
    s = ingest(store, f, fmt="youtube")
    e = rows(store, "SELECT line, field, reason FROM ingest_errors")
    assert s.posts_added == 0 and e[0]["line"] == 1 and e[0]["field"] == "items"
    assert "exceeded your quota" in e[0]["reason"]
