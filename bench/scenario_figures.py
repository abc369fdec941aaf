#!/usr/bin/env python3
"""Print the figures docs/evaluation.md quotes for the adversarial and trend scenarios, at default parameters.

Builds the stores of ``tests/test_detect_scenarios.py`` (background and every scenario) and of
``tests/test_detect_null.py``'s trend scenarios (``_null_data.trend_scenario_rows``) with the tests' own
data generators, runs ``detect`` once per store and prints, per scenario, the flagged clusters *due to* it
(accounts, co-action events, expected, lift, overlap, scale) and, for the trend stores, every cluster
holding surfers (``su*``) or operation accounts (``hop*``). About 3 minutes on 2 cores.

Usage::

    python bench/scenario_figures.py [--work /tmp/scenario_figures]
    python bench/scenario_figures.py --params '{"max_object_accounts_mid": 200, "max_object_accounts_slow": 200}'
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import scenarios as S  # noqa: E402  (the tests' data generators)
from _null_data import trend_scenario_rows, write_posts  # noqa: E402
from test_detect_scenarios import N_BG, PREFIXES, Run  # noqa: E402

from cibscope.detect import DetectionParams, detect  # noqa: E402
from cibscope.ingest import ingest  # noqa: E402
from cibscope.store.db import Store  # noqa: E402


def scenarios(work: Path, params: dict) -> None:
    bg, rows, sets = S.world(N_BG)
    with Store(work / "scenarios.duckdb") as store:
        ingest(store, write_posts(work / "bg.csv", bg), fmt="cnt-csv")
        ingest(store, write_posts(work / "sc.csv", rows), fmt="cnt-csv")
        run = Run(store, detect(store, DetectionParams(**params)).run_id)
        for name, prefixes in PREFIXES.items():
            for c in run.due_to(prefixes).values():
                extra = f", {len(c['members'] & sets['fans'])} fans" if name == "fans" else ""
                print(f"{name}: {c['n']} accounts{extra}, {c['coactions']:,} events vs {c['expected']:,.1f}, "
                      f"lift {c['lift']:.1f}, overlap {c['overlap']:.3f}, {c['scale']:g} s")
        print(f"flagged accounts in the store: {len(run.flagged_accounts)}")


def trends(work: Path) -> None:
    for same in (False, True):
        with Store(work / f"trends-{same}.duckdb") as store:
            ingest(store, write_posts(work / f"trends-{same}.csv", trend_scenario_rows(same)), fmt="cnt-csv")
            for label, params in (("defaults", DetectionParams()),
                                  ("trends at 60 s", DetectionParams(max_object_accounts_mid=100))):
                run_id = detect(store, params).run_id
                rows = store.con.execute("""
                    SELECT c.flagged, c.n_accounts, c.scale_s, c.lift, c.overlap, c.hour_lift,
                           count(*) FILTER (WHERE m.account_key LIKE 'twitter:su%'),
                           count(*) FILTER (WHERE m.account_key LIKE 'twitter:hop%')
                    FROM clusters c JOIN cluster_members m USING (run_id, cluster_id) WHERE c.run_id = ?
                    GROUP BY ALL HAVING count(*) FILTER (WHERE m.account_key LIKE 'twitter:su%'
                                                          OR m.account_key LIKE 'twitter:hop%') >= 20
                    ORDER BY 2 DESC""", [run_id]).fetchall()
                print(f"trends, {'the surfers' if same else 'own'} trends, {label}:")
                for f, n, sc, lift, ov, hl, su, op in rows:
                    print(f"  {'flagged' if f else 'not flagged'}: {n} accounts ({su} surfers, {op} operation), "
                          f"{sc:g} s, lift {lift:.1f}, overlap {ov:.3f}, hourly lift "
                          f"{'-' if hl is None else f'{hl:.1f}'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/scenario_figures"))
    ap.add_argument("--params", default="{}", help="DetectionParams fields as JSON for the scenario store "
                    "(default: the defaults); with it the trend stores are skipped")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    for f in a.work.glob("*.duckdb*"):
        f.unlink()
    params = json.loads(a.params)
    scenarios(a.work, params)
    if not params:
        trends(a.work)


if __name__ == "__main__":
    main()
