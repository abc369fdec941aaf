"""Account authenticity signals: *who* the accounts of a cluster are, each with a plain explanation.

Coordination alone is not inauthenticity (fans, activists and newsrooms
coordinate too). These signals describe the accounts themselves, the way
platform investigators do (Meta's quarterly Adversarial Threat Reports; the
"operator time zone" and "profile reuse" indicators of the DFRLab and Stanford
Internet Observatory write-ups). Each is computed set-based in DuckDB SQL over
any *groups* of accounts (a run's clusters, or a whole dataset as a baseline)
and aggregated per group:

==================  =======================================================  =========================
signal              value (per group)                                        needs
==================  =======================================================  =========================
creation_burst      share of members (with a creation date) created within  ``accounts.created_at``
                    the densest :data:`BURST_DAYS`-day window
handle_digits       share of members whose handle is a name followed by a   ``accounts.handle``
                    run of at least 2 digits (``FannieBradley88``)
handle_prefix       share of members in the largest group sharing the same  ``accounts.handle``
                    first :data:`PREFIX_LEN` handle characters
office_hours        share of activity within 09:00-18:00 local time at the  ``posts.created_at``
                    best-fitting UTC offset (0.375 if spread evenly)
language_location   share of members (with a recognised location) posting   ``posts.lang``,
                    mostly in a language foreign to that location           ``accounts.location``
interval_regularity share of members (>= :data:`MIN_INTERVAL_POSTS` posts)  ``posts.created_at``
                    whose inter-post interval CV is below
                    :data:`REGULAR_CV` (clockwork; a Poisson poster has 1)
automation_client   share of members' posts sent from automation clients   ``posts.client``
                    (:data:`AUTOMATION_CLIENTS`)
profile_reuse       share of members whose bio is word for word another     ``accounts.description``
                    member's
ai_text_tells       share of members with a post holding a stock LLM        ``posts.text``
                    refusal or disclaimer (:data:`AI_TELLS`)
text_uniformity     mean TF-IDF cosine similarity between posts of          ``posts.text``
                    *different* members (a sample; :func:`text_uniformity`)
ai_text_model       share of sampled posts a classifier trained on          ``posts.text``
                    TweepFake scores as machine-written (:mod:`.fingerprints`)
lookalike_domains   share of members who shared a domain imitating a news   ``actions`` (domain, link)
                    outlet (:mod:`.lookalike`, :mod:`.fingerprints`)
==================  =======================================================  =========================

A value is ``None`` when the data lacks what the signal needs (for example
the IRA tweet files have no account creation dates and no posting client):
the explanation then says so rather than reporting 0.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..store.db import Store
from . import replace_rows
from .langs import language_codes_sql, location_languages_sql

#: Width of the creation-date burst window, days.
BURST_DAYS = 7
#: Handle characters compared for shared prefixes.
PREFIX_LEN = 5
#: Local office hours [start, end) fitted to the posting-hour profile.
OFFICE_HOURS = (9, 18)
#: Minimum posts for an account's intervals to be judged.
MIN_INTERVAL_POSTS = 10
#: Inter-post interval coefficient of variation below which posting is called regular.
REGULAR_CV = 0.5
#: Minimum posts with a known language for an account's language mix to be judged.
MIN_LANG_POSTS = 5
#: Posts sampled per member (and in all per group) for :func:`text_uniformity`.
UNIFORMITY_PER_MEMBER, UNIFORMITY_MAX_POSTS = 20, 600
#: Regular expression (case-insensitive) of posting clients that schedule or automate posts.
AUTOMATION_CLIENTS = (r"ifttt|twittbot|dlvr\.it|buffer|hootsuite|socialoomph|zapier|twitterfeed|roundteam|"
                      r"botize|cheap bots|autopost|auto ?tweet|\bbot\b|tweetadder|socialflow|sprout ?social")
#: Stock phrases of LLM chat output that operators left in posts (lower case, matched as substrings).
AI_TELLS = ("as an ai language model", "as an ai model", "as a language model", "i cannot fulfill",
            "i can't fulfill", "i cannot comply", "i'm sorry, but i cannot", "i am sorry, but i cannot",
            "as of my last knowledge update", "as of my knowledge cutoff", "my knowledge cutoff",
            "regenerate response", "i don't have personal opinions", "i do not have personal opinions",
            "violates openai", "openai's use case policy", "openai's content policy")
#: An offset every office-hours explanation also reports (the Russian operations' home zone), and its name.
REFERENCE_OFFSET = (3, "Moscow")
#: Example time zones per whole UTC offset, for explanations.
ZONES = {-10: "Hawaii", -8: "US Pacific standard", -7: "US Pacific daylight / Mountain", -6: "US Central",
         -5: "US Eastern standard", -4: "US Eastern daylight", -3: "Brazil / Argentina", 0: "UTC / London winter",
         1: "Central Europe winter", 2: "Eastern Europe / Kyiv winter", 3: "Moscow / St Petersburg", 4: "Gulf",
         5: "Pakistan", 7: "Bangkok / Jakarta", 8: "Beijing / Manila", 9: "Tokyo / Seoul"}

#: What each signal reads, for the explanation of a signal the data cannot give.
NEEDS = {"creation_burst": "account creation dates", "handle_digits": "handles", "handle_prefix": "handles",
         "office_hours": "posts", "language_location": "profile locations and post languages",
         "interval_regularity": "posts", "automation_client": "posting clients", "profile_reuse": "profile bios",
         "ai_text_tells": "post texts", "text_uniformity": "post texts", "ai_text_model": "post texts of 20+ characters",
         "lookalike_domains": "shared links"}

SIGNALS = ("creation_burst", "handle_digits", "handle_prefix", "office_hours", "language_location",
           "interval_regularity", "automation_client", "profile_reuse", "ai_text_tells", "text_uniformity",
           "ai_text_model", "lookalike_domains")


@dataclass
class Signal:
    """One authenticity signal of one group of accounts.

    Attributes
    ----------
    group_id : str
        The cluster id (or another group name).
    signal : str
        One of :data:`SIGNALS`.
    value : float or None
        The signal's value (see the module table); ``None`` when the data lacks the inputs.
    n_accounts : int
        Members the value is computed over (those with the needed data).
    details : dict
        Supporting numbers and examples (JSON-serialisable).
    explanation : str
        One or two plain sentences for the report.
    """

    group_id: str
    signal: str
    value: float | None
    n_accounts: int
    details: dict[str, Any] = field(default_factory=dict)
    explanation: str = ""


def _rows(store: Store, sql: str, params: list | dict | None = None) -> list[dict[str, Any]]:
    cur = store.con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def run_groups_sql(run_id: int) -> str:
    """SQL of ``(group_id, account_key)``: the members of every cluster of run ``run_id``."""
    return f"SELECT cluster_id AS group_id, account_key FROM cluster_members WHERE run_id = {int(run_id)}"


def dataset_groups_sql(datasets: list[str]) -> str:
    """SQL of ``(group_id, account_key)``: every post author of each dataset, grouped by dataset (a baseline)."""
    names = ", ".join("'" + d.replace("'", "''") + "'" for d in datasets)
    return f"SELECT DISTINCT dataset AS group_id, account_key FROM posts WHERE dataset IN ({names})"


# ---------------------------------------------------------------------------------------------- per signal


def _creation_burst(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g}), a AS (
            SELECT m.group_id, a.created_at FROM m JOIN accounts a USING (account_key)),
        w AS (SELECT group_id, created_at, count(*) OVER (PARTITION BY group_id ORDER BY created_at
                     RANGE BETWEEN CURRENT ROW AND INTERVAL {BURST_DAYS} DAY FOLLOWING) AS n_in
              FROM a WHERE created_at IS NOT NULL)
        SELECT a.group_id, count(*) AS n_members, count(a.created_at) AS n_known,
               (SELECT max(n_in) FROM w WHERE w.group_id = a.group_id) AS best,
               (SELECT arg_max(created_at, n_in) FROM w WHERE w.group_id = a.group_id) AS start
        FROM a GROUP BY a.group_id ORDER BY a.group_id
    """)
    out = []
    for r in rows:
        if r["n_known"] < 3:
            out.append(Signal(r["group_id"], "creation_burst", None, r["n_known"], {},
                              f"Creation dates are known for {r['n_known']} of {r['n_members']} members: "
                              "too few to look for a creation burst."))
            continue
        v = r["best"] / r["n_known"]
        out.append(Signal(r["group_id"], "creation_burst", v, r["n_known"],
                          {"in_window": r["best"], "window_start": f"{r['start']:%Y-%m-%d}", "days": BURST_DAYS},
                          f"{r['best']} of {r['n_known']} members with a known creation date ({_pct(v)}) were "
                          f"created within {BURST_DAYS} days of {r['start']:%Y-%m-%d}."))
    return out


def _handles(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g}), h AS (
            SELECT m.group_id, a.handle, regexp_matches(a.handle, '^[A-Za-z_]{{3,}}[0-9]{{2,}}$') AS digits,
                   lower(left(a.handle, {PREFIX_LEN})) AS prefix
            FROM m JOIN accounts a USING (account_key) WHERE a.handle IS NOT NULL),
        pre AS (SELECT group_id, prefix, count(*) AS n, list(handle ORDER BY handle) AS handles
                FROM h WHERE length(prefix) = {PREFIX_LEN} GROUP BY ALL),
        best AS (SELECT * FROM pre QUALIFY row_number() OVER (PARTITION BY group_id ORDER BY n DESC, prefix) = 1)
        SELECT h.group_id, count(*) AS n, count(*) FILTER (WHERE digits) AS n_digits,
               list(handle ORDER BY handle) FILTER (WHERE digits) AS digit_handles,
               any_value(b.prefix) AS prefix, coalesce(any_value(b.n), 0) AS n_prefix,
               any_value(b.handles) AS prefix_handles
        FROM h LEFT JOIN best b USING (group_id) GROUP BY h.group_id ORDER BY h.group_id
    """)
    out = []
    for r in rows:
        n, nd = r["n"], r["n_digits"]
        ex = ", ".join((r["digit_handles"] or [])[:5])
        out.append(Signal(r["group_id"], "handle_digits", nd / n, n, {"n": nd, "examples": (r["digit_handles"] or [])[:10]},
                          f"{nd} of {n} handles ({_pct(nd / n)}) are a name followed by a digit run"
                          + (f" (e.g. {ex})." if nd else ".")))
        share = r["n_prefix"] / n if r["n_prefix"] >= 2 else 0.0
        out.append(Signal(r["group_id"], "handle_prefix", share, n,
                          {"prefix": r["prefix"], "n": r["n_prefix"], "examples": (r["prefix_handles"] or [])[:10]},
                          (f"{r['n_prefix']} of {n} handles ({_pct(share)}) start with '{r['prefix']}' "
                           f"(e.g. {', '.join((r['prefix_handles'] or [])[:5])}).") if r["n_prefix"] >= 2
                          else f"No two of the {n} handles share their first {PREFIX_LEN} characters."))
    return out


def _office_hours(store: Store, g: str) -> list[Signal]:
    lo, hi = OFFICE_HOURS
    rows = _rows(store, f"""
        WITH m AS ({g}),
        h AS (SELECT m.group_id, p.account_key, hour(p.created_at) AS hr, count(*) AS n
              FROM m JOIN posts p USING (account_key) GROUP BY ALL),
        hn AS (SELECT group_id, account_key, hr, n / sum(n) OVER (PARTITION BY group_id, account_key) AS f FROM h),
        nacc AS (SELECT group_id, count(DISTINCT account_key) AS n_acc, sum(n) AS n_posts FROM h GROUP BY ALL),
        prof AS (SELECT hn.group_id, hr, sum(f) / any_value(n_acc) AS f FROM hn JOIN nacc USING (group_id) GROUP BY ALL),
        fit AS (SELECT group_id, o.o AS offset_h,
                       sum(f) FILTER (WHERE (hr + o.o + 48) % 24 >= {lo} AND (hr + o.o + 48) % 24 < {hi}) AS share
                FROM prof CROSS JOIN range(-12, 15) o(o) GROUP BY ALL),
        best AS (SELECT * FROM fit QUALIFY row_number() OVER (PARTITION BY group_id ORDER BY share DESC,
                                                              abs(offset_h), offset_h) = 1),
        wk AS (SELECT m.group_id, avg(CASE WHEN isodow(p.created_at + to_hours(b.offset_h)) <= 5 THEN 1 ELSE 0 END)
                      AS weekday_share
               FROM m JOIN posts p USING (account_key) JOIN best b USING (group_id) GROUP BY ALL)
        SELECT b.group_id, b.offset_h, coalesce(b.share, 0) AS share, n.n_acc, n.n_posts, w.weekday_share,
               (SELECT list(coalesce(pr.f, 0) ORDER BY x.hr) FROM range(24) x(hr)
                LEFT JOIN prof pr ON pr.group_id = b.group_id AND pr.hr = x.hr) AS profile
        FROM best b JOIN nacc n USING (group_id) JOIN wk w USING (group_id) ORDER BY b.group_id
    """)
    out = []
    even = (hi - lo) / 24
    for r in rows:
        o = int(r["offset_h"])
        zone = f"UTC{o:+d}" + (f" ({ZONES[o]})" if o in ZONES else "")
        profile = [round(float(x), 4) for x in r["profile"]]
        peak = int(np.argmax(profile))
        ref = sum(f for h, f in enumerate(profile) if lo <= (h + REFERENCE_OFFSET[0]) % 24 < hi)
        ref_text = "" if o == REFERENCE_OFFSET[0] else (
            f" Office hours at UTC{REFERENCE_OFFSET[0]:+d} ({REFERENCE_OFFSET[1]}) would hold {_pct(ref)}.")
        out.append(Signal(
            r["group_id"], "office_hours", float(r["share"]), r["n_acc"],
            {"utc_offset_h": o, "weekday_share": round(float(r["weekday_share"]), 4), "profile_utc": profile,
             "peak_hour_utc": peak, "n_posts": int(r["n_posts"]), "even_share": even,
             "reference_offset_h": REFERENCE_OFFSET[0], "reference_share": round(ref, 4)},
            f"Fitting {lo:02d}:00-{hi:02d}:00 office hours to the members' posting hours (each member weighted "
            f"equally, {int(r['n_posts']):,} posts) works best at {zone}: {_pct(r['share'])} of activity falls "
            f"in those hours there ({_pct(even)} if spread evenly); {_pct(r['weekday_share'])} is on weekdays "
            f"(71% if even). Busiest hour: {peak:02d}:00 UTC.{ref_text}"))
    return out


def _language_location(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g}),
        names(name, code) AS (VALUES {language_codes_sql()}),
        places(place, langs) AS (VALUES {location_languages_sql()}),
        acc AS (SELECT m.group_id, a.account_key, coalesce(a.handle, a.account_key) AS handle, a.location,
                       (SELECT list_distinct(flatten(list(pl.langs))) FROM places pl
                        WHERE regexp_matches(lower(a.location), '\\b' || pl.place || '\\b')) AS expected
                FROM m JOIN accounts a USING (account_key)),
        pl AS (SELECT p.account_key, coalesce(n.code, split_part(lower(p.lang), '-', 1)) AS code
               FROM posts p LEFT JOIN names n ON n.name = lower(p.lang)
               WHERE p.account_key IN (SELECT account_key FROM m)
                 AND p.lang IS NOT NULL AND lower(p.lang) NOT IN ('und', 'undefined', 'language undefined', 'unknown')),
        per AS (SELECT acc.group_id, acc.account_key, any_value(acc.handle) AS handle,
                       any_value(acc.location) AS location, count(pl.code) AS n_known,
                       avg(CASE WHEN list_contains(acc.expected, pl.code) THEN 1.0 ELSE 0.0 END) AS ok,
                       mode(pl.code) AS top_lang
                FROM acc JOIN pl USING (account_key)
                WHERE len(acc.expected) > 0 GROUP BY acc.group_id, acc.account_key
                HAVING count(pl.code) >= {MIN_LANG_POSTS}),
        mix AS (SELECT m.group_id, pl.code, count(*) AS n FROM m JOIN pl USING (account_key) GROUP BY ALL)
        SELECT g.group_id, count(per.account_key) AS n_judged,
               count(*) FILTER (WHERE per.ok < 0.5) AS n_mismatch,
               list({{'handle': per.handle, 'location': per.location, 'top_lang': per.top_lang,
                     'foreign_share': round(1 - per.ok, 3)}} ORDER BY per.ok, per.handle)
                   FILTER (WHERE per.ok < 0.5) AS examples,
               (SELECT list({{'lang': x.code, 'posts': x.n}} ORDER BY x.n DESC, x.code)[1:6]
                FROM mix x WHERE x.group_id = g.group_id) AS mix
        FROM (SELECT DISTINCT group_id FROM m) g LEFT JOIN per USING (group_id)
        GROUP BY g.group_id ORDER BY g.group_id
    """)
    out = []
    for r in rows:
        mix = ", ".join(f"{x['lang']} {x['posts']:,}" for x in (r["mix"] or []))
        if r["n_judged"] == 0:
            out.append(Signal(r["group_id"], "language_location", None, 0, {"mix": r["mix"] or []},
                              "No member has both a recognised profile location and "
                              f"{MIN_LANG_POSTS}+ posts with a known language" + (f"; post languages: {mix}." if mix
                                                                                 else ".")))
            continue
        v = r["n_mismatch"] / r["n_judged"]
        ex = "; ".join(f"{e['handle']} claims '{e['location']}' but {_pct(e['foreign_share'])} of posts are "
                       f"foreign there (mostly {e['top_lang']})" for e in (r["examples"] or [])[:3])
        out.append(Signal(r["group_id"], "language_location", v, r["n_judged"],
                          {"n_mismatch": r["n_mismatch"], "examples": (r["examples"] or [])[:10],
                           "mix": r["mix"] or []},
                          f"{r['n_mismatch']} of {r['n_judged']} members with a recognised location ({_pct(v)}) post "
                          f"mostly in languages foreign to it" + (f": {ex}." if ex else ".")
                          + (f" Post languages: {mix}." if mix else "")))
    return out


def _automation(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g}),
        p AS (SELECT m.group_id, p.account_key, p.client,
                     epoch(p.created_at) - lag(epoch(p.created_at)) OVER (PARTITION BY m.group_id, p.account_key
                                                                          ORDER BY p.created_at) AS gap
              FROM m JOIN posts p USING (account_key)),
        acc AS (SELECT group_id, account_key, count(*) AS n, stddev_pop(gap) / nullif(avg(gap), 0) AS cv
                FROM p GROUP BY ALL),
        cl AS (SELECT group_id, count(*) AS n_posts, count(client) AS n_client,
                      count(*) FILTER (WHERE regexp_matches(lower(client), '{AUTOMATION_CLIENTS}')) AS n_auto,
                      list(DISTINCT client) FILTER (WHERE regexp_matches(lower(client), '{AUTOMATION_CLIENTS}'))
                          AS auto_clients
               FROM p GROUP BY ALL)
        SELECT cl.*, (SELECT count(*) FROM acc WHERE acc.group_id = cl.group_id AND n >= {MIN_INTERVAL_POSTS}
                      AND cv IS NOT NULL) AS n_judged,
               (SELECT count(*) FROM acc WHERE acc.group_id = cl.group_id AND n >= {MIN_INTERVAL_POSTS}
                      AND cv < {REGULAR_CV}) AS n_regular,
               (SELECT median(cv) FROM acc WHERE acc.group_id = cl.group_id AND n >= {MIN_INTERVAL_POSTS}) AS median_cv
        FROM cl ORDER BY group_id
    """)
    out = []
    for r in rows:
        if r["n_judged"]:
            v = r["n_regular"] / r["n_judged"]
            out.append(Signal(r["group_id"], "interval_regularity", v, r["n_judged"],
                              {"n_regular": r["n_regular"], "median_cv": round(float(r["median_cv"]), 3)},
                              f"{r['n_regular']} of {r['n_judged']} members with {MIN_INTERVAL_POSTS}+ posts "
                              f"({_pct(v)}) post at clockwork-regular intervals (coefficient of variation < "
                              f"{REGULAR_CV}; a random poster has 1, bursty humans more); median CV "
                              f"{r['median_cv']:.2f}."))
        else:
            out.append(Signal(r["group_id"], "interval_regularity", None, 0, {},
                              f"No member has {MIN_INTERVAL_POSTS}+ posts: intervals not judged."))
        if r["n_client"]:
            v = r["n_auto"] / r["n_client"]
            clients = sorted(r["auto_clients"] or [])
            out.append(Signal(r["group_id"], "automation_client", v, r["n_client"],
                              {"n_auto": r["n_auto"], "clients": clients[:10]},
                              f"{r['n_auto']:,} of {r['n_client']:,} posts with a known client ({_pct(v)}) came "
                              "from automation/scheduling clients" + (f" ({', '.join(clients[:5])})." if clients
                                                                      else ".")))
        else:
            out.append(Signal(r["group_id"], "automation_client", None, 0, {},
                              "The data has no posting client for these members."))
    return out


def _profile_reuse(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g}),
        d AS (SELECT m.group_id, coalesce(a.handle, a.account_key) AS handle, lower(trim(regexp_replace(a.description, '\\s+', ' ', 'g'))) AS bio
              FROM m JOIN accounts a USING (account_key)
              WHERE length(trim(coalesce(a.description, ''))) >= 10),
        dup AS (SELECT group_id, bio, count(*) AS n, list(handle ORDER BY handle) AS handles
                FROM d GROUP BY ALL HAVING count(*) >= 2)
        SELECT g.group_id, (SELECT count(*) FROM d WHERE d.group_id = g.group_id) AS n_bio,
               coalesce(sum(dup.n), 0) AS n_reused,
               list({{'bio': dup.bio, 'handles': dup.handles[1:5]}} ORDER BY dup.n DESC, dup.bio)
                   FILTER (WHERE dup.bio IS NOT NULL) AS examples
        FROM (SELECT DISTINCT group_id FROM m) g LEFT JOIN dup USING (group_id) GROUP BY g.group_id
        ORDER BY g.group_id
    """)
    out = []
    for r in rows:
        if not r["n_bio"]:
            out.append(Signal(r["group_id"], "profile_reuse", None, 0, {},
                              "The data has no profile bios for these members (profile images are not in the "
                              "data model)."))
            continue
        v = int(r["n_reused"]) / r["n_bio"]
        ex = (r["examples"] or [])[:3]
        out.append(Signal(r["group_id"], "profile_reuse", v, r["n_bio"], {"n_reused": int(r["n_reused"]),
                                                                          "examples": ex},
                          f"{int(r['n_reused'])} of {r['n_bio']} members with a bio ({_pct(v)}) share it word for "
                          "word with another member" + ("; e.g. '" + ex[0]["bio"][:80] + "' ("
                                                         + ", ".join(ex[0]["handles"]) + ")." if ex else ".")))
    return out


def ai_tells_sql(text_col: str = "text") -> str:
    """SQL boolean: ``text_col`` holds one of :data:`AI_TELLS` (case-insensitive substring).

    One regular expression of the escaped phrases over the lower-cased text (RE2), so the text is
    lower-cased once, not once per phrase (4x faster on the 287k IRA tweets).
    """
    pattern = "|".join(re.escape(t) for t in AI_TELLS).replace("'", "''")
    return f"regexp_matches(lower({text_col}), '{pattern}')"


def _ai_tells(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g}),
        p AS (SELECT m.group_id, p.account_key, p.text, p.created_at, {ai_tells_sql('p.text')} AS tell
              FROM m JOIN posts p USING (account_key) WHERE p.text IS NOT NULL)
        SELECT group_id, count(DISTINCT account_key) AS n_acc,
               count(DISTINCT account_key) FILTER (WHERE tell) AS n_tell_acc,
               count(*) FILTER (WHERE tell) AS n_tell_posts,
               list(text ORDER BY created_at) FILTER (WHERE tell) AS examples
        FROM p GROUP BY group_id ORDER BY group_id
    """)
    out = []
    for r in rows:
        v = r["n_tell_acc"] / r["n_acc"]
        ex = [t[:200] for t in (r["examples"] or [])[:3]]
        out.append(Signal(r["group_id"], "ai_text_tells", v, r["n_acc"],
                          {"n_posts": r["n_tell_posts"], "examples": ex},
                          f"{r['n_tell_acc']} of {r['n_acc']} members ({_pct(v)}) left stock AI-chatbot phrases "
                          f"in {r['n_tell_posts']} posts" + (f", e.g. \"{ex[0]}\"." if ex else ".")))
    return out


def text_uniformity(texts: list[str], owners: list[str]) -> float | None:
    """Mean TF-IDF cosine similarity between texts of *different* owners.

    Parameters
    ----------
    texts : list of str
        Post texts (a sample).
    owners : list of str
        The author of each text, same length.

    Returns
    -------
    float or None
        In [0, 1]; ``None`` with fewer than two owners or no usable words.
        Vectors are word 1-2-gram TF-IDF (scikit-learn, ``sublinear_tf``, URLs
        and ``@mentions`` removed), L2-normalised, so a pair's similarity is
        the cosine of the angle between them.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    owner = np.asarray(owners, dtype=object)
    if len(set(owners)) < 2:
        return None
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                          preprocessor=lambda s: _CLEAN.sub(" ", s.lower()))
    try:
        x = vec.fit_transform(texts)
    except ValueError:  # no words at all
        return None
    sim = (x @ x.T).toarray()
    other = owner[:, None] != owner[None, :]
    return float(sim[other].mean())


_CLEAN = re.compile(r"https?://\S+|@\w+|^rt\b")


def _uniformity(store: Store, g: str) -> list[Signal]:
    rows = _rows(store, f"""
        WITH m AS ({g})
        SELECT m.group_id, p.account_key, p.text FROM m JOIN posts p USING (account_key)
        WHERE length(p.text) >= 20
        QUALIFY row_number() OVER (PARTITION BY m.group_id, p.account_key ORDER BY hash(p.post_key), p.post_key)
                <= {UNIFORMITY_PER_MEMBER}
        ORDER BY m.group_id, hash(p.post_key), p.post_key
    """)
    by: dict[str, tuple[list, list]] = {}
    for r in rows:
        t, o = by.setdefault(r["group_id"], ([], []))
        if len(t) < UNIFORMITY_MAX_POSTS:
            t.append(r["text"])
            o.append(r["account_key"])
    out = []
    for gid, (texts, owners) in sorted(by.items()):
        v = text_uniformity(texts, owners)
        n = len(set(owners))
        out.append(Signal(gid, "text_uniformity", v, n, {"n_posts": len(texts)},
                          "Too few members with text to compare." if v is None else
                          f"Posts of different members have a mean TF-IDF cosine similarity of {v:.3f} "
                          f"({len(texts)} posts sampled from {n} members; near 0 for unrelated people, high when "
                          "members post the same or templated text)."))
    return out


def _fingerprints(store: Store, g: str) -> list[Signal]:
    from .fingerprints import fingerprint_signals

    return fingerprint_signals(store, g)


_COMPUTE = (_creation_burst, _handles, _office_hours, _language_location, _automation, _profile_reuse, _ai_tells,
            _uniformity, _fingerprints)


def group_authenticity(store: Store, groups_sql: str) -> dict[str, dict[str, Signal]]:
    """Every authenticity signal of every group of accounts.

    Parameters
    ----------
    store : Store
    groups_sql : str
        SQL returning ``(group_id, account_key)`` rows, e.g. :func:`run_groups_sql`
        or :func:`dataset_groups_sql`. Evaluated inside CTEs only, so a
        read-only store works.

    Returns
    -------
    dict
        ``{group_id: {signal: Signal}}`` with every signal of :data:`SIGNALS`
        in that order; a signal whose inputs the data lacks has ``value=None``
        and an explanation of what is missing.
    """
    groups = [r[0] for r in store.con.execute(f"SELECT DISTINCT group_id FROM ({groups_sql}) ORDER BY 1").fetchall()]
    out: dict[str, dict[str, Signal]] = {g: {} for g in groups}
    for fn in _COMPUTE:
        for s in fn(store, groups_sql):
            out[s.group_id][s.signal] = s
    for g, sigs in out.items():
        for name in SIGNALS:
            if name not in sigs:
                sigs[name] = Signal(g, name, None, 0, {}, f"The data has no {NEEDS[name]} for these members.")
        out[g] = {name: sigs[name] for name in SIGNALS}
    return out


def cluster_authenticity(store: Store, run_id: int, cluster_id: str | None = None) -> dict[str, dict[str, Signal]]:
    """Authenticity signals of the clusters of run ``run_id`` (one cluster if ``cluster_id`` is given).

    Returns ``{cluster_id: {signal: Signal}}`` (see :func:`group_authenticity`).

    Raises
    ------
    ValueError
        ``cluster_id`` is given but not a cluster of the run.
    """
    g = run_groups_sql(run_id)
    if cluster_id is not None:
        if not store.con.execute("SELECT 1 FROM clusters WHERE run_id = ? AND cluster_id = ?",
                                 [int(run_id), cluster_id]).fetchall():
            raise ValueError(f"{store.path}: run {run_id} has no cluster {cluster_id!r}")
        g += " AND cluster_id = '" + cluster_id.replace("'", "''") + "'"
    return group_authenticity(store, g)


def save_authenticity(store: Store, run_id: int) -> int:
    """Compute every cluster's signals of run ``run_id`` and store them in ``cluster_authenticity``.

    Rows of the run already there are replaced. Returns the number of rows written.
    """
    result = cluster_authenticity(store, run_id)
    rows = [(int(run_id), cid, s.signal, s.value, s.n_accounts, json.dumps(s.details, default=str), s.explanation)
            for cid, sigs in sorted(result.items()) for s in sigs.values()]
    return replace_rows(store, "cluster_authenticity", "run_id = ?", [int(run_id)], rows)
