"""Machine-written short posts: a small linear classifier trained on TweepFake, run on the CPU.

Method
------
NB-SVM (Wang & Manning 2012, *Baselines and bigrams*, ACL) with a logistic loss over
hashed binary n-grams, trained by ``scripts/train_ai_text.py`` on the TweepFake
training split (Fagni et al. 2021, *TweepFake: about detecting deepfake tweets*,
PLOS ONE 16(5): e0251415; tweets of 23 generative bots -- GPT-2, RNN, LSTM,
Markov chains -- and the 17 humans they imitate):

1. **Features** of the text without its URLs (:func:`clean`): character 1-5-grams (case kept) and word 1-3-grams (lower
   case, whitespace tokens) of the text, each hashed (MurmurHash3,
   scikit-learn's ``HashingVectorizer``) into :data:`N_FEATURES` buckets,
   binary. No vocabulary ships.
2. **Score**: the sum of the shipped weights of the buckets present plus a
   bias. A weight is the naive-Bayes log-count ratio of its bucket times the
   logistic-regression coefficient (the NB-SVM scaling folded in).
3. **Probability**: Platt scaling of the score, fitted on the validation
   split; ``docs/evaluation.md`` has the reliability table of the test split.

The model file ``data/ai_text_model.npz`` holds only numbers (bucket indices,
float16 weights, bias, Platt coefficients, and a JSON string of the training
record); it is loaded with ``allow_pickle=False``.

What the score does not prove
-----------------------------
It learnt the generators of 2019-2020 (GPT-2, RNN, Markov) on English tweets
of 40 accounts. A post scored high *resembles those* machine tweets; a post
scored low may still come from a newer model (GPT-3.5/4-class output reads
fluently and was not in training), from machine text a person edited or
paraphrased, or be too short (under :data:`MIN_CHARS` characters) to judge.
Non-English text is out of its domain. Use the share over many posts of a
cluster, next to the other authenticity signals, never one post's score, as
evidence.

Throughput: featurising and scoring is set-based (sparse matrix times
vector); ``bench/ai_text_eval.py`` measures posts per second.

A stronger, slower model (a fine-tuned MiniLM stacked with this one) is :mod:`.aitext_tuned`;
:func:`evaluate` scores either.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Hash buckets per feature family (character and word n-grams).
N_FEATURES = 2 ** 20
#: Character n-gram lengths and word n-gram lengths.
CHAR_NGRAMS, WORD_NGRAMS = (1, 5), (1, 3)
#: Posts shorter than this (characters, after trimming) are not scored.
MIN_CHARS = 20
#: A post is called likely machine-written at or above this probability.
THRESHOLD = 0.5
#: What the results name as their model (``details.model`` of the ``ai_text_model`` signal).
MODEL_ID = "NB-SVM, TweepFake (explain/aitext.py)"


@lru_cache(maxsize=1)
def _vectorizers():
    from sklearn.feature_extraction.text import HashingVectorizer

    kw = dict(n_features=N_FEATURES, alternate_sign=False, binary=True, norm=None, dtype=np.float32)
    char = HashingVectorizer(analyzer="char", ngram_range=CHAR_NGRAMS, lowercase=False, **kw)
    word = HashingVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, lowercase=True, token_pattern=r"\S+", **kw)
    return char, word


_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.I)


def clean(text: str | None) -> str:
    """The text the model reads: URLs removed, whitespace collapsed.

    TweepFake's human tweets often end in a ``t.co`` link and its bots' never do, so a model that
    saw links learnt "link = human": appending one link cut machine recall from 0.90 to 0.17
    (docs/evaluation.md). Links say nothing about who wrote the words, so the model never sees them.
    """
    return " ".join(_URL.sub(" ", text or "").split())


def features(texts: Sequence[str]):
    """Binary hashed n-gram features of :func:`clean` texts, ``scipy.sparse.csr_matrix (len(texts), 2 * N_FEATURES)``."""
    from scipy.sparse import hstack

    texts = [clean(t) for t in texts]
    char, word = _vectorizers()
    return hstack([char.transform(texts), word.transform(texts)], format="csr")


@dataclass(frozen=True)
class Model:
    """The shipped classifier: dense weight vector ``w`` (``float32 (2 * N_FEATURES,)``), ``bias``, Platt ``(a, b)``, training record ``meta``."""

    w: np.ndarray
    bias: float
    platt: tuple[float, float]
    meta: dict

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores, ``float64 (n,)``."""
        if not len(texts):
            return np.zeros(0)
        return np.asarray(features(texts) @ self.w, dtype=np.float64) + self.bias

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability that each text is machine-written, ``float64 (n,)`` in [0, 1].

        Texts shorter than :data:`MIN_CHARS` characters without their URLs get ``nan`` (not judged).
        """
        a, b = self.platt
        p = 1.0 / (1.0 + np.exp(-(a * self.score(texts) + b)))
        short = np.fromiter((len(clean(t)) < MIN_CHARS for t in texts), bool, len(texts))
        p[short] = np.nan
        return p


@lru_cache(maxsize=2)
def load_model(path: str | Path | None = None) -> Model:
    """Load the model (default: the shipped ``cibscope/explain/data/ai_text_model.npz``).

    Raises
    ------
    FileNotFoundError
        No model file (run ``scripts/train_ai_text.py``).
    ValueError
        The file is not a model of this feature layout.
    """
    if path is None:
        ref = resources.files("cibscope.explain").joinpath("data/ai_text_model.npz")
        with resources.as_file(ref) as p:
            return load_model(Path(p))
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("n_features") != N_FEATURES:
            raise ValueError(f"{path}: model has n_features={meta.get('n_features')}, this code {N_FEATURES}")
        w = np.zeros(2 * N_FEATURES, dtype=np.float32)
        w[z["idx"]] = z["w"].astype(np.float32)
        return Model(w, float(z["bias"]), (float(z["platt"][0]), float(z["platt"][1])), meta)


def reliability(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict]:
    """Reliability table: per probability bin ``[lo, hi)`` the count, mean predicted probability and observed share of positives."""
    out = []
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(prob, edges) - 1, 0, bins - 1)
    for i in range(bins):
        m = which == i
        if m.any():
            out.append({"lo": round(edges[i], 2), "hi": round(edges[i + 1], 2), "n": int(m.sum()),
                        "mean_p": round(float(prob[m].mean()), 3), "observed": round(float(y[m].mean()), 3)})
    return out


def evaluate(model: Model | Any, texts: Sequence[str], y: np.ndarray, classes: Sequence[str] | None = None) -> dict:
    """Accuracy of ``model`` (a :class:`Model` or an :class:`.aitext_tuned.TunedModel`: anything with
    ``score(texts)`` and ``platt``) (all texts, and ``accuracy_judged`` over the ``n_judged`` texts of at least
    :data:`MIN_CHARS` characters without URLs), per-class recall, Brier score, expected calibration
    error and reliability table.

    ``y`` is 1 for machine-written, 0 for human (``int (n,)``); ``classes`` the generator of each
    text (TweepFake's ``class_type``) for per-generator recall. Every text is scored for
    ``accuracy`` and the other figures (the :data:`MIN_CHARS` rule is not applied, so they compare
    with the paper's).
    """
    a, b = model.platt
    texts = list(texts)
    p = 1.0 / (1.0 + np.exp(-(a * model.score(texts) + b)))
    y = np.asarray(y)
    pred = (p >= THRESHOLD).astype(int)
    judged = np.fromiter((len(clean(t)) >= MIN_CHARS for t in texts), bool, len(y))
    res = {"n": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
           "n_judged": int(judged.sum()), "accuracy_judged": round(float((pred[judged] == y[judged]).mean()), 4),
           "brier": round(float(((p - y) ** 2).mean()), 4)}
    tab = reliability(p, y)
    res["ece"] = round(sum(t["n"] * abs(t["mean_p"] - t["observed"]) for t in tab) / max(len(y), 1), 4)
    if classes is not None:
        cl = np.asarray(classes)
        res["recall_by_class"] = {c: round(float((pred[cl == c] == y[cl == c]).mean()), 4) for c in sorted(set(cl))}
    res["reliability"] = tab
    return res
