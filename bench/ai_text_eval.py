"""AI-written-text classifiers (explain/aitext.py, explain/aitext_tuned.py): TweepFake test-split figures and throughput.

``--model nbsvm`` (default) is the linear model every install has; ``--model tuned`` the fine-tuned
MiniLM stacked with it (needs the ``embed`` extra), which ``cibscope explain`` uses when installed.

Quality: accuracy, per-generator recall, Brier score, expected calibration error and the
reliability table of the shipped model on TweepFake's ``test.csv`` (2,558 tweets; never used
in training or model choice, see scripts/train_ai_text.py).

Speed: posts per second of ``Model.predict_proba`` on the 2,558 test tweets, median of
``--repeats`` runs (wall clock, and per CPU-second of this process since the machine is shared), against the anchor measured in the same run: the MiniLM int8 ONNX sentence
embedder (explain/embeddings.py) on ``--anchor-n`` of the same tweets (skipped when the
``embed`` extra is not installed).

Fooling it: recall on the test split's machine tweets (and false-positive rate on its human
tweets) after simple rewrites an operator could script -- lower-casing, appending a t.co link,
both -- and the share flagged among ``bench/data/llm_posts_2026.txt``: 20 short political and
lifestyle posts written for this benchmark by a 2026 chat model (the assistant that built it),
i.e. a generator the classifier never saw.

Run: ``PYTHONPATH=src python bench/ai_text_eval.py [--shared ../shared] [--model tuned --repeats 3]``. Reads ../shared only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from cibscope.explain import aitext, aitext_tuned, embeddings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--anchor-n", type=int, default=200)
    ap.add_argument("--model", choices=("nbsvm", "tuned"), default="nbsvm")
    a = ap.parse_args(argv)
    te = pd.read_csv(a.shared / "data/tweepfake/data/splits/test.csv", sep=";", dtype=str, keep_default_na=False)
    texts = te["text"].tolist()
    y = (te["account.type"] == "bot").to_numpy().astype(int)
    model = aitext.load_model() if a.model == "nbsvm" else aitext_tuned.load_model()
    res = aitext.evaluate(model, texts, y, te["class_type"].tolist())
    times, cpu = [], []
    for _ in range(a.repeats):
        t, c = time.perf_counter(), time.process_time()
        model.predict_proba(texts)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    med = statistics.median(times)
    out = {"model": a.model, "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
           "test": res, "posts_per_s": round(len(texts) / med, 1), "runs_s": [round(x, 3) for x in times],
           "posts_per_cpu_s": round(len(texts) / statistics.median(cpu), 1)}
    if embeddings.available():
        emb = embeddings.default_embedder()
        emb.encode(texts[:8])
        t = time.perf_counter()
        emb.encode(texts[:a.anchor_n])
        anchor = a.anchor_n / (time.perf_counter() - t)
        out["anchor_minilm_posts_per_s"] = round(anchor, 1)
        out["speedup_vs_minilm"] = round(out["posts_per_s"] / anchor, 1)
    if a.model == "tuned":
        out["batch_shift"] = _batch_shift(model, texts)
    bot, hum = y == 1, y == 0
    rewrites = {"as posted": lambda t: t, "lower-cased": str.lower,
                "t.co link appended": lambda t: t + " https://t.co/Xk2b9QpL4m",
                "lower-cased + link": lambda t: t.lower() + " https://t.co/Xk2b9QpL4m"}
    fool = {}
    for name, f in rewrites.items():
        p = model.predict_proba([f(t) for t in texts])
        ok = ~np.isnan(p)
        fool[name] = {"machine_recall": round(float((p[bot & ok] >= 0.5).mean()), 3),
                      "human_flagged": round(float((p[hum & ok] >= 0.5).mean()), 3)}
    llm = (Path(__file__).parent / "data/llm_posts_2026.txt").read_text(encoding="utf-8").splitlines()
    pl = model.predict_proba(llm)
    fool["llm_posts_2026"] = {"n": len(llm), "flagged": int((pl >= 0.5).sum()), "mean_p": round(float(pl.mean()), 3)}
    out["fooling"] = fool
    print(json.dumps(out, indent=1))
    print("\n| p bin | n | mean predicted | observed machine share |\n|---|---|---|---|")
    for r in res["reliability"]:
        print(f"| {r['lo']:.1f}-{r['hi']:.1f} | {r['n']} | {r['mean_p']:.3f} | {r['observed']:.3f} |")
    return 0


def _batch_shift(model, texts: list[str], batch: int = 64) -> dict:
    """Why the fine-tuned model scores one post per call: its logits alone (``model.logits``) against
    padded batches of ``batch`` sorted by length (the int8 graph quantises activations per call), and
    the speed of each way on the same texts."""
    from cibscope.explain.aitext import clean
    from cibscope.explain.embeddings import encode_tokens

    t = time.perf_counter()
    alone = model.logits(texts)
    t_alone = time.perf_counter() - t
    cleaned = [clean(x) for x in texts]
    order = np.argsort([len(x) for x in cleaned], kind="stable")
    padded = np.zeros(len(texts))
    t = time.perf_counter()
    for i in range(0, len(texts), batch):
        idx = order[i:i + batch]
        ids, mask = encode_tokens(model.tokenizer, [cleaned[j] for j in idx])
        padded[idx] = model.session.run(["logit"], {"input_ids": ids, "attention_mask": mask})[0]
    t_padded = time.perf_counter() - t
    shift = np.abs(alone - padded)
    return {"max_abs_logit_shift": round(float(shift.max()), 3), "median_abs_logit_shift": round(float(np.median(shift)), 3),
            "decisions_changed": int(((alone > 0) != (padded > 0)).sum()),
            "alone_posts_per_s": round(len(texts) / t_alone, 1), f"padded{batch}_posts_per_s": round(len(texts) / t_padded, 1)}


if __name__ == "__main__":
    raise SystemExit(main())
