"""Run the TAXII 2.1 server with Uvicorn: ``cibscope serve-taxii`` or ``python -m cibscope.share.serve``.

The module entry point imports only the sharing hub (not the detection pipeline), so
a server process starts in about two seconds; tests and ``bench/taxii_load.py`` use it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .store import DEFAULT_HUB_DB


def serve(db: str | Path = DEFAULT_HUB_DB, host: str = "127.0.0.1", port: int = 9000,
          log_level: str = "warning") -> None:
    """Serve the hub database ``db`` (SQLite path or SQLAlchemy URL) on ``host:port`` until stopped."""
    import uvicorn

    from .api import create_app
    uvicorn.run(create_app(db), host=host, port=port, log_level=log_level)


def main(argv: list[str] | None = None) -> None:
    """``python -m cibscope.share.serve --db hub.sqlite --host 127.0.0.1 --port 9000``."""
    ap = argparse.ArgumentParser(prog="python -m cibscope.share.serve", description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=DEFAULT_HUB_DB, help="SQLite file or SQLAlchemy URL")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    args = ap.parse_args(argv)
    serve(args.db, args.host, args.port)


if __name__ == "__main__":
    main()
