"""GEXF and GraphML export of a real detector run (the shipped IRA sample), read back by networkx and igraph."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import igraph as ig
import networkx as nx
import pytest

from cibscope.report.graph_export import export_graph
from cibscope.store.db import Store

from web_fixtures import SAMPLE, sample_store

EVIL = '<b a="1">&amp;\x07 bell'
pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="shipped sample absent")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graph")
    db, run_id = sample_store(tmp / "s.duckdb")
    with Store(db) as s:   # an attacker-written handle: XML specials and a control character XML cannot hold
        s.con.execute("UPDATE accounts SET handle = ? WHERE account_key = (SELECT min(account_key) FROM "
                      "cluster_members WHERE run_id = ?)", [EVIL, run_id])
    with Store(db, read_only=True) as s:
        gexf = export_graph(s, run_id, tmp / "run.gexf")
        graphml = export_graph(s, run_id, tmp / "run.xml", fmt="graphml")
        edges = {(a, b): dict(zip(("weight", "n", "signals", "p", "q", "scale", "first"), rest))
                 for a, b, *rest in s.con.execute(
                     "SELECT account_a, account_b, weight, n_coactions, signals, p_value, q_value, scale_s, "
                     "strftime(first_seen, '%Y-%m-%dT%H:%M:%SZ') FROM edges WHERE run_id = ?", [run_id]).fetchall()}
        members = {k: (c, f, sc) for k, c, f, sc in s.con.execute(
            "SELECT m.account_key, m.cluster_id, c.flagged, m.score FROM cluster_members m "
            "JOIN clusters c USING (run_id, cluster_id) WHERE run_id = ?", [run_id]).fetchall()}
        handles = {k: (h or "").replace("\x07", "\ufffd") for k, h in
                   s.con.execute("SELECT account_key, handle FROM accounts").fetchall()}
    return gexf, graphml, edges, members, handles


def test_gexf_is_gexf_1_3_and_networkx_reads_every_attribute(exported):
    gexf, _, edges, members, handles = exported
    root = ET.parse(gexf["path"]).getroot()
    assert root.tag == "{http://gexf.net/1.3}gexf" and root.get("version") == "1.3"
    g = nx.read_gexf(gexf["path"])
    assert '<b a="1">&amp;\ufffd bell' in {d["handle"] for _, d in g.nodes(data=True)}
    assert (g.number_of_nodes(), g.number_of_edges()) == (gexf["nodes"], gexf["edges"])
    assert g.number_of_edges() == len(edges) > 100 and not g.is_directed()
    assert set(members) <= set(g.nodes)
    for key, (cluster, flagged, score) in members.items():
        node = g.nodes[key]
        assert (node["cluster"], node["flagged"], node["account"]) == (cluster, flagged, key)
        assert node["score"] == pytest.approx(score) and node["handle"] == handles[key]
        assert node["label"] == handles[key] and node["platform"] == "twitter"
    for (a, b), e in edges.items():
        d = g.edges[a, b]
        assert d["weight"] == pytest.approx(e["weight"]) and d["n_coactions"] == e["n"]
        assert d["signals"].split(",") == e["signals"]
        assert (d["p_value"], d["q_value"]) == (pytest.approx(e["p"]), pytest.approx(e["q"]))
        assert d["scale_s"] == e["scale"] and d["first_seen"] == e["first"]


def test_graphml_reads_back_in_networkx_and_igraph(exported):
    _, graphml, edges, members, _ = exported
    g = ig.Graph.Read_GraphML(str(graphml["path"]))
    assert (g.vcount(), g.ecount()) == (graphml["nodes"], len(edges))
    names = g.vs["account"]
    got = {tuple(sorted((names[e.source], names[e.target]))): e["weight"] for e in g.es}
    assert got == pytest.approx({k: v["weight"] for k, v in edges.items()})
    by_name = {v["account"]: v for v in g.vs}
    for key, (cluster, flagged, _) in members.items():
        assert (by_name[key]["cluster"], bool(by_name[key]["flagged"])) == (cluster, flagged)
    assert '<b a="1">&amp;\ufffd bell' in g.vs["handle"]
    h = nx.read_graphml(graphml["path"])
    assert h.number_of_edges() == len(edges)
    sig = {tuple(sorted((h.nodes[a]["account"], h.nodes[b]["account"]))): d["signals"]
           for a, b, d in h.edges(data=True)}
    assert sig == {k: ",".join(v["signals"]) for k, v in edges.items()}


def test_unknown_run_or_format_writes_nothing(tmp_path):
    db, _ = sample_store(tmp_path / "s.duckdb")
    with Store(db, read_only=True) as s:
        with pytest.raises(ValueError, match="no detection run 9"):
            export_graph(s, 9, tmp_path / "x.gexf")
        with pytest.raises(ValueError, match="unknown graph format 'dot'"):
            export_graph(s, 1, tmp_path / "x.dot")
    assert not list(tmp_path.glob("x.*"))
