"""What a fresh user's second walkthrough found on small stores: counts of one read in the singular
everywhere (CLI, HTML report, web pages, Python repr), search queries of invisible characters or bare marks
are empty, suggest-window says it rounded, GraphML keeps integers, and the Python API refuses what the CLI
would. One small fresh store: two accounts posting the same hashtags and text seconds apart, four others
posting alone."""
from __future__ import annotations

import re

import networkx as nx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import cibscope
from cibscope.cli import app
from cibscope.report.graph_export import export_graph
from cibscope.store.db import Store
from cibscope.store.search import clean_query, search
from cibscope.web.app import Settings, create_app
from web_fixtures import USERS, web_state


def _pair_csv(path, lag_s: int = 5):
    """alice and bob post the same 6 hashtags ``lag_s`` seconds apart; carol..frank post their own."""
    rows = ["post_id,account_id,created_at,text"]
    for k in range(6):
        for acc, off in (("alice", 0), ("bob", lag_s)):
            rows.append(f"{len(rows)},{acc},2015-02-24T{10 + k:02d}:00:{off:02d}Z,Eat at #tag{k} now")
    for acc in ("carol", "dave", "erin", "frank"):
        for k in range(6):
            rows.append(f"{len(rows)},{acc},2015-02-2{5 + k % 3}T{3 * k:02d}:{ord(acc[0]) % 60:02d}:00Z,"
                        f"other #{acc}{k} stuff")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())      # Rich wraps long lines: compare on single spaces


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The pair store after one run with ``--min-cluster-size 2`` (1 edge, 1 cluster of 2), its outputs
    and the command lines' output."""
    tmp = tmp_path_factory.mktemp("pair")
    db = tmp / "s.duckdb"
    _cli("ingest", _pair_csv(tmp / "pair.csv"), "--format", "csv", "--platform", "twitter", "--db", db)
    detect = _cli("detect", "--min-cluster-size", "2", "--out", tmp / "out", "--db", db)
    explain = _cli("explain", "--representation", "tfidf", "--db", db)
    return {"tmp": tmp, "db": db, "detect": detect, "explain": explain}


# -- 1. counts of one ----------------------------------------------------------------------------------------------

def test_detect_explain_and_report_count_one_in_the_singular(pair):
    assert "48 actions of 6 accounts -> 1 candidate pair, 1 significant edge, 1 cluster in" in pair["detect"]
    assert "explain run 1: narratives of 1 cluster (tfidf)" in pair["explain"]
    assert "run 1: what explain found in the 1 best-ranked cluster:" in pair["explain"]
    html = " ".join((pair["tmp"] / "out" / "report.html").read_text(encoding="utf-8").split())
    assert "1 of 1 cluster is flagged as a candidate coordinated network: 2 accounts of the 6 analysed" in html
    assert "2 accounts, 1 account pair, 1 post pair, " in html          # a shared object of the cluster
    assert not re.search(r"\b1 (accounts|pairs|post pairs|account pairs|clusters|edges)\b", html)


def test_web_pages_and_api_repr_count_one_in_the_singular(pair):
    web_state(pair["tmp"] / "web.sqlite")
    name, _, password = USERS[0]
    with cibscope.open(pair["db"]) as db:
        assert repr(db.run(1)) == "<cibscope run 1: 1 edge, 1 cluster>"
        cid = db.run(1).clusters()["cluster_id"][0].as_py()
    with TestClient(create_app(Settings(str(pair["db"]), str(pair["tmp"] / "web.sqlite")))) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"name": name, "password": password, "csrf_token": token},
                      follow_redirects=False).status_code == 303
        pages = {p: " ".join(c.get(p).text.split()) for p in
                 ("/search?q=%23tag0", "/clusters?run=1", f"/runs/1/clusters/{cid}", "/accounts/twitter%3Aalice")}
    assert "(1 pair)" in pages["/search?q=%23tag0"]
    assert "— 1 cluster</option>" in pages["/clusters?run=1"] and "1 cluster." in pages["/clusters?run=1"]
    cluster = pages[f"/runs/1/clusters/{cid}"]
    assert "2 accounts, 1 edge," in cluster and "2 accounts, 1 pair, 1 post pair, " in cluster
    assert "(2 accounts, flagged" in pages["/accounts/twitter%3Aalice"]
    for page in pages.values():
        assert not re.search(r"\b1 (accounts|pairs|post pairs|clusters|edges|members)\b", page), page


def test_detect_counts_of_zero_and_many_stay_plural(tmp_path):
    db = tmp_path / "s.duckdb"
    _cli("ingest", _pair_csv(tmp_path / "pair.csv"), "--format", "csv", "--platform", "twitter", "--db", db)
    out = _cli("detect", "--out", tmp_path / "out", "--db", db)     # min cluster size 3: the pair forms none
    assert "-> 1 candidate pair, 1 significant edge, 0 clusters in" in out
    with cibscope.open(db) as api:
        assert repr(api.run()) == "<cibscope run 1: 1 edge, 0 clusters>"


# -- 2. search: invisible characters, fullwidth letters, bare marks ------------------------------------------------

def test_clean_query_drops_format_characters_and_normalises_fullwidth():
    assert clean_query("\u202e@ali\u200bce\ufeff") == "@alice"
    assert clean_query("＠ａｌｉｃｅ") == "@alice" and clean_query("＃ＫｏｃｈＦａｒｍｓ") == "#KochFarms"
    assert clean_query("\u200b \ufeff\x00") == ""
    assert clean_query("#Koch\x00Farms") == "#Koch Farms"          # controls still become one space


def test_bare_marks_and_invisible_queries_are_empty_searches(pair):
    with Store(pair["db"], read_only=True) as s:
        for q in ("@", "#", "@@@", "http://", "https://www.", "\u200b", "#\u202e"):
            with pytest.raises(ValueError, match="empty search"):
                search(s, q)
        with pytest.raises(ValueError, match="empty search"):
            search(s, "@", kind="text")
        assert [a["account_key"] for a in search(s, "＠ａｌｉ\u200bｃｅ")["accounts"]] == ["twitter:alice"]
        assert [h["object_key"] for h in search(s, "#\ufefftag3")["hashtags"]] == ["tag3"]


def test_search_page_says_why_an_emptied_query_searched_nothing(pair):
    web_state(pair["tmp"] / "web2.sqlite")
    name, _, password = USERS[0]
    with TestClient(create_app(Settings(str(pair["db"]), str(pair["tmp"] / "web2.sqlite")))) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"name": name, "password": password, "csrf_token": token})
        first = c.get("/search")
        assert first.status_code == 200 and 'role="alert"' not in first.text     # the empty form
        for q in ("\u200b", "@", "@@@", "http://", "   "):
            page = c.get("/search", params={"q": q})
            assert page.status_code == 422 and 'role="alert"' in page.text and "empty search" in page.text, q
            assert "twitter:alice" not in page.text and "search-accounts" not in page.text
        assert c.get("/api/search", params={"q": "@@@"}).status_code == 422


# -- 3. suggest-window says it rounded, and which signals had nothing ----------------------------------------------

def test_suggest_window_says_the_quantile_was_rounded_up(tmp_path):
    db = tmp_path / "s.duckdb"
    _cli("ingest", _pair_csv(tmp_path / "pair.csv", lag_s=8), "--format", "csv", "--platform", "twitter",
         "--db", db)
    out = _cli("suggest-window", "--db", db)
    assert "suggested window: 60 s (1.0 min): the 0.1 quantile of the objects' median follow delay " \
           "(CooRnet's coordination interval) is 8 s, rounded up to whole minutes." in out
    r = CliRunner().invoke(app, ["suggest-window", "--signals", "image", "--db", str(db)])
    assert r.exit_code == 2 and "no object was acted on by two accounts with signals image" in r.output


# -- 4. GraphML keeps integer attributes integers ------------------------------------------------------------------

def test_graphml_declares_counts_as_integers(pair):
    with Store(pair["db"], read_only=True) as s:
        out = export_graph(s, 1, pair["tmp"] / "run.graphml")
        n, post_pairs = s.con.execute("SELECT n_coactions, n_post_pairs FROM edges WHERE run_id = 1").fetchone()
    assert (out["nodes"], out["edges"]) == (2, 1)
    g = nx.read_graphml(out["path"])
    (_, _, e), = g.edges(data=True)
    assert (e["n_coactions"], e["n_post_pairs"]) == (n, post_pairs)
    assert type(e["n_coactions"]) is int and type(e["n_post_pairs"]) is int and type(e["weight"]) is float
    ranks = {d["account"]: d["cluster_rank"] for _, d in g.nodes(data=True)}
    assert ranks == {"twitter:alice": 1, "twitter:bob": 1} and all(type(r) is int for r in ranks.values())
    assert {type(d["flagged"]) for _, d in g.nodes(data=True)} == {bool}


# -- 6. the Python API refuses what it cannot mean, in its own words -----------------------------------------------

def test_api_refuses_non_int_runs_and_non_stores(pair, tmp_path):
    with cibscope.open(pair["db"]) as db:
        for bad in (1.5, True, "1", 1.0):
            with pytest.raises(TypeError, match="run_id must be an int"):
                db.run(bad)
        assert db.run(1).run_id == 1
    with pytest.raises(ValueError, match=r"is a folder; cibscope.open\(\) expects") as err:
        cibscope.open(pair["tmp"])
    assert f"did you mean {pair['tmp'] / 'cibscope.duckdb'}" not in str(err.value)   # no such file there
    (tmp_path / "cibscope.duckdb").write_bytes((pair["db"]).read_bytes())
    with pytest.raises(ValueError, match=re.escape(f"did you mean {tmp_path / 'cibscope.duckdb'}?")):
        cibscope.open(tmp_path)
    png = tmp_path / "img.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(ValueError) as err:
        cibscope.open(png)
    assert str(png) in str(err.value) and "not a DuckDB database" in str(err.value)
    assert "--db" not in str(err.value)                                   # Python wording, not the CLI's
