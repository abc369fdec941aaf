"""The two fingerprints as cluster signals, DISARM tags and STIX objects, on a small hand-made store."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from cibscope.explain.authenticity import cluster_authenticity, save_authenticity
from cibscope.explain.fingerprints import AI_CAVEAT, disarm_tags
from _store_rows import CLUSTER_INSERT

T0 = dt.datetime(2024, 3, 4, 9)


def _store(store):
    """C1 (a, b, c): a and b link to bild.pics and www.spiegel.ltd, c to bild.de; C2 (d, e): organic links only."""
    urls = {"a": ["https://bild.pics/politik/artikel-1", "https://www.spiegel.ltd/ausland/x"],
            "b": ["https://bild.pics/politik/artikel-1"], "c": ["https://www.bild.de/politik/artikel"],
            "d": ["https://welt-sparen.de/tagesgeld", "https://www.bildung.de/"], "e": ["https://www.spiegel.de/"]}
    rows = []
    for k, us in urls.items():
        for j, u in enumerate(us):
            rows.append({"platform": "twitter", "post_id": f"{k}{j}", "account_id": k, "kind": "post",
                         "created_at": T0 + dt.timedelta(minutes=5 * j), "urls": [u],
                         "text": f"Read this story about the budget and the coalition today {k}{j} {u}"})
        rows.append({"platform": "twitter", "post_id": f"{k}s", "account_id": k, "kind": "post",
                     "created_at": T0, "urls": [], "text": "ok"})  # too short to score
    store.add_batch(dataset="hand", source_file="hand", posts=pa.Table.from_pylist(rows),
                    accounts=pa.table({"platform": ["twitter"] * 5, "account_id": list(urls)}))
    store.con.execute("INSERT INTO runs VALUES (1, TIMESTAMP '2024-03-05 00:00:00', '{}', NULL, 0, 0, 0, 1, 0)")
    for cid, rank, mem in (("C1", 1, "abc"), ("C2", 2, "de")):
        store.con.execute(CLUSTER_INSERT + f"VALUES (1, '{cid}', {rank}, {len(mem)}, 2, 10, 1.0, 1e-9, 9, 10, "
                          "true, '{\"link\": 1.0}', TIMESTAMP '2024-03-04 09:00:00', TIMESTAMP '2024-03-04 09:10:00', "
                          "'s', NULL, NULL)")
        store.con.executemany(f"INSERT INTO cluster_members VALUES (1, '{cid}', ?, 1, 1.0, 5.0)",
                              [[f"twitter:{k}"] for k in mem])


def test_lookalike_signal_names_domains_and_outlets(store):
    _store(store)
    sig = cluster_authenticity(store, 1)
    la = sig["C1"]["lookalike_domains"]
    assert la.value == pytest.approx(2 / 3)            # a and b, not c (the real bild.de)
    doms = {d["domain"]: d for d in la.details["domains"]}
    assert set(doms) == {"bild.pics", "spiegel.ltd"}
    assert doms["bild.pics"]["outlet"] == "bild.de" and doms["bild.pics"]["n_accounts"] == 2
    assert doms["spiegel.ltd"]["outlet_name"] == "Der Spiegel" and doms["spiegel.ltd"]["host"] == "spiegel.ltd"
    assert "Bild (bild.de)" in la.explanation
    organic = sig["C2"]["lookalike_domains"]
    assert organic.value == 0 and organic.details["domains"] == []   # welt-sparen.de, bildung.de, spiegel.de
    ids = [t[0] for t in disarm_tags(sig["C1"])]
    assert "T0149.003" in ids and "T0143.003" in ids
    assert "T0149.003" not in [t[0] for t in disarm_tags(sig["C2"])]


def test_ai_text_signal_scores_sampled_posts_with_caveat(store):
    _store(store)
    ai = cluster_authenticity(store, 1)["C1"]["ai_text_model"]
    assert ai.details["n_posts"] == 4                    # the four posts of >= 20 characters; "ok" is not scored
    ps = [e["p"] for e in ai.details["examples"]]
    assert ps == sorted(ps, reverse=True) and all(0 <= p <= 1 for p in ps)
    assert ai.value == pytest.approx(ai.details["n_likely"] / 4)
    assert AI_CAVEAT in ai.explanation


def test_stix_bundle_carries_lookalike_indicators(store):
    from cibscope.report.stix import build_bundle

    from stix2validator import ValidationOptions, validate_string

    _store(store)
    save_authenticity(store, 1)
    text = build_bundle(store, 1).serialize()
    result = validate_string(text, ValidationOptions(strict=True))
    assert result.errors == [] and result.is_valid, [str(e) for e in result.errors]
    objs = json.loads(text)["objects"]
    ind = {o["pattern"]: o for o in objs if o["type"] == "indicator"}
    assert set(ind) == {"[domain-name:value = 'bild.pics']", "[domain-name:value = 'spiegel.ltd']"}
    assert "Bild (bild.de)" in ind["[domain-name:value = 'bild.pics']"]["description"]
    ap = [o for o in objs if o["type"] == "attack-pattern"]
    ext = {r["external_id"] for o in ap for r in o["external_references"] if "external_id" in r}
    assert {"T0149.003", "T0143.003"} <= ext
    by_id = {o["id"]: o for o in objs}
    rel = [o for o in objs if o["type"] == "relationship" and o["relationship_type"] == "indicates"]
    assert len(rel) == 2 and all(by_id[r["target_ref"]]["name"] == "Lookalike Domain" for r in rel)
    assert [o["value"] for o in objs if o["type"] == "domain-name"].count("bild.pics") == 1
    g1 = next(o for o in objs if o["type"] == "grouping" and "C1" in o["name"])
    assert all(i["id"] in g1["object_refs"] for i in ind.values())
    assert len({o["id"] for o in objs}) == len(objs)     # no object twice


def test_report_and_web_templates_show_the_evidence(store):
    from cibscope.report.html import render_html
    from cibscope.web.pages import _env

    _store(store)
    save_authenticity(store, 1)
    page = render_html(store, 1)
    assert "Look-alike news domains (2;" in page and "<code>bild.pics</code>" in page
    assert "Bild (<code>bild.de</code>)" in page
    assert "Posts most like machine-written text" in page and "does not prove machine authorship" in page
    assert "Classifier: " in page and ("MiniLM" in page or "NB-SVM" in page)   # the reader sees which model scored
    from cibscope.report.query import authenticity
    html = _env.get_template("_fingerprints.html.j2").module.fingerprints(authenticity(store, 1, ["C2"])["C2"])
    assert "Look-alike" not in str(html)                 # the organic cluster has no look-alike table


def test_impersonated_paths_reach_the_signal_in_every_url_form(store):
    """Links that serve a path named after an outlet's domain from another site (kind ``path``) are found
    whatever the URL's form; links that only mention an outlet further down the path are not (the SQL
    pre-filter of ``lookalike_signals`` must keep every link ``match_url`` would flag)."""
    urls = {"p": ["https://news-portal.ru/www.spiegel.de/politik/artikel-1"],
            "q": ["HTTP://XqzReader.net//WWW.Bild.de/politik/x?id=1"],
            "r": ["https://yzblog.net/about/spiegel.de", "https://www.spiegel.de/politik/artikel-1"]}
    rows = [{"platform": "twitter", "post_id": f"{k}{j}", "account_id": k, "kind": "post",
             "created_at": T0 + dt.timedelta(minutes=j), "urls": [u], "text": f"story {k}{j}"}
            for k, us in urls.items() for j, u in enumerate(us)]
    store.add_batch(dataset="hand", source_file="hand", posts=pa.Table.from_pylist(rows),
                    accounts=pa.table({"platform": ["twitter"] * 3, "account_id": list(urls)}))
    store.con.execute("INSERT INTO runs VALUES (1, TIMESTAMP '2024-03-05 00:00:00', '{}', NULL, 0, 0, 0, 1, 0)")
    store.con.execute(CLUSTER_INSERT + "VALUES (1, 'C1', 1, 3, 2, 10, 1.0, 1e-9, 9, 10, true, "
                      "'{\"link\": 1.0}', TIMESTAMP '2024-03-04 09:00:00', TIMESTAMP '2024-03-04 09:10:00', 's', NULL, NULL)")
    store.con.executemany("INSERT INTO cluster_members VALUES (1, 'C1', ?, 1, 1.0, 5.0)", [[f"twitter:{k}"] for k in urls])
    la = cluster_authenticity(store, 1)["C1"]["lookalike_domains"]
    paths = {d["domain"]: d["outlet"] for d in la.details["domains"] if d["kind"] == "path"}
    assert paths == {"news-portal.ru": "spiegel.de", "xqzreader.net": "bild.de"}
    assert la.value == pytest.approx(2 / 3)            # p and q; r's links are an aside and the real outlet
