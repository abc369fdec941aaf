"""TAXII 2.1 behaviour of the hub's HTTP API, in-process (FastAPI TestClient)."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from cibscope.share.api import create_app
from share_fixtures import BASIC_PASSWORD, BASIC_USER, COLLECTION, ROOT, TAXII, hub_db, ira_objects, make_hub  # noqa: F401

OBJ = f"/{ROOT}/collections/{COLLECTION}/objects/"


@pytest.fixture()
def env(hub_db):
    """A hub on each backend (SQLite, PostgreSQL) and an in-process client."""
    fx = make_hub(hub_db, max_content_length=200_000)
    return fx, TestClient(create_app(fx.hub))


def post(client, fx, objs, user="platform-a", purpose="platform-integrity", **kw):
    return client.post(OBJ, content=json.dumps({"objects": objs}), headers=fx.headers(user, purpose), **kw)


def test_discovery_root_collections(env):
    fx, c = env
    h = fx.headers("platform-a", "platform-integrity")
    d = c.get("/taxii2/", headers=h)
    assert d.status_code == 200 and d.headers["content-type"].startswith("application/taxii+json")
    assert d.json()["api_roots"] == ["http://testserver/hub/"]
    r = c.get(f"/{ROOT}/", headers=h).json()
    assert r["versions"] == [TAXII] and r["max_content_length"] == 200_000
    cols = c.get(f"/{ROOT}/collections/", headers=h).json()["collections"]
    assert [x["id"] for x in cols] == [COLLECTION] and cols[0]["can_write"]
    assert c.get(f"/{ROOT}/collections/{COLLECTION}/", headers=h).json()["title"] == "CIB findings"
    assert c.get("/nope/", headers=h).status_code == 404


def test_media_types_auth_and_size(env):
    fx, c = env
    h = fx.headers("platform-a", "platform-integrity")
    assert c.get("/taxii2/", headers={**h, "Accept": "application/json"}).status_code == 406
    assert c.get("/taxii2/", headers={**h, "Accept": "application/taxii+json;version=2.0"}).status_code == 406
    assert c.get("/taxii2/", headers={**h, "Authorization": "Bearer cbs_wrong"}).status_code == 401
    no_auth = {k: v for k, v in h.items() if k != "Authorization"}
    assert c.get("/taxii2/", headers=no_auth).status_code == 401
    basic = c.get("/taxii2/", headers=no_auth, auth=(BASIC_USER, BASIC_PASSWORD))
    assert basic.status_code == 200
    assert c.get("/taxii2/", headers=no_auth, auth=("platform-a", "wrong")).status_code == 401
    r = c.post(OBJ, content=b"{}", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 415
    assert c.post(OBJ, content=b"{not json", headers=h).status_code == 400
    assert c.post(OBJ, content=b"[]", headers=h).status_code == 400
    big = json.dumps({"objects": ira_objects("green", ["platform-integrity"]) * 300}).encode()
    assert len(big) > 200_000
    assert c.post(OBJ, content=big, headers=h).status_code == 413


def test_post_then_get_every_endpoint(env):
    fx, c = env
    objs = ira_objects("green", ["platform-integrity", "research"])
    bad = {"type": "indicator", "spec_version": "2.1", "id": "indicator--not-a-uuid"}
    unmarked = {k: v for k, v in objs[2].items() if k != "object_marking_refs"}
    unmarked["id"] = "user-account--3c4d9b0e-8f8e-5b7e-9a53-2d3c2a0b1f11"
    r = post(c, fx, objs + [bad, unmarked])
    assert r.status_code == 202
    st = r.json()
    assert st["status"] == "complete" and st["total_count"] == len(objs) + 2
    assert st["success_count"] == len(objs) and st["failure_count"] == 2
    reasons = {f["id"]: f["message"] for f in st["failures"]}
    assert reasons["indicator--not-a-uuid"].startswith("stix-invalid:")
    assert reasons[unmarked["id"]].startswith("tlp-missing:")
    h = fx.headers("platform-b", "platform-integrity")
    assert c.get(f"/{ROOT}/status/{st['id']}/", headers=fx.headers("platform-a", "platform-integrity")).json() == st
    assert c.get(f"/{ROOT}/status/{st['id']}/", headers=h).status_code == 404  # other organisation

    got = c.get(OBJ, headers=h)
    assert got.status_code == 200
    ids = [o["id"] for o in got.json()["objects"]]
    assert ids == [o["id"] for o in objs]
    assert got.headers["X-TAXII-Date-Added-First"] < got.headers["X-TAXII-Date-Added-Last"]
    # pagination: limit 2 walks everything exactly once via next
    seen, nxt = [], None
    while True:
        params = {"limit": 2, **({"next": nxt} if nxt else {})}
        page = c.get(OBJ, headers=h, params=params).json()
        seen += [o["id"] for o in page["objects"]]
        if not page["more"]:
            break
        nxt = page["next"]
    assert seen == ids
    # filters
    ua = c.get(OBJ, headers=h, params={"match[type]": "user-account"}).json()["objects"]
    assert {o["account_login"] for o in ua} == {"TEN_GOP", "Jenn_Abrams", "Pamela_Moore13"}
    one = c.get(OBJ, headers=h, params={"match[id]": objs[1]["id"]}).json()["objects"]
    assert [o["id"] for o in one] == [objs[1]["id"]]
    assert c.get(OBJ, headers=h, params={"match[spec_version]": "2.0"}).json()["objects"] == []
    last_added = got.headers["X-TAXII-Date-Added-Last"]
    assert c.get(OBJ, headers=h, params={"added_after": last_added}).json()["objects"] == []
    assert c.get(OBJ, headers=h, params={"added_after": "yesterday"}).status_code == 400
    man = c.get(f"/{ROOT}/collections/{COLLECTION}/manifest/", headers=h).json()["objects"]
    assert [m["id"] for m in man] == ids and man[1]["version"] == "2018-02-16T00:00:00.000000Z"

    # a new version: versions lists both, objects shows the latest, match[version]=first the old one
    ta = dict(objs[1], modified="2018-03-01T00:00:00.000Z", revoked=True)
    assert post(c, fx, [ta]).json()["success_count"] == 1
    vurl = f"{OBJ}{ta['id']}/versions/"
    assert c.get(vurl, headers=h).json()["versions"] == ["2018-02-16T00:00:00.000000Z",
                                                        "2018-03-01T00:00:00.000000Z"]
    latest = c.get(f"{OBJ}{ta['id']}/", headers=h).json()["objects"]
    assert len(latest) == 1 and latest[0]["revoked"] is True
    first = c.get(f"{OBJ}{ta['id']}/", headers=h, params={"match[version]": "first"}).json()["objects"]
    assert "revoked" not in first[0]
    both = c.get(f"{OBJ}{ta['id']}/", headers=h, params={"match[version]": "all"}).json()["objects"]
    assert len(both) == 2
    # re-posting the same version adds nothing
    again = post(c, fx, [ta]).json()
    assert again["successes"][0]["message"] == "already stored"
    assert len(c.get(vurl, headers=h).json()["versions"]) == 2
    # delete: only the owner (Platform A stored it first); Platform B can read it but not delete it
    r = c.delete(f"{OBJ}{ta['id']}/", headers=h)
    assert r.status_code == 403 and r.json()["details"]["rule"] == "object-owner"
    owner = fx.headers("platform-a", "platform-integrity")
    assert c.delete(f"{OBJ}{ta['id']}/", headers=owner).status_code == 200
    assert c.get(f"{OBJ}{ta['id']}/", headers=h).status_code == 404
    assert c.delete(f"{OBJ}{ta['id']}/", headers=owner).status_code == 404


def test_malformed_input_found_by_fuzzing_is_a_4xx(env):
    """Inputs that made the server answer 500 (schemathesis and follow-up probes), now 400 or a
    per-object rejection: overflowing timestamps and paging keys, non-string type/id, deep nesting."""
    import base64
    fx, c = env
    h = fx.headers("university", "research")
    huge_pk = base64.urlsafe_b64encode(b"2020-01-01T00:00:00Z|99999999999999999999999").decode()
    for params in ({"next": huge_pk}, {"added_after": "0001-01-01T00:00:00+01:00"},
                   {"match[version]": "9999-12-31T23:59:59-01:00"}):
        r = c.get(OBJ, headers=h, params=params)
        assert r.status_code == 400 and r.json()["http_status"] == "400", (params, r.text)
    bad = [{}, {"type": "indicator", "id": 5}, {"type": ["x"], "id": "x--1"}]
    st = post(c, fx, bad, user="university", purpose="research").json()
    assert st["failure_count"] == 3 and st["success_count"] == 0
    assert all(f["message"].startswith("stix-invalid: an object needs string 'type' and 'id'")
               for f in st["failures"])
    deep = b'{"objects": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}"  # under max_content_length
    r = c.post(OBJ, content=deep, headers=h)
    assert r.status_code == 400 and "nested too deeply" in r.json()["description"]


def test_reposted_objects_are_validated_once(env):
    """Identical objects (the same marking-definition in every bundle, retries) hit the validation cache,
    and a cached rejection is reported again."""
    from cibscope.share.hub import _validate_canonical
    fx, c = env
    objs = ira_objects("green", ["research"], seed="cache")
    bad = {"type": "indicator", "spec_version": "2.1", "id": "indicator--not-a-uuid"}
    first = post(c, fx, objs + [bad], user="university", purpose="research").json()
    hits = _validate_canonical.cache_info().hits
    again = post(c, fx, objs + [bad], user="university", purpose="research").json()
    assert _validate_canonical.cache_info().hits - hits == len(objs) + 1
    assert again["failures"] == first["failures"] and first["failures"][0]["message"].startswith("stix-invalid:")
    # SDOs and markings keep their version (modified/created): "already stored"; the user-accounts
    # (SCOs, no timestamps) are versioned by date_added (TAXII 2.1 section 3.1), so they are new versions
    assert [s.get("message") for s in again["successes"][:2]] == ["already stored"] * 2


def test_values_postgresql_cannot_store_are_4xx(env):
    """On PostgreSQL, a NUL character in a compared value, an over-long value in a column with a declared
    length or a lone UTF-16 surrogate made the whole request fail with 500 (SQLite found nothing, stored
    or, for the surrogate, failed too). Every backend now answers the same 4xx or per-object rejection."""
    fx, c = env
    h = fx.headers("university", "research")
    for params in ({"match[id]": "threat-actor--\x00"}, {"match[type]": "user-account\x00"},
                   {"match[spec_version]": "2.1\x00"}, {"added_after\x00": "x"}):
        r = c.get(OBJ, headers=h, params=params)
        assert r.status_code == 400 and "NUL" in r.json()["description"], (params, r.text)
    for path in (f"{OBJ}x%00y/", f"{OBJ}x%00y/versions/", f"/{ROOT}/collections/a%00b/objects/",
                 f"/{ROOT}/status/a%00b/", "/a%00b/"):
        assert c.get(path, headers=h).status_code == 400, path
    assert c.delete(f"{OBJ}x%00y/", headers=h).status_code == 400
    no_auth = {k: v for k, v in h.items() if k != "Authorization"}
    assert c.get("/taxii2/", headers=no_auth, auth=("platform\x00-a", BASIC_PASSWORD)).status_code == 401
    # over-long declared purpose and collection id reach the audit log (refusals), which stores them whole
    r = c.get(OBJ, headers={**h, "X-Cibscope-Purpose": "x" * 500})
    assert r.status_code == 403 and r.json()["details"]["rule"] == "purpose-unknown"
    long_col = f"/{ROOT}/collections/{'c' * 300}/objects/"
    assert c.get(long_col, headers={**h, "Authorization": "Bearer cbs_wrong"}).status_code == 401
    assert c.get(long_col, headers=h).status_code == 404
    from cibscope.share import audit
    es = list(audit.entries(fx.hub.engine))
    # (the 401 is counted in the address's aggregated authentication row, not written on its own: #17 row 4)
    assert es[-1]["purpose"] == "x" * 500 and es[-1]["action"] == "refusal"
    assert audit.verify(es).ok
    # a lone surrogate (valid JSON escape, not encodable as UTF-8) rejects that object only
    objs = ira_objects("clear", ["research"], seed="surrogate")
    bad = dict(objs[1], id="threat-actor--0d8f5f4e-3c1b-4c55-9d0e-0b8f5b1f6a22", name="\ud800")
    st = post(c, fx, objs + [bad], user="university", purpose="research").json()
    assert st["success_count"] == len(objs) and [f["id"] for f in st["failures"]] == [bad["id"]]
    assert "lone UTF-16 surrogate" in st["failures"][0]["message"]
