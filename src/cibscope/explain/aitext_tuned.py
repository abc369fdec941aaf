"""Machine-written short posts, the stronger model: all-MiniLM-L6-v2 fine-tuned on TweepFake, stacked with the NB-SVM.

Method
------
1. **Encoder**: all-MiniLM-L6-v2 (Wang et al. 2020, *MiniLM*; the sentence-transformers checkpoint,
   Apache-2.0, ``data/NOTICE-minilm.md``) with a linear head on its mean-pooled token vectors,
   fine-tuned end to end as a binary classifier (machine / human) on TweepFake's training split
   (Fagni et al. 2021, PLOS ONE 16(5): e0251415), URLs removed (:func:`.aitext.clean`), at most
   :data:`MAX_TOKENS` tokens; the epoch was chosen on the validation split. The paper fine-tunes
   BERT-class encoders the same way (RoBERTa 0.896 accuracy on its test split, with URLs).
   ``scripts/train_ai_text_tuned.py`` trains it (needs PyTorch, which cibscope does not) and exports
   the graph to ONNX with int8 weights (onnxruntime dynamic quantisation): ``data/ai_text_tuned.onnx``
   (input ``input_ids``, ``attention_mask``: ``int64 (batch, tokens)``; output ``logit``:
   ``float32 (batch,)``), its sha256 and training record in ``data/ai_text_tuned.json``.
2. **Stack**: the probability is ``sigmoid(a * logit + b * nbsvm_score + c)``, a logistic regression
   over the encoder's logit and the NB-SVM score of :mod:`.aitext` fitted on the validation split
   (Wolpert 1992, stacked generalisation), which also calibrates it.

Run time: ``onnxruntime`` and ``tokenizers`` (the ``embed`` extra, as for :mod:`.embeddings`); the
tokeniser is :func:`.embeddings.wordpiece_tokenizer`. About 250 posts/s on 2 CPU cores (``bench/ai_text_eval.py --model tuned``; the
NB-SVM alone: thousands), so callers score a bounded sample (:mod:`.fingerprints`). Without the
extra :func:`available` is false and callers use :mod:`.aitext` alone.

What the score does not prove: as for :mod:`.aitext` (2019-2020 generators, English tweets of 40
accounts; newer models, edited or paraphrased output and very short posts can pass as human).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import aitext

#: Tokens per post, ``[CLS]`` and ``[SEP]`` included (as in training).
MAX_TOKENS = 64
#: What the results name as their model.
MODEL_ID = "MiniLM-L6 fine-tuned on TweepFake (int8 ONNX) + NB-SVM, stacked (explain/aitext_tuned.py)"
_REQUIRED = ("onnxruntime", "tokenizers")


def available() -> bool:
    """Whether ``onnxruntime`` and ``tokenizers`` are importable (``pip install 'cibscope[embed]'``)."""
    return all(importlib.util.find_spec(m) is not None for m in _REQUIRED)


@dataclass(frozen=True)
class TunedModel:
    """The fine-tuned encoder (an onnxruntime session), its tokeniser, the stacking weights and training record.

    ``stack`` is ``(a, b, c)``: log-odds = ``a * logit + b * nbsvm_score + c``. ``platt`` is ``(1, 0)``
    so that :func:`.aitext.evaluate` reads :meth:`score` as calibrated log-odds.
    """

    session: Any
    tokenizer: Any
    nbsvm: aitext.Model
    stack: tuple[float, float, float]
    meta: dict
    platt: tuple[float, float] = (1.0, 0.0)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder's raw logit per text (URLs removed first), ``float64 (n,)``.

        One onnxruntime call per text, unpadded: the int8 graph quantises activations per call
        (dynamic quantisation), so in a padded batch a text's logit would move with its neighbours
        (TweepFake's test split in batches of 64: median shift 0.14, up to 2.0, 69 of 2,558 decisions
        flipped; ``bench/ai_text_eval.py --model tuned``). Alone, it is a function of the text; and
        faster on 2 cores than batches of 64 (no padding): 401 against 315 posts/s.
        """
        from .embeddings import encode_tokens

        if not len(texts):
            return np.zeros(0)
        ids, mask = encode_tokens(self.tokenizer, [aitext.clean(t) for t in texts])
        lengths = mask.sum(axis=1)
        return np.array([self.session.run(["logit"], {"input_ids": ids[i:i + 1, :n], "attention_mask": mask[i:i + 1, :n]})[0][0]
                         for i, n in enumerate(lengths)], dtype=np.float64)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Stacked log-odds that each text is machine-written, ``float64 (n,)``."""
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        a, b, c = self.stack
        return a * self.logits(texts) + b * self.nbsvm.score(texts) + c

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is machine-written, ``float64 (n,)``; ``nan`` under :data:`.aitext.MIN_CHARS` characters."""
        texts = list(texts)
        p = 1.0 / (1.0 + np.exp(-self.score(texts)))
        short = np.fromiter((len(aitext.clean(t)) < aitext.MIN_CHARS for t in texts), bool, len(texts))
        p[short] = np.nan
        return p


@lru_cache(maxsize=2)
def load_model(path: str | Path | None = None, threads: int = 0) -> TunedModel:
    """Load the fine-tuned model (default: the shipped ``data/ai_text_tuned.onnx`` and its ``.json``).

    ``path`` names the ``.onnx`` file; its record is the ``.json`` beside it. ``threads`` are
    onnxruntime's intra-op threads (0: its choice).

    Raises
    ------
    ImportError
        The ``embed`` extra is not installed (see :func:`available`).
    FileNotFoundError
        No model or record file (run ``scripts/train_ai_text_tuned.py``).
    ValueError
        The model file's sha256 differs from its record's, or the record has another token length.
    """
    if path is None:
        ref = resources.files("cibscope.explain").joinpath("data/ai_text_tuned.onnx")
        with resources.as_file(ref) as p:
            return load_model(Path(p), threads)
    import onnxruntime as ort

    from .embeddings import wordpiece_tokenizer

    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta.get("sha256"):
        raise ValueError(f"{path}: sha256 {digest} differs from the record's {meta.get('sha256')}; "
                         "retrain with scripts/train_ai_text_tuned.py or restore the file")
    if meta.get("max_tokens") != MAX_TOKENS:
        raise ValueError(f"{path}: trained at max_tokens={meta.get('max_tokens')}, this code reads {MAX_TOKENS}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    session = ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])
    a, b, c = (float(x) for x in meta["stack"])
    return TunedModel(session, wordpiece_tokenizer(MAX_TOKENS), aitext.load_model(), (a, b, c), meta)
