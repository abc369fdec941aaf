"""Adversarial scenarios for coordination detection (issue #16): an organic background and, beside it,
organic situations that look coordinated and operations that try to look organic.

Every builder returns rows in the coordination-network-toolkit CSV layout (``cnt-csv``, see
:mod:`_null_data`): ``[message_id, user_id, username, repost_id, reply_id, message, timestamp, urls]``,
timestamps in POSIX seconds (UTC) from :data:`_null_data.T0`. Builders are seeded and deterministic.

The background (:func:`background`) is two weeks of one platform: thousands of accounts with
lognormal (heavy-tailed) activity, a diurnal rhythm (peak 20:00 UTC, trough 08:00 UTC), Zipf-popular
words, hashtags, originals (reposted minutes to hours later) and news URLs on Zipf-popular domains
(shared hours after publication, half of the time with the share button's headline text, some with
tracking parameters). Organic look-alikes draw their participants from the background's accounts,
so they have ordinary activity besides the event; operations are new accounts with cover posts.
"""
from __future__ import annotations

import numpy as np

from _null_data import T0

DAYS = 14
BG = "o"  # prefix of background ids


def _zipf(n: int, a: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** a
    return p / p.sum()


def diurnal_times(rng: np.random.Generator, n: int, days: float = DAYS) -> np.ndarray:
    """``n`` times (seconds from T0) over ``days`` days with a diurnal rhythm: hour-of-day weight
    ``1 + 0.8 cos(2 pi (h - 20) / 24)``."""
    h = np.arange(24)
    w = 1 + 0.8 * np.cos(2 * np.pi * (h - 20) / 24)
    day = rng.integers(0, int(days), n)
    hour = rng.choice(24, size=n, p=w / w.sum())
    return (day * 86400 + hour * 3600 + rng.uniform(0, 3600, n)).astype(np.int64)


def _words(rng: np.random.Generator, vocab: np.ndarray, p: np.ndarray, n: int, k: int) -> list[str]:
    w = rng.choice(vocab, size=(n, k), p=p)
    return [" ".join(r) for r in w]


def background(n_accounts: int = 6000, n_posts: int = 150_000, days: int = DAYS, seed: int = 0) -> list[list]:
    """Organic posts: 50 % originals (12 Zipf words; 25 % with one of 300 Zipf-popular hashtags, 5 %
    with two), 30 % reposts of Zipf-popular originals after a lognormal delay (median 20 min), 20 %
    shares of 15,000 news URLs on 400 Zipf-popular domains, each published at a diurnal time and
    shared a lognormal delay later (median 1 h); half the shares carry the headline (share button),
    a fifth a ``utm_source`` parameter. Account ids ``ou<i>``."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(6000)])
    pv = _zipf(6000, 1.05)
    activity = rng.lognormal(0, 1.3, n_accounts)
    who = rng.choice(n_accounts, size=n_posts, p=activity / activity.sum())
    n_orig, n_rep = int(n_posts * 0.5), int(n_posts * 0.3)
    n_link = n_posts - n_orig - n_rep
    rows: list[list] = []
    # originals
    t_orig = diurnal_times(rng, n_orig, days)
    texts = _words(rng, vocab, pv, n_orig, 12)
    tags = rng.choice(300, size=(n_orig, 2), p=_zipf(300, 1.0))
    u = rng.uniform(size=n_orig)
    for i in range(n_orig):
        t = texts[i]
        if u[i] < 0.05:
            t += f" #tag{tags[i, 0]} #tag{tags[i, 1]}"
        elif u[i] < 0.30:
            t += f" #tag{tags[i, 0]}"
        a = who[i]
        rows.append([f"{BG}p{i}", f"{BG}u{a}", f"{BG}u{a}", "", "", t, T0 + int(t_orig[i]), ""])
    # reposts
    target = rng.choice(n_orig, size=n_rep, p=_zipf(n_orig, 1.1))
    delay = rng.lognormal(np.log(1200), 1.5, n_rep).astype(np.int64)
    for j in range(n_rep):
        o, a = target[j], who[n_orig + j]
        rows.append([f"{BG}r{j}", f"{BG}u{a}", f"{BG}u{a}", f"{BG}p{o}", "", f"RT {rows[o][5]}",
                     int(rows[o][6]) + int(delay[j]), ""])
    # news links
    n_urls, n_dom = 15_000, 400
    dom = rng.choice(n_dom, size=n_urls, p=_zipf(n_dom, 1.2))
    pub = diurnal_times(rng, n_urls, days)
    heads = _words(rng, vocab, pv, n_urls, 9)
    url = rng.choice(n_urls, size=n_link, p=_zipf(n_urls, 0.9))
    ldelay = rng.lognormal(np.log(3600), 1.5, n_link).astype(np.int64)
    comments = _words(rng, vocab, pv, n_link, 8)
    v = rng.uniform(size=(n_link, 2))
    for j in range(n_link):
        k, a = url[j], who[n_orig + n_rep + j]
        link = f"https://news{dom[k]}.example/story/{k}"
        if v[j, 1] < 0.2:
            link += f"?utm_source=share{j % 7}"
        text = heads[k] if v[j, 0] < 0.5 else comments[j]
        rows.append([f"{BG}l{j}", f"{BG}u{a}", f"{BG}u{a}", "", "", f"{text} {link}",
                     T0 + int(pub[k] + ldelay[j]), link])
    return rows


def participants(n: int, n_background: int, seed: int) -> np.ndarray:
    """``n`` distinct background account numbers, a uniform sample (participants of an event are
    ordinary accounts, from the quiet to the prolific)."""
    return np.random.default_rng(seed).choice(n_background, size=n, replace=False)


def cover_rows(prefix: str, n_accounts: int, per_account: int, seed: int, days: int = DAYS) -> list[list]:
    """Cover posts of operation accounts ``<prefix><i>``: ``per_account`` unique 12-word originals
    each at diurnal times (an operation's accounts post their own filler besides the campaign)."""
    rng = np.random.default_rng(seed)
    n = n_accounts * per_account
    t = diurnal_times(rng, n, days)
    texts = _words(rng, np.array([f"{prefix}c{i}" for i in range(3000)]), _zipf(3000, 1.0), n, 12)
    return [[f"{prefix}cov{i}", f"{prefix}{i % n_accounts}", f"{prefix}{i % n_accounts}", "", "", texts[i],
             T0 + int(t[i]), ""] for i in range(n)]


# -- organic look-alikes --------------------------------------------------------------------------------

def newsroom(seed: int = 101) -> list[list]:
    """(a) One outlet's 15 accounts (main brand account ``nr0``, section and staff accounts ``nr1``-``nr14``)
    share each of its 40 articles of a week: the main account 0-2 min after publication, each other
    account after an exponential delay (mean 5 min) for 80 % of the articles; the brand accounts
    (``nr0``-``nr4``) post the headline verbatim, staff add their own words; each with its own
    ``utm_*`` tag. Every account also posts 20 ordinary posts."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"nrw{i}" for i in range(2000)])
    pub = diurnal_times(rng, 40, 7)
    heads = _words(rng, vocab, _zipf(2000, 1.0), 40, 10)
    rows = []
    for a in range(40):
        url = f"https://dailyherald.example/2024/03/{a:03d}/story"
        for acc in range(15):
            if acc > 0 and rng.uniform() > 0.8:
                continue
            lag = rng.uniform(0, 120) if acc == 0 else rng.exponential(300)
            text = heads[a] if acc < 5 else f"my take {rng.integers(10**6)} on {heads[a]}"
            link = f"{url}?utm_source=twitter&utm_campaign=acc{acc}"
            rows.append([f"nra{a}_{acc}", f"nr{acc}", f"DailyHerald{acc}", "", "", f"{text} {link}",
                         T0 + int(pub[a] + lag), link])
    return rows + cover_rows("nr", 15, 20, seed + 1)


def hashtag_game(n_background: int, seed: int = 102) -> tuple[list[list], set[str]]:
    """(b) A trending hashtag game: 2,000 background accounts each post the game's tag once or twice
    within one evening hour (day 3, 20:00 UTC), a third adding the day's second trending tag."""
    rng = np.random.default_rng(seed)
    accs = participants(2000, n_background, seed)
    rows = []
    start = 3 * 86400 + 20 * 3600
    for i, a in enumerate(accs):
        for k in range(1 + int(rng.uniform() < 0.4)):
            extra = " #tag0" if rng.uniform() < 1 / 3 else ""
            rows.append([f"hg{i}_{k}", f"{BG}u{a}", f"{BG}u{a}", "", "",
                         f"my answer {rng.integers(10**6)} is this one #SixWordStory{extra}",
                         T0 + start + int(rng.uniform(0, 3600)), ""])
    return rows, {f"twitter:{BG}u{a}" for a in accs}


def fans(n_background: int, seed: int = 103) -> tuple[list[list], set[str]]:
    """(c) 300 background accounts, fans of a celebrity (``celeb``), repost each of her 30 posts of two
    weeks: 70 % within 5 minutes (exponential, mean 90 s), the rest hours later (lognormal, median 2 h)."""
    rng = np.random.default_rng(seed)
    accs = participants(300, n_background, seed)
    pub = diurnal_times(rng, 30)
    rows = [[f"celeb{p}", "celeb", "celeb", "", "", f"celebrity post number {p} with love to all my fans",
             T0 + int(pub[p]), ""] for p in range(30)]
    for p in range(30):
        fast = rng.uniform(size=300) < 0.7
        lag = np.where(fast, rng.exponential(90, 300), rng.lognormal(np.log(7200), 1.0, 300))
        for i, a in enumerate(accs):
            rows.append([f"fan{p}_{i}", f"{BG}u{a}", f"{BG}u{a}", f"celeb{p}", "", f"RT {rows[p][5]}",
                         T0 + int(pub[p] + lag[i]), ""])
    return rows, {f"twitter:{BG}u{a}" for a in accs}


def viral(n_background: int, seed: int = 104, n: int = 5000) -> tuple[list[list], list[int]]:
    """(d) A post of an outside account reposted by ``n`` background accounts within 2 hours (day 5, 18:00
    UTC; delays lognormal, median 20 min, capped at 2 h). Returns rows and the resharers' numbers."""
    rng = np.random.default_rng(seed)
    accs = participants(n, n_background, seed)
    t0 = 5 * 86400 + 18 * 3600
    rows = [["viral0", "vsrc", "vsrc", "", "", "this video of a dog rescuing a kitten is everything", T0 + t0, ""]]
    lag = np.minimum(rng.lognormal(np.log(1200), 0.9, n), 7200).astype(np.int64)
    rows += [[f"vr{i}", f"{BG}u{a}", f"{BG}u{a}", "viral0", "", f"RT {rows[0][5]}", T0 + t0 + int(lag[i]), ""]
             for i, a in enumerate(accs)]
    return rows, list(accs)


def sports(n_background: int, seed: int = 105) -> tuple[list[list], set[str]]:
    """(e) A match: 3,000 background accounts post 1-6 times each during 90 minutes (day 9, 19:00 UTC),
    each post with 1-3 of the same 5 hashtags in random order and own words."""
    rng = np.random.default_rng(seed)
    accs = participants(3000, n_background, seed)
    tags = np.array(["#WorldCup", "#ARGFRA", "#Messi", "#Mbappe", "#FinalDay"])
    start = 9 * 86400 + 19 * 3600
    rows = []
    for i, a in enumerate(accs):
        for k in range(int(rng.integers(1, 7))):
            chosen = " ".join(rng.choice(tags, size=int(rng.integers(1, 4)), replace=False))
            rows.append([f"sp{i}_{k}", f"{BG}u{a}", f"{BG}u{a}", "", "",
                         f"what a moment {rng.integers(10**6)} goal {chosen}",
                         T0 + start + int(rng.uniform(0, 5400)), ""])
    return rows, {f"twitter:{BG}u{a}" for a in accs}


# -- operations that try to look organic ----------------------------------------------------------------

def jittered(seed: int = 201) -> list[list]:
    """(f) 25 accounts ``jt<i>`` share the same 40 links (on 8 sites, over two weeks), each account
    a uniform 0-20 min after the link's first appearance; 30 cover posts each."""
    rng = np.random.default_rng(seed)
    pub = diurnal_times(rng, 40)
    rows = []
    for k in range(40):
        link = f"https://site{k % 8}.example/post/{k}"
        for a, lag in enumerate(rng.uniform(0, 1200, 25)):
            rows.append([f"jt{k}_{a}", f"jt{a}", f"jt{a}", "", "", f"look {rng.integers(10**6)} at this {link}",
                         T0 + int(pub[k] + lag), link])
    return rows + cover_rows("jt", 25, 30, seed + 1)


_SYN = {"government": ["government", "regime", "administration", "officials"],
        "lies": ["lies", "deceives", "misleads", "lied"], "people": ["people", "citizens", "public", "voters"],
        "truth": ["truth", "facts", "reality"], "hiding": ["hiding", "concealing", "covering up", "burying"],
        "wake": ["wake up", "open your eyes", "see it now", "look closer"],
        "about": ["about", "regarding", "on", "over"], "again": ["again", "once more", "yet again", "as always"]}


def paraphrase_texts(rng: np.random.Generator, topic: str, n: int) -> list[str]:
    """``n`` paraphrases of one message about ``topic``: synonym swaps and clause order changes."""
    out = []
    for _ in range(n):
        s = {k: v[int(rng.integers(len(v)))] for k, v in _SYN.items()}
        c1 = f"the {s['government']} {s['lies']} to the {s['people']} {s['about']} {topic} {s['again']}"
        c2 = f"they are {s['hiding']} the {s['truth']} {s['about']} {topic}"
        c3 = f"{s['wake']}"
        parts = [c1, c2, c3]
        rng.shuffle(parts)
        out.append(". ".join(parts))
    return out


def paraphrased(seed: int = 202) -> list[list]:
    """(g) 30 accounts ``pp<i>`` post a paraphrase of each of 20 messages (each on its own topic words),
    all within 10 minutes of the message's start; 30 cover posts each. No link, no hashtag."""
    rng = np.random.default_rng(seed)
    start = diurnal_times(rng, 20)
    rows = []
    for m in range(20):
        topic = f"the {['dam', 'vaccine', 'border', 'election', 'bank'][m % 5]} plan of district {m * 7 + 3}"
        for a, text in enumerate(paraphrase_texts(rng, topic, 30)):
            rows.append([f"pp{m}_{a}", f"pp{a}", f"pp{a}", "", "", text, T0 + int(start[m] + rng.uniform(0, 600)), ""])
    return rows + cover_rows("pp", 30, 30, seed + 1)


def rotating(seed: int = 203) -> list[list]:
    """(h) 20 accounts ``rl<i>`` push 10 articles in 3 waves each (two weeks), every post within 10 min of
    the wave's start and under one of 5 forms of the article's URL, picked at random: the canonical URL,
    the same with ``utm_*`` tags, a per-post ``bit.ly`` short link, a mirror domain, and a ``?ref=`` id."""
    rng = np.random.default_rng(seed)
    rows = []
    for art in range(10):
        for wave, start in enumerate(diurnal_times(rng, 3)):
            for a in range(20):
                form = int(rng.integers(5))
                path = f"/2024/truth-{art}"
                link = [f"https://realnews-today.example{path}",
                        f"https://realnews-today.example{path}?utm_source=tw&utm_medium={a}",
                        f"https://bit.ly/{rng.integers(16**7):07x}",
                        f"https://realnews-today.mirror{art % 3}.example{path}",
                        f"https://realnews-today.example{path}?ref={rng.integers(10**6)}"][form]
                rows.append([f"rl{art}_{wave}_{a}", f"rl{a}", f"rl{a}", "", "",
                             f"read {rng.integers(10**6)} this {link}", T0 + int(start + rng.uniform(0, 600)), link])
    return rows + cover_rows("rl", 20, 30, seed + 1)


def slow(seed: int = 204) -> list[list]:
    """(i) 15 accounts ``sl<i>`` share the same 30 links over two weeks as a relay: per link, in a random
    order, each share 20-50 minutes after the previous one (a link's shares span 5-12 hours)."""
    rng = np.random.default_rng(seed)
    start = diurnal_times(rng, 30)
    rows = []
    for k in range(30):
        link = f"https://slowsite{k % 5}.example/p/{k}"
        t = float(start[k])
        for a in rng.permutation(15):
            rows.append([f"sl{k}_{a}", f"sl{a}", f"sl{a}", "", "", f"worth reading {rng.integers(10**6)} {link}",
                         T0 + int(t), link])
            t += rng.uniform(1200, 3000)
    return rows + cover_rows("sl", 15, 30, seed + 1)


def hidden(viral_accounts: list[int], seed: int = 205) -> tuple[list[list], set[str]]:
    """(j) 10 of the viral post's resharers (background accounts) also co-share 20 other links over two
    weeks, each within 5 minutes of the link's first share. Returns rows and the 10 account keys."""
    rng = np.random.default_rng(seed)
    accs = viral_accounts[:10]
    start = diurnal_times(rng, 20)
    rows = []
    for k in range(20):
        link = f"https://hidden{k % 4}.example/n/{k}"
        for i, a in enumerate(accs):
            rows.append([f"hd{k}_{i}", f"{BG}u{a}", f"{BG}u{a}", "", "", f"so true {rng.integers(10**6)} {link}",
                         T0 + int(start[k] + rng.uniform(0, 300)), link])
    return rows, {f"twitter:{BG}u{a}" for a in accs}


def world(n_background: int) -> tuple[list[list], list[list], dict[str, set[str]]]:
    """Every scenario beside the organic background: ``(background rows, scenario rows, participants)``,
    where participants maps hashtag_game, fans, viral, sports and hidden to their account keys
    (``tests/test_detect_scenarios.py`` and ``bench/scenario_figures.py`` build the same store from it)."""
    bg = background(n_background, 150_000, seed=0)
    v_rows, v_accs = viral(n_background)
    hg_rows, hg = hashtag_game(n_background)
    fan_rows, fan = fans(n_background)
    sp_rows, sp = sports(n_background)
    hd_rows, hd = hidden(v_accs)
    rows = [r for part in (newsroom(), hg_rows, fan_rows, v_rows, sp_rows, jittered(), paraphrased(), rotating(),
                           slow(), hd_rows) for r in part]
    return bg, rows, {"hashtag_game": hg, "fans": fan, "viral": {f"twitter:{BG}u{a}" for a in v_accs},
                      "sports": sp, "hidden": hd}
