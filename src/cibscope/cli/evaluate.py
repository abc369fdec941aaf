"""``cibscope evaluate``: a run's account-level quality against known labels (:mod:`cibscope.evaluate`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .common import DbOption, fail, latest_run, open_store, out, out_file


def evaluate(
    run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="CSV with account_key,label (or account,label: bare names) of known accounts; "
                               "every label is a positive category except --negative-label's. A file with "
                               "several labels needs --negative-label or --all-positive."),
    negative_label: Optional[list[str]] = typer.Option(
        None, "--negative-label", help="A label of --labels that marks known negatives, e.g. organic (exact; "
                                       "repeat)."),
    all_positive: bool = typer.Option(False, "--all-positive", help="Every label of --labels is an operation "
                                      "category (the file lists no negatives)."),
    label_prefix: str = typer.Option("IRA:", "--label-prefix", help="Positives: accounts.label with this prefix."),
    min_posts: int = typer.Option(20, "--min-posts", min=1, help="Only accounts with at least this many posts."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    db: Path = DbOption,
) -> None:
    """Account-level precision, recall, F1, PR-AUC and AMI of a run against known labels."""
    import json

    from ..evaluate import check_label_roles, evaluate as evaluate_run, read_labels

    if (negative_label or all_positive) and not labels:
        fail("--negative-label and --all-positive apply to --labels only")
    if negative_label and all_positive:
        fail("--negative-label and --all-positive exclude each other: name the negatives' label, or say every "
             "label is an operation category")
    if json_out:
        out_file(json_out, "--json")
    known = None
    if labels:
        try:
            known = read_labels(labels)
        except ValueError as exc:
            fail(f"--labels {exc}")
        try:
            check_label_roles(known, negative_label or (), all_positive=all_positive)
        except ValueError as exc:
            fail(f"--labels {labels}: {exc}")
    with open_store(db, read_only=True) as store:
        run = latest_run(store, run, db)
        if not labels and not store.con.execute("SELECT count(*) FROM accounts WHERE starts_with(label, ?)",
                                                [label_prefix]).fetchone()[0]:
            fail(f"{db}: no account has a label starting with {label_prefix!r}: pass --labels FILE "
                 "(account_key,label) or the prefix of the stored labels with --label-prefix")
        try:
            res = evaluate_run(store, run, labels=known,
                               label_prefix=None if labels else label_prefix, min_posts=min_posts,
                               negative_labels=tuple(negative_label or ()))
        except ValueError as exc:
            fail(str(exc))
    if labels:
        sample = ", ".join(res["labels_unmatched_sample"])
        out.print(f"labels: {res['labels_matched']:,} of {res['labels_matched'] + res['labels_unmatched']:,} "
                  f"matched an account; {res['labels_unmatched']:,} did not" + (f" (e.g. {sample})" if sample else ""))
    out.print(f"run {res['run_id']}, accounts with >= {res['min_posts']} posts: {res['n_accounts']:,} "
              f"({res['n_positive']:,} positive, {res['n_flagged']:,} flagged)")
    def num(v: Optional[float]) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    out.print(f"precision {num(res['precision'])}  recall {res['recall']:.3f}  F1 {res['f1']:.3f}  "
              f"PR-AUC {num(res['pr_auc'])}  (TP {res['tp']}, FP {res['fp']}, FN {res['fn']})")
    b = res["baseline"]
    out.print(f"baseline, every clustered account ({b['n_flagged']:,}): precision {num(b['precision'])}  "
              f"recall {b['recall']:.3f}  F1 {b['f1']:.3f}; PR-AUC of a random score {b['pr_auc']:.3f}")
    rk = res["ranking"]
    at = "  ".join(f"precision at recall {r} {num(v)}" for r, v in rk["precision_at_recall"].items())
    out.print(f"account suspicion ranking (tiers: flagged cluster, significant edge, broadcast share; "
              f"docs/detection.md): PR-AUC {num(rk['pr_auc'])}  {at}")
    for w in res["warnings"]:
        out.print(f"[yellow]warning:[/yellow] {escape(w)}")
    ami = "n/a" if res["ami"] is None else f"{res['ami']:.3f}"
    out.print(f"AMI clusters vs categories: {ami} ({res['ami_n']} clustered positives in {res['ami_clusters']} "
              "clusters)")
    t = Table("category", "accounts", "flagged", "recall", "precision")
    for c in res["categories"]:
        t.add_row(c["category"], str(c["n"]), str(c["flagged"]), f"{c['recall']:.3f}", num(c["precision"]))
    out.print(t)
    t = Table("dataset", "accounts", "positive", "flagged positive", "negative", "flagged negative")
    for d in res["datasets"]:
        t.add_row(d["dataset"], str(d["n"]), str(d["n_positive"]), str(d["flagged_positive"]),
                  str(d["n_negative"]), str(d["flagged_negative"]))
    out.print(t)
    if json_out:
        json_out.write_text(json.dumps(res, indent=2))
