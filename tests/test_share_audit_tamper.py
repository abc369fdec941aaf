"""Issue #17 row 3: an insider with file access edits the audit store; `cibscope audit verify` with the
signed checkpoints must detect every case (and the checks without checkpoints still catch what they did).

Each case starts from a hub with more than 500 audit entries, a checkpoint of its head signed with an
Ed25519 key kept outside the store, then tampers with the SQLite file (dropping the append-only
triggers first, as a file shell allows) or with a JSON Lines export.
"""
from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.share import audit
from cibscope.share.store import write_tx
from share_fixtures import make_hub

runner = CliRunner()


@pytest.fixture()
def signed(tmp_path):
    """(db path, checkpoint file, public key, export path) for a hub with 600+ entries and a checkpoint."""
    db = tmp_path / "hub.sqlite"
    fx = make_hub(db)
    with write_tx(fx.hub.engine) as conn:
        for i in range(600):
            audit.append(conn, actor=f"user{i % 7}", action="read", detail={"i": i}, purpose="research")
    keys = tmp_path / "keys"
    keys.mkdir()
    r = runner.invoke(app, ["audit", "keygen", "--private-key", str(keys / "k.pem"), "--public-key",
                            str(keys / "k.pub")])
    assert r.exit_code == 0, r.output
    cps = tmp_path / "checkpoints.jsonl"
    r = runner.invoke(app, ["audit", "checkpoint", "--key", str(keys / "k.pem"), "--out", str(cps), "--db", str(db)])
    assert r.exit_code == 0, r.output
    exp = tmp_path / "audit.jsonl"
    assert runner.invoke(app, ["audit", "export", str(exp), "--db", str(db)]).exit_code == 0
    fx.hub.engine.dispose()
    return db, cps, keys / "k.pub", exp


def verify(db, cps, pub, *extra):
    return runner.invoke(app, ["audit", "verify", "--db", str(db), "--checkpoints", str(cps), "--public-key",
                               str(pub), *extra])


def shell(db, *sql):
    """What an insider with a file shell does: sqlite3 on the file, triggers dropped first."""
    con = sqlite3.connect(db)
    con.executescript("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;")
    for s in sql:
        con.executescript(s)
    con.commit()
    con.close()


def rehash_from(db, seq):
    """Recompute every hash from ``seq`` on, so the chain itself verifies again."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
    prev = rows[seq - 2]["hash"] if seq > 1 else audit.GENESIS
    for r in rows[seq - 1:]:
        r["prev_hash"] = prev
        r["hash"] = audit.entry_hash(r)
        con.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (r["prev_hash"], r["hash"], r["seq"]))
        prev = r["hash"]
    con.commit()
    con.close()


def test_untampered_log_verifies_with_checkpoints(signed):
    db, cps, pub, exp = signed
    r = verify(db, cps, pub)
    assert r.exit_code == 0 and "latest signed checkpoint" in r.output, r.output
    r = runner.invoke(app, ["audit", "verify", "--file", str(exp), "--checkpoints", str(cps), "--public-key", str(pub)])
    assert r.exit_code == 0, r.output


def _delete_last(db):
    shell(db, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")


def _delete_last_500(db):
    shell(db, "DELETE FROM audit WHERE seq > (SELECT max(seq) - 500 FROM audit)")


def _delete_all(db):
    shell(db, "DELETE FROM audit")


def _drop(db):
    shell(db, "DROP TABLE audit")


def _truncate(db):
    """The database file to 0 bytes; its WAL and shared-memory files removed (truncating a mapped -shm file
    would crash this very test process, not the hub's)."""
    db.write_bytes(b"")
    for p in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)


def _edit_and_rehash(db):
    shell(db, "UPDATE audit SET actor='nobody' WHERE seq = 40")
    rehash_from(db, 40)


def _middle_edit(db):
    shell(db, "UPDATE audit SET actor='nobody' WHERE seq = 40")


def _middle_delete(db):
    shell(db, "DELETE FROM audit WHERE seq = 40")


def _reorder(db):
    shell(db, "UPDATE audit SET seq = -1 WHERE seq = 40", "UPDATE audit SET seq = 40 WHERE seq = 41",
          "UPDATE audit SET seq = 41 WHERE seq = -1")


CASES = {"delete-last-row": _delete_last, "delete-last-500-rows": _delete_last_500, "delete-every-row": _delete_all,
         "drop-table": _drop, "truncate-file": _truncate, "edit-and-rehash": _edit_and_rehash,
         "middle-edit": _middle_edit, "middle-delete": _middle_delete, "reorder": _reorder}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_detects_tampered_store(signed, case):
    db, cps, pub, _ = signed
    CASES[case](db)
    r = verify(db, cps, pub)
    assert r.exit_code == 1 and "BROKEN" in r.output, r.output
    # verify never repairs: the table is not re-created by verifying
    if case in ("drop-table", "truncate-file"):
        assert verify(db, cps, pub).exit_code == 1


@pytest.mark.parametrize("case", ["delete-last-line", "delete-all-lines", "edit-and-rehash"])
def test_verify_detects_tampered_export(signed, case):
    _, cps, pub, exp = signed
    lines = exp.read_text().splitlines()
    if case == "delete-last-line":
        lines = lines[:-1]
    elif case == "delete-all-lines":
        lines = []
    else:
        es = [json.loads(x) for x in lines]
        es[39]["actor"] = "nobody"
        prev = es[38]["hash"]
        for e in es[39:]:
            e["prev_hash"] = prev
            e["hash"] = audit.entry_hash(e)
            prev = e["hash"]
        lines = [json.dumps(e) for e in es]
    exp.write_text("\n".join(lines) + ("\n" if lines else ""))
    r = runner.invoke(app, ["audit", "verify", "--file", str(exp), "--checkpoints", str(cps), "--public-key", str(pub)])
    assert r.exit_code == 1 and "BROKEN" in r.output, r.output


def test_forged_or_rolled_back_checkpoints_are_refused(signed, tmp_path):
    db, cps, pub, _ = signed
    cp = json.loads(cps.read_text().splitlines()[-1])
    _delete_last(db)
    forged = dict(cp, seq=cp["seq"] - 1)  # the insider rewrites the checkpoint to match (no private key)
    cps.write_text(json.dumps(forged) + "\n")
    r = verify(db, cps, pub)
    assert r.exit_code == 1 and "checkpoint rejected" in r.output
    # another key's checkpoints do not count
    runner.invoke(app, ["audit", "keygen", "--private-key", str(tmp_path / "x.pem"), "--public-key",
                        str(tmp_path / "x.pub")])
    other = tmp_path / "other.jsonl"
    assert runner.invoke(app, ["audit", "checkpoint", "--key", str(tmp_path / "x.pem"), "--out", str(other),
                               "--db", str(db)]).exit_code == 0
    r = verify(db, other, pub)
    assert r.exit_code == 1 and "no valid checkpoint" in r.output


def test_checkpoint_refuses_to_sign_a_shortened_log(signed, tmp_path):
    db, cps, pub, _ = signed
    _delete_last_500(db)
    key = pub.with_suffix(".pem")
    r = runner.invoke(app, ["audit", "checkpoint", "--key", str(key), "--out", str(cps), "--db", str(db)])
    assert r.exit_code == 2 and "entries were removed" in r.output


def test_verify_without_checkpoints_warns(signed):
    db, _, _, _ = signed
    r = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 0 and "cannot be detected" in r.output


def test_server_writes_checkpoints(tmp_path):
    """`serve-taxii --checkpoint-key/--checkpoint-file` signs the head on start and when it moves."""
    from cibscope.share.serve import start_checkpointer
    db = tmp_path / "hub.sqlite"
    fx = make_hub(db)
    audit.keygen(tmp_path / "k.pem", tmp_path / "k.pub")
    out = tmp_path / "cps.jsonl"
    start_checkpointer(fx.hub.engine, tmp_path / "k.pem", out, 0.05)
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not out.exists():
        time.sleep(0.05)
    fx.hub.add_org("Late Org", "research")
    n = audit.head(fx.hub.engine)[0]
    while time.monotonic() < deadline and json.loads(out.read_text().splitlines()[-1])["seq"] != n:
        time.sleep(0.05)
    cps, problems = audit.read_checkpoints(out, tmp_path / "k.pub")
    assert problems == [] and cps[-1]["seq"] == n and len(cps) >= 2
