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
          log_level: str = "warning", checkpoint_key: Optional[Path] = None,
          checkpoint_file: Optional[Path] = None, checkpoint_every: float = 60.0) -> None:
    """Serve the hub database ``db`` (SQLite path or SQLAlchemy URL) on ``host:port`` until stopped.

    With ``checkpoint_key`` and ``checkpoint_file``, a background thread signs the audit log's head every
    ``checkpoint_every`` seconds when it has changed (:func:`cibscope.share.audit.checkpoint`).
    """
    import uvicorn

    from .api import create_app
    from .http_limits import uvicorn_options
    if checkpoint_key or checkpoint_file:
        check_checkpoint_options(checkpoint_key, checkpoint_file)
    app = create_app(db)
    if checkpoint_key and checkpoint_file:
        start_checkpointer(app.state.hub.engine, Path(checkpoint_key), Path(checkpoint_file), checkpoint_every)
    uvicorn.run(app, host=host, port=port, log_level=log_level, **uvicorn_options())


class StartupError(ValueError):
    """A server option that would make the server run without what it was asked for; names the option."""


def check_checkpoint_options(key: Optional[Path], out: Optional[Path]) -> None:
    """Refuse to start with checkpoint options that could only fail later (a failure the checkpoint thread
    would just log): both given, ``--checkpoint-key`` an Ed25519 *private* key, ``--checkpoint-file``'s
    folder present.

    Raises
    ------
    StartupError
        Naming the option at fault.
    """
    from .audit import _load_private
    if key is None or out is None:
        raise StartupError("--checkpoint-key and --checkpoint-file go together")
    try:
        _load_private(Path(key))
    except OSError as exc:
        raise StartupError(f"--checkpoint-key {key}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise StartupError(f"--checkpoint-key {key}: not an Ed25519 private key in PEM "
                           f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    folder = Path(out).parent
    if not folder.is_dir():
        raise StartupError(f"--checkpoint-file {out}: no folder {folder}")
    if Path(out).exists() and not Path(out).is_file():
        raise StartupError(f"--checkpoint-file {out}: not a file")


def start_checkpointer(engine, key: Path, out: Path, every: float):
    """Start a daemon thread writing a signed checkpoint now and then every ``every`` seconds when the
    audit log's head moved; returns the thread. Errors (a log that does not verify) go to standard error."""
    import threading

    from . import audit

    def loop() -> None:
        done = None
        while True:
            try:
                now = audit.head(engine)
                if now != done:
                    audit.checkpoint(engine, key, out)
                    done = now
            except Exception as exc:  # noqa: BLE001 - keep serving; the operator sees the message
                print(f"audit checkpoint failed: {exc}", file=sys.stderr, flush=True)
            time.sleep(every)

    t = threading.Thread(target=loop, name="cibscope-audit-checkpoint", daemon=True)
    t.start()
    return t


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
    ap.add_argument("--checkpoint-key", help="Ed25519 private key signing audit checkpoints")
    ap.add_argument("--checkpoint-file", help="file the signed checkpoints are appended to")
    ap.add_argument("--checkpoint-every", type=float, default=60.0, help="seconds between checkpoints")
    args = ap.parse_args(argv)
    if args.checkpoint_key or args.checkpoint_file:
        try:
            check_checkpoint_options(args.checkpoint_key, args.checkpoint_file)
        except StartupError as exc:
            ap.error(str(exc))
    serve(args.db, args.host, args.port, checkpoint_key=args.checkpoint_key, checkpoint_file=args.checkpoint_file,
          checkpoint_every=args.checkpoint_every)


if __name__ == "__main__":
    main()
