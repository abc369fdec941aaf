"""Look-alike domain detector (explain/lookalike.py): recall on Meta's Doppelganger domains, false positives on organic data.

Recall population: the domains of Meta's two Doppelganger indicator files
(``2022_09_removing_coordinated_inauthentic_behavior_from_china_and_russia.csv``,
``domain_name`` rows; ``Q2_2023 /Q2_2023_Doppelganger_Russia_based_CIB_network_updated.csv``,
procedure ``0.6.2`` "acquiring domains") whose imitated outlet -- annotated by
hand per domain label in ``bench/data/doppelganger_targets.csv``, independently of
the detector -- is in the shipped reference list (``explain/data/news_outlets.csv``).
A hit counts only when the detector names that outlet.

False-positive population: the distinct registrable domains of every URL in the
organic data sets: airline tweets (text), PHEME source tweets (every URL string of
the tweet objects, expanded URLs included), the 151 organic Reddit accounts of
reddit-ira-2016 (``labels.csv``; submission URLs and every URL in titles, self
texts and comment bodies) and CooRTweet's german_elections (its domains are opaque
ids ``d<id>``: counted, none can match).

Run: ``PYTHONPATH=src python bench/lookalike_eval.py [--shared ../shared] [--out docs/lookalike_eval.md]``.
Reads ../shared only; writes nothing unless ``--out`` is given.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

from cibscope.explain.lookalike import default_index, load_outlets, registrable_domain, split_host

URL = re.compile(r"https?://[^\s\"'<>\]\)]+", re.I)
META = "data/meta-threat-research/indicators/csv"


def doppelganger_domains(shared: Path) -> list[str]:
    """Distinct Doppelganger domains of the two Meta files (de-fanged, lower case, comments dropped)."""
    out = []
    with open(shared / META / "2022_09_removing_coordinated_inauthentic_behavior_from_china_and_russia.csv",
              encoding="utf-8") as fh:
        out += [r["indicator_value"] for r in csv.DictReader(fh) if r["indicator_type"] == "domain_name"]
    with open(shared / META / "Q2_2023 " / "Q2_2023_Doppelganger_Russia_based_CIB_network_updated.csv",
              encoding="utf-8") as fh:
        for r in csv.reader(fh):
            if len(r) > 3 and r[2].startswith("0.6.2"):
                out.append(r[3])
    clean = set()
    for d in out:
        d = d.replace("[.]", ".").strip().lower().split()[0]
        if "/" not in d:  # a few rows are full URLs on tumblr/pinterest, not domains
            clean.add(d)
    return sorted(clean)


def organic_urls(shared: Path) -> dict[str, list[str]]:
    """URL strings per organic data set."""
    res: dict[str, list[str]] = {"airline": [], "pheme": [], "reddit-organic": []}
    with open(shared / "data/airline-tweets/Tweets.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            res["airline"] += URL.findall(r["text"] or "")
    for f in sorted((shared / "data/pheme-rumour-source-tweets").glob("*.json")):
        res["pheme"] += URL.findall(f.read_text(encoding="utf-8").replace("\\/", "/"))
    with open(shared / "data/reddit-ira-2016/labels.csv", encoding="utf-8") as fh:
        organic = [r["account"] for r in csv.DictReader(fh) if r["label"] != "ira"]
    csv.field_size_limit(sys.maxsize)
    for acc in organic:
        for name in ("submissions.csv", "comments.csv"):
            p = shared / "data/reddit-ira-2016/NormalAccounts" / acc / name
            if not p.exists():
                continue
            with open(p, encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    for k in ("url", "title", "selftext", "body"):
                        res["reddit-organic"] += URL.findall(r.get(k) or "")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared")
    ap.add_argument("--out", type=Path, help="write the Markdown result here")
    a = ap.parse_args(argv)
    ix = default_index()
    outlets = {o.domain for o in load_outlets()}
    with open(Path(__file__).parent / "data/doppelganger_targets.csv", encoding="utf-8") as fh:
        target = {r["label"]: r["target"] for r in csv.DictReader(fh)}

    t0 = time.perf_counter()
    dop = doppelganger_domains(a.shared)
    rows = []
    for d in dop:
        parts = split_host(d)
        lab = parts[1] if parts else d
        tgt = target.get(lab, "")
        hit = ix.match_host(d)
        rows.append((d, tgt, tgt in outlets, hit))
    pop = [r for r in rows if r[2]]
    found = [r for r in pop if r[3] is not None and r[3].outlet.domain.split(".")[0] == r[1].split(".")[0]
             or r[3] is not None and r[3].outlet.domain == r[1]]
    missed = [r for r in pop if r not in found]
    other_hits = [r for r in rows if not r[2] and r[3] is not None]

    urls = organic_urls(a.shared)
    doms: dict[str, set[str]] = {}
    for ds, us in urls.items():
        doms[ds] = {d for d in (registrable_domain(re.sub(r"^https?://", "", u, flags=re.I).split("/")[0])
                                for u in us) if d}
    all_doms = set().union(*doms.values())
    fps = {d: ix.match_host(d) for d in sorted(all_doms)}
    fps = {d: h for d, h in fps.items() if h is not None}
    path_fps = [(u, ix.match_url(u)) for us in urls.values() for u in set(us)]
    path_fps = [(u, h) for u, h in path_fps if h is not None and h.kind == "path"]
    secs = time.perf_counter() - t0

    L = ["| figure | value |", "|---|---|",
         f"| Doppelganger domains (2022-09 + Q2 2023 acquired, distinct) | {len(rows)} |",
         f"| ... annotated as imitating a news outlet (any) | {sum(1 for r in rows if r[1] and '.' in r[1])} |",
         f"| ... whose outlet is in the reference list (recall population) | {len(pop)} |",
         f"| **recall** (right outlet named) | **{len(found)}/{len(pop)} = {len(found) / max(len(pop), 1):.3f}** |",
         f"| flags among the other Doppelganger domains (outlet not in list / own brands) | {len(other_hits)} |"]
    for ds in doms:
        L.append(f"| organic distinct registrable domains, {ds} | {len(doms[ds])} |")
    L += [f"| organic distinct registrable domains, all | {len(all_doms)} |",
          f"| **organic false positives** | **{len(fps)}/{len(all_doms)} = {len(fps) / max(len(all_doms), 1):.4f}** |",
          f"| organic URLs flagged by the path rule | {len(path_fps)} |",
          f"| wall time (s) | {secs:.1f} |", "", "Missed (domain, annotated outlet):", ""]
    L += [f"- `{r[0]}` -> {r[1]}" for r in missed] or ["- none"]
    L += ["", "Flagged Doppelganger domains outside the recall population:", ""]
    L += [f"- `{r[0]}` -> {r[3].outlet.domain} ({r[3].kind}); annotated: {r[1] or 'no outlet'}" for r in other_hits] \
        or ["- none"]
    L += ["", "Organic false positives:", ""]
    L += [f"- `{d}` -> {h.outlet.domain} ({h.kind})" for d, h in fps.items()] or ["- none"]
    L += [f"- path: `{u[:100]}` -> {h.outlet.domain}" for u, h in path_fps[:20]]
    text = "\n".join(L) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text, encoding="utf-8")
    print(json.dumps({"recall": len(found) / max(len(pop), 1), "fp_rate": len(fps) / max(len(all_doms), 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
