"""Authenticity signals: a hand-checked synthetic cluster and real IRA clusters."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pyarrow as pa
import pytest

from cibscope.explain.authenticity import (SIGNALS, cluster_authenticity, dataset_groups_sql, group_authenticity,
                                           save_authenticity, text_uniformity)

from conftest import IRA_CLUSTERS, rows
from _store_rows import CLUSTER_INSERT

T0 = dt.datetime(2024, 3, 4)  # a Monday


def _hand_store(store):
    """Five accounts of one cluster, with every property the signals look for set by hand.

    - created: a, b, c, d within 3 days of 2022-01-10; e a year later  -> creation_burst 4/5
    - handles patriot_01, patriot_02, patriot_77, carl99, Dave         -> digits 4/5, prefix 'patri' 3/5
    - a, b share a bio word for word; c's differs; d, e have none      -> profile_reuse 2/3
    - d claims Texas and posts in Russian (12 posts)                   -> language_location: d of a..e
    - a posts every 40 minutes (CV 0)                            -> interval_regularity: a
    - all posts fall 06:00-14:59 UTC on weekdays                       -> office hours best at UTC+3
    - one post of e holds "As an AI language model"                    -> ai_text_tells 1/5
    - b's 12 posts come from IFTTT                                     -> automation_client 12/60
    """
    keys = ["a", "b", "c", "d", "e"]
    accounts = pa.table({
        "platform": ["twitter"] * 5, "account_id": keys,
        "handle": ["patriot_01", "patriot_02", "patriot_77", "carl99", "Dave"],
        "created_at": [dt.datetime(2022, 1, 10), dt.datetime(2022, 1, 11), dt.datetime(2022, 1, 12, 23),
                       dt.datetime(2022, 1, 13), dt.datetime(2023, 1, 10)],
        "description": ["Proud patriot. God, guns, country.", "Proud patriot.  God, guns, country.",
                        "Mom of three, coffee lover", None, ""],
        "location": ["Ohio", "Ohio", "London, UK", "Texas", "Paris"],
    })
    post_rows = []
    for i, k in enumerate(keys):
        for j in range(12):
            if k == "a":
                ts = T0 + dt.timedelta(hours=6, minutes=40 * j)   # every 40 minutes from 06:00 to 13:20
            else:
                ts = T0 + dt.timedelta(days=(j * 3 + i) % 5, hours=6 + (j * 5 + i) % 9, minutes=7 * i)
            text = f"post {j} of {k} about the weather and the game tonight number {j * 17 + i}"
            if k == "e" and j == 0:
                text = "As an AI language model, I cannot write about the election."
            post_rows.append({"platform": "twitter", "post_id": f"{k}{j}", "account_id": k, "created_at": ts,
                              "kind": "post", "text": text, "lang": "Russian" if k == "d" else "English",
                              "client": "IFTTT" if k == "b" else "Twitter Web App"})
    store.add_batch(dataset="hand", source_file="hand", posts=pa.Table.from_pylist(post_rows), accounts=accounts)
    store.con.execute(CLUSTER_INSERT + "VALUES (1, 'C1', 1, 5, 4, 10, 1.0, 1e-9, 9, 10, true, '{}', "
                      "now()::TIMESTAMP, now()::TIMESTAMP, 's', NULL, NULL)")
    store.con.executemany("INSERT INTO cluster_members VALUES (1, 'C1', ?, 1, 1.0, 5.0)",
                          [[f"twitter:{k}"] for k in keys])


def test_hand_checked_cluster(store):
    _hand_store(store)
    sig = cluster_authenticity(store, 1, "C1")["C1"]
    assert set(sig) == set(SIGNALS)
    assert sig["creation_burst"].value == pytest.approx(4 / 5)
    assert sig["creation_burst"].details["window_start"] == "2022-01-10"
    assert sig["handle_digits"].value == pytest.approx(4 / 5)
    assert sig["handle_prefix"].value == pytest.approx(3 / 5) and sig["handle_prefix"].details["prefix"] == "patri"
    assert sig["profile_reuse"].value == pytest.approx(2 / 3)
    assert sig["language_location"].value == pytest.approx(1 / 5)
    assert sig["language_location"].details["examples"][0]["handle"] == "carl99"
    assert "Texas" in sig["language_location"].explanation
    assert sig["interval_regularity"].details["n_regular"] == 1 and sig["interval_regularity"].n_accounts == 5
    oh = sig["office_hours"]
    assert oh.details["utc_offset_h"] == 3 and oh.value == pytest.approx(1.0)
    assert oh.details["weekday_share"] == pytest.approx(1.0)
    assert sum(oh.details["profile_utc"]) == pytest.approx(1.0)
    assert "UTC+3 (Moscow" in oh.explanation and "would hold" not in oh.explanation  # it is the best fit
    assert sig["ai_text_tells"].value == pytest.approx(1 / 5)
    assert "As an AI language model" in sig["ai_text_tells"].details["examples"][0]
    assert sig["automation_client"].value == pytest.approx(12 / 60)
    assert sig["automation_client"].details["clients"] == ["IFTTT"]
    # templated texts: similar, but not identical
    assert 0.1 < sig["text_uniformity"].value < 0.9


def test_missing_inputs_are_none_not_zero(store):
    _hand_store(store)
    store.con.execute("UPDATE accounts SET created_at = NULL, description = NULL")
    store.con.execute("UPDATE posts SET client = NULL")
    sig = cluster_authenticity(store, 1)["C1"]
    for name in ("creation_burst", "profile_reuse", "automation_client"):
        assert sig[name].value is None, name
    assert "too few" in sig["creation_burst"].explanation
    with pytest.raises(ValueError, match="no cluster 'nope'"):
        cluster_authenticity(store, 1, "nope")


def test_save_replaces_rows(store):
    _hand_store(store)
    assert save_authenticity(store, 1) == len(SIGNALS)
    assert save_authenticity(store, 1) == len(SIGNALS)
    got = rows(store, "SELECT * FROM cluster_authenticity WHERE signal = 'office_hours'")
    assert len(got) == 1 and json.loads(got[0]["details"])["utc_offset_h"] == 3


def test_text_uniformity_extremes():
    same = text_uniformity(["vote them out now!!"] * 4, ["a", "b", "c", "d"])
    diff = text_uniformity(["cats sleep all day", "the bus was late", "great goal by messi", "rain in may"],
                           ["a", "b", "c", "d"])
    assert same == pytest.approx(1.0) and diff == pytest.approx(0.0)
    assert text_uniformity(["x y z", "x y z"], ["a", "a"]) is None


@pytest.mark.shared
def test_real_ira_clusters(ira_store):
    store, run_id = ira_store
    res = cluster_authenticity(store, run_id)
    assert len(res) == len(IRA_CLUSTERS)
    fear = next(s for s in res.values() if "FannieBradley88" in s["handle_digits"].details["examples"])
    # the IRA tweet files have no creation dates, clients or bios: said, not reported as 0
    assert fear["creation_burst"].value is None and fear["automation_client"].value is None
    # the hour profile is the members' posts per UTC hour, each member weighted equally (checked in Python)
    members = IRA_CLUSTERS[0]
    posts = rows(store, "SELECT account_key, hour(created_at) AS h FROM posts WHERE list_contains(?, account_key)",
                 [members])
    prof = [0.0] * 24
    for acc in members:
        hours = Counter(r["h"] for r in posts if r["account_key"] == acc)
        for h, n in hours.items():
            prof[h] += n / sum(hours.values()) / len(members)
    assert fear["office_hours"].details["profile_utc"] == pytest.approx(prof, abs=1e-4)
    assert fear["office_hours"].details["n_posts"] == len(posts)
    moscow = sum(prof[h] for h in range(24) if 9 <= (h + 3) % 24 < 18)
    assert fear["office_hours"].details["reference_share"] == pytest.approx(moscow, abs=1e-3)
    assert f"Office hours at UTC+3 (Moscow) would hold {100 * moscow:.0f}%" in fear["office_hours"].explanation
    # a baseline over a whole dataset works the same way
    base = group_authenticity(store, dataset_groups_sql(["ira-F"]))
    n_authors = store.con.execute("SELECT count(DISTINCT account_key) FROM posts WHERE dataset = 'ira-F'").fetchall()
    assert base["ira-F"]["office_hours"].n_accounts == n_authors[0][0] > 30


def test_report_shows_stored_signals(store):
    from cibscope.report.html import render_html

    _hand_store(store)
    store.con.execute("INSERT INTO runs VALUES (1, now()::TIMESTAMP, '{}', NULL, 0, 0, 0, 1, 0)")
    assert "Who the accounts are" not in render_html(store, 1)      # nothing stored yet: no section
    save_authenticity(store, 1)
    page = render_html(store, 1)
    assert "Who the accounts are" in page and "UTC+3 (Moscow" in page
    assert page.count('title="03:00 UTC') == 1                      # the 24-bin hour profile is drawn
    assert "carl99 claims &#39;Texas&#39;" in page                   # explanations are escaped text


@pytest.mark.shared
def test_nbc_profiles_fill_creation_dates(tmp_path):
    from cibscope.explain.profiles import enrich_profiles
    from cibscope.ingest import ingest
    from cibscope.store.db import Store
    from conftest import SHARED, assemble_ira

    users = SHARED / "nbc-ira-users" / "users.csv"
    s = Store(tmp_path / "s.duckdb")
    ingest(s, assemble_ira(tmp_path / "ira-K", letter="K"))
    got = enrich_profiles(s, users)
    assert got["rows"] == 454
    # rows checked by hand in users.csv: 8 letter-K authors are listed there, 4 with a creation date
    row = rows(s, "SELECT handle, created_at, description FROM accounts WHERE lower(handle) = 'kaydenmelton'")
    assert row[0]["created_at"] == dt.datetime(2013, 8, 5, 11, 58, 45)
    assert row[0]["description"].startswith("Either you run the day, or the day runs")
    assert got["matched"] == 8 and got["created_at"] == 4 and got["description"] == 4
    assert enrich_profiles(s, users)["created_at"] == 0               # only NULL fields are filled
    bad = tmp_path / "bad.csv"
    bad.write_text("screen_name,created_at\nKL_Spen,2016-01-01\n")
    with pytest.raises(ValueError, match="bad.csv:2: created_at '2016-01-01'"):
        enrich_profiles(s, bad)
    s.close()


def test_accounts_without_handles_or_posts_get_every_signal(store):
    _hand_store(store)
    store.con.execute("UPDATE accounts SET handle = NULL")
    store.con.execute("DELETE FROM posts WHERE account_key = 'twitter:a'")
    store.con.execute("INSERT INTO cluster_members VALUES (1, 'C2', 'twitter:a', 1, 1.0, 1.0), "
                      "(1, 'C2', 'twitter:b', 1, 1.0, 1.0)")
    res = group_authenticity(store, "SELECT cluster_id AS group_id, account_key FROM cluster_members")
    assert list(res["C1"]) == list(SIGNALS) and list(res["C2"]) == list(SIGNALS)
    assert res["C1"]["handle_digits"].value is None
    assert res["C1"]["handle_digits"].explanation == "The data has no handles for these members."
    assert res["C2"]["office_hours"].n_accounts == 1            # a's posts are gone, b's count
