"""Signals derived at detection time (near-duplicate text, fast reposts) and hashtag sequences."""
from __future__ import annotations

import numpy as np
from datasketch import MinHash

from cibscope.detect import DetectionParams, detect
from cibscope.detect.derived import lsh_components, minhash_signatures
from test_detect import PARITY, add_posts, edges

TEXTS = [s.split() for s in (
    "the minister promised new roads for the northern villages before the winter storms arrive again",
    "foreign money is flooding our elections and the media refuses to report any of it at all",
    "share this video before they delete it because the truth about the vaccine is finally out now")]


def test_signatures_equal_datasketch_minhash():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32) for n in (1, 7, 30)]
    hashes = np.concatenate(docs)
    index = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    ours = minhash_signatures(hashes, index, len(docs), num_perm=32, seed=1)
    for d, doc in enumerate(docs):
        lookup = {i.to_bytes(4, "little"): int(v) for i, v in enumerate(doc)}
        ref = MinHash(num_perm=32, seed=1, hashfunc=lambda b: lookup[b])
        ref.update_batch(list(lookup))
        assert np.array_equal(ours[d], ref.hashvalues)


def test_lsh_groups_similar_signatures_only():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2**32, size=40, dtype=np.uint64).astype(np.uint32)
    near = words.copy()
    near[:3] = rng.integers(0, 2**32, size=3, dtype=np.uint64).astype(np.uint32)  # Jaccard ~0.86
    other = rng.integers(0, 2**32, size=40, dtype=np.uint64).astype(np.uint32)
    docs = [words, near, other]
    sig = minhash_signatures(np.concatenate(docs), np.repeat(np.arange(3), 40), 3, num_perm=64)
    labels = lsh_components(sig, 0.6)
    assert labels[0] == labels[1] != labels[2]


def test_near_duplicate_texts_link_accounts(store):
    rows = []
    for i, words in enumerate(TEXTS):
        b = list(words)
        b[2 + i] = "swapped"              # one token swapped: still a near-duplicate
        c = [w[::-1] for w in words]      # unrelated text
        rows += [dict(post_id=f"a{i}", account_id="a", t=i * 5000, text=" ".join(words)),
                 dict(post_id=f"b{i}", account_id="b", t=i * 5000 + 20, text=" ".join(b)),
                 dict(post_id=f"c{i}", account_id="c", t=i * 5000 + 10, text=" ".join(c))]
    add_posts(store, rows)
    exact = detect(store, DetectionParams(window_s=60, signals=["text"], **PARITY))
    assert exact.n_edges == 0  # no two texts are identical
    near = detect(store, DetectionParams(window_s=60, signals=["text_near"], **{**PARITY, "min_coactions": 3}))
    assert set(edges(store, near.run_id)) == {("twitter:a", "twitter:b")}


def test_fast_repost_counts_only_quick_reactions(store):
    rows = []
    for i in range(3):
        t0 = i * 10_000
        rows += [dict(post_id=f"o{i}", account_id="src", t=t0, text=f"original number {i} here today"),
                 dict(post_id=f"a{i}", account_id="a", t=t0 + 5, repost_of=f"twitter:o{i}"),
                 dict(post_id=f"b{i}", account_id="b", t=t0 + 12, repost_of=f"twitter:o{i}"),
                 # c reposts much later, d is 40 s after c: co-repost, but neither is fast
                 dict(post_id=f"c{i}", account_id="c", t=t0 + 3000, repost_of=f"twitter:o{i}"),
                 dict(post_id=f"d{i}", account_id="d", t=t0 + 3040, repost_of=f"twitter:o{i}")]
    add_posts(store, rows)
    params = {**PARITY, "min_coactions": 3}
    fast = detect(store, DetectionParams(window_s=60, signals=["fast_repost"], fast_repost_s=30, **params))
    assert set(edges(store, fast.run_id)) == {("twitter:a", "twitter:b")}
    co = detect(store, DetectionParams(window_s=60, signals=["repost"], **params))
    assert set(edges(store, co.run_id)) == {("twitter:a", "twitter:b"), ("twitter:c", "twitter:d")}


def test_hashtag_sequence_is_an_action(store):
    add_posts(store, [dict(post_id=1, account_id="a", t=0, hashtags=["MAGA", "#Trump2016"]),
                      dict(post_id=2, account_id="b", t=0, hashtags=["solo"])])
    got = store.con.execute("SELECT account_key, object_key FROM actions WHERE action_type = 'hashtag_seq'").fetchall()
    assert got == [("twitter:a", "maga trump2016")]


def test_bursts_in_step_on_several_days_link_accounts(store):
    """a and b open a 4-post session within 20 s of each other on three days; c bursts at other hours,
    d posts as often but never three posts inside a minute (no burst at all)."""
    rows = []
    for day in range(3):
        t0 = day * 86_400 + 36_000
        for k in range(4):
            rows += [dict(post_id=f"a{day}{k}", account_id="a", t=t0 + 30 * k, text=f"a day {day} post {k} here"),
                     dict(post_id=f"b{day}{k}", account_id="b", t=t0 + 20 + 25 * k, text=f"b day {day} no {k} x"),
                     dict(post_id=f"c{day}{k}", account_id="c", t=t0 + 7_200 + 30 * k, text=f"c {day} {k} other"),
                     dict(post_id=f"d{day}{k}", account_id="d", t=t0 + 5 + 400 * k, text=f"d {day} {k} slow")]
    add_posts(store, rows)
    bursts = store.con.execute("SELECT account_key, count(*) FROM posts GROUP BY 1").fetchall()
    assert dict(bursts)["twitter:d"] == 12
    run = detect(store, DetectionParams(window_s=60, signals=["burst"], **{**PARITY, "min_coactions": 3}))
    assert set(edges(store, run.run_id)) == {("twitter:a", "twitter:b")}
    # sessions of 4 posts are not bursts when a burst needs 5 posts
    fewer = detect(store, DetectionParams(window_s=60, signals=["burst"], burst_min_posts=5,
                                          **{**PARITY, "min_coactions": 3}))
    assert fewer.n_edges == 0
