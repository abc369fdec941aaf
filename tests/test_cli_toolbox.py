"""`cibscope export-graph` and `cibscope search` on a real detector run of the shipped IRA sample."""
from __future__ import annotations

import networkx as nx
import pytest
from typer.testing import CliRunner

from cibscope.cli import app

from web_fixtures import SAMPLE, sample_store

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="shipped sample absent")
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return sample_store(tmp_path_factory.mktemp("cli") / "s.duckdb")[0]


def test_export_graph_writes_both_formats(db, tmp_path):
    for name in ("net.gexf", "net.graphml"):
        r = runner.invoke(app, ["export-graph", str(tmp_path / name), "--db", str(db)])
        assert r.exit_code == 0, r.output
        assert "run 1 as" in r.output and "accounts" in r.output
    g = nx.read_gexf(tmp_path / "net.gexf")
    assert g.number_of_edges() == int(r.output.split(" accounts, ")[1].split(" edges")[0].replace(",", ""))
    r = runner.invoke(app, ["export-graph", str(tmp_path / "net.dot"), "--db", str(db)])
    assert r.exit_code == 2 and "unknown graph format 'dot'" in r.output
    r = runner.invoke(app, ["export-graph", str(tmp_path / "x.gexf"), "--run", "9", "--db", str(db)])
    assert r.exit_code == 2 and "no detection run 9" in r.output and not (tmp_path / "x.gexf").exists()


def test_search_prints_hits_with_their_clusters(db):
    r = runner.invoke(app, ["search", "#KochFarms", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "hashtag kochfarms:" in r.output and "run 1 #" in r.output and "flagged" in r.output
    r = runner.invoke(app, ["search", "Gerty_Hawa", "--kind", "account", "--db", str(db)])
    assert "account twitter:Gerty_Hawa" in r.output and "IRA:Fearmonger" in r.output
    r = runner.invoke(app, ["search", "no such words anywhere qq", "--kind", "text", "--db", str(db)])
    assert r.exit_code == 0 and "nothing found" in r.output
    r = runner.invoke(app, ["search", "x", "--kind", "bogus", "--db", str(db)])
    assert r.exit_code == 2 and "unknown search kind 'bogus'" in r.output


def test_url_search_is_exact_first_and_case_sensitive_in_the_path(tmp_path):
    from cibscope.ingest import ingest, make_reader
    from cibscope.store.db import Store
    from cibscope.store.search import search

    p = tmp_path / "links.csv"  # t.co ids are case-sensitive: t.co/abc, t.co/ABC and t.co/abcd are three links
    p.write_text("post_id,account_id,created_at,text\n"
                 "1,alice,2015-02-24T11:00:00,see http://t.co/abc now\n"
                 "2,bob,2015-02-24T11:00:01,see http://t.co/ABC now\n"
                 "3,carol,2015-02-24T11:00:02,see http://t.co/abcd now\n")
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        ingest(s, p, reader=make_reader("csv", platform="twitter"))
        res = search(s, "http://T.co/abc")
        assert res["url_match"] == "exact"
        assert [u["object_key"] for u in res["urls"]] == ["t.co/abc", "t.co/abcd"]  # not t.co/ABC
        res = search(s, "http://t.co/ab")
        assert res["url_match"] == "partial" and {u["object_key"] for u in res["urls"]} == {"t.co/abc", "t.co/abcd"}
        assert search(s, "http://t.co/xyz")["url_match"] == "none"
    r = runner.invoke(app, ["search", "http://t.co/ab", "--db", str(db)])
    assert "no URL is exactly 'http://t.co/ab' (paths are case-sensitive)" in r.output, r.output
