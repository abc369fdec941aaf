"""AI-written-text classifier (explain/aitext.py): the shipped model on TweepFake's test split, and its contract."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cibscope.explain import aitext

SPLITS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tweepfake" / "data" / "splits"
#: Issue 21's target on the test split, and the level the shipped model reaches (docs/evaluation.md).
TARGET, SHIPPED_LEVEL = 0.88, 0.77


def _test_split():
    import pandas as pd

    te = pd.read_csv(SPLITS / "test.csv", sep=";", dtype=str, keep_default_na=False)
    return te["text"].tolist(), (te["account.type"] == "bot").to_numpy().astype(int), te["class_type"].tolist()


@pytest.fixture(scope="module")
def result():
    texts, y, cls = _test_split()
    return aitext.evaluate(aitext.load_model(), texts, y, cls)


@pytest.mark.shared
def test_accuracy_on_tweepfake_test_split(result):
    assert result["n"] == 2558
    assert result["accuracy"] >= SHIPPED_LEVEL
    assert result["recall_by_class"]["rnn"] >= 0.95 and result["recall_by_class"]["human"] >= 0.70
    assert result["n_judged"] < result["n"] and result["accuracy_judged"] >= SHIPPED_LEVEL
    assert result["ece"] <= 0.05                       # calibrated: Platt scaling fitted on validation


@pytest.mark.shared
@pytest.mark.xfail(strict=True, reason="issue 21's 0.88 target is not reached by the linear model (nor by the tuned one, "
                                       "tests/test_explain_aitext_tuned.py), "
                                       "which ignores URLs (0.779; docs/evaluation.md); strict: passes loudly "
                                       "once a model reaches it")
def test_issue_target_accuracy(result):
    assert result["accuracy"] >= TARGET


def test_model_contract():
    m = aitext.load_model()
    assert m.meta["n_features"] == aitext.N_FEATURES and "TweepFake" in m.meta["data"]
    p = m.predict_proba(["ok", "", "This is a longer post about the election results tonight in Ohio"])
    assert np.isnan(p[0]) and np.isnan(p[1]) and 0 <= p[2] <= 1
    assert m.predict_proba([]).shape == (0,)
    a = m.predict_proba(["the same text twice, long enough to be scored"] * 2)
    assert a[0] == a[1]
    # a link says nothing about who wrote the words: appending one must not change the score
    t = "Our leaders keep sending billions abroad while pensioners at home can barely afford heating"
    b = m.predict_proba([t, t + " https://t.co/Xk2b9QpL4m", "https://t.co/Xk2b9QpL4m https://bild.pics/x"])
    assert b[0] == b[1] and np.isnan(b[2])


def test_reliability_table_counts_every_prediction():
    p = np.array([0.05, 0.15, 0.95, 0.96, 1.0])
    y = np.array([0, 0, 1, 0, 1])
    tab = aitext.reliability(p, y)
    assert sum(r["n"] for r in tab) == 5
    top = tab[-1]
    assert (top["lo"], top["n"], top["observed"]) == (0.9, 3, pytest.approx(2 / 3, abs=1e-3))


def test_wrong_feature_layout_is_refused(tmp_path):
    import json

    bad = tmp_path / "m.npz"
    np.savez(bad, idx=np.array([1], dtype=np.int32), w=np.array([1.0], dtype=np.float32), bias=np.float32(0),
             platt=np.array([1.0, 0.0]), meta=np.array(json.dumps({"n_features": 16})))
    with pytest.raises(ValueError, match="n_features=16"):
        aitext.load_model(bad)
