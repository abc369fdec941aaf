"""cibscope evaluate: account-level metrics on a hand-checked labelled mix, and the CLI."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.evaluate import evaluate, read_labels
from cibscope.store.db import Store
from _store_rows import CLUSTER_INSERT

# positives r1-r3 (RightTroll), h1-h3 (HashtagGamer; h3 has 5 posts: out); negatives n1-n4 (organic)
LABELS = {"r1": "IRA:RightTroll", "r2": "IRA:RightTroll", "r3": "IRA:RightTroll",
          "h1": "IRA:HashtagGamer", "h2": "IRA:HashtagGamer", "h3": "IRA:HashtagGamer"}
CLUSTERS = [("A", True, ["r1", "r2", "r3"], 10.0), ("B", True, ["h1", "n1"], 5.0), ("C", False, ["h2", "n2"], 3.0)]


def _fill(store: Store) -> None:
    keys = ["r1", "r2", "r3", "h1", "h2", "h3", "n1", "n2", "n3", "n4"]
    accounts = pa.table({"platform": ["twitter"] * 10, "account_id": keys, "handle": keys,
                         "label": [LABELS.get(k) for k in keys]})
    posts = [{"platform": "twitter", "post_id": f"{k}-{j}", "account_id": k, "kind": "post",
              "created_at": dt.datetime(2016, 1, 1) + dt.timedelta(hours=j), "text": f"text {k} {j}"}
             for k in keys for j in range(5 if k == "h3" else 25)]
    store.add_batch(dataset="mix", source_file="mix", posts=pa.Table.from_pylist(posts), accounts=accounts)
    con = store.con
    con.execute("INSERT INTO runs VALUES (1, now()::TIMESTAMP, '{}', NULL, 0, 0, 0, 3, 0)")
    for rank, (cid, flagged, members, score) in enumerate(CLUSTERS, start=1):
        con.execute(CLUSTER_INSERT + "VALUES (1, ?, ?, ?, 1, 5, 1.0, 1e-5, 5, 5, ?, '{}', now()::TIMESTAMP, "
                    "now()::TIMESTAMP, 's', NULL, NULL)", [cid, rank, len(members), flagged])
        con.executemany("INSERT INTO cluster_members VALUES (1, ?, ?, 1, 1.0, ?)",
                        [[cid, f"twitter:{m}", score] for m in members])


def test_hand_checked_metrics(store):
    _fill(store)
    r = evaluate(store, 1, label_prefix="IRA:", min_posts=20)
    assert (r["n_accounts"], r["n_positive"], r["n_flagged"]) == (9, 5, 5)
    assert (r["tp"], r["fp"], r["fn"]) == (4, 1, 1)
    assert r["precision"] == pytest.approx(0.8) and r["recall"] == pytest.approx(0.8)
    assert r["f1"] == pytest.approx(0.8)
    # ranked by score: 3 TP at 10 (P 1, R .6), then h1 + n1 at 5 (P .8, R .8), then the rest at 0 (P 5/9, R 1)
    assert r["pr_auc"] == pytest.approx(0.6 * 1 + 0.2 * 0.8 + 0.2 * 5 / 9)
    cats = {c["category"]: c for c in r["categories"]}
    assert cats["RightTroll"] == {"category": "RightTroll", "n": 3, "flagged": 3, "recall": 1.0, "precision": 0.75}
    assert cats["HashtagGamer"]["n"] == 2 and cats["HashtagGamer"]["recall"] == 0.5
    # clusters A,A,A,B,C against roles R,R,R,H,H: partial agreement
    assert r["ami_n"] == 5 and r["ami_clusters"] == 3 and 0 < r["ami"] < 1
    assert r["datasets"] == [{"dataset": "mix", "n": 9, "n_positive": 5, "flagged_positive": 4, "n_negative": 4,
                              "flagged_negative": 1}]
    # baseline, every clustered account: A, B and C hold r1-r3, h1, h2 (positive) and n1, n2: P 5/7, R 1
    b = r["baseline"]
    assert (b["n_flagged"], b["precision"], b["recall"]) == (7, pytest.approx(5 / 7), 1.0)
    assert b["f1"] == pytest.approx(2 * (5 / 7) / (5 / 7 + 1)) and b["pr_auc"] == pytest.approx(5 / 9)
    # min_posts 1 lets h3 (5 posts, unflagged) in
    assert evaluate(store, 1, min_posts=1)["fn"] == 2


def test_perfect_clusters_give_ami_one(store):
    _fill(store)
    store.con.execute("UPDATE cluster_members SET cluster_id = 'A' WHERE account_key = 'twitter:h2'")
    store.con.execute("UPDATE cluster_members SET cluster_id = 'H' WHERE account_key IN ('twitter:h1', 'twitter:h2')")
    assert evaluate(store, 1)["ami"] == pytest.approx(1.0)


def test_labels_file_and_errors(store, tmp_path):
    _fill(store)
    f = tmp_path / "labels.csv"
    f.write_text("account_key,label\ntwitter:r1,op\ntwitter:n1,op\ntwitter:n2,\n")
    assert read_labels(f) == {"twitter:r1": "op", "twitter:n1": "op"}
    r = evaluate(store, 1, labels=read_labels(f), label_prefix=None)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 3, 0)
    bad = tmp_path / "bad.csv"
    bad.write_text("handle,label\nx,y\n")
    with pytest.raises(ValueError, match="bad.csv: missing column"):
        read_labels(bad)
    with pytest.raises(ValueError, match="no positive account"):
        evaluate(store, 1, label_prefix="NOPE:")


@pytest.fixture
def mix_db(tmp_path):
    """A store file holding the hand-checked mix (:func:`_fill`)."""
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        _fill(s)
    return db


def test_cli(tmp_path, mix_db):
    db = mix_db
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["evaluate", "--run", "1", "--db", str(db), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "precision 0.800  recall 0.800" in res.output
    got = json.loads(out.read_text())
    assert got["tp"] == 4
    # the account ranking is printed beside the flag's figures, as the JSON has it
    rk = got["ranking"]
    assert f"PR-AUC {rk['pr_auc']:.3f}  precision at recall 0.4 {rk['precision_at_recall']['0.4']:.3f}" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--run", "7", "--db", str(db)])
    assert res.exit_code == 2 and "no detection run 7" in res.output


def test_cli_labels_of_bare_names_say_how_many_matched(tmp_path, mix_db):
    db = mix_db
    names = tmp_path / "names.csv"
    names.write_text("account,label\nr1,op\nR2,op\nn1,organic\nghost,op\n")
    res = CliRunner().invoke(app, ["evaluate", "--run", "1", "--db", str(db), "--labels", str(names),
                                   "--negative-label", "organic", "--min-posts", "1"])
    assert res.exit_code == 0, res.output
    assert "labels: 3 of 4 matched an account; 1 did not (e.g. ghost)" in res.output
    none = tmp_path / "none.csv"
    none.write_text("account,label\nghost,op\n")
    res = CliRunner().invoke(app, ["evaluate", "--run", "1", "--db", str(db), "--labels", str(none)])
    assert res.exit_code == 2 and "none of the 1 labels matches an account" in res.output


def _err(args: list[str]) -> str:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.startswith("error: ") and res.output.count("\n") == 1
    return res.output


def test_cli_labels_with_organic_need_a_negative_label(tmp_path, mix_db):
    # the Reddit set's shape: two labels, ira and organic; without --negative-label organic would be positives
    db = mix_db
    f = tmp_path / "labels.csv"
    f.write_text("account,label\nr1,ira\nr2,ira\nn1,organic\nn2,organic\nn3,organic\n")
    base = ["evaluate", "--run", "1", "--db", str(db), "--labels", str(f)]
    line = _err(base)
    assert f"--labels {f}: 2 labels: organic (3), ira (2)" in line and "--negative-label organic" in line
    line = _err([*base, "--negative-label", "Organic"])
    assert "negative label Organic is not a label of the file" in line and "organic (3), ira (2)" in line
    assert "every label of the file is a negative label" in _err([*base, "--negative-label", "organic",
                                                                  "--negative-label", "ira"])
    res = CliRunner().invoke(app, [*base, "--negative-label", "organic", "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "r.json").read_text())
    assert got["n_positive"] == 2 and got["tp"] == 2  # r1, r2 only; organic accounts are negatives
    # several operation categories and no negatives: --all-positive says so
    cats = tmp_path / "cats.csv"
    cats.write_text("account,label\nr1,RightTroll\nh1,HashtagGamer\n")
    assert "2 labels" in _err(["evaluate", "--run", "1", "--db", str(db), "--labels", str(cats)])
    res = CliRunner().invoke(app, ["evaluate", "--run", "1", "--db", str(db), "--labels", str(cats),
                                   "--all-positive"])
    assert res.exit_code == 0 and "(2 positive" in res.output, res.output


def test_cli_conflicting_labels_are_refused(tmp_path, mix_db):
    # the last row winning would turn every organic account into a positive without a word
    base = ["evaluate", "--run", "1", "--db", str(mix_db), "--min-posts", "1", "--negative-label", "organic"]
    twice = tmp_path / "twice.csv"
    twice.write_text("account,label\nr1,ira\nn1,organic\nn1,ira\n")
    assert "twice.csv:4: n1 is labelled 'ira' here and 'organic' on line 3" in _err([*base, "--labels", str(twice)])
    # the same account by key and by bare name
    both = tmp_path / "both.csv"
    both.write_text("account,label\ntwitter:r1,ira\nR1,organic\n")
    line = _err([*base, "--labels", str(both)])
    assert "twitter:r1 is labelled both" in line and "R1, twitter:r1" in line
    assert "exclude each other" in _err([*base, "--labels", str(twice), "--all-positive"])


def test_cli_unreadable_labels_and_json_name_the_path(tmp_path, mix_db):
    db = mix_db
    base = ["evaluate", "--run", "1", "--db", str(db)]
    assert f"--labels {tmp_path / 'nosuch.csv'}: cannot read the labels file" in \
        _err([*base, "--labels", str(tmp_path / "nosuch.csv")])
    assert f"--labels {tmp_path}: cannot read the labels file" in _err([*base, "--labels", str(tmp_path)])
    latin1 = tmp_path / "latin1.csv"
    # past the decoder's first chunk (8 KiB): the line is counted in the file, not in the chunk
    latin1.write_bytes(("account,label\n" + "r1,op\n" * 3000 + "r2,Trolls\u00ae\n").encode("latin-1"))
    assert f"--labels {latin1}:3002: not UTF-8 text (byte 0xae)" in _err([*base, "--labels", str(latin1)])
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert f"--json {afile / 'x.json'}: {afile} is a file, not a folder" in \
        _err([*base, "--json", str(afile / "x.json")])
    line = _err([*base, "--label-prefix", "NOPE:"])
    assert "no account has a label starting with 'NOPE:'" in line and "--labels" in line
