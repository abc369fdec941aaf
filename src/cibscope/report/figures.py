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
        ``bucket`` ("hour" or "day"), ``t`` (bucket starts, UTC), ``posts``,
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
        width = dt.timedelta(hours=1) if activity["bucket"] == "hour" else dt.timedelta(days=1)
        ax.axvspan(first_seen, last_seen + width, color="#fde4b0", zorder=0, label="co-action window")
        ax.bar(activity["t"], activity["posts"], width=width, align="edge", color="#9ab", label="member posts")
        ax.bar(activity["t"], activity["coactions"], width=width, align="edge", color="#c33",
               label="posts in evidence")
        ax.set_ylabel(f"posts / {activity['bucket']}")
        ax.legend(loc="upper left", frameon=False, fontsize=7, ncols=3)
        ax.spines[["top", "right"]].set_visible(False)
        fig.autofmt_xdate()
        fig.tight_layout()
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
