"""Detector behaviour on small hand-checked cases and on a realistic planted-group mix."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from cibscope.detect import DetectionParams, detect
from cibscope.detect.significance import benjamini_hochberg, poisson_pvalues
from cibscope.store.db import Store

T0 = dt.datetime(2024, 3, 1, 12, 0, 0)
PARITY = dict(significance=False, min_coactions=1, min_account_actions=1, min_cluster_size=2)


def add_posts(store: Store, rows: list[dict]) -> None:
    """rows: dicts with post_id, account_id, t (seconds after T0) and any canonical post field."""
    cols: dict[str, list] = {"platform": [], "post_id": [], "account_id": [], "created_at": [],
                             "kind": [], "text": [], "repost_of": [], "urls": [], "hashtags": []}
    for r in rows:
        cols["platform"].append("twitter")
        cols["post_id"].append(str(r["post_id"]))
        cols["account_id"].append(str(r["account_id"]))
        cols["created_at"].append(T0 + dt.timedelta(seconds=r["t"]))
        cols["kind"].append(r.get("kind", "repost" if r.get("repost_of") else "post"))
        cols["text"].append(r.get("text"))
        cols["repost_of"].append(r.get("repost_of"))
        cols["urls"].append(r.get("urls", []))
        cols["hashtags"].append(r.get("hashtags", []))
    store.add_batch(dataset="t", source_file="test", posts=pa.table(cols))


def edges(store: Store, run_id: int) -> dict[tuple[str, str], dict]:
    rows = store.con.sql("SELECT * FROM edges WHERE run_id = $r", params={"r": run_id}).to_arrow_table().to_pylist()
    return {(r["account_a"], r["account_b"]): r for r in rows}


@pytest.fixture
def store():
    s = Store(":memory:")
    yield s
    s.close()


def test_repost_30s_apart_is_an_edge_2h_apart_is_not(store):
    add_posts(store, [
        dict(post_id=1, account_id="a", t=0, repost_of="twitter:999"),
        dict(post_id=2, account_id="b", t=30, repost_of="twitter:999"),
        dict(post_id=3, account_id="c", t=7200, repost_of="twitter:999"),
    ])
    run = detect(store, DetectionParams(window_s=60, **PARITY))
    e = edges(store, run.run_id)
    assert set(e) == {("twitter:a", "twitter:b")}
    ev = store.con.execute("SELECT action_type, object_key, post_a, post_b, gap_s FROM edge_evidence "
                           "WHERE run_id = ?", [run.run_id]).fetchall()
    assert ev == [("repost", "twitter:999", "twitter:1", "twitter:2", 30.0)]
    # leader/follower: a acted first
    assert e[("twitter:a", "twitter:b")]["a_first"] == 1 and e[("twitter:a", "twitter:b")]["b_first"] == 0


def test_window_is_sliding_not_binned(store):
    # 59 s and 61 s fall into different 60 s buckets but are 2 s apart
    add_posts(store, [
        dict(post_id=1, account_id="a", t=59, repost_of="twitter:7"),
        dict(post_id=2, account_id="b", t=61, repost_of="twitter:7"),
        dict(post_id=3, account_id="c", t=121 + 60, repost_of="twitter:7"),  # 120 s after b: outside
    ])
    run = detect(store, DetectionParams(window_s=60, **PARITY))
    assert set(edges(store, run.run_id)) == {("twitter:a", "twitter:b")}


def test_posts_without_url_never_share_an_empty_url(store):
    add_posts(store, [
        dict(post_id=1, account_id="a", t=0, text="first words here now", urls=[""]),
        dict(post_id=2, account_id="b", t=5, text="other words said here", urls=["   "]),
        dict(post_id=3, account_id="c", t=8, text="third thing posted now", urls=[]),
    ])
    assert store.con.execute("SELECT count(*) FROM actions WHERE action_type = 'link'").fetchone()[0] == 0
    run = detect(store, DetectionParams(window_s=60, signals=["link"], **PARITY))
    assert run.n_edges == 0


def test_url_variants_are_one_link_object(store):
    add_posts(store, [
        dict(post_id=1, account_id="a", t=0, urls=["https://www.Example.com/story/?utm_source=tw"]),
        dict(post_id=2, account_id="b", t=10, urls=["http://example.com/story#comments"]),
    ])
    run = detect(store, DetectionParams(window_s=60, signals=["link"], **PARITY))
    assert set(edges(store, run.run_id)) == {("twitter:a", "twitter:b")}


def test_min_coactions_counts_distinct_objects(store):
    rows = []
    for i, obj in enumerate(["x", "y"]):
        rows += [dict(post_id=f"a{i}", account_id="a", t=i * 1000, repost_of=f"twitter:{obj}"),
                 dict(post_id=f"b{i}", account_id="b", t=i * 1000 + 5, repost_of=f"twitter:{obj}")]
    add_posts(store, rows)
    two = detect(store, DetectionParams(window_s=60, **{**PARITY, "min_coactions": 2}))
    three = detect(store, DetectionParams(window_s=60, **{**PARITY, "min_coactions": 3}))
    assert edges(store, two.run_id)[("twitter:a", "twitter:b")]["n_coactions"] == 2
    assert three.n_edges == 0


def test_popular_object_is_not_expanded(store):
    # 60 accounts repost one post within a minute: 1,770 pairs if expanded
    add_posts(store, [dict(post_id=i, account_id=f"u{i:03d}", t=i, repost_of="twitter:viral") for i in range(60)])
    run = detect(store, DetectionParams(window_s=60, max_object_accounts=50, **PARITY))
    assert run.n_candidate_pairs == 0
    run = detect(store, DetectionParams(window_s=60, max_object_accounts=100, **PARITY))
    assert run.n_candidate_pairs == 60 * 59 // 2


def planted_mix(seed: int = 3, n_organic: int = 300, group: int = 12):
    """Organic accounts reposting Zipf-popular posts at random times, plus one group that reposts
    its own seeds within seconds of each other."""
    rng = np.random.default_rng(seed)
    rows, pid = [], 0
    span = 7 * 86400
    pop = 1 / np.arange(1, 2001) ** 1.1
    pop /= pop.sum()
    for u in range(n_organic):
        for _ in range(int(rng.integers(5, 40))):
            obj = int(rng.choice(2000, p=pop))
            rows.append(dict(post_id=pid, account_id=f"org{u:04d}", t=int(rng.uniform(0, span)),
                             repost_of=f"twitter:o{obj}"))
            pid += 1
    for ev in range(25):
        t_ev = rng.uniform(0, span)
        for m in range(group):
            if rng.uniform() < 0.6:
                rows.append(dict(post_id=pid, account_id=f"op{m:02d}", t=int(t_ev + rng.exponential(10)),
                                 repost_of=f"twitter:camp{ev}"))
                pid += 1
    return rows


def test_significance_separates_planted_group_from_organic(store):
    add_posts(store, planted_mix())
    run = detect(store, DetectionParams(window_s=60, min_coactions=3))
    members = store.con.execute(
        "SELECT cluster_id, account_key FROM cluster_members WHERE run_id = ?", [run.run_id]).fetchall()
    flagged = {a for _, a in members}
    ops = {f"twitter:op{m:02d}" for m in range(12)}
    assert len(flagged & ops) >= 11
    assert not any(a.startswith("twitter:org") for a in flagged)
    top = store.con.execute("SELECT n_accounts, p_value, summary FROM clusters WHERE run_id = ? AND rank = 1 AND flagged",
                            [run.run_id]).fetchone()
    assert top[0] >= 11 and top[1] < 1e-6 and "repost" in top[2]


def test_same_input_same_clusters_and_ids(store):
    add_posts(store, planted_mix(seed=5))
    r1 = detect(store, DetectionParams())
    r2 = detect(store, DetectionParams())
    q = "SELECT cluster_id, account_key FROM cluster_members WHERE run_id = ? ORDER BY ALL"
    assert store.con.execute(q, [r1.run_id]).fetchall() == store.con.execute(q, [r2.run_id]).fetchall()
    qe = "SELECT account_a, account_b, n_coactions, p_value FROM edges WHERE run_id = ? ORDER BY ALL"
    assert store.con.execute(qe, [r1.run_id]).fetchall() == store.con.execute(qe, [r2.run_id]).fetchall()


def test_run_parameters_are_persisted(store):
    add_posts(store, planted_mix(seed=6))
    params = DetectionParams(window_s=30, min_coactions=2)
    run = detect(store, params)
    saved = store.con.execute("SELECT params FROM runs WHERE run_id = ?", [run.run_id]).fetchone()[0]
    assert DetectionParams.model_validate_json(saved) == params


def test_poisson_and_bh():
    p = poisson_pvalues(np.array([0, 1, 5]), np.array([1.0, 1.0, 1.0]))
    assert p[0] == pytest.approx(1.0)
    assert p[1] == pytest.approx(1 - np.exp(-1))
    assert p[2] == pytest.approx(0.00366, rel=1e-2)
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    # sorted p: .01 .03 .04 .5 -> p*n/rank: .04 .06 .0533 .5 -> running min from the top
    assert q.tolist() == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5], rel=1e-9)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="signals"):
        DetectionParams(signals=["retweet"])
    with pytest.raises(ValueError):
        DetectionParams(window_s=0)


def test_object_and_post_numbers_are_dense_and_follow_md5_bucket_then_key():
    import hashlib

    import duckdb
    import ibis

    from cibscope.detect.core import BUCKET_DIGITS, bucket_numbered

    # real-looking keys: tweet ids, URLs, non-ASCII hashtags; 5,000 of them spread over the 4,096 buckets
    keys = [f"twitter:{1_200_000_000_000_000_000 + 7919 * i}" for i in range(4000)]
    keys += [f"https://example.org/story/{i}?utm=x" for i in range(900)] + ["#Україна", "#café", "#CAFÉ"] * 30
    keys = list(dict.fromkeys(keys))
    backend = ibis.duckdb.from_connection(duckdb.connect())
    t = backend.create_table("k", pa.table({"post_key": keys}), temp=True)
    got = bucket_numbered(t, "pid", "int64", order=["post_key"], hashed="post_key").to_pyarrow()
    assert got.column_names == ["pid", "post_key"] and got.schema.field("pid").type == pa.int64()
    by_key = dict(zip(got.column("post_key").to_pylist(), got.column("pid").to_pylist()))
    expected = sorted(keys, key=lambda k: (hashlib.md5(k.encode()).hexdigest()[:BUCKET_DIGITS], k.encode()))
    assert [by_key[k] for k in expected] == list(range(1, len(keys) + 1))
    # the relative order of two keys does not depend on the other keys present
    sub = backend.create_table("s", pa.table({"post_key": keys[::7]}), temp=True)
    got_sub = bucket_numbered(sub, "pid", "int64", order=["post_key"], hashed="post_key").to_pyarrow()
    sub_order = [k for _, k in sorted(zip(got_sub.column("pid").to_pylist(), got_sub.column("post_key").to_pylist()))]
    assert sub_order == [k for k in expected if k in set(keys[::7])]
