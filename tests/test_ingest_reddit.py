"""Reddit reader (``--format reddit``) on hand-made fixtures of its three layouts, and on the shared IRA set."""
from __future__ import annotations

import datetime as dt
import shutil
import time

import pytest

from cibscope.evaluate import match_labels, read_labels
from cibscope.ingest import IngestError, detect_format, ingest
from cibscope.ingest.reddit import RedditReader
from cibscope.store.db import Store
from conftest import FIXTURES, SHARED, errors, rows

R = FIXTURES / "reddit"
HISTORY = R / "history"
NDJSON = R / "pushshift" / "RC_2016-10_sample.ndjson"
LISTING = R / "api" / "listing.json"
REDDIT_IRA = SHARED / "reddit-ira-2016"


def _post(store, post_id: str) -> dict:
    return rows(store, "SELECT * FROM posts WHERE post_id = ?", [post_id])[0]


def _actions(store, action_type: str) -> set[tuple[str, str]]:
    return {(r["account_key"], r["object_key"]) for r in
            rows(store, "SELECT account_key, object_key FROM actions WHERE action_type = ?", [action_type])}


def _zst(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    out = tmp_path / "RC_2016-10_sample.ndjson.zst"
    out.write_bytes(zstandard.ZstdCompressor().compress(NDJSON.read_bytes()))
    return out


def test_format_detected_for_every_layout(tmp_path):
    for p in (HISTORY, HISTORY / "Suspicious", HISTORY / "Suspicious" / "alice_fx",
              HISTORY / "Suspicious" / "alice_fx" / "comments.csv", NDJSON, LISTING, _zst(tmp_path)):
        assert detect_format(p) == "reddit", p


def test_history_fullnames_reply_objects_and_context(store):
    s = ingest(store, HISTORY)
    assert (s.format, s.rows_read, s.posts_added, s.accounts_added, s.errors) == ("reddit", 12, 8, 2, 4)
    sub = _post(store, "t3_55n8r2")  # the id comes from full_link
    assert (sub["account_key"], sub["kind"], sub["context"], sub["created_at"], sub["text"]) == (
        "reddit:alice_fx", "post", "r/news", dt.datetime(2016, 10, 3, 11, 39, 53), "Protests mount #1 of #2")
    assert sub["urls"] == ["http://www.theroot.com/articles/news/2016/10/protests/?utm_source=tw"]
    com = _post(store, "t1_d8aaaa2")
    assert (com["kind"], com["reply_to"], com["context"]) == ("reply", "reddit:t1_d8aaaa1", "r/news")
    assert _post(store, "t1_d8aaaa1")["text"] == "A body over\nthree lines\nwith #1 and #2"
    # a comment replies to its parent by fullname: the same key as the parent post
    assert ("reddit:bob_the_user", "reddit:t3_55n8r2") in _actions(store, "reply")
    assert rows(store, "SELECT count(*) AS n FROM posts p JOIN posts q ON q.post_key = p.reply_to")[0]["n"] == 4
    assert {r["account_key"]: r["handle"] for r in rows(store, "SELECT * FROM accounts")} == {
        "reddit:alice_fx": "alice_fx", "reddit:bob_the_user": "bob_the_user"}


def test_errors_name_physical_lines_after_multiline_bodies(store):
    ingest(store, HISTORY)
    got = {(r["file"].split("/")[-1], r["line"], r["field"]) for r in
           rows(store, "SELECT file, line, field FROM ingest_errors")}
    # comments.csv: bodies span lines 2-4 and 7-8, so the bad rows sit on lines 6, 9 and 10
    assert {(f, line) for f, line, _ in got} == {("comments.csv", 6), ("comments.csv", 9), ("comments.csv", 10),
                                                 ("submissions.csv", 7)}
    assert ("comments.csv", 6, "created") in got and ("comments.csv", 10, "parent_id") in got
    assert ("submissions.csv", 7, "full_link") in got
    reasons = " | ".join(r["reason"] for r in errors(store).values())
    assert "full_link lacks /comments/<id>/" in reasons and "not a t1_/t3_ fullname" in reasons


def test_no_hashtags_from_reddit_text_and_u_mentions(store):
    ingest(store, HISTORY)
    ingest(store, NDJSON)
    assert _actions(store, "hashtag") == set() and _actions(store, "hashtag_seq") == set()
    assert _actions(store, "mention") == {
        ("reddit:alice_fx", "reddit:bob_the_user"), ("reddit:alice_fx", "reddit:carol-x"),
        ("reddit:bob_the_user", "reddit:alice_fx"), ("reddit:dave_p", "reddit:erin_q")}


def test_platform_hosts_give_links_but_no_domain(store):
    ingest(store, HISTORY)
    ingest(store, LISTING)
    links = {o for _, o in _actions(store, "link")}
    assert {"i.redd.it/abc123.jpg", "youtube.com/watch?v=xyz", "imgur.com/a/xyz", "v.redd.it/qwe"} <= links
    assert {o for _, o in _actions(store, "domain")} == {"theroot.com", "example.org"}
    # a self post links to nothing but the URLs of its text (not its own permalink)
    assert _post(store, "t3_55n9aa")["urls"] == ["https://example.org/a"]


def test_pushshift_lines_and_zst(tmp_path):
    for path in (NDJSON, _zst(tmp_path)):
        with Store(":memory:") as store:
            s = ingest(store, path)
            assert (s.rows_read, s.posts_added, s.errors) == (5, 2, 3), path
            errs = errors(store)
            assert sorted(errs) == [3, 4, 5]
            assert "invalid JSON" in errs[3]["reason"]
            assert (errs[4]["field"], errs[4]["raw_value"]) == ("author", "t1_c2")
            assert "deleted" in errs[4]["reason"] and "not linked" in errs[4]["reason"]
            assert errs[5]["field"] == "created_utc"
            c1 = _post(store, "t1_c1")
            assert (c1["reply_to"], c1["created_at"], c1["hashtags"], c1["urls"]) == (
                "reddit:t3_s1", dt.datetime(2016, 10, 3, 13, 6, 40), [], ["https://example.net/x"])
            assert _post(store, "t3_s1")["urls"] == ["https://www.example.com/story"]
            assert rows(store, "SELECT count(*) AS n FROM accounts WHERE account_id LIKE '[%'")[0]["n"] == 0


def test_api_listings(store):
    s = ingest(store, LISTING)
    assert (s.posts_added, s.errors) == (3, 1)
    # a reply nested in its parent's ``replies`` listing (a /comments/ response) is read too
    assert _post(store, "t1_b2")["reply_to"] == "reddit:t1_b1"
    b1 = _post(store, "t1_b1")
    assert (b1["account_key"], b1["reply_to"], b1["mentions"], b1["context"]) == (
        "reddit:grace_s", "reddit:t3_a1", ["frank_r"], "r/videos")
    err = list(errors(store).values())[0]
    # the 'more' child: one error, not one per missing field
    assert "neither a comment" in err["reason"] and '"children"' in err["raw_value"]


def test_reingest_is_idempotent_and_folders_agree(tmp_path):
    with Store(":memory:") as store:
        first = ingest(store, HISTORY)
        assert ingest(store, HISTORY).skipped
        copy = tmp_path / "copy"
        shutil.copytree(HISTORY, copy)
        (copy / "Normal" / "bob_the_user" / "extra.txt").write_text("other bytes, same posts")
        again = ingest(store, copy, dataset="history")
        assert (again.posts_added, again.accounts_added) == (0, 0)
        assert rows(store, "SELECT count(*) AS n FROM posts")[0]["n"] == first.posts_added
    for sub, n in ((HISTORY / "Suspicious", 7), (HISTORY / "Normal" / "bob_the_user", 1),
                   (HISTORY / "Suspicious" / "alice_fx" / "submissions.csv", 4)):
        with Store(":memory:") as store:
            assert ingest(store, sub, fmt="reddit").posts_added == n, sub


def test_labels_of_bare_names_match_accounts(store, tmp_path):
    ingest(store, HISTORY)
    f = tmp_path / "labels.csv"
    f.write_text("account,label\nalice_fx,ira\nBOB_the_user,organic\nnobody_here,ira\n")
    matched, unmatched = match_labels(store, read_labels(f))
    assert matched == {"reddit:alice_fx": "ira", "reddit:bob_the_user": "organic"}
    assert unmatched == ["nobody_here"]


@pytest.mark.shared
@pytest.mark.skipif(not REDDIT_IRA.exists(), reason=f"{REDDIT_IRA} is absent (../shared/data)")
def test_whole_shared_reddit_set():
    t0 = time.perf_counter()
    with Store(":memory:") as store:
        s = ingest(store, REDDIT_IRA)
        folders = [p for g in ("SuspiciousAccounts", "NormalAccounts") for p in (REDDIT_IRA / g).iterdir()]
        assert len(folders) == 288
        assert s.accounts_added == 288  # every folder holds posts
        assert s.rows_read == 6_770 + 1_840 + 61_942 + 108_628  # SOURCE.md's submissions and comments
        assert s.posts_added + s.errors == s.rows_read
        matched, unmatched = match_labels(store, read_labels(REDDIT_IRA / "labels.csv"))
        assert unmatched == [] and len(matched) == 288
        assert sum(c == "ira" for c in matched.values()) == 137
        assert rows(store, "SELECT count(*) AS n FROM actions WHERE action_type = 'hashtag'")[0]["n"] == 0
    assert time.perf_counter() - t0 < 300


def test_a_zst_that_is_not_zstd_is_one_error(store, tmp_path):
    bad = tmp_path / "RC_broken.ndjson.zst"
    bad.write_bytes(b"not zstd at all\n")
    assert not RedditReader.sniff(bad)
    s = ingest(store, bad, fmt="reddit")
    assert (s.posts_added, s.errors) == (0, 1)
    assert "cannot decompress (zstd)" in list(errors(store).values())[0]["reason"]


IRA_HEADER = ("author_id,content,region,language,publish_date,harvested_date,following,followers,updates,"
              "post_type,retweet\n")


def _ira_file(path, author: str, n: int):
    path.write_text(IRA_HEADER + "".join(
        f"{author},tweet number {i} about the news,United States,English,2015-08-0{1 + i % 9} 17:16,"
        f"2015-08-08 17:16,91,71,{399 + i},,0\n" for i in range(n)))
    return path


def test_a_mixed_folder_is_read_file_by_file_and_every_other_file_reported(store, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(HISTORY / "Suspicious" / "alice_fx" / "submissions.csv", mixed / "submissions.csv")
    _ira_file(mixed / "FaceMeChase.csv", "FaceMeChase", 26)
    (mixed / "empty.csv").write_bytes(b"")
    (mixed / "garbage.bin").write_bytes(bytes(range(256)) * 2)
    (mixed / "readme.txt").write_text("what these files are\n")
    s = ingest(store, mixed)
    # not a per-user layout: no posts filed under account reddit:mixed, the IRA rows read by their own format
    assert (s.format, s.posts_added, s.errors) == ("ira-csv", 26, 0)
    assert rows(store, "SELECT DISTINCT account_key FROM posts") == [{"account_key": "twitter:FaceMeChase"}]
    skipped = " | ".join(s.files_skipped)
    assert len(s.files_skipped) == 4, skipped
    for name, why in [("empty.csv", "empty"), ("garbage.bin", "binary"), ("readme.txt", "not recognised"),
                      ("submissions.csv", "Reddit per-user history file")]:
        assert f"{mixed / name}: " in skipped and why in skipped
    assert rows(store, "SELECT count(*) AS n FROM ingest_errors WHERE starts_with(reason, 'file set aside')")[0]["n"] == 4


def test_a_folder_format_reports_the_files_it_does_not_read(store, tmp_path):
    mixed3 = tmp_path / "mixed3"
    mixed3.mkdir()
    _ira_file(mixed3 / "FaceMeChase.csv", "FaceMeChase", 3)
    shutil.copy(FIXTURES / "pheme" / "charliehebdo_20.jsonl", mixed3)
    s = ingest(store, mixed3)  # detected: each file by its own format
    assert s.format == "ira-csv, twitter-v1" and s.posts_added == 3 + 20 and not s.files_skipped
    other = Store(":memory:")
    s = ingest(other, mixed3, fmt="ira-csv")  # the format given: its folder layout, the JSON reported
    assert s.posts_added == 3
    assert s.files_skipped == [f"{mixed3 / 'charliehebdo_20.jsonl'}: not read: not a file of the ira-csv layout"]
    other.close()


def test_a_truncated_zst_is_named_as_damaged(store, tmp_path):
    zstandard = pytest.importorskip("zstandard")
    whole = zstandard.ZstdCompressor().compress(NDJSON.read_bytes())
    cut = tmp_path / "RC_cut.ndjson.zst"
    cut.write_bytes(whole[:len(whole) // 2])  # zstandard's stream reader ends quietly here: 0 records, exit 0
    for fmt in ("reddit", None):
        with pytest.raises(IngestError, match=r"RC_cut.ndjson.zst: a damaged or truncated zstd file"):
            ingest(store, cut, fmt=fmt)
    # two frames, the second cut short: the first frame's lines are read, the cut is one bad record
    first = b'{"id":"s9","author":"erin_q","created_utc":1475490000,"title":"Whole","selftext":"","subreddit":"news"}\n'
    two = tmp_path / "RC_two.ndjson.zst"
    second = zstandard.ZstdCompressor().compress(NDJSON.read_bytes())
    two.write_bytes(zstandard.ZstdCompressor().compress(first) + second[:len(second) // 2])
    s = ingest(store, two)
    assert (s.format, s.posts_added, s.errors) == ("reddit", 1, 1)
    bad = rows(store, "SELECT file, line, reason FROM ingest_errors")[0]
    assert bad["file"] == str(two) and bad["line"] == 2 and "damaged or truncated zstd file" in bad["reason"]


def test_a_record_failing_two_checks_counts_as_one_bad_record(store, tmp_path):
    p = tmp_path / "nd_mixed.jsonl"
    p.write_text(
        '{"id":"c1","author":"dave_p","created_utc":1475500000,"body":"ok body","parent_id":"t3_s1","link_id":"t3_s1","subreddit":"news"}\n'
        '{"id":"c2","author":"","created_utc":"nope","body":"two bad","parent_id":"t3_s1","link_id":"t3_s1","subreddit":"news"}\n'
        '{"id":"c3","author":"[deleted]","created_utc":1475500100,"body":"gone","parent_id":"xx","link_id":"t3_s1","subreddit":"news"}\n')
    s = ingest(store, p)
    assert (s.rows_read, s.posts_added, s.errors) == (3, 1, 2)  # was "3 records, 1 added, 4 bad"
    assert s.rows_read == s.posts_added + s.posts_known + s.errors
    assert len(rows(store, "SELECT * FROM ingest_errors")) == 4  # every failed check is still kept, with its field
