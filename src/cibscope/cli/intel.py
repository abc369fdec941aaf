"""``cibscope intel ...``: import threat intelligence into a STIX 2.1 bundle (thin wrapper over
:func:`cibscope.intel.formats.run_import`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..intel.disarm import DisarmError
from ..intel.formats import FORMATS, run_import
from ..intel.meta import MetaImportError
from ..intel.plain_list import ListImportError
from ..intel.result import validate_objects
from ..intel.stix_bundle import BundleImportError
from ..share.markings import mark_for_sharing
from ..text import plural
from .common import ListPlatformOption, fail, lower_case, out

intel_app = typer.Typer(help="Import threat intelligence (Meta, DISARM, STIX, plain lists) as STIX 2.1.",
                        no_args_is_help=True)


@intel_app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., exists=True, help="File or folder to import."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help=f"One of {', '.join(FORMATS)} (detected)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Write the STIX 2.1 bundle here."),
    platform: Optional[str] = ListPlatformOption,
    previous: list[Path] = typer.Option([], "--previous", help="DISARM: older technique lists (MISP galaxy)."),
    validate: bool = typer.Option(False, "--validate", help="Run stix2-validator over the bundle (slow)."),
    show_errors: int = typer.Option(20, "--show-errors", help="How many import errors to print."),
    purpose: list[str] = typer.Option([], "--purpose", help="Mark for sharing: a permitted purpose (repeat for "
                                      "several); every object gets --tlp and this purpose marking."),
    tlp: str = typer.Option("clear", "--tlp", callback=lower_case, help="TLP 2.0 level of objects without one (with --purpose)."),
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
        fail(str(exc))
    rep = None
    if validate:  # before anything is printed or written: invalid objects move to the errors (docs/intel.md)
        rep = validate_objects(result.objects)
        result.drop_invalid(rep, str(path) if len(result.summaries) <= 1 else "")
    for s in result.summaries:
        out.print(escape(s.line()), highlight=False)
        for n in s.notes:
            out.print(f"  {escape(n)}", highlight=False)
    for e in result.errors[:show_errors]:
        out.print(f"  [yellow]error:[/yellow] {escape(str(e))}", highlight=False)
    if len(result.errors) > show_errors:
        out.print(f"  ... {plural(len(result.errors) - show_errors, 'more error')}")
    result.write_bundle(out_file)
    out.print(f"{out_file}: {plural(len(result.objects), 'object')}, {plural(len(result.errors), 'import error')}")
    if rep is not None:
        out.print(f"stix2-validator: {plural(len(rep.errors), 'error')}, {plural(rep.warnings, 'warning')} "
                  "(invalid objects moved to the import errors, not written)")
        for e in rep.errors[:show_errors]:
            out.print(f"  [red]invalid:[/red] {escape(e)}", highlight=False)
        if rep.errors:
            raise typer.Exit(code=1)

