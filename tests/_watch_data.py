"""The shipped real IRA sample (data/sample/ira-sample) cut into files as a live export would arrive:
one IRA-layout CSV per day in time order, optionally preceded by one file holding everything earlier
(the backlog a watch starts with). The rows are unchanged; only the files they sit in differ."""
from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

import duckdb

from cibscope.detect import batch_core, detect
from cibscope.watch import state

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "ira-sample"
#: The IRA-layout columns, in file order.
COLUMNS = ("author_id", "content", "region", "language", "publish_date", "harvested_date", "following",
           "followers", "updates", "post_type", "retweet")


def day_files(out: Path, first: str, last: str, *, backlog: bool = True) -> list[Path]:
    """Write ``<day>.csv`` for each day from ``first`` to ``last`` (``YYYY-MM-DD``, inclusive) with data, and
    with ``backlog`` a ``0000-backlog.csv`` of every earlier row; return the files in name (= time) order."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""CREATE TABLE t AS SELECT *, left(publish_date, 10) AS day FROM read_csv('{SAMPLE}/*/*.csv',
                    all_varchar = true, header = true, filename = true)""")
    cols = ", ".join(COLUMNS)
    files = []
    if backlog:
        files.append(out / "0000-backlog.csv")
        con.execute(f"COPY (SELECT {cols} FROM t WHERE day < '{first}' ORDER BY filename, publish_date) "
                    f"TO '{files[-1]}' (HEADER)")
    days = [d for (d,) in con.execute("SELECT DISTINCT day FROM t WHERE day BETWEEN ? AND ? ORDER BY day",
                                      [first, last]).fetchall()]
    for d in days:
        files.append(out / f"{d}.csv")
        con.execute(f"COPY (SELECT {cols} FROM t WHERE day = '{d}' ORDER BY filename, publish_date) "
                    f"TO '{files[-1]}' (HEADER)")
    con.close()
    return files


RESULT_TABLES = ("edges", "edge_evidence", "clusters", "cluster_members")


def run_rows(store, table: str, run_id: int) -> list[tuple]:
    """Rows of a result table for one run, without the run id, sorted."""
    return store.con.execute(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = ? ORDER BY ALL",
                             [run_id]).fetchall()


def assert_equals_batch(store, params, run_id: int):
    """Run ``detect`` over the watch's current horizon and assert its result tables equal run ``run_id``'s."""
    h = state.get(store.con, "horizon")
    horizon = (dt.datetime.fromisoformat(h[0]), dt.datetime.fromisoformat(h[1]))
    batch = detect(store, params, builder=partial(batch_core, between=horizon))
    for t in RESULT_TABLES:
        assert run_rows(store, t, run_id) == run_rows(store, t, batch.run_id), t
    return batch
