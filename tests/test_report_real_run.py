"""write_outputs on a run of the real detector over the shipped IRA sample (data/sample, in the repository)."""
from __future__ import annotations

import csv
import json

import pytest
from stix2validator import ValidationOptions, validate_string

from cibscope.detect import DetectionParams, detect
from cibscope.ingest import ingest
from cibscope.report import write_outputs
from cibscope.store.db import Store

from conftest import ROOT

SAMPLE = ROOT / "data" / "sample" / "ira-sample"


@pytest.mark.skipif(not SAMPLE.exists(), reason="shipped sample absent")
def test_outputs_of_a_detector_run(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, SAMPLE, fmt="ira-csv", dataset="ira-sample")
        run_id = detect(store, DetectionParams(datasets=["ira-sample"])).run_id
        paths = write_outputs(store, run_id, tmp_path / "out", tlp="green", top_clusters=3)
        clusters = store.con.execute("SELECT cluster_id, flagged FROM clusters WHERE run_id = ? ORDER BY rank",
                                     [run_id]).fetchall()
        flagged_members = {r[0] for r in store.con.execute(
            "SELECT account_key FROM cluster_members JOIN clusters USING (run_id, cluster_id) "
            "WHERE run_id = ? AND flagged", [run_id]).fetchall()}
        n_authors = store.con.execute("SELECT count(DISTINCT account_key) FROM posts").fetchone()[0]
    assert clusters and flagged_members
    text = paths["stix"].read_text(encoding="utf-8")
    result = validate_string(text, ValidationOptions(strict=True))
    assert result.is_valid and result.errors == []
    groupings = [o for o in json.loads(text)["objects"] if o["type"] == "grouping"]
    assert len(groupings) == min(3, sum(f for _, f in clusters))
    with open(paths["accounts"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_authors
    assert {f"{r['platform']}:{r['account_id']}" for r in rows if r["flagged"] == "true"} == flagged_members
    page = paths["html"].read_text(encoding="utf-8")
    assert all(f'id="cluster-{cid}"' in page for cid, _ in clusters)
    assert page.count('aria-label="network of cluster') == min(3, len(clusters))
