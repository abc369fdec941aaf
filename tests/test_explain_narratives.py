"""Narrative grouping and labelling: hand-made texts, a user library, real IRA clusters."""
from __future__ import annotations

import json

import pytest

from cibscope.explain import embeddings
import numpy as np

from cibscope.explain import narratives
from cibscope.explain.narratives import (EMBED_BUDGET, EMBED_MIN_POSTS, MAX_POSTS, OTHER, cluster_narratives,
                                         label_texts, load_library, narrative_groups, sample_size)
from cibscope.explain.summary import run_summary

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
    # it prints what it found: one summary row per cluster, with the stored narratives of the first two
    assert "what explain found in the 4 best-ranked clusters" in res.output
    found = " ".join(res.output.split("best-ranked clusters:")[1].split())
    assert "#1 " in found and "Food scare" in found and "strongest account signals: office_hours" in found
    assert "ai_text_model " in found and "not proof of machine authorship" in found  # a score, with its caveat
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


def test_embedding_sample_is_bounded_per_cluster_and_in_all():
    assert sample_size("tfidf", 20) == MAX_POSTS["tfidf"]
    assert sample_size("embedding", 1) == MAX_POSTS["embedding"] == 500
    assert sample_size("embedding", 20) == EMBED_BUDGET // 20 == 100
    assert sample_size("embedding", 1000) == EMBED_MIN_POSTS
    assert all(n * sample_size("embedding", n) <= EMBED_BUDGET for n in range(1, EMBED_BUDGET // EMBED_MIN_POSTS + 1))


class _CountingEmbedder:
    """Stands in for the ONNX model: deterministic unit vectors, and a record of every encode call."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts, progress=None):
        texts = list(texts)
        self.calls.append(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=384) for t in texts]
        x = np.array(rng, dtype=np.float32).reshape(len(texts), 384)
        for start in range(0, len(texts), 32):
            if progress:
                progress(len(texts[start:start + 32]))
        return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.shared
def test_real_ira_narratives_embed_every_cluster_in_one_batched_pass(ira_store, monkeypatch):
    store, run_id = ira_store
    fake = _CountingEmbedder()
    monkeypatch.setattr(embeddings, "available", lambda: True)
    monkeypatch.setattr(embeddings, "default_embedder", lambda: fake)
    monkeypatch.setattr(narratives, "_narrative_embeddings", lambda lib: fake.encode([n.name for n in lib]))
    seen: list[tuple[str, int, int]] = []
    res = cluster_narratives(store, run_id, representation="embedding", progress=lambda *a: seen.append(a))
    n = sample_size("embedding", len(res))
    assert len(res) == len(IRA_CLUSTERS) and n == 500
    texts = fake.calls[0]
    # one pass over the distinct sampled texts of all clusters; nothing embedded per cluster afterwards
    assert len(texts) == len(set(texts)) > 500
    lib_names = [n.name for n in load_library()]
    assert all(c == lib_names for c in fake.calls[1:])   # later calls: only the library (cached in real use)
    assert [s for s in seen if s[0] == "embed"][-1] == ("embed", len(texts), len(texts))
    assert [s for s in seen if s[0] == "group"] == [("group", i, len(res)) for i in range(1, len(res) + 1)]
    for d in res.values():
        assert d["n_sampled"] == min(d["n_posts"], n) and d["representation"] == "embedding"
    # the batched vectors group a cluster exactly as embedding it alone would
    cid, d = sorted(res.items())[0]
    alone = cluster_narratives(store, run_id, [cid], representation="embedding", max_posts=n)[cid]
    assert alone["groups"] == d["groups"]


@pytest.mark.shared
def test_real_ira_run_summary(ira_store):
    from cibscope.explain.authenticity import save_authenticity
    from cibscope.explain.narratives import save_narratives

    store, run_id = ira_store
    save_authenticity(store, run_id)
    first = store.con.execute("SELECT cluster_id FROM clusters WHERE run_id = ? AND rank = 1", [run_id]).fetchall()
    save_narratives(store, run_id, [first[0][0]], representation="tfidf", max_posts=300)
    rows = run_summary(store, run_id, top=3)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    top = rows[0]
    assert sum(share for _, share in top["narratives"]) == pytest.approx(1.0)
    assert rows[1]["narratives"] == []                # narratives were stored for the first cluster only
    # IRA tweet files have no creation dates, clients or bios; shares come before similarities
    assert {"creation_burst", "automation_client", "profile_reuse"} <= set(top["unknown"])
    assert top["signals"][-1].startswith("text_uniformity ")
    assert any(s.startswith("office_hours ") and "(UTC" in s for s in top["signals"])
