"""A data-driven suggestion of the co-action window: how fast do accounts follow each other here?

For every object (signal, object key) acted on by at least two accounts, the **follow delay** of each
later account is the time from the object's first action to that account's first action on it.
CooRnet (Giglietto et al. 2020, ``estimate_coord_interval``) calls the fastest part of that
distribution the coordination interval: accounts that follow faster than most of the data's own
follow-ups are candidates for coordination. Here the suggestion is the ``q`` quantile (default
0.1) of the objects' *median* follow delay, rounded up to a whole minute (and never below 60 s, the
resolution of many exports), so that a few huge objects cannot set it.

The quantiles say whether the data needs slow scales: if most objects are followed within a minute,
a 60 s window sees most co-action; if the median object is followed after hours, slow coordination
looks like ordinary activity at any window, and ``detect``'s 10 min and 1 h scales carry the weight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..store.db import Store
from ..store.schema import ACTION_TYPES

#: Quantiles of the follow-delay distribution that :func:`follow_delays` reports.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass
class WindowSuggestion:
    """Follow delays of the store's objects and the suggested window.

    Attributes
    ----------
    n_objects : int
        Objects with at least two accounts (per signal).
    n_follows : int
        Later accounts' first actions on those objects.
    delay_quantiles : dict
        ``{q: seconds}`` of all follow delays (each later account's first action on an object).
    object_median_quantiles : dict
        ``{q: seconds}`` of the per-object median follow delay.
    suggested_s : float
        The ``q`` quantile of the per-object medians, rounded up to a whole minute, at least 60 s.
    q : float
    quantile_s : float
        That quantile before rounding (seconds), what ``suggest-window`` reports next to the suggestion.
    """

    n_objects: int
    n_follows: int
    delay_quantiles: dict[float, float]
    object_median_quantiles: dict[float, float]
    suggested_s: float
    q: float
    quantile_s: float


def follow_delays(store: Store, *, signals: list[str] | None = None, datasets: list[str] | None = None,
                  q: float = 0.1) -> WindowSuggestion:
    """Measure follow delays in ``store``'s ``actions`` and suggest a window (see the module docstring).

    Parameters
    ----------
    store : Store
    signals : list of str, optional
        Action types to use (default: every stored type but ``mention`` and ``domain``, which link
        too many unrelated accounts to say anything about following).
    datasets : list of str, optional
        Restrict to these datasets.
    q : float, default 0.1
        Quantile of the per-object median delay that becomes the suggestion (CooRnet's default).

    Raises
    ------
    ValueError
        ``q`` outside (0, 1), a signal that is not an action type (the message lists them), or no
        object acted on by two accounts.
    """
    if not 0 < q < 1:
        raise ValueError(f"q must be between 0 and 1, not {q}")
    unknown = [s for s in signals or () if s not in ACTION_TYPES]
    if unknown:
        raise ValueError(f"unknown signals {', '.join(unknown)}; known: {', '.join(ACTION_TYPES)}")
    where, params = ["action_type NOT IN ('mention', 'domain')"], []
    if signals:
        where = ["list_contains(?, action_type)"]
        params.append(list(signals))
    if datasets:
        where.append("list_contains(?, dataset)")
        params.append(list(datasets))
    qs = list(QUANTILES)
    row = store.con.execute(f"""
        WITH firsts AS (
            SELECT action_type, object_key, account_key, min(ts) AS t FROM actions
            WHERE {" AND ".join(where)} GROUP BY ALL),
        follows AS (   -- every account after the object's first one (ties with it included)
            SELECT action_type, object_key, delay FROM (
                SELECT action_type, object_key,
                       epoch(t) - epoch(min(t) OVER (PARTITION BY action_type, object_key)) AS delay,
                       row_number() OVER (PARTITION BY action_type, object_key ORDER BY t, account_key) AS rn
                FROM firsts) WHERE rn > 1),
        per_obj AS (SELECT median(delay) AS m FROM follows GROUP BY action_type, object_key)
        SELECT (SELECT count(*) FROM per_obj), (SELECT count(*) FROM follows),
               (SELECT quantile_cont(delay, ?) FROM follows),
               (SELECT quantile_cont(m, ?) FROM per_obj), (SELECT quantile_cont(m, ?) FROM per_obj)
    """, [*params, qs, qs, q]).fetchone()
    n_objects, n_follows, delays, medians, pick = row
    if not n_objects:
        scope = [f"signals {', '.join(signals)}"] if signals else []
        scope += [f"datasets {', '.join(datasets)}"] if datasets else []
        where_text = " with " + " in ".join(scope) if scope else ""
        raise ValueError(f"no object was acted on by two accounts{where_text}: nothing to measure")
    return WindowSuggestion(int(n_objects), int(n_follows or 0), dict(zip(qs, delays or [math.nan] * len(qs))),
                            dict(zip(qs, medians)), max(60.0, 60.0 * math.ceil(float(pick) / 60.0)), q,
                            float(pick))
