"""Narrative grouping and labelling: hand-made texts, a user library, real IRA clusters."""
from __future__ import annotations

import json

import pytest

from cibscope.explain import embeddings
from cibscope.explain.narratives import OTHER, cluster_narratives, label_texts, load_library, narrative_groups

from conftest import IRA_CLUSTERS


def test_shipped_library_has_the_seed_narratives():
    ids = {n.id for n in load_library()}
    assert ids == {"ukraine_support", "american_decline", "china_foreign_policy", "middle_east_crisis",
                   "election_integrity"}


REPS = ["tfidf", pytest.param("embedding", marks=pytest.mark.skipif(not embeddings.available(),
                                                                    reason="cibscope[embed] not installed"))]


@pytest.mark.parametrize("rep", REPS)
def test_labels_by_keywords_and_tie_break(rep):
    texts = ["Billions for Zelensky while our veterans starve", "Xinjiang is peaceful, stop the lies about Uyghurs",
             "Gaza tonight: more bombs", "the cat sat on the mat", "#Ukraine aid is stolen",
             "Dead people are voting: the election is RIGGED", "Ukrainians love the sunflower fields"]
    assert label_texts(texts, representation=rep) == ["ukraine_support", "china_foreign_policy", "middle_east_crisis", OTHER,
                                  "ukraine_support", "election_integrity", "ukraine_support"]


def test_user_library_extends_and_replaces(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"narratives": [
        {"id": "vaccines", "name": "Vaccine harm", "keywords": ["vaccin*", "jab"]},
        {"id": "election_integrity", "name": "Elections (mine)", "keywords": ["ballot*"]}]}))
    lib = load_library([f])
    by = {n.id: n for n in lib}
    assert by["vaccines"].name == "Vaccine harm" and by["election_integrity"].keywords == ["ballot*"]
    assert label_texts(["the jab killed him", "dead people are voting"], lib) == ["vaccines", OTHER]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"narratives": [{"id": "x", "name": "no keywords"}]}))
    with pytest.raises(ValueError, match="bad.json: narrative #1 lacks keywords"):
        load_library([bad])


@pytest.mark.parametrize("rep", REPS)
def test_groups_separate_two_campaigns(rep):
    ukr = [f"Aid to Ukraine number {i} vanished, Zelensky bought another villa {i}" for i in range(60)]
    cats = [f"my cat number {i} sleeps on the sofa all afternoon again {i}" for i in range(60)]
    groups = narrative_groups(ukr + cats, max_groups=2, representation=rep)
    assert len(groups) == 2
    by = {g["narrative"]: g for g in groups}
    assert by["ukraine_support"]["n_posts"] == 60 and by["ukraine_support"]["label_share"] == 1.0
    assert by[OTHER]["n_posts"] == 60 and "cat" in by[OTHER]["top_terms"]
    assert all("Zelensky" in t for t in by["ukraine_support"]["examples"])


@pytest.mark.shared
def test_real_ira_cluster_narratives(ira_store):
    store, run_id = ira_store
    res = cluster_narratives(store, run_id, max_posts=300, representation="tfidf")
    assert len(res) == len(IRA_CLUSTERS)
    for d in res.values():
        assert d["representation"] == "tfidf"
        assert d["n_sampled"] == min(d["n_posts"], 300)
        assert sum(d["mix"].values()) == pytest.approx(1.0)
        assert sum(g["n_posts"] for g in d["groups"]) == d["n_sampled"]
    # the Fearmonger cluster's KochFarms hoax (Thanksgiving 2015 food-poisoning story) is one of its groups
    fear = next(d for d in res.values() if any("kochfarms" in g["top_terms"] for g in d["groups"]))
    assert any("KochFarms" in t for g in fear["groups"] for t in g["examples"])


@pytest.mark.shared
@pytest.mark.skipif(not embeddings.available(), reason="the cibscope[embed] extra is not installed")
def test_real_ira_cluster_narratives_with_embeddings(ira_store):
    store, run_id = ira_store
    fear = store.con.execute("SELECT cluster_id FROM cluster_members WHERE run_id = ? AND account_key = ?",
                             [run_id, IRA_CLUSTERS[0][0]]).fetchall()[0][0]
    d = cluster_narratives(store, run_id, [fear], max_posts=150)[fear]
    assert d["representation"] == "embedding" and d["n_sampled"] == min(d["n_posts"], 150)
    assert sum(g["n_posts"] for g in d["groups"]) == d["n_sampled"]
    # the KochFarms hoax posts gather in one group of the Fearmonger cluster
    koch = [g for g in d["groups"] if "kochfarms" in g["top_terms"]]
    assert len(koch) == 1 and any("KochFarms" in t for t in koch[0]["examples"])


@pytest.mark.shared
def test_explain_cli_stores_and_report_shows(ira_store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cibscope.cli import app
    from cibscope.report.html import render_html

    store, run_id = ira_store
    db = tmp_path / "copy.duckdb"
    store.con.execute(f"ATTACH '{db}' AS cp")
    store.con.execute("COPY FROM DATABASE " + store.con.execute("SELECT current_database()").fetchall()[0][0]
                      + " TO cp")
    store.con.execute("DETACH cp")
    lib = tmp_path / "mine.json"
    lib.write_text(json.dumps({"narratives": [{"id": "food_scare", "name": "Food scare",
                                               "keywords": ["kochfarms", "foodpoisoning"]}]}))
    monkeypatch.setattr(embeddings, "available", lambda: False)   # the TF-IDF fallback, end to end (and fast)
    res = CliRunner().invoke(app, ["explain", "--run", str(run_id), "--db", str(db), "--narratives", "2",
                                   "--library", str(lib)])
    assert res.exit_code == 0, res.output
    from cibscope.explain.authenticity import SIGNALS
    assert f"{4 * len(SIGNALS)} authenticity rows stored" in res.output and "for 2 clusters (tfidf)" in res.output
    flat = " ".join(res.output.split())                                         # rich may wrap long lines
    assert "lookalike_domains: No shared domain imitates" in flat               # the fingerprints are printed
    assert "ai_text_model:" in flat and "not proof of machine authorship" in flat
    from cibscope.store.db import Store
    with Store(db, read_only=True) as s:
        n = s.con.execute("SELECT count(DISTINCT cluster_id), count(*) FILTER (WHERE narrative = 'food_scare') "
                          "FROM cluster_narratives").fetchall()[0]
        assert n[0] == 2 and n[1] >= 1           # the rank-1 Fearmonger cluster's KochFarms group
        # every group records the representation that made it, and the report says which
        assert s.con.execute("SELECT list(DISTINCT representation) FROM cluster_narratives").fetchall()[0][0] \
            == ["tfidf"]
        page = render_html(s, run_id)
    assert "What they push (narratives)" in page and "Food scare" in page
    assert page.count("Text representation: TF-IDF (word and character n-grams).") == 2
    bad = CliRunner().invoke(app, ["explain", "--run", str(run_id), "--db", str(db), "--library",
                                   str(tmp_path / "missing.json")])
    assert bad.exit_code == 2 and "missing.json" in bad.output
    # asking for embeddings without the extra is a clear error, not a silent fallback
    bad = CliRunner().invoke(app, ["explain", "--run", str(run_id), "--db", str(db), "--representation", "embedding"])
    assert bad.exit_code == 2 and "embed" in bad.output
    bad = CliRunner().invoke(app, ["explain", "--run", str(run_id), "--db", str(db), "--representation", "bert"])
    assert bad.exit_code == 2 and "representation must be one of" in bad.output
