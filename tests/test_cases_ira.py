"""From a tip to a case on real data: 10 IRA Fearmonger handles matched against the IRA tweets (all
Fearmonger authors + 100 others) with the airline tweets as organic background, expanded through a
detection run; DISARM tags of the KochFarms cluster; the case bundle validated and sent through the hub."""
from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from _case_data import AIRLINE, IRA, add_airline, ira_subset
from cibscope.cases import expand_case, ingest_tip, match_tip
from cibscope.cases.report import write_case
from cibscope.cli import app
from cibscope.detect import DetectionParams, detect
from cibscope.explain.disarm import tag_cluster, tag_run
from cibscope.ingest import ingest
from cibscope.intel.disarm import DisarmCatalogue
from cibscope.intel.result import validate_objects
from cibscope.share.client import pull, push
from cibscope.share.markings import TLP2_IDS
from cibscope.share.serve import spawn, stop
from cibscope.store.db import Store

pytestmark = [pytest.mark.shared,
              pytest.mark.skipif(not (IRA.exists() and AIRLINE.exists()), reason="../shared/data not present")]
PARTNER = "Police <cyber unit>"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("case")
    folder, fearmongers = ira_subset(d / "ira")
    seeds = random.Random(1).sample(fearmongers, 10)
    tip_file = d / "tip.csv"  # handles as a partner might write them: '@', any case
    tip_file.write_text("value,platform\n" + "".join(
        f"@{h.upper() if i % 2 else h},twitter\n" for i, h in enumerate(seeds)))
    db = d / "store.duckdb"
    with Store(db) as s:
        ingest(s, folder, fmt="ira-csv", dataset="ira")
        n_airline = add_airline(s)
        run = detect(s, DetectionParams())
        tip = ingest_tip(s, tip_file, partner_org=PARTNER, purpose="criminal-investigation", tlp="amber")
        match_tip(s, tip.tip_id)
        case = expand_case(s, tip.tip_id, run.run_id, hops=2)
    return {"db": db, "run": run.run_id, "tip": tip, "case": case, "seeds": seeds, "fear": fearmongers,
            "n_airline": n_airline, "dir": d}


def test_tip_matches_the_ten_handles_and_the_case_recalls_the_category(world):
    with Store(world["db"], read_only=True) as s:
        matched = s.con.execute("SELECT DISTINCT a.handle FROM tip_matches m JOIN accounts a USING (account_key) "
                                "WHERE match_type = 'handle'").fetchall()
        assert sorted(h for (h,) in matched) == sorted(world["seeds"])
        members = s.con.sql("SELECT m.*, a.label, a.dataset FROM case_members m JOIN accounts a USING (account_key) "
                            "WHERE case_id = $c", params={"c": world["case"].case_id}).to_arrow_table().to_pylist()
        alpha = json.loads(s.con.execute("SELECT params FROM runs WHERE run_id = ?", [world["run"]]).fetchall()[0][0])["alpha"]
    assert world["n_airline"] > 13_000
    others = set(world["fear"]) - set(world["seeds"])
    found = {m["account_key"].split(":", 1)[1] for m in members if m["label"] == "IRA:Fearmonger" and m["hop"] > 0}
    recall = len(found & others) / len(others)
    assert recall >= 0.9, recall                       # CLI pipeline with PHEME too: 107/113, docs/evaluation.md
    assert sum(m["dataset"] == "airline" for m in members) == 0   # no organic account pulled in
    seeds = {m["account_key"] for m in members if m["hop"] == 0}
    assert len(seeds) == 10
    by_key = {m["account_key"]: m for m in members}
    for m in members:
        if m["hop"] == 0:
            continue
        # every added account: a path from a seed through case members, the edge's q and shared objects
        assert m["path"][0] in seeds and m["path"][-1] == m["account_key"] and m["path"][-2] == m["via"]
        assert len(m["path"]) == m["hop"] + 1 and by_key[m["via"]]["hop"] == m["hop"] - 1
        assert m["q_value"] <= alpha and m["n_coactions"] >= 3
        shared = json.loads(m["shared"])
        # within the slowest scale of the run (the edge's own scale: edges.scale_s)
        assert shared and all(x["post_a"].startswith("twitter:") and abs(x["gap_s"]) <= 3600 for x in shared)


def test_kochfarms_cluster_tags_cite_evidence(world):
    cat = DisarmCatalogue.load()
    with Store(world["db"], read_only=True) as s:
        # the cluster holding most of the accounts that posted #KochFarms on 26-27 Nov 2015
        cid, n_members, flagged, lift = s.con.execute("""
            SELECT c.cluster_id, any_value(c.n_accounts), any_value(c.flagged), any_value(c.lift) FROM clusters c
            JOIN cluster_members m USING (run_id, cluster_id)
            JOIN actions a ON a.account_key = m.account_key AND a.action_type = 'hashtag'
                          AND a.object_key = 'kochfarms' AND a.ts BETWEEN '2015-11-26' AND '2015-11-28'
            WHERE c.run_id = ? GROUP BY ALL ORDER BY count(DISTINCT m.account_key) DESC LIMIT 1
        """, [world["run"]]).fetchall()[0]
        tags = {t.disarm_id: t for t in tag_cluster(s, world["run"], cid, cat)}
        run_tags = tag_run(s, world["run"], cat)
        assert (cid in run_tags) == flagged                  # tag_run covers the flagged clusters only
        ex_posts = tags["T0049"].evidence["examples"]
        ex_rows = s.con.execute("SELECT p.created_at, m.account_key IS NOT NULL FROM posts p LEFT JOIN cluster_members m "
                                "ON m.account_key = p.account_key AND m.run_id = ? AND m.cluster_id = ? "
                                "WHERE post_key IN (SELECT unnest(?::VARCHAR[]))", [world["run"], cid, ex_posts]).fetchall()
    assert {"T0049", "T0049.002"} <= set(tags) and n_members >= 20
    assert tags["T0049.002"].name == "Flood Existing Hashtag" and tags["T0049.002"].tactic_id == "TA17"
    flood = tags["T0049.002"].evidence
    assert flood["top_hashtag"] == "kochfarms" and flood["share_hashtag"] >= 0.5
    assert flood["top_hashtag_members"] >= 0.5 * n_members
    burst = tags["T0049"].evidence
    assert burst["peak_start"][:10] in ("2015-11-26", "2015-11-27") and burst["peak_posts"] >= 20
    # the cited example posts exist, are the members' and lie in the peak window
    assert len(ex_rows) == len(ex_posts) >= 1 and all(member for _, member in ex_rows)
    assert all(str(ts)[:10] in ("2015-11-26", "2015-11-27") for ts, _ in ex_rows)
    # the inauthentic-asset tags follow the detector's flag (lift >= min_lift), nothing else
    assert ("T0146" in tags) == ("T0143.002" in tags) == flagged
    if flagged:
        assert tags["T0146"].evidence == {"coordinated": True, "lift": lift, "p_value": tags["T0146"].evidence["p_value"],
                                          "n_members": n_members}


def test_case_report_bundle_is_valid_and_round_trips_through_the_hub(world, tmp_path):
    from share_fixtures import COLLECTION, ROOT, make_hub

    out = tmp_path / "case"
    res = CliRunner().invoke(app, ["case", "expand", "--tip", world["tip"].tip_id, "--run", str(world["run"]),
                                   "--hops", "2", "--out", str(out), "--no-validate", "--db", str(world["db"])])
    assert res.exit_code == 0, res.output
    assert f"case {world['case'].case_id}" in res.output       # same tip, run and parameters: same case id
    bundle = json.loads((out / "case-bundle.json").read_text())
    objs = bundle["objects"]
    assert validate_objects(objs).errors == []                  # validated once, here
    by_type: dict[str, list] = {}
    for o in objs:
        by_type.setdefault(o["type"], []).append(o)
    ident = by_type["identity"][0]
    indicators = {o["id"] for o in by_type["indicator"]}
    assert len(by_type["sighting"]) == 10 and len(indicators) == 10
    for sg in by_type["sighting"]:
        assert sg["sighting_of_ref"] in indicators and sg["where_sighted_refs"] == [ident["id"]]
        assert sg["count"] >= 1 and sg["first_seen"] <= sg["last_seen"]
        assert TLP2_IDS["amber"] in sg["object_marking_refs"]
    assert len(by_type["intrusion-set"]) == 1
    uses = [r for r in by_type["relationship"] if r["relationship_type"] == "uses"]
    aps = {a["id"]: a["external_references"][0]["external_id"] for a in by_type["attack-pattern"]}
    assert {aps[r["target_ref"]] for r in uses} >= {"T0049", "T0049.002", "T0146"}   # a case is coordinated
    assert all("Evidence:" in r["description"] for r in uses)
    html = (out / "case.html").read_text()
    assert world["case"].case_id in html and "Police &lt;cyber unit&gt;" in html and "<cyber unit>" not in html
    assert "http://" not in html and "https://" not in html      # offline: no external resource

    db = tmp_path / "hub.sqlite"
    fx = make_hub(db)
    fx.hub.engine.dispose()
    proc, base = spawn(db)                                   # as tests/test_share_interop.py does
    try:
        server = f"{base}/{ROOT}/"
        st = push(out / "case-bundle.json", server, COLLECTION, "criminal-investigation",
                  token=fx.tokens["platform-a"])
        assert st["failure_count"] == 0 and st["success_count"] == len(objs)
        got = pull(tmp_path / "pulled", server, COLLECTION, "criminal-investigation", token=fx.tokens["police"])
        pulled = {o["id"]: o for o in json.loads(got.path.read_text())["objects"]}
    finally:
        stop(proc)
    assert set(pulled) == {o["id"] for o in objs}
    for sg in by_type["sighting"]:
        assert pulled[sg["id"]]["sighting_of_ref"] == sg["sighting_of_ref"]
