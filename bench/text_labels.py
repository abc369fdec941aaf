"""What the narrative and AI-text signals achieve on tweet-level text labels (docs/evaluation.md).

Nothing is trained on an evaluation split:

* SPOTTED (``spotted-io-tweets``, 5,000 tweets: state-linked IO accounts vs verified accounts): a tweet is
  called *operation* when the shipped narrative library labels it (any narrative), and separately when it
  holds a stock AI-chatbot phrase. No parameter is fitted.
  Labelling runs once per text representation (``tfidf``, and ``embedding`` when ``cibscope[embed]`` is
  installed); keyword hits decide whether a tweet carries a narrative, the representation only which one
  among tied narratives, so ``narrative_any`` is the same for both and ``labels_changed`` counts the
  tweets whose narrative differs.
* TweepFake (``tweepfake``, human vs machine-generated tweets, 40 accounts): tweet level, *machine* when a
  stock AI-chatbot phrase is present; account level, *machine* when the account's own tweets are more
  uniform (mean pairwise TF-IDF cosine of a 200-tweet sample) than a threshold chosen on the **train**
  split's accounts and applied to the **test** split's. With embeddings the same is done with the mean
  pairwise embedding cosine; to keep the CPU time down, its threshold is chosen on the **validation**
  split (about 64 tweets per account, like test), and the TF-IDF variant is rerun that way too for a
  like-for-like comparison. Embedding throughput (texts/s, with the 1-minute load average) is reported.

Usage: ``python bench/text_labels.py ../shared/data`` (prints JSON).
"""
from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from cibscope.explain.authenticity import AI_TELLS, text_uniformity
from cibscope.explain import embeddings
from cibscope.explain.narratives import OTHER, label_texts

REPRESENTATIONS = ["tfidf"] + (["embedding"] if embeddings.available() else [])

AI_RX = re.compile("|".join(re.escape(t) for t in AI_TELLS), re.I)


def _scores(y, pred) -> dict:
    return {"n": int(len(y)), "positives": int(np.sum(y)), "predicted": int(np.sum(pred)),
            "accuracy": round(accuracy_score(y, pred), 4), "precision": round(precision_score(y, pred, zero_division=0), 4),
            "recall": round(recall_score(y, pred, zero_division=0), 4), "f1": round(f1_score(y, pred, zero_division=0), 4)}


def spotted(root: Path) -> dict:
    rows = list(csv.DictReader(open(root / "spotted-io-tweets/1_Data/SPOTTED_validation_dataset.csv",
                                    encoding="utf-8", newline="")))
    texts = [r["tweet_text"] for r in rows]
    y = np.array([float(r["target"]) == 1.0 for r in rows])
    out: dict = {}
    by_rep = {rep: np.array(label_texts(texts, representation=rep)) for rep in REPRESENTATIONS}
    for rep, labels in by_rep.items():
        mix = {}
        for cls, m in (("operation", y), ("verified", ~y)):
            vals, counts = np.unique(labels[m], return_counts=True)
            mix[cls] = {v: round(c / m.sum(), 4) for v, c in zip(vals, counts)}
        out[rep] = {"narrative_any": _scores(y, labels != OTHER), "narrative_mix": mix,
                    "labels_changed": int((labels != by_rep["tfidf"]).sum())}
    ai = np.array([bool(AI_RX.search(t)) for t in texts])
    return {"narratives": out, "ai_tells": _scores(y, ai)}


def _tweepfake(root: Path, split: str) -> list[dict]:
    with open(root / f"tweepfake/data/splits/{split}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def _self_uniformity(rows: list[dict], per_account: int = 200, rep: str = "tfidf") -> dict[str, tuple[float, bool]]:
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["screen_name"], []).append(r)
    out = {}
    for name, rs in sorted(by.items()):
        rs = rs[:per_account]
        texts = [r["text"] for r in rs]
        if rep == "embedding":
            x = embeddings.default_embedder().encode(texts)
            s = x.sum(axis=0)   # mean over distinct pairs of x_i . x_j = (|sum|^2 - n) / (n (n - 1)), rows unit length
            v = float((s @ s - len(x)) / (len(x) * (len(x) - 1))) if len(x) > 1 else None
        else:
            # each tweet its own owner: the mean cosine between any two of the account's tweets
            v = text_uniformity(texts, [str(i) for i in range(len(rs))])
        out[name] = (v if v is not None else 0.0, rs[0]["account.type"] == "bot")
    return out


def _uniformity_scores(choose: dict, test: dict) -> dict:
    """Threshold with the best F1 on ``choose``'s accounts, applied to ``test``'s."""
    cands = sorted({round(v, 4) for v, _ in choose.values()})
    ty = np.array([b for _, b in choose.values()])
    tv = np.array([v for v, _ in choose.values()])
    best = max(cands, key=lambda c: (f1_score(ty, tv >= c, zero_division=0), -c))
    uy = np.array([b for _, b in test.values()])
    uv = np.array([v for v, _ in test.values()])
    return {"threshold": best, **_scores(uy, uv >= best), "mean_bot": round(float(uv[uy].mean()), 4),
            "mean_human": round(float(uv[~uy].mean()), 4)}


def tweepfake(root: Path) -> dict:
    test = _tweepfake(root, "test")
    y = np.array([r["account.type"] == "bot" for r in test])
    ai = np.array([bool(AI_RX.search(r["text"])) for r in test])
    out = {"ai_tells_tweet": _scores(y, ai),
           "self_uniformity_account": {"chosen_on": "train", **_uniformity_scores(
               _self_uniformity(_tweepfake(root, "train")), _self_uniformity(test))}}
    validation = _tweepfake(root, "validation")
    for rep in REPRESENTATIONS:
        t0, n = time.perf_counter(), len(validation) + len(test)
        res = _uniformity_scores(_self_uniformity(validation, rep=rep), _self_uniformity(test, rep=rep))
        out[f"self_uniformity_account_{rep}"] = {"chosen_on": "validation", **res}
        if rep == "embedding":
            out["embedding_throughput"] = {"texts": n, "seconds": round(time.perf_counter() - t0, 1),
                                           "texts_per_s": round(n / (time.perf_counter() - t0), 1),
                                           "load_avg_1min_after": round(os.getloadavg()[0], 2),
                                           "cpus": os.cpu_count()}
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    print(json.dumps({"spotted": spotted(root), "tweepfake": tweepfake(root)}, indent=2))
