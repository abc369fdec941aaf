"""Run the TAXII 2.1 server with Uvicorn: ``cibscope serve-taxii`` or ``python -m cibscope.share.serve``.

The module entry point imports only the sharing hub (not the detection pipeline), so
a server process starts in about two seconds. :func:`spawn`, :func:`start_process`
and :func:`stop` run a server (ours or a peer such as medallion) as a child process on
a free loopback port; the tests and ``bench/taxii_load.py`` use them.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .store import DEFAULT_HUB_DB


def serve(db: str | Path = DEFAULT_HUB_DB, host: str = "127.0.0.1", port: int = 9000,
          log_level: str = "warning") -> None:
    """Serve the hub database ``db`` (SQLite path or SQLAlchemy URL) on ``host:port`` until stopped."""
    import uvicorn

    from .api import create_app
    uvicorn.run(create_app(db), host=host, port=port, log_level=log_level)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_process(cmd: Sequence[str], port: int, host: str = "127.0.0.1",
                  env: Optional[Mapping[str, str]] = None, timeout: float = 60.0) -> subprocess.Popen:
    """Start ``cmd`` and wait until it accepts TCP connections on ``host:port``.

    Its standard output is discarded and its standard error goes to a temporary file
    (a pipe could fill up and block a chatty server).

    Raises
    ------
    RuntimeError
        With the process's standard error, if it exits or does not listen within ``timeout`` seconds.
    """
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=log,
                            env=dict(env) if env is not None else None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    stop(proc)
    log.seek(0)
    raise RuntimeError(f"{' '.join(cmd)} did not listen on {host}:{port}: "
                       f"{log.read().decode(errors='replace')[-2000:]}")


def spawn(db: str | Path, port: Optional[int] = None,
          env: Optional[Mapping[str, str]] = None) -> tuple[subprocess.Popen, str]:
    """Run ``python -m cibscope.share.serve`` on ``db`` at 127.0.0.1; return the process and base URL."""
    port = port or free_port()
    proc = start_process([sys.executable, "-m", "cibscope.share.serve", "--db", str(db), "--port", str(port)],
                         port, env={**os.environ, **(env or {})})
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate ``proc`` (SIGTERM, then SIGKILL after ``timeout`` seconds) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
