"""The web app's search (page and /api/search) over HTTP: what it finds on the real IRA sample, escaping
of attacker-written text, bad input, and the ownership boundary: each organisation runs its own server
on its own store (``cibscope serve --org``), so a user of organisation B, on B's server or carrying B's
session to A's server, must never find organisation A's accounts, hashtags or posts."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cibscope.ingest import ingest
from cibscope.report.query import loose_pairs
from cibscope.store.db import Store
from cibscope.web.app import Settings, create_app
from conftest import FIXTURES
from web_fixtures import USERS, kochfarms_cluster, sample_store, web_state

PW = {u: p for u, _, p in USERS}
XSS = '<script>document.title="pwned"</script>#KochFarms zzuniquezz'
B_ACCOUNT = "0fb4232d1b7b37069c13ee17579bd10e"     # an account of org B's data (real coortweet rows)


@pytest.fixture(scope="module")
def orgs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    db_a, run = sample_store(tmp / "a.duckdb")
    cid = kochfarms_cluster(db_a, run)
    with Store(db_a) as s:
        post = s.con.execute("SELECT post_key FROM posts ORDER BY post_key LIMIT 1").fetchone()[0]
        s.con.execute("UPDATE posts SET text = ? WHERE post_key = ?", [XSS, post])
        loose = loose_pairs(s, run, limit=50)
    with Store(tmp / "b.duckdb") as s:
        ingest(s, FIXTURES / "coortweet" / "russian_coord_tweets.csv", fmt="coortweet", dataset="org-b")
    web_state(tmp / "a.sqlite")
    web_state(tmp / "b.sqlite")
    app_a = create_app(Settings(str(db_a), str(tmp / "a.sqlite"), org="Org A", sector="platform"))
    app_b = create_app(Settings(str(tmp / "b.duckdb"), str(tmp / "b.sqlite"), org="Org B", sector="research"))
    with TestClient(app_a) as a, TestClient(app_b) as b:
        yield {"a": a, "b": b, "cid": cid, "run": run, "loose": loose}


def sign_in(client: TestClient, user: str) -> None:
    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"name": user, "password": PW[user], "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303


def test_search_finds_hashtag_account_and_text_with_their_clusters(orgs):
    a = orgs["a"]
    sign_in(a, "ana")
    page = a.get("/search", params={"q": "#KochFarms"})
    assert page.status_code == 200
    assert f'href="/runs/{orgs["run"]}/clusters/{orgs["cid"]}"' in page.text and "#kochfarms" in page.text
    res = a.get("/api/search", params={"q": "gerty_hawa"}).json()
    assert res["kinds"] == ["account", "hashtag", "text"]
    assert [x["account_key"] for x in res["accounts"]] == ["twitter:Gerty_Hawa"]
    assert res["accounts"][0]["clusters"] and res["accounts"][0]["clusters"][0]["run_id"] == orgs["run"]
    text = a.get("/api/search", params={"q": "zzUNIQUEzz", "kind": "text"}).json()
    assert len(text["posts"]) == 1 and text["posts"][0]["text"] == XSS
    page = a.get("/search", params={"q": "zzuniquezz", "kind": "text"}).text
    assert "<script>document.title" not in page and "&lt;script&gt;" in page
    url = a.get("/api/search", params={"q": "https://t.co/"}).json()
    assert url["kinds"] == ["url"] and url["urls"] and all("t.co/" in u["object_key"].lower() for u in url["urls"])


def test_bad_searches_are_refused_plainly(orgs):
    a = orgs["a"]
    sign_in(a, "ana")
    assert a.get("/search").status_code == 200                       # the empty form
    r = a.get("/search", params={"q": "x", "kind": "everything"})
    assert r.status_code == 422 and "unknown search kind" in r.text
    assert a.get("/search", params={"q": "x", "run": 99}).status_code == 422
    assert a.get("/search", params={"q": "x" * 201}).status_code == 422
    assert a.get("/api/search", params={"q": ""}).status_code == 422
    pct = a.get("/api/search", params={"q": "%_%", "kind": "text"}).json()
    assert pct["posts"] == []                                        # wildcards are literal, not "match all"


def test_org_b_never_finds_org_a_data(orgs):
    a, b = orgs["a"], orgs["b"]
    sign_in(b, "ana")                       # ana of org B: a user of B's own server and state file
    for q in ("#KochFarms", "Gerty_Hawa", "zzuniquezz", "https://t.co/"):
        res = b.get("/api/search", params={"q": q}).json()
        assert not any(res.get(k) for k in ("accounts", "hashtags", "urls", "posts")), (q, res)
        page = b.get("/search", params={"q": q}).text
        assert "/accounts/twitter" not in page and "/clusters/" not in page and "IRA:" not in page
    assert b.get("/api/search", params={"q": B_ACCOUNT}).json()["accounts"]   # B finds its own data
    # B's session carried to A's server is no session there (each server signs its own cookies)
    stolen = dict(b.cookies)
    a.cookies.clear()
    for k, v in stolen.items():
        a.cookies.set(k, v)
    r = a.get("/search", params={"q": "#KochFarms"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert a.get("/api/search", params={"q": "#KochFarms"}).status_code == 401
    # and A does not hold B's data either
    sign_in(a, "ana")
    assert not a.get("/api/search", params={"q": B_ACCOUNT}).json()["accounts"]


def test_search_needs_a_session(orgs):
    a = orgs["a"]
    a.cookies.clear()
    r = a.get("/search", params={"q": "#KochFarms"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert a.get("/api/search", params={"q": "#KochFarms"}).status_code == 401


def test_clusters_page_lists_pairs_outside_clusters(orgs):
    total, first = orgs["loose"]
    a = orgs["a"]
    sign_in(a, "ana")
    page = a.get("/clusters", params={"run": orgs["run"]}).text
    assert total > 0                             # the sample's run has accounts joined by too few edges
    assert f"Significant pairs outside clusters ({total:,})" in page
    table = page[page.index('id="loose-pairs"'):]
    assert table.count("<tr><td>") == len(first)
    assert f'href="/accounts/{first[0]["account_a"].replace(":", "%3A")}"' in table


def test_network_files_download_for_signed_in_users_only(orgs):
    import io

    import networkx as nx

    a, b = orgs["a"], orgs["b"]
    sign_in(a, "ana")
    assert f'href="/runs/{orgs["run"]}/network.gexf"' in a.get("/clusters").text
    r = a.get(f"/runs/{orgs['run']}/network.gexf")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/gexf+xml")
    assert 'filename="cibscope-run-1.gexf"' in r.headers["content-disposition"]
    g = nx.read_gexf(io.BytesIO(r.content))
    assert g.number_of_edges() > 100 and "twitter:Gerty_Hawa" in g
    h = nx.read_graphml(io.BytesIO(a.get(f"/runs/{orgs['run']}/network.graphml").content))
    assert h.number_of_edges() == g.number_of_edges()
    assert a.get(f"/runs/{orgs['run']}/network.dot").status_code == 422
    assert a.get("/runs/99/network.gexf").status_code == 404
    sign_in(b, "ana")                                  # org B's server has no run of A's
    assert b.get(f"/runs/{orgs['run']}/network.gexf").status_code == 404
    a.cookies.clear()
    r = a.get(f"/runs/{orgs['run']}/network.gexf", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
