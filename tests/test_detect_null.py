"""The null model and the cluster decision on data the tests generate (docs/detection.md).

- a lone network among organic data is found (it used to expect its own co-actions);
- slow coordination is found at the default scales and says at which scale;
- a group's verdict does not change when unrelated data is added to the store;
- accounts that each mirror one public feed are not an operation, though they co-act;
- an operation that hijacks many trending conversations is one, though it co-acts on a small share of
  its activity, and organic accounts surfing trends are not.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from cibscope.detect import DetectionParams, detect
from cibscope.ingest import ingest
from cibscope.report.query import unflagged_reason_sql
from cibscope.store.db import Store

from _null_data import T0, network_rows, organic_rows, trend_scenario_rows, write_posts


def _flagged(store: Store, run_id: int) -> dict[str, dict]:
    """{cluster_id: {members, lift, score, scale_s, overlap}} of the run's flagged clusters."""
    out = {}
    for cid, lift, score, scale, overlap in store.con.execute(
            "SELECT cluster_id, lift, score, scale_s, overlap FROM clusters WHERE run_id = ? AND flagged",
            [run_id]).fetchall():
        members = {k for (k,) in store.con.execute(
            "SELECT account_key FROM cluster_members WHERE run_id = ? AND cluster_id = ?", [run_id, cid]).fetchall()}
        out[cid] = {"members": members, "lift": lift, "score": score, "scale_s": scale, "overlap": overlap}
    return out


def _network_of(flagged: dict[str, dict], prefix: str) -> set[str]:
    return {m for c in flagged.values() for m in c["members"] if m.startswith(f"twitter:{prefix}op")}


def _ingested(tmp_path, *parts: list[list]) -> Store:
    """A store of ``parts`` (rows of :mod:`_null_data`), written as one cnt-csv file."""
    store = Store(tmp_path / "s.duckdb")
    ingest(store, write_posts(tmp_path / "posts.csv", *parts), fmt="cnt-csv")
    return store


def test_lone_network_among_organic_posts_is_flagged(tmp_path):
    # the case: 20 accounts posting the same 30 texts, each within 10 minutes, among 150,000
    # organic posts of 8,000 accounts: the old null (kappa from shared objects only) expected 28.5 of
    # the 30 co-actions of each pair and flagged nothing
    with _ingested(tmp_path, organic_rows("o", 150_000, 8_000, 14, seed=1),
                   network_rows("n", 20, 30, 600, 14, seed=2)) as store:
        run = detect(store, DetectionParams())
        flagged = _flagged(store, run.run_id)
        net = _network_of(flagged, "n")
        assert len(net) >= 18
        organic_flagged = {m for c in flagged.values() for m in c["members"] if m.startswith("twitter:ou")}
        assert organic_flagged == set()
        # the network's pairs are judged far beyond chance: expected well under one co-action
        exp = store.con.execute("""SELECT max(expected), min(n_coactions) FROM edges WHERE run_id = ?
                                   AND account_a LIKE 'twitter:nop%' AND account_b LIKE 'twitter:nop%'""",
                                [run.run_id]).fetchone()
        assert exp[0] < 0.5 and exp[1] >= 6


def test_one_scale_of_a_minute_misses_what_the_default_scales_find(tmp_path):
    # a network whose members post each text over 40 minutes: within 60 s only by luck
    path = write_posts(tmp_path / "posts.csv", organic_rows("o", 40_000, 3_000, 7, seed=3),
                       network_rows("s", 15, 25, 2400, 7, seed=4))
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, path, fmt="cnt-csv")
        fast = detect(store, DetectionParams(window_s=60))
        default = detect(store, DetectionParams())
        n_fast = store.con.execute("""SELECT count(*) FROM edges WHERE run_id = ?
            AND account_a LIKE 'twitter:sop%' AND account_b LIKE 'twitter:sop%'""", [fast.run_id]).fetchone()[0]
        found = _flagged(store, default.run_id)
        assert len(_network_of(found, "s")) == 15
        # at a minute only some of the 105 pairs co-act three times; at ten minutes or an hour all do
        by_scale = dict(store.con.execute("""SELECT scale_s, count(*) FROM edges WHERE run_id = ?
            AND account_a LIKE 'twitter:sop%' AND account_b LIKE 'twitter:sop%' GROUP BY scale_s""",
                                          [default.run_id]).fetchall())
        assert n_fast < 60 and sum(by_scale.values()) == 105 and by_scale.get(60.0, 0) < 60
        params = json.loads(store.con.execute("SELECT params FROM runs WHERE run_id = ?",
                                              [default.run_id]).fetchone()[0])
        assert params["windows"] == [60.0, 600.0, 3600.0]


def test_verdict_does_not_change_when_unrelated_data_is_added(tmp_path):
    # three networks (fast, medium, slow) with modest organic traffic; then ten times as much organic
    # data of other accounts on other objects in the same days
    parts = [organic_rows("o", 10_000, 1_500, 7, seed=5), network_rows("a", 12, 20, 30, 7, seed=6),
             network_rows("b", 25, 15, 300, 7, seed=7), network_rows("c", 8, 30, 1800, 7, seed=8)]
    alone = write_posts(tmp_path / "alone.csv", *parts)
    other = write_posts(tmp_path / "other.csv", organic_rows("x", 100_000, 15_000, 7, seed=9))
    verdicts = []
    for name, files in (("alone", [alone]), ("mixed", [alone, other])):
        with Store(tmp_path / f"{name}.duckdb") as store:
            for f in files:
                ingest(store, f, fmt="cnt-csv")
            run = detect(store, DetectionParams())
            verdicts.append(_flagged(store, run.run_id))
    for net in ("a", "b", "c"):
        before = [c for c in verdicts[0].values() if _network_of({"x": c}, net)]
        after = [c for c in verdicts[1].values() if _network_of({"x": c}, net)]
        assert before and after, net
        assert _network_of(verdicts[0], net) == _network_of(verdicts[1], net)
        # more uncoordinated activity on the same days lowers the background rate: the evidence may
        # only grow; it never turns a group into chance
        s0, s1 = max(c["score"] for c in before), max(c["score"] for c in after)
        assert s1 >= s0 * 0.9
        assert min(c["lift"] for c in after) >= 10
    # organic false positives stay rare (busy accounts that repost the same viral posts within a
    # minute, again and again: docs/detection.md, "What the decision does not separate")
    for v, n_organic in zip(verdicts, (1_500, 16_500)):
        organic = {m for c in v.values() for m in c["members"] if m.startswith(("twitter:ou", "twitter:xu"))}
        assert len(organic) <= 0.01 * n_organic


def test_feed_mirrors_co_act_but_are_not_an_operation(tmp_path):
    # 30 accounts each mirror a random 5 % of one outlet's 4,000 articles 10-300 s after publication
    # (each its own lag; the benchmark generator's feed bots): they co-link within a minute, but each
    # pair on a small share of its posts. (Mirrors of the same large share of one feed would be
    # flagged: docs/detection.md, "What the decision does not separate".)
    rng = np.random.default_rng(11)
    rows = organic_rows("o", 30_000, 3_000, 7, seed=12)
    pub = rng.uniform(0, 7 * 86400, 4000).astype(np.int64)
    for b in range(30):
        lag = rng.uniform(10, 300)
        for a in np.flatnonzero(rng.uniform(size=4000) < 0.05):
            t = int(pub[a] + lag * rng.uniform(0.5, 1.5))
            rows.append([f"f{b}_{a}", f"fb{b}", f"fb{b}", "", "", f"news {a} {b}", T0 + t,
                         f"https://outlet.example/a/{a}"])
    path = write_posts(tmp_path / "posts.csv", rows, network_rows("n", 12, 20, 60, 7, seed=13))
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, path, fmt="cnt-csv")
        run = detect(store, DetectionParams())
        n_feed_edges = store.con.execute("""SELECT count(*) FROM edges WHERE run_id = ?
            AND account_a LIKE 'twitter:fb%' AND account_b LIKE 'twitter:fb%'""", [run.run_id]).fetchone()[0]
        assert n_feed_edges > 20   # they do co-act significantly ...
        flagged = _flagged(store, run.run_id)
        assert not [m for c in flagged.values() for m in c["members"] if m.startswith("twitter:fb")]
        assert len(_network_of(flagged, "n")) == 12   # ... the planted network beside them is flagged
        overlap = store.con.execute("""SELECT max(overlap) FROM clusters c WHERE run_id = ? AND EXISTS (
            SELECT 1 FROM cluster_members m WHERE m.run_id = c.run_id AND m.cluster_id = c.cluster_id
            AND m.account_key LIKE 'twitter:fb%')""", [run.run_id]).fetchone()[0]
        assert overlap is not None and overlap < 0.07
        # rule 4 says why: one source (the outlet) explains their co-actions
        share, top, reason = store.con.execute(f"""SELECT c.source_share, c.top_source, {unflagged_reason_sql()}
            FROM clusters c JOIN runs r USING (run_id) WHERE c.run_id = ? AND NOT c.flagged AND EXISTS (
            SELECT 1 FROM cluster_members m WHERE m.run_id = c.run_id AND m.cluster_id = c.cluster_id
            AND m.account_key LIKE 'twitter:fb%')""", [run.run_id]).fetchone()
        assert share > 0.9 and top == "outlet.example"
        assert "one source holds" in reason and "outlet.example" in reason


def _trend_store(tmp_path, same_trends: bool) -> Store:
    """A store of :func:`_null_data.trend_scenario_rows`."""
    return _ingested(tmp_path, trend_scenario_rows(same_trends))


def _surfers(flagged: dict[str, dict]) -> set[str]:
    return {m for c in flagged.values() for m in c["members"] if m.startswith("twitter:su")}


def test_operation_hijacking_many_trends_is_flagged_by_its_sources(tmp_path):
    with _trend_store(tmp_path, same_trends=False) as store:
        run = detect(store, DetectionParams())
        flagged = _flagged(store, run.run_id)
        assert len(_network_of(flagged, "h")) >= 23
        cid = next(c for c, v in flagged.items() if any(m.startswith("twitter:hop") for m in v["members"]))
        overlap, share, n_src, n, hour_lift = store.con.execute(
            "SELECT overlap, source_share, n_sources, n_accounts, hour_lift FROM clusters WHERE run_id = ? AND "
            "cluster_id = ?", [run.run_id, cid]).fetchone()
        assert overlap < DetectionParams().min_overlap   # flagged by rule 4's source waiver, not the overlap
        assert share < 0.5 and n_src >= 5 * n and hour_lift >= 5
        # (the 400 surfers on trends of their own are flagged at 10 min: the strict xfail below)
        # waiver off (max_source_share 0): the overlap rule alone rejects the operation, as it did before
        off = detect(store, DetectionParams(max_source_share=0.0))
        assert not _network_of(_flagged(store, off.run_id), "h")


#: the trends' objects (120-133 accounts each) paired at 60 s only, as the single slow cap of 100 did
#: before the caps per scale: the case of trends that hundreds of accounts join (docs/detection.md)
TRENDS_AT_60S = DetectionParams(max_object_accounts_mid=100)


def test_trend_surfers_are_not_flagged_beside_an_operation_on_their_trends(tmp_path):
    # some surfers cluster apart from the rest (39 and 25 accounts, lifts 5.1-5.2 against their days'
    # background): against the background of their hours (the trends' bursts) they are chance (4.3 and
    # 4.7 < min_lift)
    with _trend_store(tmp_path, same_trends=True) as store:
        run = detect(store, TRENDS_AT_60S)
        assert len(_surfers(_flagged(store, run.run_id))) <= 4
        waived = store.con.execute("SELECT count(*) FROM clusters WHERE run_id = ? AND NOT flagged AND "
                                   "hour_lift < 5", [run.run_id]).fetchone()[0]
        assert waived >= 1   # the hourly background is what rejects them


@pytest.mark.xfail(strict=True, reason=(
    "measured 2026-12-04: at the 10 min scale (cap 200 accounts per object) the 400 surfers, who alone make "
    "280 trends of ~120 accounts each, are one 400-account cluster (lift 546, overlap 0.086): a fixed audience "
    "joining random thirds of objects only it uses, minutes apart, is what the generator's slow operations "
    "are too (docs/detection.md); only trends that more than 200 accounts join are paired at 60 s alone"))
def test_closed_community_of_trend_surfers_is_not_flagged(tmp_path):
    with _trend_store(tmp_path, same_trends=False) as store:
        assert len(_surfers(_flagged(store, detect(store, DetectionParams()).run_id))) <= 4


@pytest.mark.xfail(strict=True, reason=(
    "measured: with the trends paired at 60 s only (TRENDS_AT_60S) the 25 operation accounts join 63 surfers "
    "in one 88-account cluster (lift 15.4 at 60 s, overlap 0.049): surfers who join a trend in its first minutes "
    "co-act with the operation's cue, so Leiden does not separate them, and 280 sources are < 5 per member of "
    "88; at the defaults the operation is flagged with 26 surfers (a 51-account cluster) and 374 more surfers "
    "are flagged at 10 min (the closed community above)"))
def test_operation_hijacking_the_surfers_trends_is_found(tmp_path):
    with _trend_store(tmp_path, same_trends=True) as store:
        flagged = _flagged(store, detect(store, DetectionParams()).run_id)
        assert len(_network_of(flagged, "h")) >= 23 and len(_surfers(flagged)) <= 4


def test_large_slow_network_is_paired_at_ten_minutes(tmp_path):
    # 150 accounts each post 10 texts, the copies of a text spread over an hour: every text has 150
    # accounts, above the 1 h scale's cap (70) but within the 10 min scale's (200). Paired at 60 s only
    # (the caps before: 100 at every slow scale) a pair co-acts on ~3 % of the texts, at 10 min on ~31 %
    with _ingested(tmp_path, organic_rows("o", 40_000, 3_000, 7, seed=3),
                   network_rows("b", 150, 10, 3600, 7, seed=8)) as store:
        now = detect(store, DetectionParams())
        before = detect(store, DetectionParams(max_object_accounts_mid=100, max_object_accounts_slow=100))
        flagged = _flagged(store, now.run_id)
        assert len(_network_of(flagged, "b")) >= 140
        organic = {m for c in flagged.values() for m in c["members"] if m.startswith("twitter:ou")}
        assert len(organic) <= 5
        assert len(_network_of(_flagged(store, before.run_id), "b")) < 50
        # the network's edges are judged at 10 min, none at 1 h (the texts are above that scale's cap)
        by_scale = dict(store.con.execute("""SELECT scale_s, count(*) FROM edges WHERE run_id = ?
            AND account_a LIKE 'twitter:bop%' AND account_b LIKE 'twitter:bop%' GROUP BY scale_s""",
                                          [now.run_id]).fetchall())
        assert by_scale.get(600.0, 0) > 0.9 * sum(by_scale.values()) and 3600.0 not in by_scale


def test_object_caps_shrink_with_the_scale():
    p = DetectionParams()
    assert [p.object_cap(x) for x in range(3)] == [1000, 200, 70]
    # a scale's cap follows its length, whatever else the run tests
    assert DetectionParams(windows=[60, 600]).object_cap(1) == 200
    assert DetectionParams(windows=[60, 3600]).object_cap(1) == 70
    assert DetectionParams(window_s=3600).object_cap(0) == 70
    assert [DetectionParams(windows=[30, 300, 1200]).object_cap(x) for x in range(3)] == [1000, 200, 70]
    # a slower scale never pairs more popular objects than a faster one: clipped, and saved clipped
    q = DetectionParams(max_object_accounts_slow=500, max_object_accounts_mid=100)
    assert (q.max_object_accounts_mid, q.max_object_accounts_slow) == (100, 100)
    r = DetectionParams(max_object_accounts=50)
    assert (r.max_object_accounts_mid, r.max_object_accounts_slow) == (50, 50)
    assert json.loads(r.model_dump_json())["max_object_accounts_slow"] == 50


@pytest.mark.parametrize("bad", [dict(max_object_accounts=2**63), dict(max_object_accounts_mid=1),
                                 dict(min_lift=float("inf")), dict(burst_gap_s=float("inf")),
                                 dict(fast_repost_s=float("nan")), dict(min_sources_per_member=float("inf")),
                                 dict(window_s=60, windows=[600])])
def test_detection_parameters_that_make_no_sense_are_refused(bad):
    with pytest.raises(ValueError):
        DetectionParams(**bad)


def test_saved_parameters_read_back_and_duplicate_scales_count_once():
    p = DetectionParams()
    assert DetectionParams(**json.loads(p.model_dump_json())) == p   # window_s and windows both saved
    assert DetectionParams(windows=[60] * 7 + [600]).windows == [60.0, 600.0]


@pytest.mark.parametrize("bad", [[0], [-60], [], [float("inf")], [float("nan")], [1e308], [60, 40 * 86400],
                                 [1e-10]])
def test_bad_windows_are_refused(bad):
    with pytest.raises(ValueError):
        DetectionParams(windows=bad)
    if bad:
        with pytest.raises(ValueError):
            DetectionParams(window_s=bad[-1])
