"""Shared test helpers and fixtures.

- the fixture folder, the shared data folder, a throw-away store, bad-CSV copies (ingest tests);
- real IRA rows in a temporary store and hand-made detection runs over them (report tests):
  ``make_run`` writes the five result tables the way a detection run does, for clusters the
  test names, deriving every number from the store's real actions so that counts, times and
  evidence agree with ``posts``/``actions``. It is a stand-in for the detector's output (not a
  detector: the clusters are given); tests of the outputs keep working when real runs replace it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from cibscope.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
IRA = SHARED / "ira-troll-tweets-by-author"

#: Real IRA clusters in ``F/`` (accounts sharing hashtags, mentions, links, texts within days);
#: the ``ira_store`` run flags the first three as candidate operations, not the last.
IRA_CLUSTERS = [
    ["twitter:FairyMinky", "twitter:FloydSwenson555", "twitter:FannieBradley88",
     "twitter:FrancescaVand", "twitter:fredythecreator"],                               # Fearmonger
    ["twitter:FightM_D_B", "twitter:FinnaGlo"],                                          # LeftTroll
    ["twitter:FilinLeonid", "twitter:FrolFrolDi", "twitter:FhilPril"],                   # NonEnglish
    ["twitter:FisherrrCaleb", "twitter:Funky_KaY1", "twitter:fukkkkherr"],               # RightTroll
]
#: Attacker-written text planted (as extra tweets) in the Fearmonger accounts' files.
XSS_TEXT = "<script>alert(1)</script> share this before they delete it"


def pytest_collection_modifyitems(config, items):
    if IRA.exists():
        return
    skip = pytest.mark.skip(reason=f"{IRA} is absent (../shared/data)")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


def assemble_ira(folder: Path, letter: str = "F", plant: dict[str, list[tuple[str, str]]] | None = None) -> Path:
    """Copy one letter's real IRA tweet files and their ``authors.csv`` rows into ``folder``.

    ``plant`` maps an author_id to extra ``(publish_date, content)`` tweets
    appended to its copied file (in the file's own CSV layout).
    """
    (folder / letter).mkdir(parents=True, exist_ok=True)
    files = sorted((IRA / letter).glob("*.csv"))
    names = {f.stem for f in files}
    for f in files:
        shutil.copy(f, folder / letter / f.name)
    with open(IRA / "authors.csv", newline="", encoding="utf-8") as src, \
            open(folder / "authors.csv", "w", newline="", encoding="utf-8") as dst:
        rows = csv.reader(src)
        out = csv.writer(dst)
        out.writerow(next(rows))
        out.writerows(r for r in rows if r[0] in names)
    for author, tweets in (plant or {}).items():
        with open(folder / letter / f"{author}.csv", "a", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            for when, text in tweets:
                w.writerow([author, text, "United States", "English", when, when, "10", "10", "1", "", "0"])
    return folder


def make_run(store, clusters: list[list[str]], *, datasets: list[str] | None = None,
             params: dict | None = None, window_s: float = 7 * 86400, flagged: list[bool] | None = None) -> int:
    """Write a detection run whose clusters are ``clusters`` (lists of account keys); return its run_id.

    ``flagged`` gives ``clusters.flagged`` per cluster (default: all flagged).

    Evidence is every (member pair, shared object) of ``actions`` within
    ``window_s`` seconds, keeping the closest post pair; edges, clusters and
    members are aggregated from that evidence exactly as the schema comments
    define them. p-values are illustrative (``10 ** -n_coactions``).
    """
    con = store.con
    run_id = con.execute("SELECT nextval('run_seq')").fetchone()[0]
    con.execute("CREATE OR REPLACE TEMP TABLE _mr_members (cluster_id VARCHAR, account_key VARCHAR, flagged BOOLEAN)")
    for i, members in enumerate(clusters):
        cid = "c" + hashlib.sha256("|".join(sorted(members)).encode()).hexdigest()[:15]
        flag = True if flagged is None else flagged[i]
        con.executemany("INSERT INTO _mr_members VALUES (?, ?, ?)", [[cid, m, flag] for m in members])
    con.execute(f"""
        INSERT INTO edge_evidence
        WITH a AS (SELECT x.*, m.cluster_id FROM actions x JOIN _mr_members m USING (account_key)
                   WHERE ? IS NULL OR list_contains(?, x.dataset)),
        pairs AS (
            SELECT x.account_key AS account_a, y.account_key AS account_b, x.action_type, x.object_key,
                   x.post_key AS post_a, y.post_key AS post_b, x.ts AS ts_a, y.ts AS ts_b,
                   epoch(y.ts) - epoch(x.ts) AS gap_s
            FROM a x JOIN a y ON x.cluster_id = y.cluster_id AND x.account_key < y.account_key
                              AND x.action_type = y.action_type AND x.object_key = y.object_key
            WHERE abs(epoch(y.ts) - epoch(x.ts)) <= {float(window_s)}),
        users AS (SELECT action_type, object_key, count(DISTINCT account_key) AS n FROM actions GROUP BY ALL)
        SELECT {run_id}, account_a, account_b, action_type, object_key, count(*) AS n_post_pairs,
               arg_min(post_a, abs(gap_s)), arg_min(post_b, abs(gap_s)), arg_min(ts_a, abs(gap_s)),
               arg_min(ts_b, abs(gap_s)), arg_min(gap_s, abs(gap_s)), any_value(1 / ln(1 + u.n))
        FROM pairs JOIN users u USING (action_type, object_key)
        GROUP BY account_a, account_b, action_type, object_key
    """, [datasets, datasets])
    con.execute(f"""
        INSERT INTO edges
        SELECT run_id, account_a, account_b, count(*), sum(n_post_pairs), sum(object_weight), 0.1 * count(*),
               pow(10, -least(count(*), 300)), pow(10, -least(count(*), 300)), list_sort(list(DISTINCT action_type)),
               count(*) FILTER (WHERE gap_s > 0), count(*) FILTER (WHERE gap_s < 0), median(abs(gap_s)),
               min(least(ts_a, ts_b)), max(greatest(ts_a, ts_b)), NULL
        FROM edge_evidence WHERE run_id = {run_id} GROUP BY ALL
    """)
    con.execute(f"""
        INSERT INTO cluster_members BY NAME
        WITH e AS (SELECT e.*, m.cluster_id FROM edges e JOIN _mr_members m ON m.account_key = e.account_a
                   WHERE e.run_id = {run_id}),
        ends AS (SELECT cluster_id, unnest([account_a, account_b]) AS account_key, weight, q_value FROM e)
        SELECT {run_id} AS run_id, m.cluster_id, m.account_key, count(ends.weight) AS degree,
               coalesce(sum(ends.weight), 0) AS strength, coalesce(least(max(-log10(ends.q_value)), 300), 0) AS score
        FROM _mr_members m LEFT JOIN ends USING (cluster_id, account_key)
        WHERE m.cluster_id IN (SELECT cluster_id FROM e)        -- a group with no edge is no cluster
        GROUP BY ALL
    """)
    con.execute(f"""
        INSERT INTO clusters BY NAME
        WITH e AS (SELECT m.cluster_id, e.* FROM edges e JOIN _mr_members m ON m.account_key = e.account_a
                   WHERE e.run_id = {run_id}),
        ev AS (SELECT m.cluster_id, v.action_type, count(*) AS n FROM edge_evidence v
               JOIN _mr_members m ON m.account_key = v.account_a WHERE v.run_id = {run_id} GROUP BY ALL),
        sig AS (SELECT cluster_id, json_group_object(action_type, share) AS signals
                FROM (SELECT *, round(n / sum(n) OVER (PARTITION BY cluster_id), 4) AS share FROM ev)
                GROUP BY cluster_id),
        size AS (SELECT cluster_id, count(*) AS n_accounts, bool_and(flagged) AS flagged FROM _mr_members GROUP BY ALL),
        agg AS (SELECT cluster_id, count(*) AS n_edges, sum(n_coactions) AS n_coactions, sum(expected) AS expected,
                       min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM e GROUP BY ALL)
        SELECT {run_id} AS run_id, a.cluster_id,
               row_number() OVER (ORDER BY s.flagged DESC, a.n_coactions DESC, a.cluster_id) AS rank,
               s.n_accounts, a.n_edges, a.n_coactions, a.expected, pow(10, -least(a.n_coactions, 300)) AS p_value,
               least(a.n_coactions, 300) AS score, a.n_coactions / a.expected AS lift, s.flagged, g.signals,
               a.first_seen, a.last_seen,
               s.n_accounts || ' accounts with ' || a.n_coactions || ' co-actions between '
                   || strftime(a.first_seen, '%Y-%m-%d') || ' and ' || strftime(a.last_seen, '%Y-%m-%d') AS summary
        FROM agg a JOIN size s USING (cluster_id) JOIN sig g USING (cluster_id)
    """)
    counts = con.execute(f"""
        SELECT (SELECT count(*) FROM actions WHERE ? IS NULL OR list_contains(?, dataset)),
               (SELECT count(DISTINCT account_key) FROM actions WHERE ? IS NULL OR list_contains(?, dataset)),
               (SELECT count(*) FROM edges WHERE run_id = {run_id}),
               (SELECT count(*) FROM clusters WHERE run_id = {run_id})
    """, [datasets] * 4).fetchone()
    con.execute("INSERT INTO runs VALUES (?, now()::TIMESTAMP, ?, ?, ?, ?, ?, ?, 0.5)",
                [run_id, json.dumps(params or {"window_s": window_s, "min_coactions": 2, "alpha": 0.01}),
                 datasets, *counts])
    con.execute("DROP TABLE _mr_members")
    return run_id


@pytest.fixture(scope="session")
def ira_store(tmp_path_factory):
    """A store holding all real IRA tweets of letter F, plus planted XSS tweets; with one run (IRA_CLUSTERS)."""
    if not IRA.exists():
        pytest.skip(f"{IRA} is absent")
    from cibscope.ingest import ingest
    from cibscope.store.db import Store

    base = tmp_path_factory.mktemp("ira")
    authors = IRA_CLUSTERS[0]
    plant = {a.split(":", 1)[1]: [(f"2016-03-01 12:0{i}:00", XSS_TEXT)] for i, a in enumerate(authors)}
    folder = assemble_ira(base / "ira-F", plant=plant)
    store = Store(base / "store.duckdb")
    ingest(store, folder)
    run_id = make_run(store, IRA_CLUSTERS, flagged=[True, True, True, False])
    yield store, run_id
    store.close()


@pytest.fixture
def store():
    s = Store(":memory:")
    yield s
    s.close()


def rows(store: Store, sql: str, params=None) -> list[dict]:
    """Query the store and return rows as dicts."""
    cur = store.con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def errors(store: Store) -> dict[int, dict]:
    """The store's ingest errors keyed by line."""
    return {r["line"]: r for r in rows(store, "SELECT * FROM ingest_errors ORDER BY line")}


def with_bad_rows(src: Path, dst: Path, bad: list[bytes]) -> list[int]:
    """Copy CSV ``src`` to ``dst`` with the byte lines ``bad`` appended; returns their line numbers.

    Line numbers count records (header = 1), as DuckDB's CSV rejects do: a
    quoted field spanning lines earlier in the file counts once.
    """
    data = src.read_bytes()
    eol = b"\r\n" if b"\r\n" in data else b"\n"  # keep the file's line ending
    if not data.endswith(b"\n"):
        data += eol
    first = len(list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))) + 1
    dst.write_bytes(data + b"".join(b + eol for b in bad))
    return list(range(first, first + len(bad)))


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL cluster for the session (tests/pg_cluster.py); skipped without PostgreSQL
    binaries or the psycopg driver."""
    from pg_cluster import PgCluster, find_bindir
    pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) is not installed")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql")
    cluster = PgCluster(bindir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()
