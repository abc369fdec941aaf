"""Opening a store: the memory limit is checked, and a store or export written before a column was added
gains it (``schema.MIGRATIONS``)."""
from __future__ import annotations

import datetime as dt

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.report.query import narratives
from cibscope.store.db import Store

from conftest import rows


@pytest.mark.parametrize("value", ["-1GB", "-1", "abc", "0", "0GB", "0.0MB", "500", "GB", "2 GB extra", "1GB'; --",
                                   "-50%", "100KB", "16MiB", "0.01GB"])
def test_memory_limit_that_is_no_positive_size_is_refused(tmp_path, monkeypatch, value):
    db = tmp_path / "s.duckdb"
    with pytest.raises(ValueError, match=f"^memory_limit={value!r} is not a memory limit"):
        Store(db, memory_limit=value)
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", value)
    with pytest.raises(ValueError, match=f"^CIBSCOPE_MEMORY_LIMIT={value!r} is not a memory limit"):
        Store(db)
    assert not db.exists()


def test_memory_limit_duckdb_does_not_understand_names_the_source(monkeypatch):
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", "2XB")
    with pytest.raises(ValueError, match=r"^CIBSCOPE_MEMORY_LIMIT='2XB': DuckDB refuses it: .*unit.*'xb'"):
        Store(":memory:")
    with pytest.raises(ValueError, match=r"^memory_limit='150%': DuckDB refuses it: .*percentage"):
        Store(":memory:", memory_limit="150%")


@pytest.mark.parametrize("value, setting", [("500MB", "476.8 MiB"), ("1.5GiB", "1.5 GiB"), (" 2gb ", "1.8 GiB"),
                                            ("32MB", "30.5 MiB")])
def test_memory_limit_sizes_are_applied(monkeypatch, value, setting):
    with Store(":memory:", memory_limit=value) as s:
        assert s.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == setting
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", value)
    with Store(":memory:") as s:
        assert s.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == setting
    # the parameter wins over the environment; an empty variable means "not set"
    with Store(":memory:", memory_limit="1GB") as s:
        assert s.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "953.6 MiB"
    monkeypatch.setenv("CIBSCOPE_MEMORY_LIMIT", "")
    with Store(":memory:") as s, duckdb.connect() as plain:
        default = plain.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert s.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == default


def test_memory_limit_as_a_share_of_ram():
    with Store(":memory:", memory_limit="40%") as s, Store(":memory:", memory_limit="80%") as t:
        def gib(store):
            number, unit = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].split()
            return float(number) * {"MiB": 1 / 1024, "GiB": 1.0, "TiB": 1024.0}[unit]
        assert gib(t) == pytest.approx(2 * gib(s), rel=0.01)


GROUP = ["c1", 1, "election_integrity", "Election integrity", 12, 0.6, 0.75, ["rigged", "vote"],
         ["Dead people are voting: the election is RIGGED"]]


def _old_store(path) -> None:
    """A store as cibscope wrote it before ``cluster_narratives.representation``: one run and one group."""
    with Store(path) as s:
        s.con.execute("ALTER TABLE cluster_narratives DROP COLUMN representation")
        s.con.execute("INSERT INTO runs VALUES (1, ?, '{}', NULL, 0, 0, 0, 1, 0.1)", [dt.datetime(2026, 1, 2)])
        s.con.execute("INSERT INTO cluster_narratives VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)", GROUP)


def test_older_store_gains_the_representation_column(tmp_path):
    db = tmp_path / "old.duckdb"
    _old_store(db)
    # read-only: not migrated, and the report's query still reads it (representation unknown)
    with Store(db, read_only=True) as s:
        assert "representation" not in [c[0] for c in s.con.execute("DESCRIBE cluster_narratives").fetchall()]
        assert narratives(s, 1, ["c1"])["c1"][0]["representation"] is None
    with Store(db) as s:
        cols = [c[0] for c in s.con.execute("DESCRIBE cluster_narratives").fetchall()]
        assert cols[-1] == "representation"
        got = rows(s, "SELECT * FROM cluster_narratives")
        assert len(got) == 1 and got[0]["representation"] is None and got[0]["name"] == "Election integrity"
        s.con.execute("INSERT INTO cluster_narratives VALUES (1, 'c2', 1, 'other', 'other', 3, 1.0, 1.0, [], [], "
                      "'tfidf')")
    with Store(db) as s:     # a second open changes nothing
        assert [c[0] for c in s.con.execute("DESCRIBE cluster_narratives").fetchall()] == cols
        by = narratives(s, 1, ["c1", "c2"])
        assert by["c1"][0]["representation"] is None and by["c2"][0]["representation"] == "tfidf"


def test_export_of_an_older_store_imports(tmp_path):
    db = tmp_path / "old.duckdb"
    _old_store(db)
    with Store(db, read_only=True) as s:
        s.export_parquet(tmp_path / "export")
    with Store(tmp_path / "new.duckdb") as s:
        added = s.import_parquet(tmp_path / "export")
        assert added["runs"] == 1 and added["cluster_narratives"] == 1
        got = rows(s, "SELECT * FROM cluster_narratives")
        assert [got[0][k] for k in ("cluster_id", "n_posts", "top_terms", "representation")] == \
            ["c1", 12, ["rigged", "vote"], None]


def test_an_existing_file_that_is_not_a_store_is_refused(tmp_path):
    # DuckDB opened victim.csv as an empty in-memory store: "20 posts added", nothing written
    victim = tmp_path / "victim.csv"
    victim.write_text("a,b\n1,2\n")
    pheme = Path(__file__).parent / "fixtures" / "pheme" / "charliehebdo_20.json"
    for args in (["ingest", str(pheme)], ["status"]):
        r = CliRunner().invoke(app, [*args, "--db", str(victim)])
        assert r.exit_code == 2 and "victim.csv: exists and is not a DuckDB database" in r.output, r.output
    assert victim.read_text() == "a,b\n1,2\n"
    with pytest.raises(ValueError, match="is not a DuckDB database"):
        Store(victim)
    Store(tmp_path / "new.duckdb").close()  # a new file and an existing store open
    Store(tmp_path / "new.duckdb").close()
