"""The ``cibscope`` console script: a quiet stop while the command line is still loading, then the CLI.

Loading the CLI (Typer, DuckDB, PyArrow, ...) takes about a second. A Ctrl-C in that time printed an
import traceback, and a SIGTERM (``docker stop`` of a container that is starting) ended the process
without a word. Here either one ends it with one line on standard error and the status 128 + the
signal, before anything was read or written. The commands that have work to stop install their own
handlers (:func:`cibscope.cli.common.signals_interrupt`). A signal the parent set to be ignored (a
background job of a non-interactive shell ignores SIGINT) stays ignored.
"""
from __future__ import annotations

import signal
import sys

#: The stop signals handled while the CLI loads.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stopped_while_starting(signum: int, frame: object) -> None:
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    sys.stderr.write(f"stopped ({name}) while starting: nothing was read or written\n")
    raise SystemExit(128 + signum)


def main() -> None:
    """Run the ``cibscope`` command line (``cibscope.cli.app``) with the start-up window covered."""
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, handler in before.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, _stopped_while_starting)
    from .cli import app

    for s, handler in before.items():
        signal.signal(s, handler)
    app(prog_name="cibscope")
