"""IRA reader on real author files from ../shared/data/ira-troll-tweets-by-author."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from cibscope.ingest import detect_format, ingest
from conftest import SHARED, errors, rows, with_bad_rows

IRA = SHARED / "ira-troll-tweets-by-author"
AUTHORS = {"A": ["AAAsssssHHH", "abbasshukri"], "N": ["nevichenko"]}


@pytest.fixture
def ira_folder(tmp_path):
    """Three real author files and the real authors.csv, in the data set's own layout."""
    root = tmp_path / "ira"
    for letter, names in AUTHORS.items():
        (root / letter).mkdir(parents=True)
        for n in names:
            shutil.copy(IRA / letter / f"{n}.csv", root / letter / f"{n}.csv")
    shutil.copy(IRA / "authors.csv", root / "authors.csv")
    return root


@pytest.mark.shared
def test_known_rows(store, ira_folder):
    assert detect_format(ira_folder) == "ira-csv"
    s = ingest(store, ira_folder)
    assert s.posts_added == 71 + 1 + 1 and s.errors == 0
    # only the ingested authors become accounts, labelled from authors.csv
    acc = {r["account_id"]: r for r in rows(store, "SELECT * FROM accounts")}
    assert set(acc) == {"AAAsssssHHH", "abbasshukri", "nevichenko"}
    assert acc["AAAsssssHHH"]["label"] == "IRA:Fearmonger" and acc["nevichenko"]["label"] == "IRA:Unknown"
    assert acc["abbasshukri"]["location"] == "United States" and acc["abbasshukri"]["followers"] == 104
    # post_type R without an "RT @" prefix is still a repost, with a text key
    p = rows(store, "SELECT * FROM posts WHERE account_key = 'twitter:abbasshukri'")[0]
    assert p["kind"] == "repost" and p["repost_of"].startswith("text:")
    assert p["urls"] == ["https://t.co/PW5CqanIEH"] and p["hashtags"] == ["RMCity"]
    assert p["created_at"] == dt.datetime(2015, 12, 4, 11, 19) and p["lang"] == "Spanish"
    first = rows(store, "SELECT * FROM posts WHERE account_key = 'twitter:AAAsssssHHH' AND source_row = 1")[0]
    assert first["text"].startswith("Death penalty for Tsarnaev is good decision")
    assert first["hashtags"] == ["TsarnaevsApology"] and first["kind"] == "post"
    assert first["created_at"] == dt.datetime(2015, 6, 25, 20, 56)
    assert ingest(store, ira_folder).skipped


@pytest.mark.shared
def test_bad_rows_keep_good_ones(store, tmp_path):
    bad = tmp_path / "AAAsssssHHH.csv"
    lines = with_bad_rows(IRA / "A" / "AAAsssssHHH.csv", bad, [
        b"AAAsssssHHH,too few,United States",                                              # missing column
        b"AAAsssssHHH,some text,United States,English,June 2015,x,30,44,316,,0",            # unparsable time
        b'AAAsssssHHH,"quoted"tail,United States,English,2015-06-25 20:56:00,x,30,44,316,,0',  # broken quoting
        b"AAAsssssHHH,caf\xe9,United States,English,2015-06-25 20:56:00,x,30,44,316,,0",  # latin-1 byte
    ])
    s = ingest(store, bad, fmt="ira-csv")
    assert s.posts_added == 71 and s.rows_read == 75
    e = errors(store)
    assert {ln: e[ln]["field"] for ln in lines} == {
        lines[0]: "language", lines[1]: "publish_date", lines[2]: "content", lines[3]: "content"}
    assert e[lines[1]]["raw_value"] == "June 2015"


@pytest.mark.shared
def test_one_file_with_mixed_line_endings_does_not_sink_the_folder(store, ira_folder):
    """DuckDB's strict CSV scan refuses a file mixing CRLF and LF; it is re-read leniently, alone."""
    header = b"author_id,content,region,language,publish_date,harvested_date,following,followers,updates,post_type,retweet"
    (ira_folder / "A" / "MixedEnds.csv").write_bytes(
        header + b"\r\n"
        + b'MixedEnds,"first #x",United States,English,2015-11-26 23:19:00,x,1,2,3,,0\r\n'
        + b'MixedEnds,"second",United States,English,2015-11-26 23:20:00,x,1,2,3,,0\n'
        + b'MixedEnds,"third",United States,English,2015-11-26 23:21:00,x,1,2,3,,0\n')
    s = ingest(store, ira_folder)
    assert s.posts_added == 71 + 1 + 1 + 3 and s.errors == 0
    texts = [r["text"] for r in rows(store, "SELECT text FROM posts WHERE account_key = 'twitter:MixedEnds' "
                                            "ORDER BY created_at")]
    assert texts == ["first #x", "second", "third"]


@pytest.mark.shared
def test_unterminated_quote_loses_no_following_row(store, tmp_path):
    """A quote left open on line 5 makes DuckDB swallow every later line; they are re-read."""
    lines = (IRA / "A" / "AAAsssssHHH.csv").read_text(encoding="utf-8").splitlines()[:11]
    author, rest = lines[4].split(",", 1)
    lines[4] = f'{author},"{rest.replace(chr(34), "")}'          # open a quote that never closes
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "AAAsssssHHH.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = ingest(store, tmp_path, fmt="ira-csv")
    assert (s.rows_read, s.posts_added, s.errors) == (10, 9, 1)
    assert list(errors(store)) == [5]
    texts = {r["text"] for r in rows(store, "SELECT text FROM posts")}
    for good in lines[5:]:   # every line after the broken one is a post
        assert any(t and t[:25] in good for t in texts), good


def test_rows_repeated_whole_count_as_repeats_not_posts(store, tmp_path):
    header = ("author_id,content,region,language,publish_date,harvested_date,following,followers,updates,"
              "post_type,retweet\n")
    tweets = [f"FaceMeChase,tweet number {i} about the news,United States,English,2015-08-0{1 + i % 9} 17:16,"
              f"2015-08-08 17:16,91,71,{399 + i},,0\n" for i in range(10)]
    # the same text in the same minute with another running tweet count is another tweet: kept
    same_minute = tweets[0].replace(",399,", ",400,")
    p = tmp_path / "FaceMeChase.csv"
    p.write_text(header + "".join(t * 3 for t in tweets) + same_minute)
    s = ingest(store, p)
    assert (s.rows_read, s.posts_added, s.posts_known, s.errors) == (31, 11, 20, 0)
    assert rows(store, "SELECT count(*) AS n FROM posts")[0]["n"] == 11
    p.write_text(header + "".join(tweets) + same_minute)  # the same tweets once each: the same post ids
    s = ingest(store, p)
    assert (s.posts_added, s.posts_known) == (0, 11)


def test_a_day_first_file_is_refused_with_a_hint_then_read_with_time_format(store, tmp_path):
    from cibscope.ingest import make_reader

    header = ("author_id,content,region,language,publish_date,harvested_date,following,followers,updates,"
              "post_type,retweet\n")
    p = tmp_path / "DayFirst.csv"
    p.write_text(header + "".join(f"DayFirst,tweet {i} here,United States,English,{d}/08/2015 17:16,"
                                  f"{d}/08/2015 17:16,91,71,{399 + i},,0\n" for i, d in enumerate([3, 9, 13, 24])))
    s = ingest(store, p)
    # 03/08 and 09/08 were read as March 8 and September 8 while 13/08 and 24/08 were refused
    assert (s.posts_added, s.errors) == (0, 4)
    e = errors(store)
    assert set(e) == {2, 3, 4, 5} and all(r["field"] == "publish_date" for r in e.values())
    assert "looks day-first" in e[2]["reason"] and "--time-format '%d/%m/%Y %H:%M'" in e[2]["reason"]
    s = ingest(store, p, reader=make_reader("ira-csv", time_format="%d/%m/%Y %H:%M"))
    assert (s.posts_added, s.errors) == (4, 0)
    assert [r["created_at"].day for r in rows(store, "SELECT created_at FROM posts ORDER BY created_at")] == \
        [3, 9, 13, 24]
    assert not errors(store)  # the refused rows are no longer listed as bad


def test_a_json_file_given_as_ira_csv_shows_a_short_header(store, tmp_path):
    from cibscope.ingest import IngestError

    p = tmp_path / "ebola.json"
    p.write_text("[" + ", ".join(f'{{"id": {i}, "text": "tweet {i}", "user": {{"screen_name": "u{i}"}}}}'
                                 for i in range(2000)) + "]")
    with pytest.raises(IngestError) as exc:
        ingest(store, p, fmt="ira-csv")
    msg = str(exc.value)  # was the whole file (~40 kB) as the "found:" list
    assert "ebola.json: header does not match the ira-csv layout" in msg and len(msg) < 800
    assert "names," in msg and "characters)" in msg


def test_a_file_ingested_again_alone_names_the_dataset_holding_its_posts(store, tmp_path):
    header = ("author_id,content,region,language,publish_date,harvested_date,following,followers,updates,"
              "post_type,retweet\n")
    (tmp_path / "ira" / "A").mkdir(parents=True)
    for author in ("Abby", "Adam"):
        (tmp_path / "ira" / "A" / f"{author}.csv").write_text(header + "".join(
            f"{author},tweet {i} by {author},United States,English,2015-08-0{1 + i} 17:16,2015-08-08 17:16,"
            f"91,71,{399 + i},,0\n" for i in range(3)))
    ingest(store, tmp_path / "ira")
    s = ingest(store, tmp_path / "ira" / "A" / "Abby.csv")
    assert (s.dataset, s.posts_added, s.posts_known, s.known_in) == ("Abby", 0, 3, ["ira"])
    # no empty dataset 'Abby' (a detect --dataset Abby would run on nothing)
    assert [r["dataset"] for r in rows(store, "SELECT dataset FROM datasets")] == ["ira"]
