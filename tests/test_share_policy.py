"""Policy matrix: TLP 2.0 level x recipient sector x declared purpose, every cell asserted over HTTP.

The producer is a government agency (so the government<->platform rule is exercised); its
objects' purpose marking permits all four purposes. Named recipients: TLP:AMBER ->
Ministry, Police, University; TLP:AMBER+STRICT -> Police; TLP:RED -> user ``university``.
"""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from cibscope.share import audit
from cibscope.share.api import create_app
from cibscope.share.markings import PURPOSES
from share_fixtures import BACKENDS, COLLECTION, ROOT, backend_db, hub_db, ira_objects, make_hub  # noqa: F401

OBJ = f"/{ROOT}/collections/{COLLECTION}/objects/"
RECIPIENTS = {"platform": "platform-a", "government": "ministry", "law-enforcement": "police",
              "civil-society": "ngo-lab", "research": "university"}
NAMED = {"clear": {}, "green": {},
         "amber": {"recipient_orgs": ["Ministry", "Police", "University"]},
         "amber+strict": {"recipient_orgs": ["Police"]},
         "red": {"recipient_users": ["university"]}}

# Columns: national-security, criminal-investigation, platform-integrity, research.
# ok = served; otherwise the rule named in the 403 body.
PS, GP, AR, AS, RR = ("purpose-sector", "government-platform-purpose", "tlp-amber-recipients",
                      "tlp-amber-strict-organisation", "tlp-red-named-recipients")
EXPECTED = {
    "clear": {"platform": ["ok", "ok", GP, PS], "government": ["ok", PS, PS, PS],
              "law-enforcement": ["ok", "ok", PS, PS], "civil-society": [PS, PS, "ok", "ok"],
              "research": [PS, PS, PS, "ok"]},
    "green": {"platform": ["ok", "ok", GP, PS], "government": ["ok", PS, PS, PS],
              "law-enforcement": ["ok", "ok", PS, PS], "civil-society": [PS, PS, "ok", "ok"],
              "research": [PS, PS, PS, "ok"]},
    "amber": {"platform": [AR, AR, AR, PS], "government": ["ok", PS, PS, PS],
              "law-enforcement": ["ok", "ok", PS, PS], "civil-society": [PS, PS, AR, AR],
              "research": [PS, PS, PS, "ok"]},
    "amber+strict": {"platform": [AS, AS, AS, PS], "government": [AS, PS, PS, PS],
                     "law-enforcement": ["ok", "ok", PS, PS], "civil-society": [PS, PS, AS, AS],
                     "research": [PS, PS, PS, AS]},
    "red": {"platform": [RR, RR, RR, PS], "government": [RR, PS, PS, PS],
            "law-enforcement": [RR, RR, PS, PS], "civil-society": [PS, PS, RR, RR],
            "research": [PS, PS, PS, "ok"]},
}


@pytest.fixture(scope="module", params=BACKENDS)
def matrix_env(request, tmp_path_factory):
    fx = make_hub(backend_db(request, request.param, tmp_path_factory.mktemp("policy")))
    client = TestClient(create_app(fx.hub))
    targets = {}
    for tlp, named in NAMED.items():
        objs = ira_objects(tlp, list(PURPOSES), **named)
        r = client.post(OBJ, content=json.dumps({"objects": objs}),
                        headers=fx.headers("gov-agency", "national-security"))
        assert r.json()["failure_count"] == 0, r.json()["failures"]
        targets[tlp] = objs[1]["id"]  # the threat-actor
    return fx, client, targets


@pytest.mark.parametrize("tlp", list(EXPECTED))
@pytest.mark.parametrize("sector", list(RECIPIENTS))
def test_policy_matrix(matrix_env, tlp, sector):
    fx, client, targets = matrix_env
    got = []
    for purpose in PURPOSES:
        r = client.get(f"{OBJ}{targets[tlp]}/", headers=fx.headers(RECIPIENTS[sector], purpose))
        if r.status_code == 200:
            assert [o["id"] for o in r.json()["objects"]] == [targets[tlp]]
            got.append("ok")
        elif r.status_code == 404:  # refused by an object rule: answered like a missing object, rule audited
            refusal = list(audit.entries(fx.hub.engine))[-1]
            assert r.json() == missing_body(client, fx, RECIPIENTS[sector], purpose)
            assert refusal["action"] == "refusal" and len(json.loads(refusal["detail"])["withheld"]) == 1
            got.append(json.loads(refusal["detail"])["rule"])
        else:
            assert r.status_code == 403, r.text  # a request rule (the declared purpose), no object named
            got.append(r.json()["details"]["rule"])
    assert got == EXPECTED[tlp][sector]


MISSING = "threat-actor--00000000-0000-4000-8000-000000000000"


def missing_body(client, fx, user, purpose):
    """The 404 body for an object that does not exist, with the object id replaced (the same for any id)."""
    r = client.get(f"{OBJ}{MISSING}/", headers=fx.headers(user, purpose))
    assert r.status_code == 404
    return r.json()


def test_listing_withholds_refused_objects(matrix_env):
    fx, client, targets = matrix_env
    ids = {o["id"] for o in client.get(OBJ, headers=fx.headers("police", "criminal-investigation")).json()["objects"]}
    assert {targets["clear"], targets["green"], targets["amber"], targets["amber+strict"]} <= ids
    assert targets["red"] not in ids


def test_missing_or_unknown_purpose_is_refused(matrix_env):
    fx, client, _ = matrix_env
    r = client.get(OBJ, headers=fx.headers("police", None))
    assert r.status_code == 403 and r.json()["details"]["rule"] == "purpose-required"
    r = client.get(OBJ, headers=fx.headers("police", "marketing"))
    assert r.status_code == 403 and r.json()["details"]["rule"] == "purpose-unknown"


def test_write_rules(hub_db):
    fx = make_hub(hub_db)
    c = TestClient(create_app(fx.hub))
    h = fx.headers("ngo-lab", "research")
    objs = ira_objects("green", ["platform-integrity"])  # marking does not permit "research"
    st = c.post(OBJ, content=json.dumps({"objects": objs}), headers=h).json()
    assert {f["message"].split(":")[0] for f in st["failures"]} == {"purpose-incompatible"}
    assert st["success_count"] == 1  # the marking-definition itself
    red = ira_objects("red", ["research"])  # RED without named recipients
    st = c.post(OBJ, content=json.dumps({"objects": red[1:]}), headers=h).json()
    assert {f["message"].split(":")[0] for f in st["failures"]} == {"purpose-marking-missing"}
    st = c.post(OBJ, content=json.dumps({"objects": red}), headers=h).json()
    assert {f["message"].split(":")[0] for f in st["failures"]} == {"tlp-red-named-recipients"}
    fx.hub.grant("University", COLLECTION, read=True, write=False)
    r = c.post(OBJ, content=json.dumps({"objects": []}), headers=fx.headers("university", "research"))
    assert r.status_code == 403 and r.json()["details"]["rule"] == "collection-write"


def test_personal_data_redacted_for_research(hub_db):
    fx = make_hub(hub_db)
    c = TestClient(create_app(fx.hub))
    objs = ira_objects("green", ["research", "criminal-investigation"], personal_data=True)
    st = c.post(OBJ, content=json.dumps({"objects": objs}), headers=fx.headers("police", "criminal-investigation"))
    assert st.json()["failure_count"] == 0
    q = {"match[type]": "user-account"}
    research = c.get(OBJ, params=q, headers=fx.headers("university", "research")).json()["objects"]
    police = c.get(OBJ, params=q, headers=fx.headers("ministry", "national-security"))
    assert len(research) == 3 and all("display_name" not in o and "granular_markings" not in o for o in research)
    assert {o["account_login"] for o in research} == {"TEN_GOP", "Jenn_Abrams", "Pamela_Moore13"}
    # the ministry is not allowed national-security here: the marking permits research and criminal only
    assert police.json()["objects"] == []
    le = c.get(OBJ, params=q, headers=fx.headers("police", "criminal-investigation")).json()["objects"]
    assert {o["display_name"] for o in le} == {"TEN_GOP (RightTroll)", "Jenn_Abrams (RightTroll)",
                                               "Pamela_Moore13 (RightTroll)"}


def test_retention_expiry_hides_objects(hub_db):
    import sqlalchemy as sa
    from cibscope.share.store import objects
    fx = make_hub(hub_db)
    c = TestClient(create_app(fx.hub))
    objs = ira_objects("clear", ["research"], retention_days=30)
    c.post(OBJ, content=json.dumps({"objects": objs}), headers=fx.headers("university", "research"))
    h = fx.headers("ngo-lab", "research")
    assert len(c.get(OBJ, headers=h).json()["objects"]) == len(objs)
    with fx.hub.engine.begin() as conn:  # move the threat-actor's expiry into the past
        conn.execute(sa.update(objects).where(objects.c.id == objs[1]["id"]).values(
            expires_at="2000-01-01T00:00:00.000000Z"))
    ids = [o["id"] for o in c.get(OBJ, headers=h).json()["objects"]]
    assert objs[1]["id"] not in ids and len(ids) == len(objs) - 1
    assert c.get(f"{OBJ}{objs[1]['id']}/", headers=h).status_code == 404
    assert fx.hub.purge_expired() == 1
