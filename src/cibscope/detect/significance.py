"""Significance of co-action against a null model of uncoordinated activity.

Null model
----------
Accounts choose objects independently, in proportion to their activity, within each stratum of
one signal ``s`` and one UTC day ``d`` (the configuration model of the bipartite account-object
graph, per stratum). With ``k_isd`` the distinct objects account ``i`` acted on there::

    E[C_ij] = sum_(s, d) kappa_sd k_isd k_jsd

where ``kappa_sd`` is the stratum's background rate: the share of its account-incidence pairs that
are *incidental* co-actions (of pairs with fewer than ``min_coactions`` co-actions), so the pairs
under test never set their own baseline (``detect/core.py: background``, docs/detection.md). The
observed count ``C_ij`` (distinct co-acted objects) is tested against ``Poisson(E_ij)`` (the
Poisson approximation of the Poisson-binomial sum), at each time scale, and p-values are
controlled for false discovery with Benjamini-Hochberg over every (pair, scale) test. A cluster is
tested the same way against ``sum_(s, d) kappa_sd ((sum_i k_isd)^2 - sum_i k_isd^2) / 2``, which
covers every member pair, co-acting or not.

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

    The Poisson survival function ``pdtrc(observed - 1, expected)`` (the regularised incomplete gamma
    function, Cephes via ``scipy.special``): the values of ``scipy.stats.poisson.sf``, without the
    ~0.5 s import of ``scipy.stats``. ``observed <= 0`` gives 1.

    Parameters
    ----------
    observed : ndarray of shape (n,), int
    expected : ndarray of shape (n,), float >= 0

    Returns
    -------
    ndarray of shape (n,), float in [0, 1]
    """
    from scipy.special import pdtrc  # here: `cibscope --help` must not import scipy

    k = np.floor(np.asarray(observed, dtype=float)) - 1
    expected = np.maximum(np.asarray(expected, dtype=float), 1e-300)
    return np.where(k < 0, 1.0, pdtrc(np.maximum(k, 0), expected))


def poisson_scores(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """-log10 P(X >= observed) of :func:`poisson_pvalues`, capped at :data:`MAX_SCORE` (a p-value that
    underflows to 0 scores the cap)."""
    with np.errstate(divide="ignore"):
        return np.minimum(-np.log(poisson_pvalues(observed, expected)) / np.log(10), MAX_SCORE)


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
