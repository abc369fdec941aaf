"""Plain-language pieces of a run's report: the one-minute summary, p-values, durations and shared objects
as a reader recognises them.

Everything here formats numbers the store already holds (``runs``, ``clusters``, ``cluster_members``,
``accounts``); nothing is recomputed. The HTML report (``report/templates/_summary.html.j2``) and the
web app show these sentences as they are.
"""
from __future__ import annotations

import re
from typing import Any

from ..detect import p_phrase
from ..store.db import Store
from ..text import plural

#: ``clusters.score`` / ``cluster_members.score`` cap: ``-log10(p)`` of a p-value that underflowed to 0.
SCORE_CAP = 300.0

#: Object keys that are content hashes (``text:<md5>``, image/perceptual hashes): shown by their text.
_HASHED = re.compile(r"^(text|image|phash|media):", re.I)
_HASH_TYPES = ("text", "repost", "image")


def p_text(p: float | None) -> str:
    """``3.2e-12`` as ``"3.2e-12"``; a p-value of 0 (below double precision, score capped at 300) as
    ``"< 1e-300"``, so that several clusters at the cap do not read as tied at exactly zero."""
    if p is None:
        return "n/a"
    return "< 1e-300" if p <= 0 else f"{p:.2g}"


def duration_text(seconds: float) -> str:
    """``90`` -> ``"1.5 min"``, ``7200`` -> ``"2.0 h"``: a delay or window as a reader says it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def first_words(text: str | None, n: int = 12) -> str:
    """The first ``n`` words of ``text`` on one line, with ``…`` when cut ("" for no text)."""
    words = (text or "").split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def object_display(action_type: str, object_key: str, example_text: str | None) -> dict[str, Any]:
    """How a shared object reads: ``{"text": ..., "key": ..., "short_key": ...}``.

    Hashed objects (an exact or near-duplicate text ``text:5ae2...``, a reposted post id, an image
    hash) read as the first words of an example post that carries them; a reply or quote parent as
    ``replies to post <id>`` (the examples are the replies, not the parent); hashtags as
    ``#tag``, tag sequences as ``#a #b``, mentions as ``@name``, links and domains as they are.
    ``key`` is the full object key (for a link target or a tooltip) and ``short_key`` its first 12
    characters after the prefix, or None when the text already is the key.
    """
    if action_type == "hashtag":
        return {"text": f"#{object_key}", "key": object_key, "short_key": None}
    if action_type == "hashtag_seq":
        return {"text": " ".join(f"#{t}" for t in object_key.split()), "key": object_key, "short_key": None}
    if action_type == "mention":
        return {"text": f"@{object_key}", "key": object_key, "short_key": None}
    if action_type in ("reply", "quote"):   # the examples are the replies/quotes, not the parent's text
        tail = object_key.split(":", 1)[-1]
        return {"text": f"{'replies to' if action_type == 'reply' else 'quotes'} post {tail[:24]}",
                "key": object_key, "short_key": None}
    if action_type in _HASH_TYPES or _HASHED.match(object_key):
        tail = object_key.split(":", 1)[-1]
        words = first_words(example_text)
        return {"text": f"“{words}”" if words else object_key, "key": object_key,
                "short_key": (tail[:12] + "…") if len(tail) > 12 else tail}
    return {"text": object_key, "key": object_key, "short_key": None}


def tested_windows(params: dict[str, Any]) -> list[float]:
    """The co-action windows (seconds) a run tested, from its stored parameters (``windows``, or the
    single ``window_s`` of runs made before multi-scale detection)."""
    windows = params.get("windows") or ([params["window_s"]] if params.get("window_s") else [])
    return [float(w) for w in windows]


def _signals_text(shares: dict[str, float], k: int = 2) -> str:
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:k]
    return " and ".join(f"{s} ({share:.0%})" for s, share in top)


def run_summary(store: Store, run: dict[str, Any], clusters: list[dict[str, Any]],
                n_loose: int = 0) -> dict[str, list[str]]:
    """The one-minute summary of a run: what was found, how strongly, and what it is not.

    Parameters
    ----------
    store : Store
    run : dict
        :func:`~cibscope.report.query.run_info` of the run.
    clusters : list of dict
        :func:`~cibscope.report.query.clusters` of the run (all of them, by rank).
    n_loose : int
        Significant edges outside any one cluster (:func:`~cibscope.report.query.loose_pairs`).

    Returns
    -------
    dict
        ``{"found": [sentence, ...], "strength": [...], "not": [...]}``, plain text.
    """
    rid = int(run["run_id"])
    params = run.get("params") or {}
    flagged = [c for c in clusters if c["flagged"]]
    n_flag_acc = store.con.execute(
        "SELECT count(DISTINCT m.account_key) FROM cluster_members m JOIN clusters c USING (run_id, cluster_id) "
        "WHERE m.run_id = ? AND c.flagged", [rid]).fetchone()[0]
    win = ", ".join(duration_text(w) for w in tested_windows(params)) or "the configured window"
    found: list[str] = []
    strength: list[str] = []
    if not clusters and not run.get("n_edges"):
        found.append(f"No pair of accounts acted together more often than chance: "
                     f"{plural(run.get('n_accounts') or 0, 'account')} "
                     f"and {plural(run.get('n_actions') or 0, 'action')} were tested at windows of {win}.")
    elif not clusters:
        found.append(f"No cluster formed: {plural(run['n_edges'], 'pair')} of accounts co-acted more than chance at "
                     f"windows of {win}, but no group of {params.get('min_cluster_size', 3)} or more accounts "
                     f"(min_cluster_size). The pairs are listed under “Pairs outside clusters”; "
                     f"`--min-cluster-size 2` reports pairs as clusters.")
    elif not flagged:
        found.append(f"No cluster is flagged as a candidate operation. {plural(len(clusters), 'cluster')} of accounts "
                     f"co-acted more than chance but fell short of the flagging bar (q ≤ {params.get('alpha', 'alpha')} "
                     f"and at least {params.get('min_lift', 'min_lift')}× the co-actions chance predicts).")
    else:
        found.append(f"{len(flagged)} of {plural(len(clusters), 'cluster')} "
                     f"{'is' if len(flagged) == 1 else 'are'} flagged as "
                     f"{'a candidate coordinated network' if len(flagged) == 1 else 'candidate coordinated networks'}: "
                     f"{plural(n_flag_acc, 'account')} of the {run.get('n_accounts') or 0:,} analysed, acting on "
                     "the same "
                     f"objects within {win} of each other.")
        labels = store.con.execute("""
            SELECT a.label, count(DISTINCT m.account_key) FROM cluster_members m
            JOIN clusters c USING (run_id, cluster_id) JOIN accounts a USING (account_key)
            WHERE m.run_id = ? AND c.flagged AND a.label IS NOT NULL GROUP BY ALL ORDER BY 2 DESC, 1
        """, [rid]).fetchall()
        if labels:
            more = labels[3:]
            found.append("Known labels among the flagged accounts: " +
                         ", ".join(f"{lab} ({n})" for lab, n in labels[:3]) +
                         (f" and {plural(len(more), 'other label')} on {plural(sum(n for _, n in more), 'account')}"
                          if more else "")
                         + ".")
    if clusters and n_loose:
        found.append(f"{plural(n_loose, 'significant pair')} of accounts {'has' if n_loose == 1 else 'have'} an "
                     "account in no cluster (listed "
                     f"under “Pairs outside clusters”).")
    for c in (flagged or clusters)[:3]:
        judged = f" at the {duration_text(c['scale_s'])} window" if c.get("scale_s") else ""
        strength.append(
            f"#{c['rank']} ({plural(c['n_accounts'], 'account')}, {'flagged' if c['flagged'] else 'not flagged'}): "
            f"{c['n_coactions']:,} co-actions where chance predicts {c['expected']:,.1f} "
            f"({c['lift']:,.0f}×, {p_phrase(c['p_value'])}"
            f"{judged}), mostly {_signals_text(c['signals'])}, "
            f"{c['first_seen']:%Y-%m-%d} to {c['last_seen']:%Y-%m-%d}.")
    not_ = [
        "A flagged cluster is statistical evidence of coordination, not proof of inauthenticity or of who is "
        "behind it: fan groups, news syndication and one owner's automated accounts also co-act. Read the "
        "shared objects and example posts of each cluster before you act on it.",
        "Accounts in no cluster are not cleared: the run saw only the data it was given"
        + (f" ({', '.join(run['datasets'])})" if run.get("datasets") else "")
        + " and only the signals " + ", ".join(params.get("signals") or []) + ".",
    ]
    if any(c["flagged"] and c["score"] >= SCORE_CAP for c in clusters):
        not_.append("Several clusters at score 300 are not tied: their p-values are all below 1e-300, the "
                    "smallest a computer double holds; rank them by lift and size instead.")
    return {"found": found, "strength": strength, "not": not_}


__all__ = ["SCORE_CAP", "duration_text", "first_words", "object_display", "p_phrase", "p_text", "run_summary",
           "tested_windows"]
