"""The fine-tuned AI-text model (explain/aitext_tuned.py): TweepFake's test split, its contract, its use by explain."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from cibscope.explain import aitext, aitext_tuned  # noqa: E402
from _store_rows import CLUSTER_INSERT

SPLITS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tweepfake" / "data" / "splits"
#: Issue 21's target on the test split, and the level the shipped model reaches (docs/evaluation.md).
TARGET, SHIPPED_LEVEL = 0.88, 0.835


@pytest.fixture(scope="module")
def split():
    import pandas as pd

    te = pd.read_csv(SPLITS / "test.csv", sep=";", dtype=str, keep_default_na=False)
    return te["text"].tolist(), (te["account.type"] == "bot").to_numpy().astype(int), te["class_type"].tolist()


@pytest.fixture(scope="module")
def result(split):
    return aitext.evaluate(aitext_tuned.load_model(), *split)


@pytest.mark.shared
def test_accuracy_on_tweepfake_test_split(result, split):
    assert result["n"] == 2558 and result["accuracy"] >= SHIPPED_LEVEL
    linear = aitext.evaluate(aitext.load_model(), *split)
    assert result["accuracy"] >= linear["accuracy"] + 0.03          # worth its 100-fold cost over the NB-SVM
    assert result["recall_by_class"]["gpt2"] > linear["recall_by_class"]["gpt2"]
    assert min(result["recall_by_class"].values()) >= 0.72                # GPT-2: 0.734 (the linear: 0.706)
    assert result["ece"] <= 0.05                                     # the stack, fitted on validation, calibrates


@pytest.mark.shared
@pytest.mark.xfail(strict=True, reason="issue 21's 0.88 target is not reached: 0.843, and no epoch of a GPU grid "
                                       "over this encoder passed 0.846 (docs/evaluation.md, scripts/ai_text_grid.py); "
                                       "strict: passes loudly once a model reaches it")
def test_issue_target_accuracy(result):
    assert result["accuracy"] >= TARGET


def test_contract_stack_links_and_short_posts():
    m = aitext_tuned.load_model()
    assert m.meta["max_tokens"] == aitext_tuned.MAX_TOKENS and m.meta["chosen_epoch"] in range(len(m.meta["epochs"]))
    t = "Our leaders keep sending billions abroad while pensioners at home can barely afford heating"
    texts = [t, t + " https://t.co/Xk2b9QpL4m", "ok", "https://t.co/Xk2b9QpL4m https://bild.pics/x",
             "lol i cant believe the game last night, what a finish!!"]
    p = m.predict_proba(texts)
    assert p[0] == p[1]                                # a link says nothing about who wrote the words
    assert np.isnan(p[2]) and np.isnan(p[3]) and 0 <= p[4] <= 1
    a, b, c = m.stack
    want = 1 / (1 + np.exp(-(a * m.logits([t, texts[4]]) + b * aitext.load_model().score([t, texts[4]]) + c)))
    assert p[[0, 4]] == pytest.approx(want)
    assert a > 0                                        # the encoder's logit carries weight in the stack
    assert m.predict_proba([]).shape == (0,)
    # each text runs alone: its score does not depend on its neighbours (int8 activations are quantised per call)
    assert m.logits([t])[0] == m.logits(["x" * 300, t, "short one"])[1]


def _copy_model(tmp_path):
    ref = resources.files("cibscope.explain").joinpath("data/ai_text_tuned.onnx")
    with resources.as_file(ref) as p:
        shutil.copy(p, tmp_path / "m.onnx")
        shutil.copy(Path(p).with_suffix(".json"), tmp_path / "m.json")
    return tmp_path / "m.onnx"


def test_edited_model_file_is_refused(tmp_path):
    path = _copy_model(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01                       # one bit of one weight
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256"):
        aitext_tuned.load_model(path)


def test_record_of_another_token_length_is_refused(tmp_path):
    path = _copy_model(tmp_path)
    rec = json.loads(path.with_suffix(".json").read_text())
    rec["max_tokens"] = 128
    path.with_suffix(".json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="max_tokens=128"):
        aitext_tuned.load_model(path)


def _one_cluster(store, accounts: str, text):
    """Run 1 with one flagged cluster C1 of ``accounts`` (one letter each), 60 posts each: ``text(k, j)``."""
    t0 = dt.datetime(2024, 3, 4, 9)
    rows = [{"platform": "twitter", "post_id": f"{k}{j}", "account_id": k, "kind": "post",
             "created_at": t0 + dt.timedelta(minutes=j), "urls": [], "text": text(k, j)}
            for k in accounts for j in range(60)]
    store.add_batch(dataset="hand", source_file="hand", posts=pa.Table.from_pylist(rows),
                    accounts=pa.table({"platform": ["twitter"] * len(accounts), "account_id": list(accounts)}))
    store.con.execute("INSERT INTO runs VALUES (1, TIMESTAMP '2024-03-05 00:00:00', '{}', NULL, 0, 0, 0, 1, 0)")
    store.con.execute(CLUSTER_INSERT + f"VALUES (1, 'C1', 1, {len(accounts)}, 2, 10, 1.0, 1e-9, 9, 10, true, "
                      "'{\"text\": 1.0}', TIMESTAMP '2024-03-04 09:00:00', TIMESTAMP '2024-03-04 10:00:00', 's', NULL, NULL)")
    store.con.executemany("INSERT INTO cluster_members VALUES (1, 'C1', ?, 1, 1.0, 5.0)",
                          [[f"twitter:{k}"] for k in accounts])


def test_explain_scores_a_bounded_sample_with_the_tuned_model(store):
    from cibscope.explain.authenticity import cluster_authenticity
    from cibscope.explain.fingerprints import AI_TUNED_MAX_POSTS

    topics = ["the budget vote", "the new bridge", "school meals", "the train strike", "energy prices"]
    _one_cluster(store, "abc", lambda k, j: f"Post {j} by {k}: my honest view on {topics[j % 5]} is that we "
                                            "deserve better answers")
    ai = cluster_authenticity(store, 1)["C1"]["ai_text_model"]
    assert ai.details["model"] == aitext_tuned.MODEL_ID
    assert ai.details["n_posts"] == AI_TUNED_MAX_POSTS              # 150 eligible posts (50 per member), 100 scored
    ps = [e["p"] for e in ai.details["examples"]]
    assert ps == sorted(ps, reverse=True) and len(ps) == 5 and ps[0] >= ai.details["mean_p"]   # the top posts, first
    assert sum(n for _, _, n in ai.details["top_accounts"]) == AI_TUNED_MAX_POSTS


def test_without_the_embed_extra_explain_falls_back_to_the_linear_model(store, monkeypatch):
    from cibscope.explain.authenticity import cluster_authenticity

    monkeypatch.setattr(aitext_tuned, "available", lambda: False)
    _one_cluster(store, "ab", lambda k, j: f"Post {j} by {k}: the council meeting ran late again and nobody "
                                           "answered my question")
    ai = cluster_authenticity(store, 1)["C1"]["ai_text_model"]
    assert ai.details["model"] == aitext.MODEL_ID
    assert ai.details["n_posts"] == 100                               # 50 per member, all scored by the fast model
