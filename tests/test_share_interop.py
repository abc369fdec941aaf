"""Interoperability over real HTTP: taxii2-client and cibscope's push/pull against a uvicorn server
started here on 127.0.0.1 (free port); concurrent POSTs; a server killed during a POST."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from cibscope.share.client import HubAuth, pull, push
from share_fixtures import COLLECTION, ROOT, TAXII, ira_objects, make_hub


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from cibscope.cli import app; app()", "serve-taxii", "--db", str(db),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode())
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("live") / "hub.sqlite"
    fx = make_hub(db)
    fx.hub.engine.dispose()
    proc, base = start_server(db)
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


def test_server_killed_mid_post_leaves_no_half_bundle(tmp_path):
    db = tmp_path / "hub.sqlite"
    fx = make_hub(db)
    fx.hub.engine.dispose()
    for delay in (0.3, 1.5):
        proc, base = start_server(db)
        objs = []
        for i in range(12):
            objs += ira_objects("clear", ["research"], seed=f"kill{delay}-{i}")[1:] if i else \
                ira_objects("clear", ["research"], seed=f"kill{delay}-{i}")
        ids = {o["id"] for o in objs if o["type"] != "marking-definition"}
        marks = {o["id"] for o in objs if o["type"] == "marking-definition"}
        objs = [o for o in objs if o["type"] != "marking-definition" or o is objs[0]]
        url = f"{base}/{ROOT}/collections/{COLLECTION}/objects/"
        t = threading.Thread(target=lambda: _quiet_post(url, objs, fx))
        t.start()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t.join()
        from cibscope.share.hub import Hub
        import sqlalchemy as sa
        from cibscope.share.store import objects as ot
        with Hub(db).engine.connect() as c:
            stored = set(c.execute(sa.select(ot.c.id).where(ot.c.id.in_(ids))).scalars())
        assert stored in (set(), ids), f"half bundle stored: {len(stored)} of {len(ids)}"


def _quiet_post(url, objs, fx):
    try:
        requests.post(url, data=json.dumps({"objects": objs}), headers=fx.headers("university", "research"),
                      timeout=60)
    except requests.RequestException:
        pass
