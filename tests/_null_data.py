"""Posts for the null-model tests, written in the coordination-network-toolkit CSV layout (``cnt-csv``).

Organic accounts post texts drawn from a Zipf vocabulary with a popular hashtag now and then and
repost popular originals minutes to hours later; planted networks post the same texts (or repost
the same seed) within a given spread of seconds. Account ids, object ids and texts of each call are
disjoint from other calls with another ``tag``, so two calls model unrelated data in one store.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

T0 = 1_709_251_200  # 2024-03-01 00:00:00 UTC
HEADER = ["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls"]


def organic_rows(tag: str, n_posts: int, n_accounts: int, days: float, seed: int) -> list[list]:
    """``n_posts`` organic posts of ``n_accounts`` accounts over ``days`` days: 60 % originals (15-word
    texts, a quarter with one of 200 hashtags), 40 % reposts of Zipf-popular originals after a
    lognormal delay (median 20 min)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"{tag}w{i}" for i in range(5000)])
    zipf = 1.0 / np.arange(1, 5001) ** 1.05
    activity = rng.lognormal(0, 1.2, n_accounts)
    who = rng.choice(n_accounts, size=n_posts, p=activity / activity.sum())
    n_orig = int(n_posts * 0.6)
    t_orig = rng.uniform(0, days * 86400, n_orig).astype(np.int64)
    words = rng.choice(vocab, size=(n_orig, 15), p=zipf / zipf.sum())
    tags = rng.integers(0, 200, n_orig)
    has_tag = rng.uniform(size=n_orig) < 0.25
    rows = []
    for i in range(n_orig):
        text = " ".join(words[i]) + (f" #{tag}tag{tags[i]}" if has_tag[i] else "")
        rows.append([f"{tag}p{i}", f"{tag}u{who[i]}", f"{tag}u{who[i]}", "", "", text, T0 + int(t_orig[i]), ""])
    pop = 1.0 / np.arange(1, n_orig + 1) ** 1.1
    target = rng.choice(n_orig, size=n_posts - n_orig, p=pop / pop.sum())
    delay = rng.lognormal(np.log(1200), 1.5, n_posts - n_orig).astype(np.int64)
    for j, (o, d) in enumerate(zip(target, delay)):
        u = who[n_orig + j]
        rows.append([f"{tag}r{j}", f"{tag}u{u}", f"{tag}u{u}", f"{tag}p{o}", "", f"RT {rows[o][5]}",
                     int(rows[o][6]) + int(d), ""])
    return rows


def network_rows(tag: str, n_accounts: int, n_texts: int, spread_s: float, days: float, seed: int) -> list[list]:
    """A planted network: ``n_accounts`` accounts each post every one of ``n_texts`` texts, all copies of a
    text within ``spread_s`` seconds of its first post (uniform), at random times over ``days`` days."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_texts):
        start = int(rng.uniform(0, days * 86400 - spread_s))
        text = f"{tag} message {t}: " + " ".join(f"{tag}x{int(x)}" for x in rng.integers(0, 10**6, 12))
        for a, lag in enumerate(rng.uniform(0, spread_s, n_accounts)):
            rows.append([f"{tag}n{t}_{a}", f"{tag}op{a}", f"{tag}op{a}", "", "", text, T0 + start + int(lag), ""])
    return rows


def write_posts(path: Path, *parts: list[list]) -> Path:
    """Write the rows of ``parts`` (time-sorted) as a cnt-csv file."""
    rows = sorted((r for part in parts for r in part), key=lambda r: r[6])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def trend_rows(tag: str, n_trends_per_day: int, days: int, seed: int) -> list[tuple[str, int]]:
    """``(hashtag, start)`` of ``n_trends_per_day`` trending topics per day (start: seconds after ``T0``);
    each trends for the hour after its start."""
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.uniform(0, days * 86400 - 3600, n_trends_per_day * days)).astype(np.int64)
    return [(f"{tag}trend{i}", int(s)) for i, s in enumerate(starts)]


def hijack_rows(tag: str, n_accounts: int, trends: list[tuple[str, int]], join: float, own_per_day: int,
                days: int, seed: int) -> list[list]:
    """An operation that hijacks trending conversations: each of ``n_accounts`` accounts joins a share ``join``
    of the trends, all within 60 s of the operator's cue (a minute after the trend starts), with a text of
    its own; besides, each posts ``own_per_day`` texts of its own a day, so the joint posts are a small share
    of what each account does (the ../shared IRA hashtag clusters: overlap 0.004-0.06, docs/detection.md)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, (h, start) in enumerate(trends):
        cue = start + 60
        for a in np.flatnonzero(rng.uniform(size=n_accounts) < join):
            words = " ".join(f"{tag}v{int(x)}" for x in rng.integers(0, 10**6, 10))
            rows.append([f"{tag}h{k}_{a}", f"{tag}op{a}", f"{tag}op{a}", "", "", f"{words} #{h}",
                         T0 + cue + int(rng.uniform(0, 60)), ""])
    for a in range(n_accounts):
        for j, t in enumerate(rng.uniform(0, days * 86400, own_per_day * days).astype(np.int64)):
            words = " ".join(f"{tag}v{int(x)}" for x in rng.integers(0, 10**6, 12))
            rows.append([f"{tag}own{a}_{j}", f"{tag}op{a}", f"{tag}op{a}", "", "", words, T0 + int(t), ""])
    return rows


def surfer_rows(tag: str, n_accounts: int, trends: list[tuple[str, int]], join: float, seed: int) -> list[list]:
    """Organic trend surfers: each of ``n_accounts`` accounts joins a share ``join`` of the trends, each at its
    own moment in the trend's hour (minutes, not seconds, apart), with a text of its own."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, (h, start) in enumerate(trends):
        for a in np.flatnonzero(rng.uniform(size=n_accounts) < join):
            words = " ".join(f"{tag}s{int(x)}" for x in rng.integers(0, 10**6, 10))
            rows.append([f"{tag}t{k}_{a}", f"{tag}u{a}", f"{tag}u{a}", "", "", f"{words} #{h}",
                         T0 + start + int(rng.exponential(900)) % 3600, ""])
    return rows


def trend_scenario_rows(same_trends: bool) -> list[list]:
    """Organic background (60,000 posts of 4,000 accounts, 14 days), 400 organic trend surfers (``su*``) joining a
    third of 280 trends (20 a day) at their own moments in each trend's hour, and a 25-account operation
    (``hop*``) that joins half of 280 trends within a minute of a cue, each with its own text, and posts 80
    texts a day of its own: like the ../shared IRA hashtag clusters it co-acts on a few percent of its
    activity, as feed mirrors do - but across hundreds of unrelated conversations, not one publisher.
    ``same_trends``: the operation hijacks the surfers' trends (else trends of its own, in the same days)."""
    surfed = trend_rows("x", 20, 14, seed=21)
    hijacked = surfed if same_trends else trend_rows("y", 20, 14, seed=25)
    return [*organic_rows("o", 60_000, 4_000, 14, seed=22), *hijack_rows("h", 25, hijacked, 0.5, 80, 14, seed=23),
            *surfer_rows("s", 400, surfed, 0.3, seed=24)]
