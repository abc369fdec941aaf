"""``cibscope suggest-window``: follow delays measured on posts with known timing."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.detect.interval import follow_delays
from cibscope.ingest import ingest
from cibscope.store.db import Store

from _null_data import T0, write_posts


def _posts(tmp_path):
    # 10 texts each posted by 4 accounts: the first at t, the others 30 s, 60 s and 90 s later (fast
    # objects); 10 more by 3 accounts 2 h and 4 h later (slow objects); one text posted once.
    rows = []
    for i in range(10):
        for a, lag in enumerate((0, 30, 60, 90)):
            rows.append([f"f{i}{a}", f"u{a}", f"u{a}", "", "", f"the fast text number {i} of this test", T0 + 10_000 * i + lag, ""])
        for a, lag in enumerate((0, 7200, 14400)):
            rows.append([f"s{i}{a}", f"v{a}", f"v{a}", "", "", f"the slow text number {i} of this test", T0 + 10_000 * i + 500 + lag, ""])
    rows.append(["lone", "w", "w", "", "", "said once", T0, ""])
    return write_posts(tmp_path / "posts.csv", rows)


def test_quantiles_and_suggestion_follow_the_planted_delays(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, _posts(tmp_path), fmt="cnt-csv")
        res = follow_delays(store, signals=["text"])
        assert (res.n_objects, res.n_follows) == (20, 10 * 3 + 10 * 2)
        # per-object medians: 60 s for the 10 fast texts, 3 h for the 10 slow ones
        assert res.object_median_quantiles[0.1] == pytest.approx(60)
        assert res.object_median_quantiles[0.9] == pytest.approx(10800)
        assert res.suggested_s == 60
        assert follow_delays(store, signals=["text"], q=0.9).suggested_s == 10800
        with pytest.raises(ValueError, match="between 0 and 1"):
            follow_delays(store, q=1.5)
        with pytest.raises(ValueError, match="two accounts"):
            follow_delays(store, signals=["image"])


def test_cli_prints_quantiles_and_refuses_an_empty_store(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        ingest(store, _posts(tmp_path), fmt="cnt-csv")
    r = CliRunner().invoke(app, ["suggest-window", "--signals", "text", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "20 objects" in r.output and "suggested window: 60 s" in r.output
    with Store(tmp_path / "empty.duckdb"):
        pass
    r = CliRunner().invoke(app, ["suggest-window", "--db", str(tmp_path / "empty.duckdb")])
    assert r.exit_code != 0 and "no object was acted on by two accounts" in r.output
