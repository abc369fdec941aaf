"""Score a detection run against known labels: is each account flagged as part of an operation?

The unit is the **account**. The population is every account seen in the data
the run covered (:func:`cibscope.report.query.covered_accounts_sql`) with at
least ``min_posts`` posts there. An account is

* **positive** when it carries a known operation label: ``accounts.label``
  starting with ``label_prefix`` (e.g. ``IRA:``), or listed in a labels file;
* **flagged** when it is a member of a cluster the run flagged
  (``clusters.flagged``); its **score** is its ``cluster_members.score`` there
  (max ``-log10 q`` of its edges), 0 when not flagged, exactly as
  ``accounts.csv`` writes them.

Metrics (scikit-learn): precision, recall and F1 of *flagged*; PR-AUC as
average precision of *score*; per category (the label after the prefix, e.g.
the Linvill-Warren roles ``RightTroll``, ``HashtagGamer``) the positives,
flagged, recall, and the precision of flagging that category against all
negatives; the flagged share of each dataset's unlabelled accounts (false
positives on organic data); and the adjusted mutual information between the
cluster assignment and the category of the positive accounts that are in a
cluster (flagged or not): 1 when clusters are exactly the roles, 0 at chance.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .explain.account_signals import account_suspicion_sql
from .report.query import covered_accounts_sql, run_info
from .store.db import Store


def read_labels(path: str | Path) -> dict[str, str]:
    """Read a labels CSV: columns ``account_key`` (or ``account``) and ``label`` (header required).

    A key is an account key (``twitter:123``) or a bare account name or id (``Abena_Tau``): bare
    names are resolved against the store by :func:`match_labels`. Every listed account with a
    non-empty label is kept; :func:`evaluate` makes it a positive of that category unless the label
    is one of its ``negative_labels``.

    Raises
    ------
    ValueError
        The file cannot be read (missing, a folder, not UTF-8), lacks a column, or a row has an
        empty key; the message names the file (and the line).
    """
    path = Path(path)
    try:
        return _read_labels(path)
    except UnicodeDecodeError:  # the decoder's offset is within a read chunk: find the line in the bytes
        data = path.read_bytes()
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the labels "
                             "file as UTF-8") from None
        raise ValueError(f"{path}: not UTF-8 text; save the labels file as UTF-8") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the labels file ({exc.strerror or exc})") from None


def _read_labels(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = csv.DictReader(f)
        fields = set(rows.fieldnames or [])
        key = "account_key" if "account_key" in fields else "account"
        missing = {key, "label"} - fields
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))} "
                             "(need account_key,label or account,label)")
        out: dict[str, str] = {}
        first: dict[str, int] = {}
        for line, r in enumerate(rows, start=2):
            if not (r[key] or "").strip():
                raise ValueError(f"{path}:{line}: empty {key}")
            acc, label = r[key].strip(), (r["label"] or "").strip()
            if not label:
                continue
            if acc in out and out[acc] != label:  # the last row winning would decide the figures silently
                raise ValueError(f"{path}:{line}: {acc} is labelled {label!r} here and {out[acc]!r} on line "
                                 f"{first[acc]}; give each account one label")
            out[acc] = label
            first.setdefault(acc, line)
    return out


def check_label_roles(labels: dict[str, str], negative_labels: Sequence[str] = (), *,
                      all_positive: bool = False) -> None:
    """Check which labels of a labels file (:func:`read_labels`) mark negatives before :func:`evaluate` runs.

    Every label not in ``negative_labels`` makes a positive, so a file holding ``ira`` and ``organic``
    without ``negative_labels`` would count the organic accounts as positives. This refuses that: with
    more than one distinct label, the caller must name the negative ones, or say ``all_positive``
    (every label is an operation category, e.g. ``RightTroll`` and ``HashtagGamer``).

    Raises
    ------
    ValueError
        A label of ``negative_labels`` that no row carries (compared exactly, case included), or more
        than one distinct label with neither ``negative_labels`` nor ``all_positive``, or every label
        negative; the message lists the labels found with their counts.
    """
    counts: dict[str, int] = {}
    for v in labels.values():
        counts[v] = counts.get(v, 0) + 1
    found = ", ".join(f"{k} ({n:,})" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    missing = [n for n in negative_labels if n not in counts]
    if missing:
        raise ValueError(f"negative label {', '.join(missing)} is not a label of the file (labels are compared "
                         f"exactly); labels found: {found}")
    if len(counts) > 1 and not negative_labels and not all_positive:
        example = next((k for k in counts if k.lower() in ("organic", "negative", "control", "normal")),
                       min(counts, key=lambda k: (-counts[k], k)))
        raise ValueError(f"{len(counts)} labels: {found}; every label would count as a "
                         f"positive: name the label of known negatives (e.g. --negative-label {example}), or pass "
                         "--all-positive if each label is an operation category")
    if counts and set(counts) <= set(negative_labels):
        raise ValueError(f"every label of the file is a negative label ({found}): no positive account to evaluate")


def match_labels(store: Store, labels: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Resolve the keys of ``labels`` (:func:`read_labels`) to the store's account keys.

    A key equal to an ``accounts.account_key`` is that account. A key without ``:`` (a bare name,
    a leading ``@`` or ``u/`` ignored) matches every account whose ``account_id`` or ``handle``
    equals it, compared case-insensitively (handles are case-insensitive on X and Reddit).

    Returns
    -------
    matched : dict
        ``{account_key: category}`` of the accounts found.
    unmatched : list of str
        The keys of ``labels`` that match no account, in file order.

    Raises
    ------
    ValueError
        Two keys of ``labels`` (an account key and a bare name) resolve to one account with different labels.
    """
    rows = store.con.execute("""
        WITH l AS (SELECT unnest($keys) AS k, unnest($cats) AS category),
        b AS (SELECT k, category, lower(regexp_replace(k, '^(@|/?u/)', '')) AS name FROM l WHERE NOT contains(k, ':'))
        SELECT l.k, a.account_key, l.category FROM l JOIN accounts a ON a.account_key = l.k
        UNION SELECT b.k, a.account_key, b.category FROM b JOIN accounts a ON lower(a.account_id) = b.name
        UNION SELECT b.k, a.account_key, b.category FROM b JOIN accounts a ON lower(a.handle) = b.name
    """, {"keys": list(labels), "cats": list(labels.values())}).fetchall()
    found = {r[0] for r in rows}
    resolved: dict[str, str] = {}
    for key, account, category in sorted(rows):
        if resolved.setdefault(account, category) != category:
            names = sorted(k for k, a, _ in rows if a == account)
            raise ValueError(f"{account} is labelled both {resolved[account]!r} and {category!r} (by "
                             f"{', '.join(names)} in the labels file): give each account one label")
    return resolved, [k for k in labels if k not in found]


def evaluate(store: Store, run_id: int, *, labels: dict[str, str] | None = None, label_prefix: str | None = "IRA:",
             min_posts: int = 20, negative_labels: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """Account-level precision, recall, F1, PR-AUC, per-category and per-dataset results, and AMI.

    Parameters
    ----------
    store : Store
    run_id : int
    labels : dict, optional
        ``{account key or bare name: category}`` (:func:`read_labels`), resolved by
        :func:`match_labels`; used instead of ``accounts.label`` when given.
    label_prefix : str or None, default "IRA:"
        Positives are accounts whose ``accounts.label`` starts with it (the
        category is the rest); ``None`` with ``labels``.
    min_posts : int, default 20
        Keep accounts with at least this many posts in the run's datasets.
    negative_labels : sequence of str
        Labels of ``labels`` that mark known negatives (e.g. ``organic``): matched and counted,
        not positives. :func:`check_label_roles` checks them against the file first (the CLI does).

    Returns
    -------
    dict
        ``run_id, min_posts, n_accounts, n_positive, n_negative, warnings, n_flagged, tp, fp, fn, precision,
        recall, f1, pr_auc, ami, ami_n, ami_clusters, categories`` (list of dicts), ``datasets`` (list of
        dicts) and ``baseline`` (precision, recall, f1, n_flagged of *every clustered account*, flagged or
        not, and the PR-AUC of a random score: the share of positives); with ``labels`` also
        ``labels_matched`` (labels that found an account), ``labels_unmatched`` and
        ``labels_unmatched_sample`` (up to 5 keys that found none). ``precision`` (also a category's and
        the baseline's) is None when nothing was flagged, ``pr_auc`` None when there is no negative
        account; ``warnings`` says so in words.

    Raises
    ------
    ValueError
        Unknown run; neither ``labels`` nor ``label_prefix``; no label matches any account (the
        message gives examples); no positive account in the population.
    """
    from sklearn.metrics import adjusted_mutual_info_score, average_precision_score

    alpha = float((run_info(store, run_id).get("params") or {}).get("alpha", 0.05))
    if labels is None and not label_prefix:
        raise ValueError("evaluate needs labels or a label_prefix")
    rid = int(run_id)
    con = store.con
    params: dict[str, Any] = {"min_posts": int(min_posts)}
    label_stats: dict[str, Any] = {}
    if labels is not None:
        matched, unmatched = match_labels(store, labels)
        if labels and not matched:
            raise ValueError(f"none of the {len(labels):,} labels matches an account in the store (tried as "
                             f"account_key, account_id and handle), e.g. {', '.join(list(labels)[:3])}")
        label_stats = {"labels_matched": len(labels) - len(unmatched), "labels_unmatched": len(unmatched),
                       "labels_unmatched_sample": unmatched[:5]}
        matched = {k: c for k, c in matched.items() if c not in set(negative_labels)}
        lab_sql = "(SELECT unnest($keys) AS account_key, unnest($cats) AS category)"
        params |= {"keys": list(matched), "cats": list(matched.values())}
    else:
        lab_sql = ("(SELECT account_key, substr(label, length($prefix) + 1) AS category FROM accounts "
                   "WHERE starts_with(label, $prefix))")
        params["prefix"] = label_prefix
    cur = con.execute(f"""
        WITH cov AS ({covered_accounts_sql(rid)}),
        np AS (SELECT p.account_key, count(*) AS n_posts, min(p.dataset) AS dataset
               FROM posts p JOIN runs r ON r.run_id = {rid}
               WHERE r.datasets IS NULL OR list_contains(r.datasets, p.dataset) GROUP BY ALL),
        fl AS (SELECT m.account_key, max(m.score) AS score FROM cluster_members m
               JOIN clusters c USING (run_id, cluster_id) WHERE m.run_id = {rid} AND c.flagged GROUP BY ALL),
        anyc AS (SELECT account_key, arg_max(cluster_id, score) AS cluster_id FROM cluster_members
                 WHERE run_id = {rid} GROUP BY ALL),
        sus AS ({account_suspicion_sql(rid, alpha)}),
        lab AS {lab_sql}
        SELECT cov.account_key, np.dataset, lab.category, fl.account_key IS NOT NULL AS flagged,
               coalesce(fl.score, 0) AS score, anyc.cluster_id, coalesce(sus.suspicion, 0) AS suspicion
        FROM cov JOIN np USING (account_key) LEFT JOIN fl USING (account_key) LEFT JOIN anyc USING (account_key)
        LEFT JOIN lab USING (account_key) LEFT JOIN sus USING (account_key)
        WHERE np.n_posts >= $min_posts
        ORDER BY cov.account_key
    """, params)
    rows = cur.fetchall()
    cat = np.array([r[2] for r in rows], dtype=object)
    y = np.array([r[2] is not None for r in rows], dtype=bool)
    flagged = np.array([r[3] for r in rows], dtype=bool)
    score = np.array([r[4] for r in rows], dtype=float)
    suspicion = np.array([r[6] for r in rows], dtype=float)
    if not y.any():
        raise ValueError(f"run {rid}: no positive account with at least {min_posts} posts")
    tp, fp, fn = int((y & flagged).sum()), int((~y & flagged).sum()), int((y & ~flagged).sum())
    n_negative = int((~y).sum())
    precision = tp / (tp + fp) if tp + fp else None  # nothing flagged: undefined, not 0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision is not None and precision + recall else 0.0
    pr_auc = float(average_precision_score(y, score)) if n_negative else None
    warnings = []
    if not n_negative:
        warnings.append(f"no negative account (with >= {min_posts} posts): every account evaluated is a positive, "
                        "so precision cannot be wrong and says nothing; add organic accounts (another data set or "
                        "--labels) to measure it; PR-AUC is n/a")
    if precision is None:
        warnings.append("no account was flagged: precision is n/a")
    cats = []
    for c in sorted({x for x in cat if x is not None}):
        m = cat == c
        tpc = int((m & flagged).sum())
        cats.append({"category": c, "n": int(m.sum()), "flagged": tpc, "recall": tpc / int(m.sum()),
                     "precision": tpc / (tpc + fp) if tpc + fp else None})
    ds = []
    dataset = np.array([r[1] for r in rows], dtype=object)
    for d in sorted(set(dataset)):
        m = dataset == d
        ds.append({"dataset": d, "n": int(m.sum()), "n_positive": int((m & y).sum()),
                   "flagged_positive": int((m & y & flagged).sum()), "n_negative": int((m & ~y).sum()),
                   "flagged_negative": int((m & ~y & flagged).sum())})
    clus = np.array([r[5] for r in rows], dtype=object)
    inc = y & (clus != None)  # noqa: E711 - elementwise on an object array
    ami = float(adjusted_mutual_info_score(cat[inc].astype(str), clus[inc].astype(str))) if inc.sum() > 1 else None
    # the naive baseline: every account in any cluster of the run, flagged or not
    clustered = clus != None  # noqa: E711 - elementwise on an object array
    btp = int((y & clustered).sum())
    bp = btp / int(clustered.sum()) if clustered.any() else None  # nothing clustered: n/a
    br = btp / int(y.sum())
    baseline = {"precision": bp, "recall": br, "f1": 2 * bp * br / (bp + br) if bp is not None and bp + br else 0.0,
                "n_flagged": int(clustered.sum()), "pr_auc": float(y.mean())}
    ranking = _ranking(y, suspicion, n_negative)
    return {"run_id": rid, "min_posts": int(min_posts), "n_accounts": len(rows), "n_positive": int(y.sum()),
            "n_negative": n_negative, "warnings": warnings, "n_flagged": int(flagged.sum()), "tp": tp, "fp": fp,
            "fn": fn, "precision": precision, "recall": recall,
            "f1": f1, "pr_auc": pr_auc, "ami": ami, "ami_n": int(inc.sum()),
            "ami_clusters": int(len(set(clus[inc]))), "categories": cats, "datasets": ds, "baseline": baseline,
            "ranking": ranking, **label_stats}


#: Recall levels at which :func:`_ranking` reports the best precision of the suspicion ranking.
RECALL_LEVELS = (0.4, 0.7)


def _ranking(y: np.ndarray, suspicion: np.ndarray, n_negative: int) -> dict[str, Any]:
    """PR-AUC and the best precision at each of :data:`RECALL_LEVELS` of the suspicion ranking.

    ``y`` and ``suspicion`` are aligned arrays over the evaluated accounts; the precision at recall
    ``r`` is the highest precision of any threshold whose recall is at least ``r`` (read off the PR
    curve, ties in ``suspicion`` kept together). Without negatives every value is None.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    if not n_negative:
        return {"pr_auc": None, "precision_at_recall": {str(r): None for r in RECALL_LEVELS}}
    prec, rec, _ = precision_recall_curve(y, suspicion)
    at = {str(r): float(prec[rec >= r].max()) for r in RECALL_LEVELS}
    return {"pr_auc": float(average_precision_score(y, suspicion)), "precision_at_recall": at}
