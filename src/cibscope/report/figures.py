"""Pictures for the HTML report: an activity timeline (SVG drawn from numpy) and a network layout (python-igraph).

Both are made for inline use in one self-contained page: the timeline is SVG
markup without an XML prolog or DOCTYPE, the network is returned as numbers
(positions, radii) that the template draws as inline SVG, so every account
handle passes through Jinja2's autoescaping.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

#: Colours of account labels in the network picture (cycled by label, in sorted order).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
UNLABELLED = "#7f7f7f"
#: Size of the timeline picture, SVG user units.
TIMELINE_W, TIMELINE_H = 750.0, 190.0


def timeline_svg(activity: dict[str, list], first_seen: dt.datetime, last_seen: dt.datetime,
                 *, salt: str = "") -> str:
    """Posts per hour/day/week of a cluster's members, as inline SVG markup.

    Drawn directly from numpy (two step areas, a shaded co-action span, axes with
    ticks at bucket starts): about a millisecond a picture, where matplotlib took
    about a second, which made report writing slower than detection itself.

    Parameters
    ----------
    activity : dict
        One cluster's entry of :func:`cibscope.report.query.activity`:
        ``bucket`` ("hour", "day" or "week"), ``t`` (bucket starts, UTC), ``posts``,
        ``coactions`` (counts per bucket).
    first_seen, last_seen : datetime
        The cluster's first and last co-action (UTC), shaded.
    salt : str
        Kept for callers; the markup holds no element ids, so pictures never clash.

    Returns
    -------
    str
        ``<svg ...>...</svg>``: numbers and date labels only (no input text, no
        external references); the same input gives the same markup.
    """
    step = {"hour": np.timedelta64(1, "h"), "day": np.timedelta64(1, "D"),
            "week": np.timedelta64(7, "D")}[activity["bucket"]]
    t = np.array(activity["t"], dtype="datetime64[s]")
    # Dense bins from the first to the last bucket: one path per series.
    edges = np.arange(t.min(), t.max() + 2 * step, step).astype("datetime64[s]")
    idx = ((t - edges[0]) // step).astype(int)
    posts = np.zeros(len(edges) - 1)
    coact = np.zeros(len(edges) - 1)
    np.add.at(posts, idx, activity["posts"])
    np.add.at(coact, idx, activity["coactions"])
    top = float(max(posts.max(), coact.max(), 1.0)) * 1.25
    x0, x1, y0, y1 = 52.0, TIMELINE_W - 8.0, TIMELINE_H - 30.0, 8.0
    secs = (edges - edges[0]).astype(np.int64).astype(float)
    span = secs[-1] or 1.0

    def px(seconds):
        return x0 + (x1 - x0) * np.asarray(seconds, dtype=float) / span

    def py(count):
        return y0 - (y0 - y1) * np.asarray(count, dtype=float) / top

    def area(counts: np.ndarray, colour: str) -> str:
        xs = np.repeat(px(secs), 2)[1:-1]
        ys = np.repeat(py(counts), 2)
        pts = np.column_stack([np.concatenate([[xs[0]], xs, [xs[-1]]]),
                               np.concatenate([[y0], ys, [y0]])])
        d = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        return f'<polygon points="{d}" fill="{colour}" stroke="none"/>'

    t0 = edges[0].astype("datetime64[s]")
    lo = (np.datetime64(first_seen.replace(tzinfo=None), "s") - t0).astype(float)
    hi = (np.datetime64(last_seen.replace(tzinfo=None), "s") - t0).astype(float)
    sx0, sx1 = float(px(np.clip(lo, 0, span))), float(px(np.clip(hi, 0, span)))
    fmt = "%Y-%m-%d %H:%M" if activity["bucket"] == "hour" else "%Y-%m-%d"
    ticks = np.unique(np.linspace(0, len(edges) - 1, min(len(edges), 6)).round().astype(int))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {TIMELINE_W:.0f} {TIMELINE_H:.0f}" '
             f'width="{TIMELINE_W:.0f}" height="{TIMELINE_H:.0f}" font-family="sans-serif" font-size="10" '
             'role="img" aria-label="activity timeline">',
             f'<rect x="{sx0:.1f}" y="{y1:.1f}" width="{max(sx1 - sx0, 1.0):.1f}" height="{y0 - y1:.1f}" '
             'fill="#fde4b0"/>',
             area(posts, "#9ab"), area(coact, "#c33"),
             f'<path d="M{x0:.1f},{y1:.1f}V{y0:.1f}H{x1:.1f}" fill="none" stroke="#333" stroke-width="0.8"/>']
    for i in ticks:
        x = float(px(secs[i]))
        label = dt.datetime.fromtimestamp(int(edges[i].astype(np.int64)), dt.timezone.utc).strftime(fmt)
        anchor = "start" if i == ticks[0] else "end" if i == ticks[-1] else "middle"
        parts.append(f'<path d="M{x:.1f},{y0:.1f}v4" stroke="#333" stroke-width="0.8"/>'
                     f'<text x="{x:.1f}" y="{y0 + 15:.1f}" text-anchor="{anchor}">{label}</text>')
    for v in sorted({0, int(round(top / 1.25 / 2)), int(round(top / 1.25))}):
        y = float(py(v))
        parts.append(f'<path d="M{x0 - 4:.1f},{y:.1f}h4" stroke="#333" stroke-width="0.8"/>'
                     f'<text x="{x0 - 6:.1f}" y="{y + 3.5:.1f}" text-anchor="end">{v}</text>')
    parts.append(f'<text transform="translate(12,{(y0 + y1) / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 f'posts / {activity["bucket"]}</text>')
    for k, (colour, name) in enumerate((("#fde4b0", "co-action window"), ("#9ab", "member posts"),
                                        ("#c33", "posts in evidence"))):
        lx = x0 + 10 + 130 * k
        parts.append(f'<rect x="{lx:.1f}" y="{y1 + 2:.1f}" width="10" height="8" fill="{colour}"/>'
                     f'<text x="{lx + 14:.1f}" y="{y1 + 10:.1f}">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def network_layout(members: list[dict[str, Any]], edges: list[dict[str, Any]], *, max_nodes: int = 300,
                   size: float = 520.0, sweeps: int = 50) -> dict[str, Any]:
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
    sweeps : int
        Kamada-Kawai moves per node (igraph's ``maxiter`` is ``sweeps`` x nodes; its default is 50).
        On a 540-account IRA cluster 10 gives a stress 2 % above 50's in a quarter of the time
        (docs/benchmarks.md, web app).

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
    import igraph as ig  # here, not at module level: `cibscope --help` must not load it

    g = ig.Graph(n=n, edges=[(a, b) for a, b, _ in pairs])
    coords = g.layout_circle().coords
    if n > 2 and pairs:
        coords = g.layout_kamada_kawai(seed=coords, maxiter=sweeps * n).coords
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]
    pad = 24.0
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    scale = (size - 2 * pad) / span

    x0, y0 = min(xs), min(ys)  # once: place() runs for every node and both ends of every edge

    def place(i: int) -> tuple[float, float]:
        return (round(pad + (xs[i] - x0) * scale, 1), round(pad + (ys[i] - y0) * scale, 1))

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
