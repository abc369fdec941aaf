"""The notebook API (cibscope.open(db).run(n).edges()) on a real detector run of the shipped IRA sample,
and the worked example docs/notebook.py run end to end on it."""
from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

import cibscope

from web_fixtures import ROOT, SAMPLE, sample_store

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="shipped sample absent")


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    return sample_store(tmp_path_factory.mktemp("api") / "s.duckdb")[0]


def test_tables_agree_with_the_store(db_path):
    with cibscope.open(db_path) as db:
        run = db.run()
        assert run.run_id == 1 and db.runs()["run_id"].to_pylist() == [1]
        clusters, edges = run.clusters(), run.edges()
        assert isinstance(edges, pa.Table) and edges.num_rows == run.info["n_edges"] > 0
        assert clusters["rank"].to_pylist() == sorted(clusters["rank"].to_pylist())
        assert clusters.num_rows == run.info["n_clusters"] and "run_id" not in clusters.column_names
        q = edges["q_value"].to_pylist()
        assert q == sorted(q)
        top = clusters.filter(clusters["flagged"])["cluster_id"][0].as_py()
        members = set(run.members(top)["account_key"].to_pylist())
        internal = run.edges(cluster_id=top)
        assert internal.num_rows and all(a in members and b in members for a, b in
                                         zip(internal["account_a"].to_pylist(), internal["account_b"].to_pylist()))
        accounts = run.accounts()
        n_authors = db.sql("SELECT count(DISTINCT account_key) AS n FROM posts")["n"][0].as_py()
        assert accounts.num_rows == n_authors
        flagged = set(accounts.filter(accounts["flagged"])["account_key"].to_pylist())
        assert members <= flagged
        n_posts = dict(zip(accounts["account_key"].to_pylist(), accounts["n_posts"].to_pylist()))
        some = sorted(members)[0]
        assert n_posts[some] == run.posts(some).num_rows > 0
        ev = run.evidence(top)
        assert set(ev["cluster_id"].to_pylist()) == {top}
        assert set(ev["account_a"].to_pylist()) | set(ev["account_b"].to_pylist()) <= members
        all_ev = run.evidence()
        assert all_ev.num_rows == db.sql("SELECT count(*) AS n FROM edge_evidence")["n"][0].as_py()
        # the closest post pair's texts are the posts' own
        row = ev.slice(0, 1).to_pylist()[0]
        assert row["text_a"] == db.sql("SELECT text FROM posts WHERE post_key = ?", [row["post_a"]])["text"][0].as_py()


def test_errors_name_the_problem(tmp_path, db_path):
    with pytest.raises(FileNotFoundError, match="no cibscope store"):
        cibscope.open(tmp_path / "absent.duckdb")
    with cibscope.open(db_path) as db, pytest.raises(ValueError, match="no detection run 7"):
        db.run(7)


def test_the_documented_notebook_runs(db_path):
    pytest.importorskip("pandas")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(ROOT / "docs" / "notebook.py"), str(db_path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "kochfarms" in res.stdout and "hashtag" in res.stdout and "hour_utc" in res.stdout


def _csv(path, rows: list[str]):
    path.write_text("post_id,account_id,created_at,text\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)),
                    encoding="utf-8")
    return path


ONE_POST = ["alice,2015-02-24T11:35:52Z,hello #x"]
#: alice and bob post the same 6 hashtags 5 s apart (one significant edge), carol and dave alone: a pair is no
#: cluster at the default minimum cluster size of 3
ONE_EDGE = ([f"{a},2015-02-24T{10 + k:02d}:00:0{s}Z,Eat at #tag{k} now" for k in range(6)
             for a, s in (("alice", 0), ("bob", 5))]
            + [f"{a},2015-02-2{5 + k % 3}T{3 * k:02d}:{m}:00Z,other #{a}{k}" for k in range(6)
               for a, m in (("carol", 10), ("dave", 20))])


@pytest.mark.parametrize("rows, n_edges", [(ONE_POST, 0), (ONE_EDGE, 1)], ids=["one-post", "one-edge"])
def test_the_documented_notebook_runs_on_a_run_without_clusters(tmp_path, rows, n_edges):
    pytest.importorskip("pandas")
    from typer.testing import CliRunner

    from cibscope.cli import app

    db = tmp_path / "s.duckdb"
    for args in (["ingest", str(_csv(tmp_path / "p.csv", rows)), "--format", "csv", "--platform", "twitter"],
                 ["detect", "--out", str(tmp_path / "out")]):
        r = CliRunner().invoke(app, [*args, "--db", str(db)])
        assert r.exit_code == 0, r.output
    with cibscope.open(db) as api:
        assert (api.run().info["n_edges"], api.run().info["n_clusters"]) == (n_edges, 0)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(ROOT / "docs" / "notebook.py"), str(db)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"run 1 has no cluster; its significant pairs ({n_edges}):" in res.stdout
    assert ("twitter:alice" in res.stdout) == ("hour_utc" in res.stdout) == (n_edges == 1)
