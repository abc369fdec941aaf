"""Interoperability over real HTTP: taxii2-client and cibscope's push/pull against our server, and
cibscope's push/pull (CLI and Python API) against medallion 3.0, the OASIS reference TAXII 2.1
server, as a peer. Both servers run as child processes on 127.0.0.1 (free port), one per module."""
from __future__ import annotations

import json
import sys
import threading

import pytest
import requests
from taxii2client.v21 import ApiRoot, Server, as_pages
from typer.testing import CliRunner

from cibscope.cli.share import share_app
from cibscope.share.client import STATE_FILE, HubAuth, ShareError, pull, push
from cibscope.share.markings import purpose_extension_definition
from cibscope.share.serve import free_port, spawn, start_process, stop
from cibscope.share import audit
from share_fixtures import BACKENDS, COLLECTION, ROOT, TAXII, backend_db, ira_objects, make_hub


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    """Our server on a hub of each backend (SQLite file, PostgreSQL database), as a child process."""
    db = backend_db(request, request.param, tmp_path_factory.mktemp("live"))
    fx = make_hub(db)
    fx.hub.engine.dispose()
    proc, base = spawn(db)
    yield fx, base
    stop(proc)


def test_taxii2client_every_endpoint(live):
    fx, base = live
    server = Server(f"{base}/taxii2/", auth=HubAuth("platform-integrity", token=fx.tokens["platform-a"]))
    assert server.title == "cibscope sharing hub"
    root = server.api_roots[0]
    assert isinstance(root, ApiRoot) and root.url == f"{base}/{ROOT}/" and TAXII in root.versions
    col = root.collections[0]
    assert col.id == COLLECTION and col.can_read and col.can_write
    objs = ira_objects("green", ["platform-integrity"], seed="client")
    status = col.add_objects({"objects": objs})
    assert status.status == "complete" and status.success_count == len(objs)
    assert root.get_status(status.id).success_count == len(objs)
    pages = list(as_pages(col.get_objects, per_request=2))
    got = [o["id"] for p in pages for o in p.get("objects", [])]
    assert [i for i in got if i in {o["id"] for o in objs}] == [o["id"] for o in objs]
    assert col.get_object(objs[1]["id"])["objects"][0]["name"] == "Internet Research Agency"
    assert col.object_versions(objs[1]["id"])["versions"] == ["2018-02-16T00:00:00.000000Z"]
    man = col.get_manifest(**{"type": "user-account"})
    assert {m["id"] for m in man["objects"]} >= {o["id"] for o in objs[2:]}
    col.delete_object(objs[2]["id"])
    with pytest.raises(requests.HTTPError) as err:
        col.get_object(objs[2]["id"])
    assert err.value.response.status_code == 404


def test_push_pull_incremental_and_revocation(live, tmp_path):
    fx, base = live
    server = f"{base}/{ROOT}/"
    objs = ira_objects("amber", ["criminal-investigation"], recipient_orgs=["Police"], seed="pp")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--6f4c2a7e-0d5e-4f0a-9a3b-2b1d5d8b7c10",
                                  "objects": objs}))
    st = push(bundle, server, COLLECTION, "criminal-investigation", token=fx.tokens["platform-a"])
    assert st["success_count"] == len(objs) and st["failure_count"] == 0
    out = tmp_path / "pulled"
    first = pull(out, server, COLLECTION, "criminal-investigation", token=fx.tokens["police"], page_size=2)
    mine = {o["id"] for o in objs}
    pulled = json.loads(first.path.read_text())["objects"]
    assert mine <= {o["id"] for o in pulled}
    again = pull(out, server, COLLECTION, "criminal-investigation", token=fx.tokens["police"])
    assert again.count == 0 and again.path is None
    # revocation: a new version reaches the puller on the next incremental pull
    revoked = dict(objs[1], modified="2019-01-01T00:00:00.000Z", revoked=True)
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--0b7a3a52-5e0c-4b7e-8f4a-3f7d8e2c1a90",
                                  "objects": [revoked]}))
    push(bundle, server, COLLECTION, "criminal-investigation", token=fx.tokens["platform-a"])
    third = pull(out, server, COLLECTION, "criminal-investigation", token=fx.tokens["police"])
    got = json.loads(third.path.read_text())["objects"]
    assert [(o["id"], o.get("revoked")) for o in got] == [(objs[1]["id"], True)]
    # the University is not a named AMBER recipient: only the marking-definition (needed to read
    # markings, served to every reader) of this bundle reaches it
    uni = pull(tmp_path / "uni", server, COLLECTION, "research", token=fx.tokens["university"])
    uni_ids = {o["id"] for o in json.loads(uni.path.read_text())["objects"]}
    assert mine & uni_ids == {objs[0]["id"]}


def test_concurrent_posts_lose_nothing(live):
    fx, base = live
    url = f"{base}/{ROOT}/collections/{COLLECTION}/objects/"
    bundles = [ira_objects("clear", ["research"], seed=f"conc{i}") for i in range(8)]
    errors = []

    def worker(objs):
        r = requests.post(url, data=json.dumps({"objects": objs}), headers=fx.headers("university", "research"),
                          timeout=120)
        if r.status_code != 202 or r.json()["failure_count"]:
            errors.append(r.text)

    threads = [threading.Thread(target=worker, args=(b,)) for b in bundles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    want = {o["id"] for b in bundles for o in b}
    # the writers were serialised: one audit entry per POST, together storing every object once, in a
    # chain without forks
    es = list(audit.entries(fx.hub.engine))
    fx.hub.engine.dispose()
    assert audit.verify(es).ok
    writes = [json.loads(e["detail"])["stored"] for e in es if e["action"] == "write"]
    ours = [[i for i, _ in w] for w in writes if {i for i, _ in w} & want]
    assert len(ours) == len(bundles) and sorted(i for w in ours for i in w) == sorted(want)
    have = set()
    nxt = None
    while True:
        r = requests.get(url, headers=fx.headers("ngo-lab", "research"),
                         params={"limit": 1000, **({"next": nxt} if nxt else {})}).json()
        have |= {o["id"] for o in r["objects"]}
        if not r["more"]:
            break
        nxt = r["next"]
    assert want <= have


# --------------------------------------------------------------------------- medallion as a peer
MED_ROOT = "peer"
MED_USER, MED_PASSWORD = "analyst", "medallion-test-password"
#: Findings go to MED_FINDINGS; MED_EXT receives the purpose extension-definition (see below).
MED_FINDINGS, MED_EXT = "5d0092c5-5f74-4287-9642-33f4c354e56d", "8a1f9f4e-3c1b-4c55-9d0e-0b8f5b1f6a22"


def _bundle(path, objs):
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--6f4c2a7e-0d5e-4f0a-9a3b-2b1d5d8b7c10",
                                "objects": objs}))
    return path


@pytest.fixture(scope="module")
def medallion(tmp_path_factory):
    """medallion 3.0 with its memory backend, one API root and two empty collections, HTTP Basic."""
    d = tmp_path_factory.mktemp("medallion")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    col = {"can_read": True, "can_write": True, "media_types": ["application/stix+json;version=2.1"],
           "objects": [], "manifest": []}
    data = {"/discovery": {"title": "medallion peer", "default": f"{base}/{MED_ROOT}/",
                           "api_roots": [f"{base}/{MED_ROOT}/"]},
            MED_ROOT: {"information": {"title": "peer", "versions": [TAXII], "max_content_length": 10_000_000},
                       "status": [], "collections": [{**col, "id": MED_FINDINGS, "title": "findings"},
                                                     {**col, "id": MED_EXT, "title": "extensions"}]}}
    (d / "data.json").write_text(json.dumps(data))
    (d / "config.json").write_text(json.dumps({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(d / "data.json")},
        "users": {MED_USER: MED_PASSWORD}, "taxii": {"max_page_size": 100}}))
    proc = start_process([sys.executable, "-c", "from medallion.scripts.run import main; main()",
                          "--port", str(port), str(d / "config.json")], port)
    yield f"{base}/{MED_ROOT}/"
    stop(proc)


def test_push_pull_against_medallion(medallion, tmp_path):
    cred = {"user": MED_USER, "password": MED_PASSWORD}
    objs = ira_objects("green", ["research"], seed="medallion")
    bundle = _bundle(tmp_path / "bundle.json", objs)
    r = CliRunner().invoke(share_app, ["push", str(bundle), "--server", medallion, "--collection", MED_FINDINGS,
                                       "--purpose", "research", "--user", MED_USER], env={"CIBSCOPE_PASSWORD": MED_PASSWORD})
    assert r.exit_code == 0, r.output
    assert f"{len(objs)} stored, 0 rejected" in r.output
    out = tmp_path / "pulled"
    first = pull(out, medallion, MED_FINDINGS, "research", page_size=2, **cred)  # 3 pages via limit/next
    assert first.count == len(objs) and first.last
    assert json.loads(first.path.read_text())["objects"] == objs
    again = pull(out, medallion, MED_FINDINGS, "research", **cred)
    assert again.count == 0 and again.path is None and again.last == first.last
    # a revocation (new version of the threat-actor) reaches the incremental puller, and only it
    revoked = dict(objs[1], modified="2019-01-01T00:00:00.000Z", revoked=True)
    st = push(_bundle(tmp_path / "revoke.json", [revoked]), medallion, MED_FINDINGS, "research", **cred)
    assert st["success_count"] == 1 and st["failure_count"] == 0
    third = pull(out, medallion, MED_FINDINGS, "research", **cred)
    assert json.loads(third.path.read_text())["objects"] == [revoked] and third.last > first.last
    with pytest.raises(ShareError, match=r"HTTP 401 UNAUTHORIZED \(GET http://127\.0\.0\.1:\d+/peer/"):
        pull(tmp_path / "nope", medallion, MED_FINDINGS, "research", user=MED_USER, password="wrong")


def test_medallion_answers_500_once_an_extension_definition_is_stored(medallion, tmp_path):
    """Known medallion 3.0 bug (../shared/README.md): it reads an extension-definition's ``version``
    ("1.0.0") as a timestamp, so every later GET of the collection's objects fails with HTTP 500.
    The push succeeds; our client reports the 500 with the request and medallion's reason, and the
    pull's high-water mark stays where it was. This test fails (and should be revisited) once a
    medallion release fixes it."""
    cred = {"user": MED_USER, "password": MED_PASSWORD}
    objs = ira_objects("clear", ["research"], seed="medallion-ext")
    for col in (MED_EXT, MED_FINDINGS):
        push(_bundle(tmp_path / "b.json", objs), medallion, col, "research", **cred)
    out = tmp_path / "pulled"
    ok = pull(out, medallion, MED_EXT, "research", **cred)
    assert ok.count == len(objs)
    st = push(_bundle(tmp_path / "ext.json", [purpose_extension_definition()]), medallion, MED_EXT, "research",
              **cred)
    assert st["success_count"] == 1
    state = (out / STATE_FILE).read_text()
    with pytest.raises(ShareError) as err:
        pull(out, medallion, MED_EXT, "research", **cred)
    msg = str(err.value)
    assert msg.startswith("HTTP 500 INTERNAL SERVER ERROR (GET http://127.0.0.1:")
    assert f"/collections/{MED_EXT}/objects/" in msg and "Internal Server Error" in msg and "<" not in msg
    assert (out / STATE_FILE).read_text() == state
    # the other collection of the same server, without the extension-definition, still serves
    other = pull(tmp_path / "other", medallion, MED_FINDINGS, "research", **cred)
    assert {o["id"] for o in objs} <= {o["id"] for o in json.loads(other.path.read_text())["objects"]}
