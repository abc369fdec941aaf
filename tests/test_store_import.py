"""Export/import of a store as Parquet: nothing doubled, runs never merged (real IRA sample rows)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cibscope.detect import DetectionParams, detect
from cibscope.ingest import ingest
from cibscope.store.db import Store

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "ira-sample" / "A"
PARAMS = DetectionParams(min_lift=1)


def _run_rows(store: Store, run_id: int) -> dict[str, list]:
    return {t: store.con.execute(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? ORDER BY ALL",
                                 [run_id]).fetchall() for t in ("edges", "edge_evidence", "clusters", "cluster_members")}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Store A: the sample's folder A as dataset 'a', one run, exported."""
    tmp = tmp_path_factory.mktemp("imp")
    a = Store(tmp / "a.duckdb")
    ingest(a, SAMPLE, fmt="ira-csv", dataset="a")
    run = detect(a, PARAMS)
    a.export_parquet(tmp / "export")
    yield a, run.run_id, tmp / "export"
    a.close()


def test_import_into_a_store_with_the_same_posts_and_another_run(exported, tmp_path):
    a, run_a, folder = exported
    b = Store(tmp_path / "b.duckdb")
    ingest(b, SAMPLE, fmt="ira-csv", dataset="b")         # same posts, other dataset name
    run_b = detect(b, DetectionParams(min_lift=1, window_s=120)).run_id
    assert run_b == run_a == 1
    before = {t: b.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("posts", "actions")}
    mine = _run_rows(b, run_b)
    added = b.import_parquet(folder)
    assert added["posts"] == 0 and added["actions"] == 0
    assert {t: b.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("posts", "actions")} == before
    assert added["runs"] == 1
    assert _run_rows(b, run_b) == mine                      # run 1 of B untouched
    assert _run_rows(b, 2) == _run_rows(a, run_a)           # A's run 1 arrived as run 2, whole
    again = b.import_parquet(folder)
    assert all(n == 0 for n in again.values()), again
    assert detect(b, PARAMS).run_id == 3                    # the sequence continues after the imported run


def test_import_into_a_fresh_store_keeps_run_ids(exported, tmp_path):
    a, run_a, folder = exported
    c = Store(tmp_path / "c.duckdb")
    c.import_parquet(folder)
    assert _run_rows(c, run_a) == _run_rows(a, run_a)
    assert c.counts() == a.counts()
