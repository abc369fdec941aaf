"""What the narrative and AI-text signals achieve on tweet-level text labels (docs/evaluation.md).

Nothing is trained on an evaluation split:

* SPOTTED (``spotted-io-tweets``, 5,000 tweets: state-linked IO accounts vs verified accounts): a tweet is
  called *operation* when the shipped narrative library labels it (any narrative), and separately when it
  holds a stock AI-chatbot phrase. No parameter is fitted.
* TweepFake (``tweepfake``, human vs machine-generated tweets, 40 accounts): tweet level, *machine* when a
  stock AI-chatbot phrase is present; account level, *machine* when the account's own tweets are more
  uniform (mean pairwise TF-IDF cosine of a 200-tweet sample) than a threshold chosen on the **train**
  split's accounts and applied to the **test** split's.

Usage: ``python bench/text_labels.py ../shared/data`` (prints JSON).
"""
from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from cibscope.explain.authenticity import AI_TELLS, text_uniformity
from cibscope.explain.narratives import OTHER, label_texts

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
    labels = np.array(label_texts(texts))
    mix = {}
    for cls, m in (("operation", y), ("verified", ~y)):
        vals, counts = np.unique(labels[m], return_counts=True)
        mix[cls] = {v: round(c / m.sum(), 4) for v, c in zip(vals, counts)}
    ai = np.array([bool(AI_RX.search(t)) for t in texts])
    return {"narrative_any": _scores(y, labels != OTHER), "ai_tells": _scores(y, ai), "narrative_mix": mix}


def _tweepfake(root: Path, split: str) -> list[dict]:
    with open(root / f"tweepfake/data/splits/{split}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def _self_uniformity(rows: list[dict], per_account: int = 200) -> dict[str, tuple[float, bool]]:
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["screen_name"], []).append(r)
    out = {}
    for name, rs in sorted(by.items()):
        rs = rs[:per_account]
        # each tweet its own owner: the mean cosine between any two of the account's tweets
        v = text_uniformity([r["text"] for r in rs], [str(i) for i in range(len(rs))])
        out[name] = (v if v is not None else 0.0, rs[0]["account.type"] == "bot")
    return out


def tweepfake(root: Path) -> dict:
    test = _tweepfake(root, "test")
    y = np.array([r["account.type"] == "bot" for r in test])
    ai = np.array([bool(AI_RX.search(r["text"])) for r in test])
    train_u = _self_uniformity(_tweepfake(root, "train"))
    cands = sorted({round(v, 4) for v, _ in train_u.values()})
    ty = np.array([b for _, b in train_u.values()])
    tv = np.array([v for v, _ in train_u.values()])
    best = max(cands, key=lambda c: (f1_score(ty, tv >= c, zero_division=0), -c))
    test_u = _self_uniformity(test)
    uy = np.array([b for _, b in test_u.values()])
    uv = np.array([v for v, _ in test_u.values()])
    return {"ai_tells_tweet": _scores(y, ai),
            "self_uniformity_account": {"threshold_from_train": best, **_scores(uy, uv >= best),
                                        "mean_bot": round(float(uv[uy].mean()), 4),
                                        "mean_human": round(float(uv[~uy].mean()), 4)}}


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    print(json.dumps({"spotted": spotted(root), "tweepfake": tweepfake(root)}, indent=2))
