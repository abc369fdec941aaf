"""Audit log: entries for writes, reads, refusals and admin actions; verify detects tampering (CLI)."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.share import audit
from cibscope.share.api import create_app
from share_fixtures import COLLECTION, ROOT, hub_db, ira_objects, is_postgres, make_hub  # noqa: F401

OBJ = f"/{ROOT}/collections/{COLLECTION}/objects/"
runner = CliRunner()


@pytest.fixture()
def logged(hub_db):
    """A hub (each backend) after a write, a read and a refusal."""
    db = hub_db
    fx = make_hub(db)
    c = TestClient(create_app(fx.hub))
    objs = ira_objects("amber", ["criminal-investigation"], recipient_orgs=["Police"])
    c.post(OBJ, content=json.dumps({"objects": objs}), headers=fx.headers("platform-a", "criminal-investigation"))
    c.get(OBJ, headers=fx.headers("police", "criminal-investigation"))
    c.get(f"{OBJ}{objs[1]['id']}/", headers=fx.headers("ministry", "national-security"))
    return fx, db, objs


def test_entries_record_who_what_and_why(logged):
    fx, db, objs = logged
    es = list(audit.entries(fx.hub.engine))
    actions = [e["action"] for e in es]
    assert actions.count("admin") == 2 + 7 * 4 and actions[-3:] == ["write", "read", "refusal"]
    write, read, refusal = es[-3:]
    assert write["actor"] == "platform-a" and write["purpose"] == "criminal-investigation"
    assert [i for i, _ in json.loads(write["detail"])["stored"]] == [o["id"] for o in objs]
    served = json.loads(read["detail"])["served"]
    assert read["org"] == "Police" and [i for i, _ in served] == [o["id"] for o in objs]
    assert served[1][1] == "2018-02-16T00:00:00.000000Z"
    assert json.loads(refusal["detail"])["rule"] == "tlp-amber-recipients" and refusal["actor"] == "ministry"
    assert audit.verify(es).ok


def test_database_refuses_update_and_delete(logged):
    fx, db, _ = logged
    n = len(list(audit.entries(fx.hub.engine)))
    statements = ["UPDATE audit SET actor='x' WHERE seq=1", "DELETE FROM audit WHERE seq=2"]
    if is_postgres(db):
        statements.append("TRUNCATE audit")
    for sql in statements:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with fx.hub.engine.begin() as conn:
                conn.execute(sa.text(sql))
    es = list(audit.entries(fx.hub.engine))
    assert len(es) == n and es[0]["actor"] == "admin" and audit.verify(es).ok


def _tamper(path, fn):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(fn(lines)) + "\n")


@pytest.mark.parametrize("how", ["edit", "remove", "reorder"])
def test_cli_verify_detects_tampered_export(logged, tmp_path, how):
    _, db, _ = logged
    exp = tmp_path / "audit.jsonl"
    r = runner.invoke(app, ["audit", "export", str(exp), "--db", str(db)])
    assert r.exit_code == 0, r.output
    ok = runner.invoke(app, ["audit", "verify", "--file", str(exp)])
    assert ok.exit_code == 0 and "chain intact" in ok.output
    assert runner.invoke(app, ["audit", "verify", "--db", str(db)]).exit_code == 0

    def edit(lines):
        e = json.loads(lines[-2])
        e["actor"] = "someone-else"
        return lines[:-2] + [json.dumps(e)] + lines[-1:]
    fn = {"edit": edit, "remove": lambda ls: ls[:5] + ls[6:],
          "reorder": lambda ls: ls[:5] + [ls[6], ls[5]] + ls[7:]}[how]
    _tamper(exp, fn)
    bad = runner.invoke(app, ["audit", "verify", "--file", str(exp)])
    assert bad.exit_code == 1 and "BROKEN" in bad.output


def test_cli_verify_detects_edit_in_database(logged):
    fx, db, _ = logged
    with fx.hub.engine.begin() as conn:  # an attacker with file access drops the trigger first
        conn.execute(sa.text("DROP TRIGGER audit_no_update" + (" ON audit" if is_postgres(db) else "")))
        conn.execute(sa.text("UPDATE audit SET purpose='research' WHERE action='read'"))
    fx.hub.engine.dispose()
    r = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 1 and "hash mismatch" in r.output


def test_cli_admin_commands(hub_db):
    db = str(hub_db)
    assert runner.invoke(app, ["admin", "add-root", "hub", "--title", "Hub", "--db", db]).exit_code == 0
    r = runner.invoke(app, ["admin", "add-collection", "hub", "Findings", "--db", db])
    cid = r.output.strip()
    assert r.exit_code == 0 and len(cid) == 36
    assert runner.invoke(app, ["admin", "add-org", "Lab", "--sector", "research", "--db", db]).exit_code == 0
    bad = runner.invoke(app, ["admin", "add-org", "X", "--sector", "marketing", "--db", db])
    assert bad.exit_code == 2 and "unknown sector" in bad.output
    assert runner.invoke(app, ["admin", "add-user", "ana", "--org", "Lab", "--db", db]).exit_code == 0
    # HTTP Basic passwords follow the web app's rule (15 code points, not only white space); nothing is created
    for pw, says in (("hunter2hunter2", "password too short: 14 characters"), (" " * 20, "only white space")):
        short = runner.invoke(app, ["admin", "add-user", "bob", "--org", "Lab", "--password", "--db", db],
                              input=f"{pw}\n{pw}\n")
        assert short.exit_code == 2 and says in short.output, short.output
    assert runner.invoke(app, ["admin", "add-user", "bob", "--org", "Lab", "--password", "--db", db],
                         input="correct horse battery staple\n" * 2).exit_code == 0
    tok = runner.invoke(app, ["admin", "add-token", "ana", "--db", db]).output.strip()
    assert tok.startswith("cbs_")
    assert runner.invoke(app, ["admin", "grant", "Lab", cid, "--write", "--db", db]).exit_code == 0
    from cibscope.share.hub import Hub
    hub = Hub(db)
    with hub.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM tokens")).scalar()
    assert tok not in stored and len(stored) == 64
    c = TestClient(create_app(hub))
    h = {"Accept": "application/taxii+json;version=2.1", "Authorization": f"Bearer {tok}",
         "X-Cibscope-Purpose": "research"}
    assert c.get(f"/hub/collections/{cid}/", headers=h).json()["can_write"] is True
    assert runner.invoke(app, ["admin", "revoke-tokens", "ana", "--db", db]).exit_code == 0
    assert c.get("/hub/collections/", headers=h).status_code == 401
