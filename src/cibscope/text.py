"""Wording shared by the command line and the reports: a count with its noun in the right number.

``plural(1, "post")`` is ``"1 post"``, ``plural(2_500, "post")`` is ``"2,500 posts"``; messages use it
instead of ``f"{n} posts"`` (which says "1 posts") or ``"post(s)"``.
"""
from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` (with thousands separators) and ``noun``, or its plural when ``n`` is not 1.

    Parameters
    ----------
    n : int
        The count.
    noun : str
        The singular, e.g. ``"post"``, ``"new account"``, ``"bad record"`` (the last word is made plural).
    many : str, optional
        The plural when adding ``s`` is wrong (``"entries"``, ``"matches"``); default ``noun + "s"``.
    """
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
