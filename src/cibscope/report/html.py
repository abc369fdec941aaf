"""``report.html``: one self-contained page describing a finished run.

The page works offline: CSS is inline, pictures are inline SVG, nothing is
fetched (a Content-Security-Policy ``default-src 'none'`` forbids it and
scripts). Post text, handles and object keys are attacker-written, so the
Jinja2 environment autoescapes everything; only the SVG markup produced by
`figures.timeline_svg` from numbers is inserted as-is.

Layout: a one-minute summary (what was found, how strongly, what it is not:
:func:`.summary.run_summary`) with the run's counts; how to read the report;
the ranked cluster list; then per cluster its summary, signals, accounts, top
shared objects (as their text, :func:`.summary.object_display`) with example
posts and, for the ``top_clusters`` best-ranked clusters, an activity timeline
and a network picture; last the parameters and the coordination window the
data suggests (:mod:`cibscope.detect.interval`). Each block is its own
template (``_summary``, ``_objects``, ``_run``) included by ``report.html.j2``.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..store.db import Store
from ..text import plural
from .figures import network_layout, timeline_svg
from .query import (activity, authenticity, clusters, internal_edges, loose_pairs, members, narratives, run_info,
                    top_objects)
from .stix import tlp_level
from .summary import duration_text, object_display, p_text, run_summary, tested_windows

#: FIRST TLP 2.0 colours (text, background) per level.
TLP_COLOURS = {"clear": ("#FFFFFF", "#000000"), "green": ("#33FF00", "#000000"),
               "amber": ("#FFC000", "#000000"), "amber+strict": ("#FFC000", "#000000"),
               "red": ("#FF2B2B", "#000000")}


def _ts(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def shared_object(o: dict[str, Any]) -> dict[str, Any]:
    """:func:`.summary.object_display` of a :func:`~.query.top_objects` row, read from its first example post."""
    return object_display(o["action_type"], o["object_key"], o["examples"][0]["text"] if o.get("examples") else None)


def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape on for every template)."""
    env = Environment(loader=PackageLoader("cibscope.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = _ts
    env.filters["p_text"] = p_text
    env.filters["duration"] = duration_text
    env.filters["shared_object"] = shared_object
    env.filters["plural"] = plural
    return env


def render_html(store: Store, run_id: int, *, tlp: str = "amber", top_clusters: int = 50,
                objects_per_cluster: int = 8, examples: int = 3, max_accounts: int = 100,
                max_nodes: int = 300, suggest_window: bool = True) -> str:
    """Render the report page of a run.

    Parameters
    ----------
    store : Store
    run_id : int
    tlp : str, default "amber"
        TLP 2.0 level shown in the page banner (clear, green, amber, amber+strict, red).
    top_clusters : int, default 50
        Clusters (best rank first) that get the timeline and network pictures;
        every cluster gets its text sections.
    objects_per_cluster : int, default 8
        Top shared objects listed per cluster.
    examples : int, default 3
        Example posts per shared object.
    max_accounts : int, default 100
        Accounts listed per cluster (strongest first; the rest are counted).
    max_nodes : int, default 300
        Accounts drawn in a network picture.
    suggest_window : bool, default True
        Measure the data's follow delays (:func:`cibscope.detect.interval.follow_delays`, one
        aggregation over the run's actions) and show the suggested coordination window.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    ValueError
        ``run_id`` is not in the store (:func:`~cibscope.report.query.run_info`)
        or ``tlp`` is no TLP 2.0 level (:func:`~cibscope.report.stix.tlp_level`).
    """
    level = tlp_level(tlp)
    run = run_info(store, run_id)
    all_clusters = clusters(store, run_id)
    ids = [c["cluster_id"] for c in all_clusters]
    pictured = ids[:top_clusters]
    mem = members(store, run_id, ids)
    objs = top_objects(store, run_id, ids, k=objects_per_cluster, examples=examples)
    act = activity(store, run_id, pictured)
    edges = internal_edges(store, run_id, pictured)
    auth = authenticity(store, run_id, ids)
    narr = narratives(store, run_id, ids)
    sections = []
    for c in all_clusters:
        cid = c["cluster_id"]
        sec: dict[str, Any] = {"c": c, "members": mem[cid][:max_accounts],
                               "more_members": max(0, len(mem[cid]) - max_accounts),
                               "signals": sorted(c["signals"].items(), key=lambda kv: -kv[1]),
                               "objects": objs[cid], "timeline": None, "network": None,
                               "authenticity": auth[cid], "narratives": narr[cid]}
        if cid in act:
            sec["timeline"] = Markup(timeline_svg(act[cid], c["first_seen"], c["last_seen"], salt=cid))
        if cid in edges:
            sec["network"] = network_layout(mem[cid], edges[cid], max_nodes=max_nodes)
        sections.append(sec)
    n_members, n_flagged = store.con.execute(
        "SELECT count(DISTINCT account_key), count(DISTINCT account_key) FILTER (WHERE c.flagged) "
        "FROM cluster_members m JOIN clusters c USING (run_id, cluster_id) WHERE run_id = ?",
        [int(run_id)]).fetchall()[0]
    tested = tested_windows(run["params"])
    n_loose, loose = loose_pairs(store, run_id)
    window = None
    if suggest_window:
        from ..detect.interval import follow_delays
        try:
            window = follow_delays(store, datasets=run["datasets"])
        except ValueError:   # no object with two accounts: nothing to suggest
            window = None
    return environment().get_template("report.html.j2").render(
        summary=run_summary(store, run, all_clusters, n_loose), n_loose=n_loose, loose=loose,
        window=window, tested_windows=tested,
        window_covered=window is not None and any(window.suggested_s / 2 <= w <= window.suggested_s * 2 for w in tested),
        run=run, clusters=all_clusters, sections=sections, n_members=n_members, n_flagged=n_flagged, top_clusters=top_clusters,
        tlp=level, tlp_colours=TLP_COLOURS[level],
        generated=run["created_at"])


def write_html(store: Store, run_id: int, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8); returns ``path``."""
    path = Path(path)
    path.write_text(render_html(store, run_id, **kwargs), encoding="utf-8")
    return path
