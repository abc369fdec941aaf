"""``cibscope intel ...``: import threat intelligence into a STIX 2.1 bundle (thin wrapper).

``register(app)`` adds the ``intel`` command group to the main Typer app.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..share.markings import mark_for_sharing
from .disarm import DisarmError, import_disarm
from .meta import MetaImportError, import_meta, import_meta_folder
from .plain_list import ListImportError, import_plain_list
from .result import ImportResult, validate_objects
from .stix_bundle import BundleImportError, import_stix_bundle

FORMATS = ("meta", "disarm", "stix", "list")
intel_app = typer.Typer(help="Import threat intelligence (Meta, DISARM, STIX, plain lists) as STIX 2.1.",
                        no_args_is_help=True)
_err = Console(stderr=True)
_out = Console(soft_wrap=True)


def detect_format(path: Path) -> str:
    """Guess the ``--format`` of a file or folder from its name and first bytes."""
    if path.is_dir():
        return "disarm" if (path / "generated_files").is_dir() else "meta"
    name = path.name.lower()
    if path.suffix.lower() == ".md" or path.suffix.lower() == ".csv" and name != "list.csv":
        head = path.read_text(encoding="utf-8-sig", errors="replace")[:400].lower()
        if path.suffix.lower() == ".md" or head.startswith(("indicator_type", "tactic")):
            return "meta"
        return "list"
    if path.suffix.lower() == ".json":
        head = path.read_text(encoding="utf-8-sig", errors="replace")[:2000]
        if '"indicator_type"' in head:
            return "meta"
        if name == "disarm.json":
            return "disarm"
        return "stix"
    return "list"


def run_import(path: Path, fmt: str | None = None, platform: str | None = None,
               previous: list[Path] | None = None) -> ImportResult:
    """Import ``path`` with the importer of ``fmt`` (detected when None).

    Raises
    ------
    ValueError
        Unknown format.
    MetaImportError, DisarmError, BundleImportError, ListImportError
        The input cannot be read.
    """
    fmt = fmt or detect_format(path)
    if fmt == "meta":
        return import_meta_folder(path) if path.is_dir() else import_meta(path)
    if fmt == "disarm":
        return import_disarm(path, previous=previous or [])
    if fmt == "stix":
        return import_stix_bundle(path)
    if fmt == "list":
        return import_plain_list(path, platform=platform)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


@intel_app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., exists=True, help="File or folder to import."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help=f"One of {', '.join(FORMATS)} (detected)."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the STIX 2.1 bundle here."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Platform of bare handles in a list."),
    previous: list[Path] = typer.Option([], "--previous", help="DISARM: older technique lists (MISP galaxy)."),
    validate: bool = typer.Option(False, "--validate", help="Run stix2-validator over the bundle (slow)."),
    show_errors: int = typer.Option(20, "--show-errors", help="How many import errors to print."),
    purpose: list[str] = typer.Option([], "--purpose", help="Mark for sharing: a permitted purpose (repeat for "
                                      "several); every object gets --tlp and this purpose marking."),
    tlp: str = typer.Option("clear", "--tlp", help="TLP 2.0 level of objects without one (with --purpose)."),
    legal_basis: str = typer.Option("published threat research", "--legal-basis",
                                    help="Legal basis written into the purpose marking (with --purpose)."),
    retention_days: int = typer.Option(365, "--retention-days", help="Days the hub serves the objects."),
) -> None:
    """Import FILE into a STIX 2.1 bundle; print one summary line per input file and the errors.

    With --purpose the bundle is ready for a cibscope hub (`cibscope share push`): every object
    carries one TLP 2.0 marking (its own, else --tlp) and one purpose-limitation marking.
    """
    try:
        result = run_import(path, fmt, platform, previous)
        if purpose:
            result.objects = mark_for_sharing(result.objects, tlp.lower(), purpose, legal_basis, retention_days)
    except (ValueError, MetaImportError, DisarmError, BundleImportError, ListImportError) as exc:
        _err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(code=2)
    rep = None
    if validate:  # before anything is printed or written: invalid objects move to the errors (docs/intel.md)
        rep = validate_objects(result.objects)
        result.drop_invalid(rep, str(path) if len(result.summaries) <= 1 else "")
    for s in result.summaries:
        _out.print(escape(s.line()), highlight=False)
        for n in s.notes:
            _out.print(f"  {escape(n)}", highlight=False)
    for e in result.errors[:show_errors]:
        _out.print(f"  [yellow]error:[/yellow] {escape(str(e))}", highlight=False)
    if len(result.errors) > show_errors:
        _out.print(f"  ... {len(result.errors) - show_errors:,} more errors")
    result.write_bundle(out)
    _out.print(f"{out}: {len(result.objects):,} objects, {len(result.errors):,} import errors")
    if rep is not None:
        _out.print(f"stix2-validator: {len(rep.errors):,} errors, {rep.warnings:,} warnings "
                   "(invalid objects moved to the import errors, not written)")
        for e in rep.errors[:show_errors]:
            _out.print(f"  [red]invalid:[/red] {escape(e)}", highlight=False)
        if rep.errors:
            raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the ``intel`` command group to ``app``."""
    app.add_typer(intel_app, name="intel")
