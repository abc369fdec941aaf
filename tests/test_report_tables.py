"""clusters.csv, edges.parquet and accounts.csv against the store they come from (real IRA rows)."""
from __future__ import annotations

import csv

import pyarrow.parquet as pq
import pytest

from cibscope.report import write_outputs
from cibscope.report.tables import ACCOUNT_COLUMNS, CLUSTER_COLUMNS, write_tables

from conftest import IRA, IRA_CLUSTERS, assemble_ira, make_run

pytestmark = pytest.mark.shared


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tables(ira_store, tmp_path_factory):
    store, run_id = ira_store
    return store, run_id, write_tables(store, run_id, tmp_path_factory.mktemp("tables"))


def test_clusters_csv_matches_store(tables):
    store, run_id, paths = tables
    rows = _read(paths["clusters"])
    assert tuple(rows[0]) == CLUSTER_COLUMNS
    expected = store.con.execute("""
        SELECT c.cluster_id, c.rank, c.n_accounts, c.n_coactions, strftime(c.first_seen, '%Y-%m-%dT%H:%M:%SZ'),
               strftime(c.last_seen, '%Y-%m-%dT%H:%M:%SZ'), (SELECT count(*) FROM cluster_members m
               WHERE m.run_id = c.run_id AND m.cluster_id = c.cluster_id)
        FROM clusters c WHERE run_id = ? ORDER BY rank""", [run_id]).fetchall()
    assert len(rows) == len(IRA_CLUSTERS) == len(expected)
    for row, (cid, rank, size, n_co, first, last, n_members) in zip(rows, expected):
        assert (row["cluster_id"], int(row["rank"]), int(row["n_accounts"]), int(row["n_coactions"])) == \
            (cid, rank, size, n_co)
        assert row["flagged"] == ("true" if rank <= 3 else "false")
        assert int(row["n_accounts"]) == n_members
        assert (row["first_seen"], row["last_seen"]) == (first, last)
        assert row["summary"]
    # first/last seen are the cluster's first and last co-action in edge_evidence
    ev = store.con.execute("""
        SELECT m.cluster_id, strftime(min(least(ts_a, ts_b)), '%Y-%m-%dT%H:%M:%SZ'),
               strftime(max(greatest(ts_a, ts_b)), '%Y-%m-%dT%H:%M:%SZ')
        FROM edge_evidence v JOIN cluster_members m ON m.run_id = v.run_id AND m.account_key = v.account_a
        WHERE v.run_id = ? GROUP BY ALL""", [run_id]).fetchall()
    assert {r["cluster_id"]: (r["first_seen"], r["last_seen"]) for r in rows} == {c: (f, l) for c, f, l in ev}


def test_edges_parquet_is_the_runs_edges(tables):
    store, run_id, paths = tables
    t = pq.read_table(paths["edges"])
    cols = [r[0] for r in store.con.execute("DESCRIBE edges").fetchall()]
    assert t.column_names == cols
    n = store.con.execute("SELECT count(*) FROM edges WHERE run_id = ?", [run_id]).fetchone()[0]
    assert t.num_rows == n == sum(len(c) * (len(c) - 1) // 2 for c in IRA_CLUSTERS)
    pairs = set(zip(t.column("account_a").to_pylist(), t.column("account_b").to_pylist()))
    assert ("twitter:FightM_D_B", "twitter:FinnaGlo") in pairs
    assert all(a < b for a, b in pairs)


def test_accounts_csv_flags_members(tables):
    store, run_id, paths = tables
    rows = _read(paths["accounts"])
    assert tuple(rows[0]) == ACCOUNT_COLUMNS
    authors = store.con.execute("SELECT count(DISTINCT account_key) FROM posts").fetchone()[0]
    assert len(rows) == authors == 37                      # every author of a real F tweet, once
    assert len({(r["platform"], r["account_id"]) for r in rows}) == len(rows)
    members = dict(store.con.execute(
        "SELECT account_key, cluster_id FROM cluster_members WHERE run_id = ?", [run_id]).fetchall())
    by_key = {f"{r['platform']}:{r['account_id']}": r for r in rows}
    in_cluster = {k for k, r in by_key.items() if r["cluster_id"]}
    flagged = {k for k, r in by_key.items() if r["flagged"] == "true"}
    assert in_cluster == set(members) == {a for c in IRA_CLUSTERS for a in c}
    # the run flags the first three clusters as candidate operations, not the RightTroll one
    assert flagged == {a for c in IRA_CLUSTERS[:3] for a in c}
    for key in in_cluster:
        assert by_key[key]["cluster_id"] == members[key] and float(by_key[key]["score"]) > 0
    for r in rows:
        if not r["cluster_id"]:
            assert r["flagged"] == "false" and float(r["score"]) == 0
        assert r["label"].startswith("IRA:")               # labels from the real authors.csv
    handles = {r["account_id"]: r["handle"] for r in rows}
    assert handles["FindDietNone"] == "FindDiet"           # handle from authors.csv, not the file name


def test_accounts_csv_only_covers_the_runs_datasets(tmp_path):
    """Accounts of another dataset are not in accounts.csv."""
    from cibscope.ingest import ingest
    from cibscope.store.db import Store

    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, assemble_ira(tmp_path / "ira-F"), dataset="f")
        ingest(store, IRA / "G" / sorted(p.name for p in (IRA / "G").glob("*.csv"))[0], dataset="g")
        n_accounts = store.con.execute("SELECT count(*) FROM accounts").fetchone()[0]
        assert n_accounts == 38                             # 37 authors of F plus the one G author
        run_id = make_run(store, IRA_CLUSTERS[1:2], datasets=["f"])
        rows = _read(write_tables(store, run_id, tmp_path / "out")["accounts"])
    assert len(rows) == 37
    assert sum(r["flagged"] == "true" for r in rows) == 2


def test_unknown_run_is_refused_and_nothing_written(ira_store, tmp_path):
    store, run_id = ira_store
    with pytest.raises(ValueError, match=r"no detection run 999"):
        write_outputs(store, 999, tmp_path / "out")
    assert not (tmp_path / "out").exists()
