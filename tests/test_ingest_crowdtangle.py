"""CrowdTangle-style Facebook/Instagram CSV reader on hand-made files in CrowdTangle's export layout."""
from __future__ import annotations

import datetime as dt

import pytest

from cibscope.ingest import IngestError, detect_format, ingest
from conftest import FIXTURES, errors, rows, with_bad_rows

FB = FIXTURES / "crowdtangle" / "facebook_posts.csv"
IG = FIXTURES / "crowdtangle" / "instagram_posts.csv"
FB_POST = "https://www.facebook.com/104357858224021/posts/389276019732202"


def test_sniffed():
    assert detect_format(FB) == detect_format(IG) == "crowdtangle"


def test_facebook_every_mapped_field(store):
    s = ingest(store, FB)
    assert (s.rows_read, s.posts_added, s.errors) == (3, 3, 0)
    p = rows(store, "SELECT * EXCLUDE (dataset, source_file, context) FROM posts WHERE post_id = ?", [FB_POST])[0]
    assert p == {
        "post_key": f"facebook:{FB_POST}", "platform": "facebook", "post_id": FB_POST,
        "account_key": "facebook:104357858224021", "created_at": dt.datetime(2021, 9, 24, 11, 59, 41),  # CEST = +02:00
        "kind": "post", "text": "Das verschweigen die Medien! #btw21 #Briefwahl https://wahrheit-jetzt.example/artikel/4711",
        "lang": None, "repost_of": None, "reply_to": None,
        # Final Link first (resolved by CrowdTangle), then the link in the message
        "urls": ["https://wahrheit-jetzt.example/artikel/4711?fbclid=IwAR0xyz", "https://wahrheit-jetzt.example/artikel/4711"],
        "hashtags": ["btw21", "Briefwahl"], "mentions": [], "media": None, "client": None, "source_row": 1,
        "quote_of": None}
    # a photo post whose Link is the post itself has no link
    photo = rows(store, "SELECT urls FROM posts WHERE source_row = 2")[0]
    assert photo["urls"] == []
    # the same link reaches the store as one object (fbclid dropped by canonical_url)
    assert rows(store, "SELECT DISTINCT object_key FROM actions WHERE action_type = 'link'") == [
        {"object_key": "wahrheit-jetzt.example/artikel/4711"}]
    acc = rows(store, "SELECT * FROM accounts WHERE account_key = 'facebook:104357858224021'")[0]
    assert (acc["handle"], acc["display_name"], acc["description"], acc["created_at"], acc["location"],
            acc["followers"]) == ("wahrheitjetzt.de", "Wahrheit Jetzt", "Unabhängige Nachrichten für Deutschland",
                                  dt.datetime(2020, 3, 2, 9, 11, 12), "DE", 15244)
    group = rows(store, "SELECT handle, display_name FROM accounts WHERE account_key = 'facebook:2295873914007523'")
    assert group == [{"handle": None, "display_name": "Bürger für Klarheit"}]


def test_instagram_every_mapped_field(store):
    s = ingest(store, IG)
    assert (s.rows_read, s.posts_added) == (2, 2)
    p = rows(store, "SELECT * EXCLUDE (dataset, source_file, context) FROM posts ORDER BY source_row")
    assert p[0] == {
        "post_key": "instagram:https://www.instagram.com/p/CUNx7abDxyz", "platform": "instagram",
        "post_id": "https://www.instagram.com/p/CUNx7abDxyz", "account_key": "instagram:wahrheit.jetzt",
        "created_at": dt.datetime(2021, 9, 24, 12, 1, 2), "kind": "post",
        "text": "Link in Bio! 👉 https://wahrheit-jetzt.example/artikel/4711 #btw21 #wahlbetrug @buerger.klarheit",
        "lang": None, "repost_of": None, "reply_to": None, "urls": ["https://wahrheit-jetzt.example/artikel/4711"],
        "hashtags": ["btw21", "wahlbetrug"], "mentions": ["buerger.klarheit"], "media": None, "client": None, "source_row": 1,
        "quote_of": None}
    assert p[1]["created_at"] == dt.datetime(2021, 9, 24, 16, 1, 2)  # EDT = -04:00
    acc = rows(store, "SELECT handle, display_name, followers FROM accounts WHERE account_key = 'instagram:deutschland_heute_'")
    assert acc == [{"handle": "deutschland_heute_", "display_name": "Deutschland Heute", "followers": 120003}]


def test_bad_rows(store, tmp_path):
    f = tmp_path / "fb.csv"
    n = len(FB.read_text().splitlines()[0].split(","))
    row = ["Page", "page", "42", "", "", "", "", "", "", "2021-09-24 14:00:00 XYZT", "", "", "Status"] + [""] * (n - 13)
    row[29] = "https://www.facebook.com/42/posts/1"
    row2 = list(row)
    row2[2], row2[9], row2[29] = "", "2021-09-24 14:00:00 CEST", "https://www.facebook.com/42/posts/2"
    lines = with_bad_rows(FB, f, [",".join(row).encode(), ",".join(row2).encode()])
    s = ingest(store, f)
    assert s.posts_added == 3
    e = errors(store)
    assert (e[lines[0]]["field"], e[lines[0]]["raw_value"]) == ("Post Created", "2021-09-24 14:00:00 XYZT")
    assert e[lines[1]]["field"] == "Facebook Id"


def test_missing_columns_named(store, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("Page Name,Facebook Id,Message\nA,1,hi\n")
    with pytest.raises(IngestError, match="Post Created, URL"):
        ingest(store, f, fmt="crowdtangle")
