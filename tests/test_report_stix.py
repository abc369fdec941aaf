"""The STIX 2.1 bundle of a run over real IRA rows: valid, TLP 2.0 marked, faithful to the store."""
from __future__ import annotations

import json

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from cibscope.report.stix import build_bundle, tlp_marking, write_bundle

from conftest import IRA_CLUSTERS

pytestmark = pytest.mark.shared

# Written out from the OASIS TLP 2.0 objects (see ../shared/README.md), not imported from the code under test.
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
SCO_TYPES = {"user-account", "url", "domain-name"}
META_TYPES = {"marking-definition", "extension-definition", "language-content"}


@pytest.fixture(scope="module")
def bundle(ira_store):
    store, run_id = ira_store
    return json.loads(build_bundle(store, run_id).serialize())


@pytest.mark.parametrize("level", sorted(TLP2_IDS))
def test_bundle_validates_strictly_and_every_sdo_sro_is_marked(ira_store, level):
    store, run_id = ira_store
    text = build_bundle(store, run_id, tlp=level, identity_name="Example Trust & Safety").serialize()
    result = validate_string(text, ValidationOptions(strict=True))
    assert result.errors == [] and result.is_valid, [str(e) for e in result.errors]
    objs = json.loads(text)["objects"]
    marking = [o for o in objs if o["type"] == "marking-definition"]
    assert len(marking) == 1 and marking[0]["id"] == TLP2_IDS[level]
    assert marking[0]["extensions"][TLP2_EXTENSION_ID] == {"extension_type": "property-extension",
                                                           "tlp_2_0": level}
    assert marking[0]["name"] == f"TLP:{level.upper()}" and marking[0]["created"] == "2022-10-01T00:00:00.000Z"
    identity = next(o for o in objs if o["type"] == "identity")
    assert identity["name"] == "Example Trust & Safety"
    sdo_sro = [o for o in objs if o["type"] not in SCO_TYPES | META_TYPES]
    types = {o["type"] for o in sdo_sro}
    assert types >= {"identity", "grouping", "observed-data", "relationship"}
    # fingerprint objects (DISARM attack-patterns, look-alike indicators) come only from stored fingerprint
    # signals; the session's IRA store has them once an explain test has run on it
    fingerprints = store.con.execute(
        "SELECT count(*) FROM cluster_authenticity WHERE run_id = ? AND signal IN ('ai_text_model', "
        "'lookalike_domains') AND value > 0", [run_id]).fetchone()[0]
    assert types - {"identity", "grouping", "observed-data", "relationship"} <= (
        {"attack-pattern", "indicator"} if fingerprints else set())
    scos = [o for o in objs if o["type"] in SCO_TYPES]
    assert scos and {o["type"] for o in scos} >= {"user-account"}
    for o in sdo_sro + scos:                     # accounts are personal data: they carry the TLP too
        assert o["object_marking_refs"] == [TLP2_IDS[level]], o["id"]
    for o in sdo_sro:
        if o["type"] != "identity":
            assert o["created_by_ref"] == identity["id"]


def test_tlp_1_and_unknown_levels_are_refused():
    for bad in ("white", "TLP:WHITE", "purple"):
        with pytest.raises(ValueError, match="clear, green, amber, amber\\+strict, red"):
            tlp_marking(bad)
    assert tlp_marking("TLP:Amber+Strict").id == TLP2_IDS["amber+strict"]


def test_one_grouping_per_flagged_cluster_with_store_counts_and_times(ira_store, bundle):
    store, run_id = ira_store
    objs = {o["id"]: o for o in bundle["objects"]}
    groupings = [o for o in objs.values() if o["type"] == "grouping"]
    rows = store.con.execute("""SELECT cluster_id, n_coactions, first_seen, last_seen, n_accounts
                                FROM clusters WHERE run_id = ? AND flagged ORDER BY rank""", [run_id]).fetchall()
    assert len(groupings) == len(rows) == len(IRA_CLUSTERS) - 1      # the unflagged cluster is not shared
    assert not any(a in o.get("user_id", "") for o in objs.values() for a in ("FisherrrCaleb", "Funky_KaY1"))
    for g, (cid, n_co, first, last, n_acc) in zip(groupings, rows):
        assert g["context"] == "suspicious-activity" and cid in g["name"]
        observed = [objs[r] for r in g["object_refs"] if r.startswith("observed-data--")]
        assert len(observed) == 1
        od = observed[0]
        assert od["number_observed"] == n_co
        assert od["first_observed"].startswith(first.strftime("%Y-%m-%dT%H:%M:%S"))
        assert od["last_observed"].startswith(last.strftime("%Y-%m-%dT%H:%M:%S"))
        accounts = [objs[r] for r in od["object_refs"] if r.startswith("user-account--")]
        members = {r[0].split(":", 1)[1] for r in store.con.execute(
            "SELECT account_key FROM cluster_members WHERE run_id = ? AND cluster_id = ?", [run_id, cid]).fetchall()}
        assert {a["user_id"] for a in accounts} == members and len(accounts) == n_acc
        assert all(a["account_type"] == "twitter" for a in accounts)
        # every relationship of the grouping links two of its accounts
        rels = [objs[r] for r in g["object_refs"] if r.startswith("relationship--")]
        assert len(rels) == n_acc * (n_acc - 1) // 2
        ids = {a["id"] for a in accounts}
        assert all(r["source_ref"] in ids and r["target_ref"] in ids for r in rels)
        assert all(ref in objs for ref in g["object_refs"] + od["object_refs"])


def test_sco_ids_follow_the_spec_and_links_are_posted_urls(ira_store, bundle):
    store, _ = ira_store
    for o in bundle["objects"]:
        if o["type"] == "user-account":
            again = stix2.UserAccount(user_id=o["user_id"], account_login=o["account_login"],
                                      account_type=o["account_type"])
            assert again.id == o["id"]
    urls = [o for o in bundle["objects"] if o["type"] == "url"]
    assert urls                                              # the IRA accounts shared t.co links
    for u in urls:
        assert u["value"].startswith(("http://", "https://"))
        key = store.con.execute("SELECT canonical_url(?)", [u["value"]]).fetchone()[0]
        assert store.con.execute("SELECT count(*) FROM edge_evidence WHERE action_type = 'link' "
                                 "AND object_key = ?", [key]).fetchone()[0] > 0


def test_reexport_gives_the_same_bundle(ira_store, tmp_path):
    store, run_id = ira_store
    a = write_bundle(store, run_id, tmp_path / "a.json").read_bytes()
    b = write_bundle(store, run_id, tmp_path / "b.json").read_bytes()
    assert a == b
    limited = json.loads(build_bundle(store, run_id, max_clusters=1).serialize())
    assert sum(o["type"] == "grouping" for o in limited["objects"]) == 1
