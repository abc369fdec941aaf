"""``cibscope demo``: the main job on the shipped IRA sample."""
from __future__ import annotations

from pathlib import Path

import typer

from ..detect import DetectionParams
from ..ingest import IngestError, ingest as ingest_path
from ..text import plural
from .common import DbOption, fail, open_store, out, out_folder
from .detect import run_detection, write_run


def demo(
    sample: Path = typer.Argument(Path("data/sample/ira-sample"), help="The shipped real IRA sample."),
    out_dir: Path = typer.Option(Path("out"), "--out", file_okay=False,
                                 help="Folder for report.html, bundle.json, CSVs (created if missing)."),
    db: Path = DbOption,
) -> None:
    """The main job on the shipped sample: ingest, detect (60 s, 10 min and 1 h scales), write out/."""
    out_folder(out_dir)
    with open_store(db) as store:
        try:
            summary = ingest_path(store, sample, fmt="ira-csv", dataset="ira-sample")
        except IngestError as exc:
            fail(str(exc))
        out.print(f"{sample}: " + ("already ingested" if summary.skipped else
                                   f"{plural(summary.posts_added, 'post')}, {plural(summary.errors, 'bad record')}"))
        run_id = run_detection(store, DetectionParams(datasets=["ira-sample"]))
        write_run(store, run_id, out_dir, "amber", 50)
    out.print(f"open {out_dir / 'report.html'}")
