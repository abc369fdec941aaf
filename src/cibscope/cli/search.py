"""``cibscope search``: find an account, hashtag, URL or text across runs (:mod:`cibscope.store.search`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..text import plural
from .common import DbOption, fail, open_store, out


def _where(clusters: list) -> str:
    """The clusters a hit is in, one phrase: ``run 3 #1 c-ab12 flagged (4 pairs); ...``."""
    return "; ".join(f"run {c['run_id']} #{c['rank']} {c['cluster_id']}{' flagged' if c['flagged'] else ''}"
                     + (f" ({plural(c['n_pairs'], 'pair')})" if "n_pairs" in c else "")
                     for c in clusters) or "in no cluster"


def search(
    query: str = typer.Argument(..., help="@account, #hashtag, a URL or words."),
    kind: Optional[str] = typer.Option(None, "--kind", help="account, hashtag, url or text (default: guessed)."),
    run: Optional[int] = typer.Option(None, "--run", help="Only this run's clusters and data sets."),
    limit: int = typer.Option(20, "--limit", help="Most rows per list (1-500)."),
    db: Path = DbOption,
) -> None:
    """Find an account, hashtag, URL or text across runs, with the clusters that involve it."""
    from ..store.search import search as do_search

    with open_store(db, read_only=True, must_exist=True) as store:
        try:
            res = do_search(store, query, kind=kind, run_id=run, limit=limit)
        except ValueError as exc:
            fail(str(exc))
    out.print(f"searched {', '.join(res['kinds'])} for {res['query']!r}" + (f" in run {run}" if run else ""))
    for a in res.get("accounts", []):
        out.print(f"account {a['account_key']} ({a['handle'] or ''}, {plural(a['n_posts'], 'post')}"
                  f"{', ' + a['label'] if a['label'] else ''}): {_where(a['clusters'])}", markup=False)
    if res.get("url_match") == "partial":
        out.print(f"no URL is exactly {res['query']!r} (paths are case-sensitive): URLs containing it",
                  markup=False)
    for name in ("hashtags", "urls"):
        for o in res.get(name, []):
            out.print(f"{o['action_type']} {o['object_key']}: {plural(o['n_posts'], 'post')} by "
                      f"{plural(o['n_accounts'], 'account')}, "
                      f"{o['first_ts']:%Y-%m-%d} to {o['last_ts']:%Y-%m-%d}; {_where(o['clusters'])}", markup=False)
    for p in res.get("posts", []):
        text = " ".join((p["text"] or "").split())
        out.print(f"post {p['post_key']} by {p['handle'] or p['account_key']} at {p['created_at']:%Y-%m-%d %H:%M}: "
                  f"{text[:100]}{'…' if len(text) > 100 else ''} [{_where(p['clusters'])}]", markup=False)
    if not any(res.get(k) for k in ("accounts", "hashtags", "urls", "posts")):
        out.print("nothing found")
    for name in res["truncated"]:
        out.print(f"more {name} match: raise --limit or narrow the search")
