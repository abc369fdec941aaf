"""A server killed (SIGKILL) inside a POST's write transaction leaves no half-written bundle.

The server runs as a child process with the test-only hook ``CIBSCOPE_TEST_HANG_IN_POST``
(:func:`cibscope.share.hub._test_hang_hook`): its third POST writes a marker file and sleeps
after its objects, status resource and audit entry are written but before the commit. The
test waits for the marker (no timing guesses), kills the process, restarts a server on the
same database (SQLite file or PostgreSQL database) and checks that the two earlier POSTs are intact, nothing of the third
exists (objects, status, audit entry), the audit chain verifies and new writes commit.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import requests
import sqlalchemy as sa
from typer.testing import CliRunner

from cibscope.share import audit
from cibscope.cli.share import audit_app
from cibscope.share.hub import TEST_HANG_ENV, Hub
from cibscope.share.serve import spawn, stop
from cibscope.share.store import objects, statuses
from share_fixtures import COLLECTION, ROOT, hub_db, ira_objects, make_hub  # noqa: F401


def _big_bundle(n: int) -> list[dict]:
    """One purpose marking plus ``n`` threat-actor/user-account groups (4 objects each) sharing it."""
    out = ira_objects("clear", ["research"], seed="crash-0")
    for i in range(1, n):
        out += ira_objects("clear", ["research"], seed=f"crash-{i}")[1:]
    return out


def _all_ids(url: str, headers: dict) -> set[str]:
    ids, nxt = set(), None
    while True:
        r = requests.get(url, headers=headers, params={"limit": 1000, **({"next": nxt} if nxt else {})}, timeout=30)
        assert r.status_code == 200, r.text
        ids |= {o["id"] for o in r.json()["objects"]}
        if not r.json()["more"]:
            return ids
        nxt = r.json()["next"]


def test_kill_inside_post_transaction_leaves_no_half_bundle(hub_db, tmp_path):
    db = hub_db
    fx = make_hub(db)
    fx.hub.engine.dispose()
    marker = tmp_path / "hanging"
    proc, base = spawn(db, env={TEST_HANG_ENV: f"3:{marker}"})
    url = f"{base}/{ROOT}/collections/{COLLECTION}/objects/"
    write_h, read_h = fx.headers("university", "research"), fx.headers("ngo-lab", "research")
    early = [ira_objects("clear", ["research"], seed=f"early-{i}") for i in range(2)]
    try:
        for objs in early:
            r = requests.post(url, data=json.dumps({"objects": objs}), headers=write_h, timeout=60)
            assert r.status_code == 202 and r.json()["success_count"] == len(objs), r.text
        big = _big_bundle(25)
        big_ids = {o["id"] for o in big if o["type"] != "marking-definition"}  # the marking is stored already
        posted: dict = {}

        def post_big():
            try:
                posted["response"] = requests.post(url, data=json.dumps({"objects": big}), headers=write_h,
                                                   timeout=120)
            except requests.RequestException as exc:
                posted["error"] = exc

        t = threading.Thread(target=post_big)
        t.start()
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "server never reached the hook"
            time.sleep(0.05)
        assert int(marker.read_text()) == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t.join()
        assert "response" not in posted and isinstance(posted["error"], requests.ConnectionError)
    finally:
        stop(proc)

    # restart on the same database (SQLite rolls back the uncommitted WAL frames; PostgreSQL rolls back
    # the transaction of the dead client's connection and releases its lock on the audit table)
    proc, base = spawn(db)
    url = f"{base}/{ROOT}/collections/{COLLECTION}/objects/"
    try:
        served = _all_ids(url, read_h)
        assert {o["id"] for objs in early for o in objs} <= served
        assert not big_ids & served
        hub = Hub(db)
        with hub.engine.connect() as c:
            assert c.execute(sa.select(sa.func.count()).select_from(objects)
                             .where(objects.c.id.in_(big_ids))).scalar() == 0
            assert c.execute(sa.select(sa.func.count()).select_from(statuses)).scalar() == 2
        entries = list(audit.entries(hub.engine))
        writes = [json.loads(e["detail"]) for e in entries if e["action"] == "write"]
        assert len(writes) == 2 and not big_ids & {i for w in writes for i, _ in w["stored"]}
        assert audit.verify(entries).ok
        r = CliRunner().invoke(audit_app, ["verify", "--db", str(db)])
        assert r.exit_code == 0 and "chain intact" in r.output, r.output
        # the killed writer left no lock behind: a new write transaction (status + audit entry) commits
        r = requests.post(url, data=json.dumps({"objects": []}), headers=write_h, timeout=60)
        assert r.status_code == 202 and r.json()["total_count"] == 0, r.text
        assert audit.verify(audit.entries(hub.engine)).ok
        hub.engine.dispose()
    finally:
        stop(proc)
