"""Incremental detection equals a batch run over the same horizon, on real IRA data fed day by day.

A 3-day horizon over the 7 days around the #KochFarms flood (26-27 Nov 2015) makes the horizon slide
past old actions (expiry) and accounts drop below ``min_account_actions``; after two of the updates
the watch run's edges, evidence, clusters and members are compared row for row with ``detect`` run
over the same horizon (``batch_core``)."""
from __future__ import annotations

import pytest

from _watch_data import assert_equals_batch, day_files
from cibscope.detect import DetectionParams
from cibscope.ingest import ingest
from cibscope.store.db import Store
from cibscope.watch.incremental import WatchError, update


def test_incremental_equals_batch_on_a_sliding_horizon(tmp_path):
    files = day_files(tmp_path / "in", "2015-11-24", "2015-11-30", backlog=False)
    params = DetectionParams(min_lift=2.0)
    with Store(tmp_path / "s.duckdb") as store:
        results = []
        for f in files:
            ingest(store, f, fmt="ira-csv", dataset="ira")
            results.append(update(store, params, 3 * 86400))
            if f.stem in ("2015-11-28", "2015-11-30"):
                batch = assert_equals_batch(store, params, results[-1].run.run_id)
                if f.stem == "2015-11-28":
                    assert batch.n_edges > 1000 and batch.n_clusters >= 3      # the KochFarms flood is in it
        # the horizon slid: old rows were reused unchanged and only a part of the objects re-paired
        assert any(r.reused > 10_000 and 0 < r.touched < 1000 for r in results)
        # an update with nothing new does nothing
        assert update(store, params, 3 * 86400).run is None
        # the state belongs to these parameters
        with pytest.raises(WatchError, match="other detection parameters"):
            update(store, DetectionParams(min_lift=3.0), 3 * 86400)
        with pytest.raises(WatchError, match="derived"):
            update(store, DetectionParams(signals=["text_near"]), 3 * 86400)
