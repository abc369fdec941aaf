"""Tip matching on realistic posts: URL variants, subdomains, handle case/@/platform, t.co wrappers.

The posts mirror the two real layouts: a Twitter API v1.1 tweet (text with the t.co link, expanded URL
in ``urls``) and a text-only CSV export (``urls`` holds the t.co link found in the text)."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from cibscope.cases import TipError, ingest_tip, match_tip, seed_accounts
from cibscope.store.db import Store

T0 = dt.datetime(2016, 10, 3, 14, 0)

POSTS = [  # post_id, platform, account_id, handle, minutes after T0, text, urls, mentions
    ("1", "twitter", "101", "NewsWatcher", 0, "Read this https://t.co/Ab12Cd34", ["https://www.Example-News.org/story/?id=7&utm_source=tw"], []),
    ("2", "twitter", "102", "OhioMom", 5, "wow https://t.co/Ab12Cd34", ["https://t.co/Ab12Cd34"], []),
    ("3", "twitter", "103", "reader3", 9, "http://example-news.org/story?utm_medium=x&id=7", ["http://example-news.org/story?utm_medium=x&id=7"], []),
    ("4", "twitter", "104", "reader4", 12, "see https://live.example-news.org/feed", ["https://live.example-news.org/feed"], []),
    ("5", "twitter", "105", "reader5", 15, "not it https://notexample-news.org/x", ["https://notexample-news.org/x"], []),
    ("6", "twitter", "106", "TEN_GOP", 20, "our page", [], []),
    ("7", "facebook", "107", "ten_gop", 21, "a facebook page with the same name", [], []),
    ("8", "twitter", "108", "fan8", 25, "@Ten_GOP is right", [], ["Ten_GOP"]),
]


def _store() -> Store:
    s = Store(":memory:")
    cols = {k: [] for k in ("platform", "post_id", "account_id", "handle", "created_at", "text", "urls", "mentions")}
    for pid, plat, acc, handle, minutes, text, urls, mentions in POSTS:
        for k, v in zip(cols, (plat, pid, acc, handle, T0 + dt.timedelta(minutes=minutes), text, urls, mentions)):
            cols[k].append(v)
    s.add_batch(dataset="t", source_file="test", posts=pa.table(cols))
    return s


def _bundle(tmp_path):
    def ind(n, pattern):
        return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-00000000000{n}",
                "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
                "pattern": pattern, "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}
    objs = [ind(1, "[domain-name:value = 'www.example-news.org']"),
            ind(2, "[url:value = 'https://example-news.org/story?id=7']"),
            ind(3, "[user-account:account_type = 'twitter' AND user-account:account_login = '@ten_gop']")]
    p = tmp_path / "tip.json"
    p.write_text(json.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000009", "objects": objs}))
    return p, objs


def test_every_match_type_on_realistic_posts(tmp_path):
    s = _store()
    path, objs = _bundle(tmp_path)
    tip = ingest_tip(s, path, partner_org="Police", purpose="criminal-investigation", tlp="amber+strict")
    assert (tip.format, tip.n_objects, tip.n_indicators, tip.n_errors) == ("stix", 3, 3, 0)
    counts = match_tip(s, tip.tip_id)
    rows = s.con.execute("SELECT indicator_ref, match_type, account_key, post_key, matched_value FROM tip_matches "
                         "ORDER BY ALL").fetchall()
    dom, url, acct = (o["id"] for o in objs)
    got = {(r[0], r[1], r[3] or r[2]) for r in rows}
    assert got == {
        # www, case, scheme, tracking parameters, parameter order and trailing slash do not matter
        (url, "url", "twitter:1"), (url, "url", "twitter:3"),
        # the t.co link of a text-only export, expanded by the v1.1 tweet that holds both forms
        (url, "url_wrapped", "twitter:2"),
        (dom, "domain", "twitter:1"), (dom, "domain", "twitter:3"), (dom, "subdomain", "twitter:4"),
        (dom, "domain_wrapped", "twitter:2"),
        # handle: any case, '@' stripped, twitter only (the facebook page of the same name is not it)
        (acct, "handle", "twitter:106"), (acct, "mention", "twitter:8"),
    }
    assert counts == {"domain": 2, "domain_wrapped": 1, "handle": 1, "mention": 1, "subdomain": 1, "url": 2,
                      "url_wrapped": 1}
    # the mentioner touched the handle but is no seed
    assert seed_accounts(s, tip.tip_id) == ["twitter:101", "twitter:102", "twitter:103", "twitter:104", "twitter:106"]
    # matching again replaces, never duplicates
    match_tip(s, tip.tip_id)
    assert s.con.execute("SELECT count(*) FROM tip_matches").fetchall()[0][0] == len(rows)


def test_tip_provenance_and_idempotent_ingest(tmp_path):
    s = _store()
    path, _ = _bundle(tmp_path)
    a = ingest_tip(s, path, partner_org="Police", purpose="criminal-investigation", tlp="amber")
    again = ingest_tip(s, path, partner_org="Police", purpose="criminal-investigation", tlp="amber")
    other = ingest_tip(s, path, partner_org="Gov Agency", purpose="national-security", tlp="red")
    assert again.skipped and again.tip_id == a.tip_id and other.tip_id != a.tip_id
    rows = s.con.execute("SELECT partner_org, purpose, tlp, length(file_sha256), received_at IS NOT NULL "
                         "FROM tips ORDER BY partner_org").fetchall()
    assert rows == [("Gov Agency", "national-security", "red", 64, True),
                    ("Police", "criminal-investigation", "amber", 64, True)]
    assert s.con.execute("SELECT count(*) FROM tip_objects").fetchall()[0][0] == 6
    with pytest.raises(TipError, match="unknown purpose 'marketing'"):
        ingest_tip(s, path, partner_org="Police", purpose="marketing")
    with pytest.raises(TipError, match="no such file"):
        ingest_tip(s, tmp_path / "missing.csv", partner_org="Police", purpose="research")


def test_plain_list_tip_and_refused_rows_are_kept(tmp_path):
    s = _store()
    p = tmp_path / "list.csv"
    p.write_text("value,platform\n@TEN_GOP,twitter\nexample-news[.]org,\n76 accounts,\n")
    tip = ingest_tip(s, p, partner_org="NGO Lab", purpose="research", fmt="list")
    assert tip.n_indicators == 2 and tip.n_errors == 1
    err = json.loads(s.con.execute("SELECT errors FROM tips").fetchall()[0][0])
    assert err[0]["row"] == 4 and "76 accounts" in err[0]["raw"]
    match_tip(s, tip.tip_id)
    assert "twitter:106" in seed_accounts(s, tip.tip_id)


def test_a_tip_with_nothing_to_match_is_refused_with_its_reasons(tmp_path):
    s = _store()
    p = tmp_path / "bad.csv"
    p.write_text("value,platform\n76 accounts,\n")
    with pytest.raises(TipError, match=r"no matchable indicator .*1 import errors, e\.g\. row 2: "):
        ingest_tip(s, p, partner_org="NGO Lab", purpose="research", fmt="list")
    empty = tmp_path / "empty.csv"
    empty.write_text("value,platform\n")
    with pytest.raises(TipError, match="no matchable indicator"):
        ingest_tip(s, empty, partner_org="NGO Lab", purpose="research", fmt="list")
    assert s.con.execute("SELECT count(*) FROM tips").fetchall()[0][0] == 0
    assert s.con.execute("SELECT count(*) FROM tip_objects").fetchall()[0][0] == 0
