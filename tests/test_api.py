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
