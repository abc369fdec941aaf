"""Two fingerprints of today's operations as authenticity signals: machine-written posts and look-alike news domains.

Both are computed per group of accounts (a run's clusters) like the other
signals of :mod:`.authenticity` and stored with them in ``cluster_authenticity``:

=================  ==========================================================  ===============================
signal             value (per group)                                           method
=================  ==========================================================  ===============================
ai_text_model      share of the sampled posts (>= ``aitext.MIN_CHARS``         :mod:`.aitext_tuned` (MiniLM
                   characters) the classifier scores >= ``aitext.THRESHOLD``  fine-tuned on TweepFake,
                                                                              stacked with the NB-SVM) with
                                                                              the ``embed`` extra, else
                                                                              :mod:`.aitext` (NB-SVM)
lookalike_domains  share of members who shared at least one domain that        :mod:`.lookalike` (PSL +
                   imitates a reference news outlet                            skeletons + typo rules)
=================  ==========================================================  ===============================

Sampling rule for the classifier (documented in docs/explain.md): per member at
most :data:`AI_PER_MEMBER` posts, per group at most :data:`AI_MAX_POSTS` (the NB-SVM, thousands
of posts/s) or :data:`AI_TUNED_MAX_POSTS` (the fine-tuned encoder, about 250 posts/s on 2 cores),
chosen by ``hash(post_key)`` so that re-runs pick the same posts; the group's share is then a
sample proportion (standard error at most 0.5 / sqrt(n_posts), 0.05 at 100 posts).

DISARM tags (:func:`disarm_tags`): a group with look-alike domains is tagged T0149.003
*Lookalike Domain* and T0143.003 *Impersonated Persona*; one whose sampled posts are
mostly machine-like is tagged T0085.001 *Develop AI-Generated Text*.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from ..store.db import Store

#: Posts sampled per member and per group for the AI-text classifier.
AI_PER_MEMBER, AI_MAX_POSTS = 50, 2000
#: Posts per group scored by the fine-tuned encoder (:mod:`.aitext_tuned`), the first of the sample above.
AI_TUNED_MAX_POSTS = 100
#: Posts shown as evidence (highest probability first).
AI_EXAMPLES = 5
#: Share of a group's sampled posts at or above which the group is tagged T0085.001.
AI_TAG_SHARE = 0.5
#: Sampled posts a group needs before its share is tagged.
AI_TAG_MIN_POSTS = 20
#: What the AI-text score does not prove (appended to every explanation).
AI_CAVEAT = ("The classifier learnt 2019-2020 generators (GPT-2, RNN, Markov) on English tweets: a high share "
             "means posts resemble those, not proof of machine authorship; newer models, human-edited or "
             "paraphrased output and very short posts can pass as human.")


def _rows(store: Store, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
    cur = store.con.execute(sql, params) if params else store.con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def ai_text_signals(store: Store, g: str) -> list:
    """Signal ``ai_text_model`` of every group of ``g`` (SQL of ``(group_id, account_key)``).

    ``details``: ``n_posts`` scored, ``mean_p``, ``examples`` (the :data:`AI_EXAMPLES` posts with
    the highest probability: ``post_key``, ``account_key``, ``p``, ``text``) and ``top_accounts``
    (members with the highest share, ``[account_key, share, n]``), ``model`` (training record).
    """
    from . import aitext, aitext_tuned
    from .aitext import MIN_CHARS, THRESHOLD
    from .authenticity import Signal

    tuned = aitext_tuned.available()
    cap = AI_TUNED_MAX_POSTS if tuned else AI_MAX_POSTS
    rows = _rows(store, f"""
        WITH m AS ({g}), per_member AS (
            SELECT m.group_id, p.account_key, p.post_key, p.text FROM m JOIN posts p USING (account_key)
            WHERE length(trim(p.text)) >= {MIN_CHARS} AND p.kind <> 'repost'
            QUALIFY row_number() OVER (PARTITION BY m.group_id, p.account_key ORDER BY hash(p.post_key), p.post_key)
                    <= {AI_PER_MEMBER})
        SELECT * FROM per_member
        QUALIFY row_number() OVER (PARTITION BY group_id ORDER BY hash(post_key), post_key) <= {cap}
        ORDER BY group_id, hash(post_key), post_key
    """)
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["group_id"]].append(r)
    if not by:
        return []
    mod = aitext_tuned if tuned else aitext
    model, model_id = mod.load_model(), mod.MODEL_ID
    out = []
    for gid, rs in sorted(by.items()):
        p = model.predict_proba([r["text"] for r in rs])
        keep = ~np.isnan(p)                      # under MIN_CHARS once URLs are removed: not judged
        rs, p = [r for r, k in zip(rs, keep) if k], p[keep]
        if not rs:
            continue
        hit = p >= THRESHOLD
        v = float(hit.mean())
        order = np.argsort(-p, kind="stable")[:AI_EXAMPLES]
        ex = [{"post_key": rs[i]["post_key"], "account_key": rs[i]["account_key"], "p": round(float(p[i]), 3),
               "text": rs[i]["text"][:280]} for i in order]
        acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r, h in zip(rs, hit):
            acc[r["account_key"]][0] += int(h)
            acc[r["account_key"]][1] += 1
        top = sorted(((a, k / n, n) for a, (k, n) in acc.items()), key=lambda t: (-t[1], t[0]))[:5]
        n_acc = len(acc)
        out.append(Signal(gid, "ai_text_model", v, n_acc,
                          {"n_posts": len(rs), "n_likely": int(hit.sum()), "mean_p": round(float(p.mean()), 3),
                           "examples": ex, "top_accounts": [[a, round(s, 3), n] for a, s, n in top],
                           "model": model_id},
                          f"{int(hit.sum())} of {len(rs)} sampled posts ({100 * v:.0f}%) of {n_acc} members score as "
                          f"likely machine-written (p >= {THRESHOLD}); the top one: \"{ex[0]['text'][:120]}\" "
                          f"(p = {ex[0]['p']}). " + AI_CAVEAT))
    return out


def lookalike_signals(store: Store, g: str) -> list:
    """Signal ``lookalike_domains`` of every group of ``g`` (SQL of ``(group_id, account_key)``).

    Reads the members' ``domain`` actions and the ``link`` actions whose first path segment names an
    outlet's domain (one check per distinct host or link; the other links are dropped in SQL) and
    compares them with the shipped outlets plus the store's long-established domains
    (:func:`.lookalike.store_index`).
    ``details``: ``domains`` -- one entry per look-alike (``domain``, ``host``, ``kind``, ``outlet``,
    ``outlet_name``, ``country``, ``n_posts``, ``n_accounts``, ``example_post``, ``explanation``) -- and
    ``outlets`` (imitated outlet domains).
    """
    from .authenticity import Signal
    from .lookalike import store_index

    ix = store_index(store)
    # a link counts only as an impersonated path (its host is judged by the post's domain action), so
    # only links whose first path segment, without "www.", names an outlet's domain reach Python: the
    # segment as match_url reads it (a key without a scheme is read as "//" + key)
    url = ("lower(CASE WHEN starts_with(a.object_key, '//') OR regexp_matches(a.object_key, "
           "'^[A-Za-z][A-Za-z0-9+.-]*://') THEN a.object_key ELSE '//' || a.object_key END)")
    segment = f"regexp_extract({url}, '^(?:[a-z][a-z0-9+.-]*:)?//[^/?#]*/+([^/?#]*)', 1)"
    named = f"list_contains($outlets, regexp_replace({segment}, '^www[.]', ''))"
    rows = _rows(store, f"""
        WITH m AS ({g}), a AS (
            SELECT * FROM actions a
            WHERE a.account_key IN (SELECT account_key FROM m)
              AND (a.action_type = 'domain' OR (a.action_type = 'link' AND ({named}))))
        SELECT m.group_id, a.action_type, a.object_key, count(*) AS n_posts,
               count(DISTINCT a.account_key) AS n_accounts, list(DISTINCT a.account_key) AS accounts,
               min(a.post_key) AS example_post
        FROM m JOIN a USING (account_key)
        GROUP BY ALL ORDER BY 1, 2, 3
    """, {"outlets": sorted(ix.by_domain)})
    members = dict(store.con.execute(f"SELECT group_id, count(DISTINCT account_key) FROM ({g}) GROUP BY 1").fetchall())
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    who: dict[str, set] = defaultdict(set)
    for r in rows:
        hit = ix.match_host(r["object_key"]) if r["action_type"] == "domain" else ix.match_url(r["object_key"])
        if hit is None or (r["action_type"] == "link" and hit.kind != "path"):
            continue
        key = hit.domain if hit.kind != "path" else r["object_key"]
        d = found[r["group_id"]].setdefault(key, {
            "domain": hit.domain, "host": hit.host, "kind": hit.kind, "outlet": hit.outlet.domain,
            "outlet_name": hit.outlet.name, "country": hit.outlet.country, "n_posts": 0, "n_accounts": 0,
            "example_post": r["example_post"], "explanation": hit.explanation})
        d["n_posts"] += int(r["n_posts"])
        d["n_accounts"] = max(d["n_accounts"], int(r["n_accounts"]))
        who[r["group_id"]].update(r["accounts"])
    out = []
    for gid in sorted(members):
        doms = sorted(found.get(gid, {}).values(), key=lambda d: (-d["n_posts"], d["domain"]))
        n = members[gid]
        k = len(who.get(gid, ()))
        outlets = sorted({d["outlet"] for d in doms})
        expl = (f"{k} of {n} members shared {len(doms)} look-alike domain(s) imitating "
                + ", ".join(sorted({f"{d['outlet_name']} ({d['outlet']})" for d in doms})[:5])
                + ": " + "; ".join(d["explanation"] for d in doms[:3])) if doms else \
            "No shared domain imitates an outlet of the reference list."
        out.append(Signal(gid, "lookalike_domains", k / n if n else None, n,
                          {"domains": doms[:50], "n_domains": len(doms), "outlets": outlets}, expl))
    return out


def fingerprint_signals(store: Store, g: str) -> list:
    """Both fingerprints' signals (``ai_text_model`` then ``lookalike_domains``) of the groups of ``g``."""
    return ai_text_signals(store, g) + lookalike_signals(store, g)


def disarm_tags(signals: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """DISARM techniques the fingerprints support, as ``(disarm_id, behaviour, evidence)``.

    ``signals`` maps signal name to a :class:`.authenticity.Signal` (or a dict with ``value`` and
    ``details``), e.g. one group's entry of :func:`.authenticity.group_authenticity`.
    """
    def get(name):
        s = signals.get(name)
        if s is None:
            return None, {}
        return (s["value"], s["details"]) if isinstance(s, dict) else (s.value, s.details)

    tags = []
    v, d = get("lookalike_domains")
    if v and d.get("domains"):
        ev = {"domains": [[x["domain"], x["outlet"], x["kind"]] for x in d["domains"][:10]], "member_share": v}
        tags.append(("T0149.003", "members shared domains that imitate real news outlets (look-alike domains)", ev))
        tags.append(("T0143.003", "the look-alike domains impersonate existing news outlets: "
                                  + ", ".join(d.get("outlets", [])[:5]), ev))
    v, d = get("ai_text_model")
    if v is not None and v >= AI_TAG_SHARE and d.get("n_posts", 0) >= AI_TAG_MIN_POSTS:
        tags.append(("T0085.001", f"most sampled posts score as machine-written (share {v:.2f} >= {AI_TAG_SHARE} "
                                  f"of {d['n_posts']} posts); " + AI_CAVEAT,
                     {"share": v, "n_posts": d["n_posts"],
                      "examples": [e["post_key"] for e in d.get("examples", [])]}))
    return tags


def lookalike_domains_json(details: Any) -> list[dict]:
    """The ``domains`` list of a stored ``lookalike_domains`` signal's details (JSON text or dict)."""
    if isinstance(details, str):
        details = json.loads(details)
    return list((details or {}).get("domains", []))
