"""Adversarial scenarios (issue #16): organic situations that look coordinated must not be flagged as
operations, operations that try to look organic must be (docs/evaluation.md, "Adversarial scenarios").

One store holds two weeks of organic background (6,000 accounts, 150,000 posts: tests/scenarios.py)
and every scenario beside it, as an investigator's store would; one ``detect`` run at default
parameters judges them all. A second store with the background alone is the baseline: organic
background accounts it already flags (busy accounts, see the evaluation) are not blamed on a scenario.
A flagged cluster is *due to* a scenario when at least a fifth of its evidence rows are the scenario's
posts (post ids carry the scenario's prefix).

Scenarios that fail today are ``xfail(strict=True)`` with the measured numbers: the suite stays green,
the failure stays visible, and a fix turns them into an XPASS that must be acknowledged.
"""
from __future__ import annotations

import numpy as np
import pytest

from cibscope.detect import DetectionParams, detect
from cibscope.ingest import ingest
from cibscope.store.db import Store

import scenarios as S
from _null_data import T0, organic_rows, write_posts

N_BG = 6000


class Run:
    """One detection run and what the tests ask of it."""

    def __init__(self, store: Store, run_id: int):
        self.store, self.run_id = store, run_id
        con = store.con
        self.clusters = {r[0]: dict(zip(("n", "lift", "p", "scale", "overlap", "flagged", "coactions", "expected"),
                                        r[1:]))
                         for r in con.execute("""SELECT cluster_id, n_accounts, lift, p_value, scale_s, overlap,
                                                 flagged, n_coactions, expected FROM clusters WHERE run_id = ?""",
                                              [run_id]).fetchall()}
        self.members: dict[str, set[str]] = {}
        for cid, acc in con.execute("SELECT cluster_id, account_key FROM cluster_members WHERE run_id = ?",
                                    [run_id]).fetchall():
            self.members.setdefault(cid, set()).add(acc)
        self.flagged_accounts = {a for c, m in self.members.items() if self.clusters[c]["flagged"] for a in m}

    def evidence_share(self, cid: str, post_prefixes: tuple[str, ...]) -> float:
        """Share of the cluster's internal evidence rows whose first post is one of the scenario's."""
        like = " OR ".join("e.post_a LIKE ?" for _ in post_prefixes)
        n, hit = self.store.con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE {like}) FROM edge_evidence e
            JOIN cluster_members a ON a.run_id = e.run_id AND a.account_key = e.account_a
            JOIN cluster_members b ON b.run_id = e.run_id AND b.account_key = e.account_b
                                  AND b.cluster_id = a.cluster_id
            WHERE e.run_id = ? AND a.cluster_id = ?""",
                                        [*[f"twitter:{p}%" for p in post_prefixes], self.run_id, cid]).fetchone()
        return hit / n if n else 0.0

    def due_to(self, post_prefixes: tuple[str, ...]) -> dict[str, dict]:
        """Flagged clusters with at least 20 % of their evidence on the scenario's posts."""
        return {c: {**v, "members": self.members[c]} for c, v in self.clusters.items()
                if v["flagged"] and self.evidence_share(c, post_prefixes) >= 0.2}

    def recall(self, accounts: set[str]) -> tuple[float, list[dict]]:
        """Share of ``accounts`` in a flagged cluster, and the clusters (flagged or not) holding most of them."""
        found = len(accounts & self.flagged_accounts) / len(accounts)
        holding = sorted(({**v, "id": c, "inside": len(self.members[c] & accounts)}
                          for c, v in self.clusters.items() if self.members[c] & accounts),
                         key=lambda d: -d["inside"])
        return found, holding[:3]


def _accounts(prefix: str, n: int) -> set[str]:
    return {f"twitter:{prefix}{i}" for i in range(n)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The background alone and the background with every scenario, each detected at defaults."""
    tmp = tmp_path_factory.mktemp("scenarios")
    bg, rows, sets = S.world(N_BG)
    bg_csv, sc_csv = write_posts(tmp / "bg.csv", bg), write_posts(tmp / "sc.csv", rows)
    runs = {}
    for name, files in (("background", [bg_csv]), ("all", [bg_csv, sc_csv])):
        store = Store(tmp / f"{name}.duckdb")
        store.con.execute("SET memory_limit = '2GB'")
        for f in files:
            ingest(store, f, fmt="cnt-csv")
        runs[name] = Run(store, detect(store, DetectionParams()).run_id)
    runs["sets"] = sets
    yield runs
    for name in ("background", "all"):
        runs[name].store.close()


#: post-id prefixes of every scenario (tests/scenarios.py)
PREFIXES = {"newsroom": ("nra", "nrcov"), "hashtag_game": ("hg",), "fans": ("fan",), "viral": ("vr",),
            "sports": ("sp",), "jittered": ("jt",), "paraphrased": ("pp",), "rotating": ("rl",), "slow": ("sl",),
            "hidden": ("hd",)}


def _new_flags(world, scenario: str) -> set[str]:
    """Participants of ``scenario`` flagged with the scenarios in the store but not on the background
    alone, leaving out the members of clusters due to another scenario (participants are drawn from
    the same background accounts, so a fan may also play the hashtag game)."""
    run = world["all"]
    elsewhere = {a for other, pre in PREFIXES.items() if other != scenario
                 for c in run.due_to(pre).values() for a in c["members"]}
    return (world["sets"][scenario] & run.flagged_accounts) - world["background"].flagged_accounts - elsewhere


# -- organic look-alikes ----------------------------------------------------------------------------------

def test_newsroom_is_found_as_coordination_with_its_outlet_in_the_evidence(world):
    # Authentic coordination: cibscope flags coordination and leaves authenticity to the analyst
    # (docs/explain.md: "Coordination alone is not inauthenticity: fans, activists and newsrooms
    # coordinate too"; docs/detection.md: "A flag is a lead for an investigator, not a verdict").
    # So the outlet's accounts should form one flagged cluster whose evidence names the outlet.
    run = world["all"]
    staff = _accounts("nr", 15)
    found, holding = run.recall(staff)
    assert found >= 0.9, holding
    top = max(holding, key=lambda d: d["inside"])
    assert top["flagged"] and top["inside"] >= 14
    summary = run.store.con.execute("SELECT summary FROM clusters WHERE run_id = ? AND cluster_id = ?",
                                    [run.run_id, top["id"]]).fetchone()[0]
    assert "dailyherald.example" in summary
    assert run.members[top["id"]] <= staff  # no organic account swept into the outlet's cluster


def test_hashtag_game_is_not_flagged(world):
    assert world["all"].due_to(PREFIXES["hashtag_game"]) == {}
    assert len(_new_flags(world, "hashtag_game")) <= 10


@pytest.mark.xfail(strict=True, reason=(
    "measured 2026-12-04: the 300 fans form one flagged 309-account cluster (298 fans), 326,421 co-action "
    "events within 60 s against 4,545 expected (lift 72, overlap 0.19): the null (configuration model per "
    "UTC day and signal) does not know that an account's audience reacts to its posts at once, so "
    "a loyal audience is judged like an amplification network (docs/evaluation.md)"))
def test_fans_reposting_their_celebrity_are_not_flagged(world):
    assert world["all"].due_to(PREFIXES["fans"]) == {}
    assert len(_new_flags(world, "fans")) <= 10


def test_viral_post_is_not_flagged(world):
    assert world["all"].due_to(PREFIXES["viral"]) == {}
    # the ten hidden operators are among the resharers; nobody else may be flagged because of it
    assert len(_new_flags(world, "viral") - world["sets"]["hidden"]) <= 10


def test_sports_event_is_not_flagged(world):
    assert world["all"].due_to(PREFIXES["sports"]) == {}
    assert len(_new_flags(world, "sports")) <= 10


# -- operations that try to look organic ------------------------------------------------------------------

def test_jittered_timing_operation_is_found(world):
    found, holding = world["all"].recall(_accounts("jt", 25))
    assert found >= 0.9, holding


@pytest.mark.xfail(strict=True, reason=(
    "measured: 0 of 30 accounts, 0 edges: exact-text co-tweets need identical texts, and text_near "
    "(MinHash, off by default) switched on finds 0 edges at threshold 0.6 and 1 at 0.4: its LSH "
    "connected components chain all 600 paraphrases of the 20 messages into one family, so every "
    "pair co-acts on one object (min_coactions is 3)"))
def test_paraphrased_operation_is_found(world):
    found, holding = world["all"].recall(_accounts("pp", 30))
    assert found >= 0.9, holding


@pytest.mark.xfail(strict=True, reason=(
    "measured: 0 edges among the 30 accounts with text_near on (threshold 0.6 and 0.4): the LSH "
    "connected components make all 600 paraphrases one family, one object per pair"))
def test_paraphrased_operation_is_found_by_near_duplicates(tmp_path):
    # the near-duplicate signal switched on, as docs/detection.md offers it: the 20 messages are 20
    # separate co-actions of every pair (each within its own 10 minutes), not one
    path = write_posts(tmp_path / "posts.csv", organic_rows("o", 20_000, 2_000, 14, seed=31), S.paraphrased())
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, path, fmt="cnt-csv")
        run = Run(store, detect(store, DetectionParams(
            signals=[*DetectionParams().signals, "text_near"])).run_id)
        found, holding = run.recall(_accounts("pp", 30))
        assert found >= 0.9, holding


def test_rotating_links_operation_is_found(world):
    found, holding = world["all"].recall(_accounts("rl", 20))
    assert found >= 0.9, holding


def test_slow_relay_operation_is_found(world):
    found, holding = world["all"].recall(_accounts("sl", 15))
    assert found >= 0.9, holding


def test_operation_hiding_in_a_viral_burst_is_found(world):
    hidden = world["sets"]["hidden"]
    found, holding = world["all"].recall(hidden)
    assert found >= 0.9, holding
    top = max(holding, key=lambda d: d["inside"])
    assert len(world["all"].members[top["id"]] - hidden) <= 2  # not drowned in the resharers


# -- the background itself --------------------------------------------------------------------------------

def test_organic_background_alone_flags_few_accounts(world):
    assert len(world["background"].flagged_accounts) <= 0.01 * N_BG


# -- one act, one co-action -------------------------------------------------------------------------------

def test_one_shared_retweet_is_one_coaction(tmp_path):
    # 60 pairs of ordinary accounts: each pair reposts one post (its own) within 30 s of each other; the
    # post has two hashtags and a link, which the retweet carries (as Twitter's v1 entities and RT texts
    # do). One act of sharing each: no pair is an edge at min_coactions = 3.
    rng = np.random.default_rng(21)
    rows = organic_rows("o", 20_000, 2_000, 7, seed=22)
    for i in range(60):
        t = T0 + int(rng.uniform(0, 6 * 86400))
        link = f"https://paper{i}.example/story"
        rows.append([f"src{i}", f"srcacc{i}", f"srcacc{i}", "", "", f"big story number {i} #news{i} #today {link}",
                     t, link])
        for side in ("a", "b"):
            rows.append([f"rt{i}{side}", f"p{i}{side}", f"p{i}{side}", f"src{i}", "",
                         f"RT big story number {i} #news{i} #today {link}", t + 60 + int(rng.uniform(0, 30)), link])
            for k in range(5):  # each account's own other posts
                rows.append([f"own{i}{side}{k}", f"p{i}{side}", f"p{i}{side}", "", "",
                             f"my own words {i} {side} {k} today", T0 + int(rng.uniform(0, 7 * 86400)), ""])
    path = write_posts(tmp_path / "posts.csv", rows)
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, path, fmt="cnt-csv")
        run = detect(store, DetectionParams())
        n = store.con.execute("""SELECT count(*) FROM edges WHERE run_id = ? AND account_a LIKE 'twitter:p%'
                                 AND account_b LIKE 'twitter:p%'""", [run.run_id]).fetchone()[0]
        co = store.con.execute("""SELECT min(n_coactions), max(n_coactions) FROM edges WHERE run_id = ?
                                  AND account_a LIKE 'twitter:p%'""", [run.run_id]).fetchone()
        assert n == 0, co
