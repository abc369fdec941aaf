"""Pictures for the HTML report: an activity timeline (matplotlib SVG) and a network layout (python-igraph).

Both are made for inline use in one self-contained page: the timeline is SVG
markup without an XML prolog or DOCTYPE, the network is returned as numbers
(positions, radii) that the template draws as inline SVG, so every account
handle passes through Jinja2's autoescaping.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import igraph as ig
import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

#: Colours of account labels in the network picture (cycled by label, in sorted order).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
UNLABELLED = "#7f7f7f"


def timeline_svg(activity: dict[str, list], first_seen: dt.datetime, last_seen: dt.datetime,
                 *, salt: str = "") -> str:
    """Posts per hour/day of a cluster's members, as inline SVG markup.

    Parameters
    ----------
    activity : dict
        One cluster's entry of :func:`cibscope.report.query.activity`:
        ``bucket`` ("hour", "day" or "week"), ``t`` (bucket starts, UTC), ``posts``,
        ``coactions`` (counts per bucket).
    first_seen, last_seen : datetime
        The cluster's first and last co-action (UTC), shaded.
    salt : str
        Makes the SVG's internal element ids unique on a page holding several pictures.

    Returns
    -------
    str
        ``<svg ...>...</svg>`` (text kept as text, no external references); the
        same input gives the same markup.
    """
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"cibscope-{salt}",
                                "font.size": 8}):
        fig = Figure(figsize=(7.5, 1.9))
        ax = fig.add_subplot()
        step = {"hour": np.timedelta64(1, "h"), "day": np.timedelta64(1, "D"),
                "week": np.timedelta64(7, "D")}[activity["bucket"]]
        t = np.array(activity["t"], dtype="datetime64[s]")
        # Dense bins from the first to the last bucket: one path per series, not one patch per bar.
        edges = np.arange(t.min(), t.max() + 2 * step, step).astype("datetime64[s]")
        idx = ((t - edges[0]) // step).astype(int)
        posts = np.zeros(len(edges) - 1)
        coact = np.zeros(len(edges) - 1)
        np.add.at(posts, idx, activity["posts"])
        np.add.at(coact, idx, activity["coactions"])
        x = mdates.date2num(edges.astype(dt.datetime))
        ax.axvspan(mdates.date2num(first_seen), mdates.date2num(last_seen), color="#fde4b0", zorder=0,
                   label="co-action window")
        # fill_between (a PolyCollection) rather than bars or stairs: matplotlib sizes it in one numpy pass.
        ax.fill_between(x, np.append(posts, 0), step="post", color="#9ab", lw=0, label="member posts")
        ax.fill_between(x, np.append(coact, 0), step="post", color="#c33", lw=0, label="posts in evidence")
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(0, max(posts.max(), 1) * 1.25)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.set_ylabel(f"posts / {activity['bucket']}")
        ax.legend(loc="upper left", frameon=False, fontsize=7, ncols=3)
        ax.spines[["top", "right"]].set_visible(False)
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.17, top=0.97)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    return _strip_ids(svg[svg.index("<svg"):])


def network_layout(members: list[dict[str, Any]], edges: list[dict[str, Any]], *, max_nodes: int = 300,
                   size: float = 520.0) -> dict[str, Any]:
    """Place a cluster's accounts and edges for drawing.

    Keeps the ``max_nodes`` members of highest degree (``members`` come
    strongest first) and the edges among them; lays them out with
    Kamada-Kawai (python-igraph, seeded on a circle, so deterministic).

    Parameters
    ----------
    members : list of dict
        Rows of :func:`cibscope.report.query.members` (``account_key``,
        ``handle``, ``label``, ``degree``).
    edges : list of dict
        Rows of :func:`cibscope.report.query.internal_edges` (``account_a``,
        ``account_b``, ``weight``).
    max_nodes : int
    size : float
        Width and height of the drawing, in SVG user units.

    Returns
    -------
    dict
        ``nodes`` (x, y, r, colour, handle, label, degree), ``edges`` (x1, y1,
        x2, y2, width), ``size``, ``legend`` (label -> colour), ``dropped``
        (members left out).
    """
    kept = members[:max_nodes]
    index = {m["account_key"]: i for i, m in enumerate(kept)}
    pairs = [(index[e["account_a"]], index[e["account_b"]], e["weight"]) for e in edges
             if e["account_a"] in index and e["account_b"] in index]
    n = len(kept)
    if n == 0:
        return {"nodes": [], "edges": [], "size": size, "legend": {}, "dropped": len(members)}
    g = ig.Graph(n=n, edges=[(a, b) for a, b, _ in pairs])
    coords = g.layout_circle().coords
    if n > 2 and pairs:
        coords = g.layout_kamada_kawai(seed=coords, maxiter=50 * n).coords
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]
    pad = 24.0
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    scale = (size - 2 * pad) / span

    def place(i: int) -> tuple[float, float]:
        return (round(pad + (xs[i] - min(xs)) * scale, 1), round(pad + (ys[i] - min(ys)) * scale, 1))

    labels = sorted({m["label"] for m in kept if m.get("label")})
    colour = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(labels)}
    top_w = max((w for _, _, w in pairs), default=1.0) or 1.0
    nodes = []
    for i, m in enumerate(kept):
        x, y = place(i)
        nodes.append({"x": x, "y": y, "r": round(4 + 6 * min(m["degree"], 40) / 40, 1),
                      "colour": colour.get(m.get("label"), UNLABELLED),
                      "handle": m.get("handle") or m["account_key"], "label": m.get("label"),
                      "degree": m["degree"]})
    lines = []
    for a, b, w in pairs:
        (x1, y1), (x2, y2) = place(a), place(b)
        lines.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "width": round(0.5 + 3 * w / top_w, 2)})
    return {"nodes": nodes, "edges": lines, "size": size, "legend": colour, "dropped": len(members) - n}


def _strip_ids(svg: str) -> str:
    """``svg`` without the ``id`` attributes nothing references (no duplicate ids across pictures)."""
    used = set(re.findall(r"url\(#([^)]+)\)|href=\"#([^\"]+)\"", svg))
    keep = {x for pair in used for x in pair if x}
    return re.sub(r'\sid="([^"]+)"', lambda m: m.group(0) if m.group(1) in keep else "", svg)
