#!/usr/bin/env python3
"""Tip to case on real data: recall of an IRA category and organic accounts pulled in (docs/evaluation.md).

``prepare`` links the IRA subset (every author of the category + 100 other authors, seeded choice; the
same subset as tests/test_cases_ira.py) into FOLDER/ira and writes a tip of 10 of the category's
handles (seeded choice, as a partner might write them: '@', any case) to FOLDER/tip.csv.
``measure`` reads a case from the store: recall of the category's other accounts, other IRA accounts,
and accounts of each background dataset in the case.

Usage::

    python bench/tip_to_case.py prepare /tmp/t2c
    python bench/tip_to_case.py measure /tmp/t2c/store.duckdb CASE_ID
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _case_data import CATEGORY, ira_subset  # noqa: E402

from cibscope.store.db import Store  # noqa: E402


def prepare(folder: Path) -> None:
    sub, authors = ira_subset(folder / "ira")
    seeds = random.Random(1).sample(authors, 10)
    (folder / "tip.csv").write_text("value,platform\n" + "".join(
        f"@{h.upper() if i % 2 else h},twitter\n" for i, h in enumerate(seeds)))
    print(f"{sub}: {len(authors)} {CATEGORY} authors + 100 others; tip {folder / 'tip.csv'}: {', '.join(seeds)}")


def measure(db: Path, case_id: str) -> None:
    with Store(db, read_only=True) as s:
        rows = s.con.execute("""
            WITH cat AS (SELECT account_key FROM accounts a WHERE label = 'IRA:' || ? AND dataset = 'ira'
                         AND EXISTS (SELECT 1 FROM posts p WHERE p.account_key = a.account_key)),
                 m AS (SELECT m.*, a.label, a.dataset FROM case_members m JOIN accounts a USING (account_key)
                       WHERE case_id = ?)
            SELECT (SELECT count(*) FROM cat) - (SELECT count(*) FROM m WHERE hop = 0),
                   (SELECT count(*) FROM m WHERE hop > 0 AND account_key IN (SELECT * FROM cat)),
                   (SELECT count(*) FROM m WHERE hop > 0 AND dataset = 'ira' AND account_key NOT IN (SELECT * FROM cat)),
                   (SELECT count(*) FROM m)
        """, [CATEGORY, case_id]).fetchall()[0]
        others, found, other_ira, total = rows
        bg = s.con.execute("SELECT a.dataset, count(*) FROM case_members m JOIN accounts a USING (account_key) "
                           "WHERE case_id = ? AND a.dataset <> 'ira' GROUP BY ALL", [case_id]).fetchall()
        n_bg = s.con.execute("SELECT dataset, count(*) FROM accounts WHERE dataset <> 'ira' GROUP BY ALL").fetchall()
    print(f"case {case_id}: {total} accounts; {CATEGORY} recall {found}/{others} = {found / others:.3f}; "
          f"other IRA categories {other_ira}; background accounts in the case: {dict(bg) or 0} "
          f"(of {dict(n_bg)} in the store)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("folder", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("db", type=Path)
    m.add_argument("case_id")
    a = ap.parse_args()
    prepare(a.folder) if a.cmd == "prepare" else measure(a.db, a.case_id)
