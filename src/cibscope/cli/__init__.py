"""The ``cibscope`` command line: a thin Typer wrapper over the Python API.

Every command takes ``--db`` (default ``./cibscope.duckdb``). Long steps show
Rich progress bars on standard error when it is a terminal, and one plain line per
step otherwise (CI logs, ``| tee``); results go to standard output.

Layout: :mod:`.common` holds what every command shares (consoles, the one error exit,
opening the store, shared options, detection parameters from options); each other module
is one command group and only defines its commands; this module builds :data:`app` from
them, in the order ``cibscope --help`` lists them. The pipeline stages never import this
package (``tests/test_cli_package.py`` checks it).

Heavy libraries (Ibis, SciPy, igraph, datasketch, stix2) are imported by the steps
that use them, not here, so ``cibscope --help`` starts quickly
(``tests/test_cli_output.py`` checks it).
"""
from __future__ import annotations

import typer

from . import cases, demo, detect, evaluate, explain, ingest, intel, runs, search, share, store, watch, web


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("cibscope")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            v = "unknown"
        print(f"cibscope {v}")
        raise typer.Exit()


app = typer.Typer(help="Find coordinated inauthentic behaviour (CIB) and share it as STIX 2.1.",
                  no_args_is_help=True, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the cibscope version and exit.")) -> None:
    """Find coordinated inauthentic behaviour (CIB) and share it as STIX 2.1."""


#: Top-level commands, in the order of ``cibscope --help``: (name, function).
COMMANDS = (
    ("ingest", ingest.ingest), ("status", store.status), ("export", store.export_cmd),
    ("import", store.import_cmd), ("detect", detect.detect), ("report", runs.report),
    ("export-graph", runs.export_graph), ("runs", runs.runs), ("search", search.search),
    ("suggest-window", detect.suggest_window), ("demo", demo.demo), ("evaluate", evaluate.evaluate),
    ("explain", explain.explain), ("serve-taxii", share.serve_taxii), ("disarm-tags", cases.disarm_tags),
    ("serve", web.serve), ("watch", watch.watch),
)
#: Command groups (``cibscope GROUP COMMAND``), listed after the commands: (name, Typer app).
GROUPS = (
    ("admin", share.admin_app), ("audit", share.audit_app), ("share", share.share_app), ("intel", intel.intel_app),
    ("tip", cases.tip_app), ("case", cases.case_app), ("web", web.web_app),
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)
for _name, _group in GROUPS:
    app.add_typer(_group, name=_name)


def main() -> None:  # pragma: no cover - console entry
    """Run the command line (what the ``cibscope`` script does)."""
    app()


__all__ = ["COMMANDS", "GROUPS", "app", "main"]
