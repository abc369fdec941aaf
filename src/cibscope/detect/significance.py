"""Significance of co-action against a null model of uncoordinated activity.

Null model
----------
Accounts choose objects independently, in proportion to their activity and the
objects' popularity (the configuration model of the bipartite account-object
graph, per signal), and the timing of two accounts' actions on an object is
as close as that of any two actions on it. Under it, for a signal ``s`` with
``M_s`` account-object incidences, account ``i`` with ``k_i`` distinct objects,
and object ``o`` with ``k_o`` distinct accounts and in-window pair share ``p_o``::

    P(i and j co-act on o) ~= (k_i k_o / M_s) (k_j (k_o - 1) / M_s) p_o
    E[C_ij] = sum_s kappa_s k_i^s k_j^s,   kappa_s = sum_o k_o (k_o - 1) p_o / M_s^2

so busy accounts need more co-actions to stand out, and popular or bursty
objects (high ``k_o``, high ``p_o``) raise the expectation for every pair. The
observed count ``C_ij`` (distinct co-acted objects) is tested against
``Poisson(E_ij)`` (the Poisson approximation of the Poisson-binomial sum), and
p-values are controlled for false discovery with Benjamini-Hochberg over all
candidate pairs. A cluster is tested the same way: its internal co-actions
against ``sum_s kappa_s ((sum_i k_i^s)^2 - sum_i (k_i^s)^2) / 2``, which covers
every member pair, co-acting or not.

References
----------
Newman, M. E. J., Strogatz, S. H., Watts, D. J. (2001). Random graphs with
arbitrary degree distributions. Phys. Rev. E 64 (configuration model).
Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate. JRSS B.
"""
from __future__ import annotations

import numpy as np

#: Fixed-point scale of the null expectation's terms: sums of integers are exact and independent of the
#: order an engine adds them in, so both engines give bit-identical expectations.
EXPECT_SCALE = 10**9
#: -log10 p is capped here (p-values below 1e-300 underflow doubles).
MAX_SCORE = 300.0


def poisson_pvalues(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """P(X >= observed) for X ~ Poisson(expected), elementwise.

    Parameters
    ----------
    observed : ndarray of shape (n,), int
    expected : ndarray of shape (n,), float >= 0

    Returns
    -------
    ndarray of shape (n,), float in [0, 1]
    """
    observed = np.asarray(observed, dtype=float)
    expected = np.maximum(np.asarray(expected, dtype=float), 1e-300)
    from scipy.stats import poisson  # here: scipy.stats takes ~0.5 s to import (`cibscope --help` must not)

    return poisson.sf(observed - 1, expected)


def poisson_scores(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """-log10 P(X >= observed), computed in log space (no underflow), capped at :data:`MAX_SCORE`."""
    observed = np.asarray(observed, dtype=float)
    expected = np.maximum(np.asarray(expected, dtype=float), 1e-300)
    from scipy.stats import poisson

    return np.minimum(-poisson.logsf(observed - 1, expected) / np.log(10), MAX_SCORE)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (step-up, monotone), same order as ``p``.

    Parameters
    ----------
    p : ndarray of shape (n,)

    Returns
    -------
    ndarray of shape (n,)
    """
    p = np.asarray(p, dtype=float)
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out
