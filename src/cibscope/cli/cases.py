"""``cibscope tip ...`` and ``cibscope case ...``: partner tips to cases (thin wrapper over :mod:`cibscope.cases`).

Also ``disarm-tags`` (DISARM tags of a run's flagged clusters, :mod:`cibscope.explain.disarm`).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..cases.expand import CaseError, expand_case
from ..cases.match import match_tip
from ..cases.tips import TipError, ingest_tip
from ..text import plural
from .common import DbOption, ListPlatformOption, fail, lower_case, open_store, out

tip_app = typer.Typer(help="Record partner tips and match their indicators against the store.", no_args_is_help=True)
case_app = typer.Typer(help="Grow a case from a tip through the coordination network and report it.",
                       no_args_is_help=True)


@tip_app.command("ingest")
def tip_ingest(
    path: Path = typer.Argument(..., help="Tip file: Meta indicators, STIX bundle, or a plain list."),
    partner: str = typer.Option(..., "--from", help="Organisation that sent the tip."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose it was shared for, e.g. criminal-investigation."),
    tlp: str = typer.Option("amber", "--tlp", callback=lower_case, help="TLP 2.0 level: clear, green, amber, amber+strict, red."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="meta, disarm, stix or list (detected)."),
    platform: Optional[str] = ListPlatformOption,
    db: Path = DbOption,
) -> None:
    """Record a tip with its provenance; ingesting the same file from the same partner again adds nothing."""
    with open_store(db) as store:
        try:
            s = ingest_tip(store, path, partner_org=partner, purpose=purpose, tlp=tlp, fmt=fmt, platform=platform)
        except TipError as exc:
            fail(str(exc))
    state = "already recorded" if s.skipped else "recorded"
    out.print(f"tip {s.tip_id} {state}: {s.path} [{s.format}] from {escape(s.partner_org)}: {s.n_objects:,} "
              f"STIX objects, {s.n_indicators:,} matchable values, {s.n_errors:,} import errors", highlight=False)
    if not s.n_indicators:
        out.print(f"  note: nothing in post data can match tip {s.tip_id} (no handle, user id, URL or domain: "
                  "e.g. IP addresses, app packages or counts only); it is kept and can be shared as STIX "
                  f"(`cibscope tip export {s.tip_id} --out tip.json`)", highlight=False)


@tip_app.command("export")
def tip_export(tip: str = typer.Argument(..., help="Tip id (from `tip ingest`)."),
               out_file: Path = typer.Option(..., "--out", "-o", help="Write the STIX 2.1 bundle here."),
               db: Path = DbOption) -> None:
    """Write a tip's STIX objects as a STIX 2.1 bundle, marked with its TLP and purpose (ready for `share push`)."""
    from ..cases.tips import tip_objects
    from ..intel.result import ImportResult
    from ..share.markings import mark_for_sharing

    with open_store(db, read_only=True) as store:
        try:
            objs = list(tip_objects(store, tip).values())
        except KeyError as exc:
            fail(str(exc.args[0]))
        tlp, purpose, partner = store.con.execute("SELECT tlp, purpose, partner_org FROM tips WHERE tip_id = ?",
                                                  [tip]).fetchall()[0]
    res = ImportResult()
    for o in mark_for_sharing(objs, tlp, [purpose], f"partner tip from {partner}"):
        res.add(o)
    res.write_bundle(out_file)
    out.print(f"{out_file}: {plural(len(res.objects), 'object')} of tip {tip} (TLP:{tlp.upper()}, purpose {purpose})")


@tip_app.command("match")
def tip_match(tip: Optional[str] = typer.Option(None, "--tip", help="Tip id (default: every tip)."),
              db: Path = DbOption) -> None:
    """Find the accounts and posts touching the tip's indicators (writes tip_matches)."""
    with open_store(db) as store:
        ids = [tip] if tip else [r[0] for r in store.con.execute("SELECT tip_id FROM tips ORDER BY 1").fetchall()]
        if not ids:
            fail(f"{db}: no tip recorded (run `cibscope tip ingest` first)")
        for t in ids:
            try:
                counts = match_tip(store, t)
            except KeyError as exc:
                fail(str(exc.args[0]))
            n_acc = store.con.execute("SELECT count(DISTINCT account_key) FROM tip_matches WHERE tip_id = ?",
                                      [t]).fetchall()[0][0]
            detail = ", ".join(f"{n:,} {k}" for k, n in counts.items()) or "no match"
            out.print(f"tip {t}: {plural(n_acc, 'account')} touched ({detail})", highlight=False)


@case_app.command("expand")
def case_expand(
    tip: str = typer.Option(..., "--tip", help="Tip id (see `cibscope tip ingest`)."),
    run: Optional[int] = typer.Option(None, "--run", help="Detection run (default: the latest)."),
    hops: int = typer.Option(2, "--hops", help="Maximum hops from a seed account."),
    max_q: Optional[float] = typer.Option(None, "--max-q", help="Follow edges with q <= this (default: run alpha)."),
    min_links: int = typer.Option(1, "--min-links", help="Edges into the case an account needs to join."),
    out_dir: Path = typer.Option(Path("case"), "--out", file_okay=False, help="Folder for case.html and case-bundle.json."),
    validate: bool = typer.Option(True, "--validate/--no-validate",
                                  help="Check the bundle with stix2-validator before writing it."),
    db: Path = DbOption,
) -> None:
    """Grow a case from the tip's matched accounts and write its HTML report and STIX bundle."""
    from ..cases.report import write_case

    with open_store(db) as store:
        try:
            res = expand_case(store, tip, run, hops=hops, max_q=max_q, min_links=min_links)
        except CaseError as exc:
            fail(str(exc))
        out.print(f"case {res.case_id}: {res.n_seeds:,} seed accounts + "
                  f"{res.n_members - res.n_seeds:,} added (per hop: {res.added_per_hop}) "
                  f"through run {res.run_id}", highlight=False)
        labels = store.con.execute("SELECT coalesce(a.label, '(unlabelled)'), count(*) FROM case_members m JOIN "
                                   "accounts a USING (account_key) WHERE case_id = ? GROUP BY ALL ORDER BY 2 DESC",
                                   [res.case_id]).fetchall()
        out.print("  by label: " + ", ".join(f"{lab} {n:,}" for lab, n in labels), highlight=False)
        try:
            paths = write_case(store, res.case_id, out_dir, validate=validate)
        except ValueError as exc:
            fail(str(exc))
    for name, p in paths.items():
        out.print(f"  {name}: {p}")


def disarm_tags(run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
                as_json: bool = typer.Option(False, "--json", help="Print the tags with evidence as JSON."),
                db: Path = DbOption) -> None:
    """DISARM v1.6 techniques supported by each flagged cluster of a run, with their evidence."""
    from ..explain.disarm import tag_run

    with open_store(db, read_only=True) as store:
        if run is None:
            from ..store.db import latest_run_id
            run = latest_run_id(store.con)
        if run is None:
            fail(f"{db}: no detection run (run `cibscope detect` first)")
        tags = tag_run(store, run)
    if as_json:
        out.print_json(json.dumps({c: [dataclasses.asdict(t) for t in ts] for c, ts in tags.items()}))
        return
    t = Table("cluster", "technique", "tactic", "behaviour")
    for cid, ts in tags.items():
        for tag in ts:
            t.add_row(cid, f"{tag.disarm_id} {tag.name}", tag.tactic_name, tag.behaviour)
    out.print(t)

