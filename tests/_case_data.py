"""Real data for the tip-to-case tests: an IRA subset (all Fearmonger authors + 100 others, seeded
choice) and the airline tweets as organic background, from ../shared/data (read-only)."""
from __future__ import annotations

import csv
import random
from pathlib import Path

from cibscope.ingest.text_entities import hashtags_sql, mentions_sql, urls_sql
from cibscope.store.db import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
IRA = SHARED / "ira-troll-tweets-by-author"
AIRLINE = SHARED / "airline-tweets" / "Tweets.csv"
CATEGORY = "Fearmonger"


def ira_subset(folder: Path, n_others: int = 100, seed: int = 6) -> tuple[Path, list[str]]:
    """Link every author file of :data:`CATEGORY` and ``n_others`` other authors' files (seeded choice)
    into ``folder`` with ``authors.csv``; return the folder and the category's authors that have tweets."""
    rows = list(csv.DictReader(open(IRA / "authors.csv", newline="", encoding="utf-8")))
    files = {p.stem.lower(): p for p in IRA.glob("*/*.csv")}
    cat = {r["author"].lower(): r["account_category"] for r in rows}
    mine = sorted(a for a, c in cat.items() if c == CATEGORY and a in files)
    others = random.Random(seed).sample(sorted(a for a, c in cat.items() if c != CATEGORY and a in files), n_others)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "authors.csv").symlink_to(IRA / "authors.csv")
    for a in mine + others:
        p = files[a]
        (folder / p.parent.name).mkdir(exist_ok=True)
        (folder / p.parent.name / p.name).symlink_to(p)
    return folder, [files[a].stem for a in mine]


def add_airline(store: Store) -> int:
    """Add the airline tweets as dataset ``airline`` (platform twitter, account = screen name); return posts added.

    563 of the 14,640 rows are broken in the Kaggle export itself (an unescaped ``;`` in the text shifts
    the columns, so ``tweet_created`` holds text); only rows whose ``tweet_created`` parses are added.
    The export's tweet ids are rounded (to 1,000), so the row number is part of the post id.
    """
    posts = store.con.sql(f"""
        SELECT 'twitter' AS platform, 'airline-' || tweet_id || '-' || rn AS post_id, name AS account_id, name AS handle,
               ts AT TIME ZONE 'UTC' AS created_at, 'post' AS kind, text, {urls_sql('text')} AS urls,
               {hashtags_sql('text')} AS hashtags, {mentions_sql('text')} AS mentions
        FROM (SELECT *, try_strptime(tweet_created, '%Y-%m-%d %H:%M:%S %z') AS ts, row_number() OVER () AS rn
              FROM read_csv('{AIRLINE}', all_varchar = true)) WHERE ts IS NOT NULL
    """).to_arrow_table()
    return store.add_batch(dataset="airline", source_file=str(AIRLINE), posts=posts).posts_added
