"""Issue #18: real exports and a new user's workflow that broke ingest (one test per item, small fresh inputs)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.ingest import IngestError, ingest, make_reader
from conftest import rows

DAY_FIRST = ("post_id,account_id,created_at,text\n"
             "1,alice,24/02/2015 11:35:52,first post here\n"
             "2,bob,24/02/2015 11:35:53,second post here\n")


def _csv(tmp_path, text: str, name: str = "posts.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_item1_rerun_with_other_options_after_all_rows_failed(store, tmp_path):
    p = _csv(tmp_path, DAY_FIRST)
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    assert (s.posts_added, s.errors) == (0, 2)
    s = ingest(store, p, reader=make_reader("csv", platform="twitter", time_format="%d/%m/%Y %H:%M:%S"))
    assert not s.skipped and (s.posts_added, s.errors) == (2, 0)
    assert rows(store, "SELECT created_at FROM posts WHERE post_id = '1'")[0]["created_at"] == \
        dt.datetime(2015, 2, 24, 11, 35, 52)
    assert rows(store, "SELECT count(*) AS n FROM ingest_errors")[0]["n"] == 0  # the fixed rows are no longer bad
    again = ingest(store, p, reader=make_reader("csv", platform="twitter", time_format="%d/%m/%Y %H:%M:%S"))
    assert again.skipped and again.posts_added == 0  # still idempotent
    # a file whose rows failed may be read again (after the store or the reader changed); adds nothing twice
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    assert not s.skipped and s.posts_added == 0
    assert rows(store, "SELECT count(*) AS n FROM posts")[0]["n"] == 2


def test_item2_all_rows_refused_exits_nonzero(tmp_path):
    p = _csv(tmp_path, DAY_FIRST)
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["ingest", str(p), "--format", "csv", "--platform", "twitter", "--db", str(db)])
    assert r.exit_code == 2, r.output
    assert "0 posts added" in r.output and "2 bad records" in r.output
    partly = _csv(tmp_path, DAY_FIRST + "3,carol,2015-02-24 11:35:54,third post here\n", "partly.csv")
    r = CliRunner().invoke(app, ["ingest", str(partly), "--format", "csv", "--platform", "twitter",
                                 "--db", str(db)])
    assert r.exit_code == 0, r.output


def test_item3_epoch_milliseconds_and_implausible_times(store, tmp_path):
    p = _csv(tmp_path, "post_id,account_id,created_at,text\n"
                       "1,alice,1424806552000,millis\n"
                       "2,bob,1424806552000000,micros\n"
                       "3,carol,1424806552,seconds\n"
                       "4,dave,2999-01-01T00:00:00,far future\n"
                       "5,erin,0,zero date\n")
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    got = {r["post_id"]: r["created_at"] for r in rows(store, "SELECT post_id, created_at FROM posts")}
    want = dt.datetime(2015, 2, 24, 19, 35, 52)
    assert got == {"1": want, "2": want, "3": want}
    assert s.errors == 2
    bad = rows(store, "SELECT field, reason FROM ingest_errors ORDER BY reason")
    assert all(b["field"] == "created_at" and "implausible time" in b["reason"] for b in bad)


def _twarc_row(tid, author, username, ts, text, urls="", tags="", rt="", quoted=""):
    cells = [tid, tid, "", rt, quoted, author, ts, text, "en", "Twitter Web App", urls, tags, "[]", username,
             "2026-01-01T00:00:00Z"]
    return ",".join('"' + c.replace('"', '""') + '"' for c in cells)


TWARC_HEADER = ("id,conversation_id,referenced_tweets.replied_to.id,referenced_tweets.retweeted.id,"
                "referenced_tweets.quoted.id,author_id,created_at,text,lang,source,entities.urls,entities.hashtags,"
                "entities.mentions,author.username,__twarc.retrieved_at")


def test_item4_twarc_csv_detected_and_json_entity_cells_parsed(store, tmp_path):
    u1 = json.dumps([{"start": 0, "end": 23, "url": "https://t.co/a", "expanded_url": "https://news.example/story-1",
                      "display_url": "news.example/story-1"}])
    u2 = json.dumps([{"start": 5, "end": 28, "url": "https://t.co/b", "expanded_url": "https://other.example/x"}])
    tags = json.dumps([{"start": 30, "end": 35, "tag": "Vote"}])
    p = _csv(tmp_path, "\n".join([TWARC_HEADER,
                                  _twarc_row("11", "1", "alice", "2022-05-01T10:00:00.000Z", "look at this", u1, tags),
                                  _twarc_row("12", "2", "bob", "2022-05-01T10:00:01.000Z", "and this", u2, tags)])
             + "\n", "tweets.csv")
    s = ingest(store, p)
    assert (s.format, s.posts_added, s.errors) == ("twarc-csv", 2, 0)
    got = {r["post_id"]: (r["urls"], r["hashtags"]) for r in rows(store, "SELECT post_id, urls, hashtags FROM posts")}
    assert got == {"11": (["https://news.example/story-1"], ["Vote"]), "12": (["https://other.example/x"], ["Vote"])}
    junk = rows(store, "SELECT object_key FROM actions WHERE action_type IN ('link', 'domain') "
                       "AND (object_key LIKE '%start%' OR object_key LIKE '0%')")
    assert junk == []
    assert rows(store, "SELECT handle FROM accounts WHERE account_key = 'twitter:1'")[0]["handle"] == "alice"
    # the same JSON cells through --map on a plain CSV
    p2 = _csv(tmp_path, 'post_id,account_id,created_at,links\n'
                        f'21,carol,2022-05-01T10:00:00Z,"{u1.replace(chr(34), chr(34) * 2)}"\n', "mapped.csv")
    ingest(store, p2, reader=make_reader("csv", mapping=["links=urls"], platform="twitter"))
    assert rows(store, "SELECT urls FROM posts WHERE post_id = '21'")[0]["urls"] == ["https://news.example/story-1"]


def test_item5_null_words_are_no_urls_or_hashtags(store, tmp_path):
    p = _csv(tmp_path, "post_id,account_id,created_at,links,tags\n"
                       "1,alice,2022-05-01T10:00:00Z,None,NaN\n"
                       "2,bob,2022-05-01T10:00:01Z,null,None\n"
                       "3,carol,2022-05-01T10:00:02Z,https://a.example/x,real\n")
    ingest(store, p, reader=make_reader("csv", mapping=["links=urls", "tags=hashtags"], platform="twitter"))
    keys = {(r["action_type"], r["object_key"]) for r in rows(store, "SELECT action_type, object_key FROM actions")}
    assert keys == {("link", "a.example/x"), ("domain", "a.example"), ("hashtag", "real")}


def test_item6_repeated_header_name_is_named(store, tmp_path):
    p = _csv(tmp_path, "id,query,id,account_id,created_at,platform\n"
                       "q1,vote,101,alice,2022-05-01T10:00:00Z,twitter\n"
                       "q1,vote,102,bob,2022-05-01T10:00:01Z,twitter\n")
    with pytest.raises(IngestError, match=r"column 'id' \(mapped to post_id\) appears 2 times in the header "
                                          r"\(columns 1, 3\).*--map id\.2=post_id"):
        ingest(store, p, reader=make_reader("csv", mapping=["id=post_id"]))
    s = ingest(store, p, reader=make_reader("csv", mapping=["id.2=post_id"]))
    assert (s.posts_added, s.errors) == (2, 0)
    assert {r["post_id"] for r in rows(store, "SELECT post_id FROM posts")} == {"101", "102"}


def test_item8_co_quote_links_accounts(store, tmp_path):
    from cibscope.detect import DEFAULT_SIGNALS

    lines = [TWARC_HEADER]
    for i in range(3):  # alice and bob quote the same three posts one second apart
        lines.append(_twarc_row(f"1{i}", "1", "alice", f"2022-05-01T10:0{i}:00Z", f"my take number {i} on it",
                                quoted=f"900{i}"))
        lines.append(_twarc_row(f"2{i}", "2", "bob", f"2022-05-01T10:0{i}:01Z", f"another view {i} of that",
                                quoted=f"900{i}"))
    ingest(store, _csv(tmp_path, "\n".join(lines) + "\n", "quotes.csv"))
    got = rows(store, "SELECT account_key, object_key FROM actions WHERE action_type = 'quote' ORDER BY 1, 2")
    assert len(got) == 6 and got[0] == {"account_key": "twitter:1", "object_key": "twitter:9000"}
    assert rows(store, "SELECT DISTINCT kind FROM posts")[0]["kind"] == "quote"
    assert "quote" in DEFAULT_SIGNALS


def test_item7_control_character_in_telegram_export_keeps_the_rest(store, tmp_path):
    msgs = [{"id": i, "type": "message", "date": f"2022-05-01T10:00:0{i}", "date_unixtime": str(1651399200 + i),
             "from": "Chan", "from_id": "channel1", "text": f"message number {i} here",
             "text_entities": [{"type": "plain", "text": f"message number {i} here"}]} for i in range(1, 5)]
    raw = json.dumps({"name": "Chan", "type": "public_channel", "id": 1, "messages": msgs}, indent=1)
    raw = raw.replace("message number 2 here", "message number 2\x01 here")  # a raw control character
    p = tmp_path / "result.json"
    p.write_text(raw, encoding="utf-8")
    s = ingest(store, p)
    assert (s.format, s.posts_added, s.errors) == ("telegram", 4, 0)
    assert rows(store, "SELECT text FROM posts WHERE post_id = '1/2'")[0]["text"] == "message number 2\x01 here"


def test_item9_zone_abbreviations_named_and_ambiguous_ones_refused(store, tmp_path):
    p = _csv(tmp_path, "post_id,account_id,created_at,text\n"
                       "1,alice,2022-05-01 10:00:00 AEST,known zone\n"
                       "2,bob,2022-05-01 10:00:00 IST,ambiguous zone\n"
                       "3,carol,2022-05-01 10:00:00 XYZT,unknown zone\n"
                       "4,dave,2022-05-01 10:00:00 BST,bangladesh or britain\n")
    s = ingest(store, p, reader=make_reader("csv", platform="twitter"))
    assert (s.posts_added, s.errors) == (1, 3)
    assert rows(store, "SELECT created_at FROM posts")[0]["created_at"] == dt.datetime(2022, 5, 1, 0, 0)
    reasons = {r["line"]: r["reason"] for r in rows(store, "SELECT line, reason FROM ingest_errors")}
    assert reasons[3].startswith("ambiguous time-zone abbreviation IST (India +05:30, Ireland +01:00, Israel")
    assert "--tz IST=+HH:MM" in reasons[3]
    assert reasons[4].startswith("unknown time-zone abbreviation XYZT")
    assert reasons[5].startswith("ambiguous time-zone abbreviation BST")
    s = ingest(store, p, reader=make_reader("csv", platform="twitter", zones={"IST": "+05:30", "BST": "+01:00"}))
    assert s.posts_added == 2
    got = {r["post_id"]: r["created_at"] for r in rows(store, "SELECT post_id, created_at FROM posts")}
    assert got["2"] == dt.datetime(2022, 5, 1, 4, 30) and got["4"] == dt.datetime(2022, 5, 1, 9, 0)
    with pytest.raises(IngestError, match="--tz IST=5:30: expected an abbreviation and an offset"):
        make_reader("csv", platform="twitter", zones={"IST": "5:30"})


def test_item10_crowdtangle_older_created_column(store, tmp_path):
    p = _csv(tmp_path, "Page Name,User Name,Facebook Id,Created,URL,Message\n"
                       "Page A,pagea,111,2021-09-24 13:59:41 CEST,https://www.facebook.com/pagea/posts/1,hello world\n",
             "ct.csv")
    s = ingest(store, p)
    assert (s.format, s.posts_added, s.errors) == ("crowdtangle", 1, 0)
    assert rows(store, "SELECT created_at FROM posts")[0]["created_at"] == dt.datetime(2021, 9, 24, 11, 59, 41)


def test_item10_bluesky_backdated_created_at_uses_time_us(store, tmp_path):
    def event(rkey, created, time_us):
        return json.dumps({"did": "did:plc:abc", "time_us": time_us, "kind": "commit",
                           "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": rkey,
                                      "record": {"$type": "app.bsky.feed.post", "text": "hello there friends",
                                                 "createdAt": created}}})
    seen = 1714557600_000000  # 2024-05-01T10:00:00Z
    p = tmp_path / "jetstream.jsonl"
    p.write_text("\n".join([event("a", "2014-01-01T00:00:00Z", seen),          # backdated ten years
                            event("b", "2024-05-01T09:59:58Z", seen)]) + "\n")  # honest
    s = ingest(store, p)
    assert (s.format, s.posts_added) == ("bluesky", 2)
    got = {r["post_id"][-1]: r["created_at"] for r in rows(store, "SELECT post_id, created_at FROM posts")}
    assert got == {"a": dt.datetime(2024, 5, 1, 10, 0), "b": dt.datetime(2024, 5, 1, 9, 59, 58)}


def test_item11_folder_of_csvs_read_file_by_file(store, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    _csv(folder, "post_id,account_id,created_at,platform,text\n1,alice,2022-05-01T10:00:00Z,twitter,one\n", "a.csv")
    _csv(folder, "post_id,account_id,created_at,platform,text\n2,bob,2022-05-01T10:00:01Z,twitter,two\n", "b.csv")
    (folder / "notes.md").write_text("# what these files are\n")
    s = ingest(store, folder)
    assert (s.format, s.dataset, s.posts_added, s.errors) == ("csv", "exports", 2, 0)  # a file is no record
    assert len(s.files_skipped) == 1 and "notes.md: format not recognised" in s.files_skipped[0]
    err = rows(store, "SELECT file, reason FROM ingest_errors")[0]
    assert err["file"].endswith("notes.md") and err["reason"].startswith("file set aside: ")
    assert ingest(store, folder).posts_added == 0  # idempotent


def test_item11_empty_and_binary_files_named(store, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty.csv: the file is empty"):
        ingest(store, empty)
    png = tmp_path / "chart.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20)
    with pytest.raises(IngestError, match="chart.csv: a PNG image, not a text export"):
        ingest(store, png, reader=make_reader("csv", platform="twitter"))
    with pytest.raises(IngestError, match="chart.csv: a PNG image"):
        ingest(store, png)


def test_item11_failed_ingest_leaves_no_store_and_map_without_format(tmp_path):
    db = tmp_path / "new.duckdb"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    r = CliRunner().invoke(app, ["ingest", str(empty), "--db", str(db)])
    assert r.exit_code == 2 and "the file is empty" in r.output
    assert not db.exists()
    p = _csv(tmp_path, "tweet_id,name,when,text\n1,alice,2022-05-01T10:00:00Z,hello there\n", "tweets.csv")
    r = CliRunner().invoke(app, ["ingest", str(p), "--map", "tweet_id=post_id", "--map", "name=account_id",
                                 "--map", "when=created_at", "--platform", "twitter", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "csv -> dataset 'tweets'" in r.output and "1 post added" in r.output


PHEME = __import__("pathlib").Path(__file__).parent / "fixtures" / "pheme" / "charliehebdo_20.jsonl"


def test_item12_stray_file_in_watched_folder_is_set_aside(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-notes.csv").write_text("name,colour\napple,red\n")
    (folder / "b-tweets.jsonl").write_text(PHEME.read_text())
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["watch", str(folder), "--once", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert r.exception is None
    out = " ".join(r.output.split())
    assert "a-notes.csv: set aside, not ingested" in out and "2 files processed" in out
    from cibscope.store.db import Store

    with Store(db, read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM posts").fetchall()[0][0] == 20
        reason = s.con.execute("SELECT reason FROM ingest_errors WHERE file LIKE '%a-notes.csv'").fetchall()[0][0]
    assert reason.startswith("file set aside by watch: ") and "format not recognised" in reason


def test_a_file_watch_sets_aside_registers_no_empty_dataset(tmp_path):
    """A dataset comes with its first post: a watched folder holding only a stray file keeps the file's
    reason in ingest_errors and adds no dataset (before, watch registered one for the set-aside file)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.csv").write_text("name,colour\napple,red\n")
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["watch", str(folder), "--once", "--db", str(db)])
    assert r.exit_code == 0, r.output
    from cibscope.store.db import Store

    with Store(db, read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM datasets").fetchall()[0][0] == 0
        assert s.con.execute("SELECT count(*) FROM ingest_errors WHERE file LIKE '%notes.csv'").fetchall()[0][0] == 1


def test_item13_watch_runs_are_marked_and_defaults_take_the_full_run(tmp_path):
    from cibscope.store.db import Store, latest_run_id

    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["ingest", str(PHEME), "--db", str(db)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["detect", "--db", str(db), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "more.jsonl").write_text(PHEME.read_text())
    r = CliRunner().invoke(app, ["watch", str(folder), "--once", "--db", str(db), "--dataset", "w"])
    assert r.exit_code == 0, r.output
    with Store(db) as s:
        runs = s.con.execute("SELECT r.run_id, k.kind FROM runs r LEFT JOIN run_kinds k USING (run_id) "
                             "ORDER BY 1").fetchall()
    (full,), (watch,) = [r for r, k in runs if k is None], [r for r, k in runs if k == "watch"]
    assert watch > full
    with Store(db) as s:
        assert latest_run_id(s.con) == full
    r = CliRunner().invoke(app, ["runs", "--db", str(db)])
    assert r.exit_code == 0 and f"{watch} (watch)" in r.output


def test_item13_web_clusters_page_opens_on_the_full_run_with_a_run_picker(tmp_path):
    import re

    from fastapi.testclient import TestClient

    from cibscope.store.db import Store
    from cibscope.web.app import Settings, create_app
    from web_fixtures import USERS, sample_store, web_state

    db, run = sample_store(tmp_path / "store.duckdb")
    with Store(db) as s:  # a later watch run over a short horizon, with no cluster
        s.con.execute("INSERT INTO runs SELECT run_id + 1, created_at, params, datasets, 0, 0, 0, 0, 0.1 FROM runs "
                      "WHERE run_id = ?", [run])
        s.con.execute("INSERT INTO run_kinds VALUES (?, 'watch')", [run + 1])
    web_state(tmp_path / "web.sqlite")
    with TestClient(create_app(Settings(str(db), str(tmp_path / "web.sqlite"), sector="platform"))) as c:
        name, _, pw = USERS[0]
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert c.post("/login", data={"name": name, "password": pw, "csrf_token": token},
                      follow_redirects=False).status_code == 303
        html = c.get("/clusters").text
        assert f"Clusters of run {run}<" in html
        assert re.search(rf'<option value="{run + 1}">{run + 1} — [^<]* — watch \(horizon only\)', html)
        assert f'<option value="{run}" selected>' in html
        assert f"Clusters of run {run + 1}<" in c.get(f"/clusters?run={run + 1}").text


def test_item14_explain_shows_progress_and_prints_its_narratives(tmp_path):
    from web_fixtures import sample_store

    db, run = sample_store(tmp_path / "store.duckdb")
    r = CliRunner().invoke(app, ["explain", "--run", str(run), "--db", str(db), "--narratives", "2", "--top", "2",
                                 "--representation", "tfidf"])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert f"explain run {run}: authenticity signals of every cluster" in out
    assert f"explain run {run}: narratives of 2 clusters (tfidf)" in out
    from cibscope.store.db import Store

    with Store(db, read_only=True) as s:
        cid, name = s.con.execute("SELECT n.cluster_id, n.name FROM cluster_narratives n JOIN clusters c "
                                  "USING (run_id, cluster_id) WHERE c.rank = 1 AND n.group_no = 1").fetchall()[0]
    assert f"#1 {cid} narratives: {' '.join(name.split())}" in out


def _indicator(uid: str, name: str, pattern: str) -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uid}", "created": "2024-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z", "name": name, "pattern": pattern, "pattern_type": "stix",
            "valid_from": "2024-01-01T00:00:00Z"}


def test_item15_intel_validate_moves_invalid_objects_out_of_the_bundle(tmp_path):
    good = _indicator("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "ok", "[domain-name:value = 'good.example']")
    bad = _indicator("1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "bad", "[domain-name:value = 'bad.example'")
    src = tmp_path / "b.json"
    src.write_text(json.dumps({"type": "bundle", "id": "bundle--2e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                               "objects": [good, bad]}))
    out = tmp_path / "out.json"
    r = CliRunner().invoke(app, ["intel", "import", str(src), "--format", "stix", "--out", str(out), "--validate"])
    assert r.exit_code == 1
    text = " ".join(r.output.split())
    assert "2 rows -> 1 imported, 1 errors" in text and f"[{bad['id']}] stix2-validator:" in text
    assert [o["id"] for o in json.loads(out.read_text())["objects"]] == [good["id"]]


def test_item15_hub_refuses_objects_whose_marking_it_refused_in_the_same_envelope(tmp_path):
    import copy

    from cibscope.share.auth import authenticate_token
    from share_fixtures import COLLECTION, ROOT, ira_objects, make_hub

    fx = make_hub(tmp_path / "hub.sqlite")
    with fx.hub.engine.connect() as conn:
        who = authenticate_token(conn, fx.tokens["platform-a"])
    objs = ira_objects("amber", ["national-security"])[:2]  # purpose marking, threat-actor
    assert fx.hub.post_objects(ROOT, COLLECTION, who, "national-security", objs)["failure_count"] == 0
    again = copy.deepcopy(objs)
    again[0]["created"] = "yesterday"                      # the marking, re-sent broken
    again[1]["id"] = "threat-actor--0b7e4b31-6f0e-4a53-9b8e-2a8a9a5a1f00"
    st = fx.hub.post_objects(ROOT, COLLECTION, who, "national-security", again)
    assert st["success_count"] == 0
    assert {f["id"]: f["message"].split(":")[0] for f in st["failures"]} == {
        again[0]["id"]: "stix-invalid", again[1]["id"]: "marking-refused"}


def test_item16_tip_of_infrastructure_only_is_kept_and_exported(tmp_path):
    src = tmp_path / "proxies.csv"
    src.write_text("indicator_type,indicator_value,comment,ds\n"
                   "ip_address,203.0.113.7,proxy,2022-10-03\nip_address,198.51.100.9,proxy,2022-10-03\n")
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["tip", "ingest", str(src), "--from", "Meta", "--purpose", "research",
                                 "--format", "meta", "--db", str(db)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "0 matchable values" in text and "nothing in post data can match tip" in text
    tip = re.search(r"tip (T[0-9a-f]{12}) recorded", text).group(1)
    out = tmp_path / "tip.json"
    r = CliRunner().invoke(app, ["tip", "export", tip, "--out", str(out), "--db", str(db)])
    assert r.exit_code == 0, r.output
    objs = json.loads(out.read_text())["objects"]
    ips = [o for o in objs if o["type"] == "ipv4-addr"]
    assert {o["value"] for o in ips} == {"203.0.113.7", "198.51.100.9"}
    assert all(len(o.get("object_marking_refs", [])) == 2 for o in ips)  # TLP + purpose: ready for the hub


def test_item17_taxii2client_token_auth_is_accepted(tmp_path):
    from fastapi.testclient import TestClient
    from taxii2client.common import TokenAuth

    from cibscope.share.api import create_app
    from share_fixtures import ROOT, TAXII, make_hub

    fx = make_hub(tmp_path / "hub.sqlite")
    client = TestClient(create_app(fx.hub))
    req = __import__("requests").Request("GET", "http://hub/").prepare()
    header = TokenAuth(fx.tokens["platform-a"])(req).headers["Authorization"]
    assert header.startswith("Token ")
    h = {"Accept": TAXII, "Authorization": header, "X-Cibscope-Purpose": "platform-integrity"}
    r = client.get(f"/{ROOT}/collections/", headers=h)
    assert r.status_code == 200, r.text
    assert client.get(f"/{ROOT}/collections/", headers={**h, "Authorization": "Token wrong"}).status_code == 401


def test_item17_stix20_objects_are_converted_to_21(tmp_path):
    from cibscope.intel.stix_bundle import import_stix_bundle

    ind = {"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
           "created": "2017-01-01T00:00:00.000Z", "modified": "2017-01-01T00:00:00.000Z",
           "labels": ["malicious-activity"], "pattern": "[domain-name:value = 'troll.example']",
           "valid_from": "2017-01-01T00:00:00Z"}
    mal = {"type": "malware", "id": "malware--1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "name": "bot",
           "created": "2017-01-01T00:00:00.000Z", "modified": "2017-01-01T00:00:00.000Z", "labels": ["bot"]}
    src = tmp_path / "b20.json"
    src.write_text(json.dumps({"type": "bundle", "id": "bundle--2e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                               "spec_version": "2.0", "objects": [ind, mal]}))
    res = import_stix_bundle(src, validate=True)
    assert not res.errors, res.errors
    got = {o["type"]: o for o in res.objects}
    assert got["indicator"]["spec_version"] == "2.1" and got["indicator"]["pattern_type"] == "stix"
    assert got["indicator"]["indicator_types"] == ["malicious-activity"]
    assert got["malware"]["is_family"] is True and got["malware"]["malware_types"] == ["bot"]
    assert "2 STIX 2.0 objects converted to 2.1" in res.summaries[0].notes


def test_item18_evaluate_says_n_a_and_warns_without_negatives(tmp_path):
    from cibscope.store.db import Store
    from test_evaluate import _fill

    db = tmp_path / "e.duckdb"
    with Store(db) as s:
        _fill(s)
        s.con.execute("UPDATE clusters SET flagged = false")  # nothing flagged
    r = CliRunner().invoke(app, ["evaluate", "--run", "1", "--db", str(db)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "precision n/a recall 0.000" in out and "no account was flagged: precision is n/a" in out
    with Store(db) as s:  # only positives left: precision 1.000 says nothing
        s.con.execute("UPDATE clusters SET flagged = true")
        s.con.execute("DELETE FROM posts WHERE account_key IN ('twitter:n1', 'twitter:n2', 'twitter:n3', "
                      "'twitter:n4')")
    r = CliRunner().invoke(app, ["evaluate", "--run", "1", "--db", str(db)])
    out = " ".join(r.output.split())
    assert r.exit_code == 0 and "precision 1.000" in out and "PR-AUC n/a" in out
    assert "warning: no negative account" in out


def test_item18_short_help_version_and_plain_metavars():
    r = CliRunner().invoke(app, ["-h"])
    assert r.exit_code == 0 and "--version" in r.output
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("cibscope ")
    r = CliRunner(env={"COLUMNS": "100"}).invoke(app, ["detect", "-h"])
    assert r.exit_code == 0
    assert "<bool>" not in r.output and "<int>" not in r.output and "…" not in r.output
    assert "quote]" in " ".join(r.output.split()).replace("│", "")  # the whole default, wrapped
    r = CliRunner(env={"COLUMNS": "100"}).invoke(app, ["ingest", "--help"])
    assert "ingest [OPTIONS] PATHS..." in r.output and "{paths}" not in r.output


def test_item18_readme_tip_ingest_example_runs(tmp_path):
    readme = (__import__("pathlib").Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("cibscope tip ingest "))
    args = line.split("#")[0].split()[1:]
    src = tmp_path / args[2]
    src.write_text("@TEN_GOP\nJenn_Abrams\n")
    args[2] = str(src)
    r = CliRunner().invoke(app, [*args, "--db", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 0, r.output
    assert "2 matchable values" in r.output


def test_item4_broken_json_list_cell_is_a_bad_row_and_python_lists_are_read(store, tmp_path):
    p = _csv(tmp_path, "post_id,account_id,created_at,links,tags\n"
                       '1,alice,2022-05-01T10:00:00Z,"[{""url"": broken",x\n'
                       "2,bob,2022-05-01T10:00:01Z,\"['https://a.example/x', 'https://b.example/y']\",\"['one', 'two']\"\n")
    s = ingest(store, p, reader=make_reader("csv", mapping=["links=urls", "tags=hashtags"], platform="twitter"))
    assert (s.posts_added, s.errors) == (1, 1)
    e = rows(store, "SELECT line, field, reason FROM ingest_errors")[0]
    assert (e["line"], e["field"]) == (2, "links") and e["reason"].startswith("not a valid list")
    got = rows(store, "SELECT urls, hashtags FROM posts")[0]
    assert got == {"urls": ["https://a.example/x", "https://b.example/y"], "hashtags": ["one", "two"]}


def test_item11_not_a_parquet_file_is_one_clear_line(store, tmp_path):
    p = _csv(tmp_path, "a,b\n1,2\n", "data.csv")
    with pytest.raises(IngestError, match=r"data.csv: not a Parquet file \(it does not start with PAR1\)"):
        ingest(store, p, fmt="parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"x" * 40)
    with pytest.raises(IngestError) as err:
        ingest(store, broken, fmt="parquet")
    assert "cannot be read as parquet" in str(err.value) and "\n" not in str(err.value)


def test_item8_quotes_from_bluesky_and_the_io_archive(store, tmp_path):
    quoted = "at://did:plc:src/app.bsky.feed.post/q1"
    ev = {"did": "did:plc:abc", "time_us": 1714557600_000000, "kind": "commit",
          "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "p1",
                     "record": {"$type": "app.bsky.feed.post", "text": "look", "createdAt": "2024-05-01T10:00:00Z",
                                "embed": {"$type": "app.bsky.embed.record", "record": {"uri": quoted}}}}}
    p = tmp_path / "bsky.jsonl"
    p.write_text(json.dumps(ev) + "\n")
    ingest(store, p)
    io = _csv(tmp_path, "tweetid,userid,tweet_time,tweet_text,is_retweet,retweet_tweetid,quoted_tweet_tweetid\n"
                        "1,u1,2016-01-01 10:00,my take,False,,77\n"
                        "2,u2,2016-01-01 10:00,RT: my take,True,1,77\n", "io_tweets.csv")
    ingest(store, io, fmt="twitter-io")
    got = rows(store, "SELECT post_key, object_key FROM actions WHERE action_type = 'quote' ORDER BY 1")
    assert got == [{"post_key": "bluesky:at://did:plc:abc/app.bsky.feed.post/p1", "object_key": f"bluesky:{quoted}"},
                   {"post_key": "twitter:1", "object_key": "twitter:77"}]  # the retweet (2) is no quote
