"""Group accounts of the significant co-action network into candidate operations (Leiden).

References
----------
Traag, V. A., Waltman, L., van Eck, N. J. (2019). From Louvain to Leiden:
guaranteeing well-connected communities. Scientific Reports 9, 5233.
(python-igraph's built-in ``Graph.community_leiden``.)
"""
from __future__ import annotations

import hashlib
import random

import numpy as np


def leiden_clusters(acc_a: np.ndarray, acc_b: np.ndarray, weight: np.ndarray, *, keys: np.ndarray,
                    resolution: float = 1.0, seed: int = 42, min_size: int = 3) -> dict[str, np.ndarray]:
    """Cluster a weighted undirected account graph.

    Parameters
    ----------
    acc_a, acc_b : ndarray of shape (n_edges,), int
        Edge end points as integer account ids.
    weight : ndarray of shape (n_edges,), float > 0
    keys : ndarray of shape (max_id + 1,), str
        ``keys[acc]`` is the account key of id ``acc`` (for stable cluster ids).
    resolution : float
        Modularity resolution (1.0 = classic modularity).
    seed : int
        Seed for Leiden's random choices; nodes are numbered in sorted id order,
        so the same edges give the same clusters.
    min_size : int
        Communities with fewer members are dropped.

    Returns
    -------
    dict
        ``{cluster_id: ndarray of member ids (sorted by key)}``; ``cluster_id`` is
        ``"C" + md5(sorted member keys)[:10]``, stable across re-runs that find the same members.
    """
    if len(acc_a) == 0:
        return {}
    import igraph as ig  # here, not at module level: `cibscope --help` must not load it

    nodes, inverse = np.unique(np.concatenate([acc_a, acc_b]), return_inverse=True)
    n = len(acc_a)
    g = ig.Graph(n=len(nodes), edges=np.column_stack([inverse[:n], inverse[n:]]).tolist(), directed=False)
    g.es["weight"] = np.asarray(weight, dtype=float).tolist()
    state = random.getstate()
    ig.set_random_number_generator(random.Random(seed))
    try:
        parts = g.community_leiden(objective_function="modularity", weights="weight",
                                   resolution=resolution, n_iterations=-1)
    finally:
        ig.set_random_number_generator(random)
        random.setstate(state)
    out: dict[str, np.ndarray] = {}
    for members in parts:
        if len(members) < min_size:
            continue
        ids = nodes[members]
        ids = ids[np.argsort(keys[ids])]
        out["C" + hashlib.md5("\n".join(keys[ids]).encode()).hexdigest()[:10]] = ids
    return out
