"""A throw-away PostgreSQL cluster for tests: ``initdb`` into a temporary folder, ``pg_ctl start`` on
127.0.0.1 (free port, Unix socket in the same folder), databases cloned from templates, stopped and
removed at the end.

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` system user
(``runuser -u postgres --``) in a folder that user owns. Binaries are looked up on ``PATH`` and
then in Debian's ``/usr/lib/postgresql/<major>/bin`` (the newest major). Durability is switched
off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the cluster lives for one test
session, and the tests kill our server processes, never PostgreSQL.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from cibscope.share.serve import free_port

USER = "cibscope"  # the cluster's superuser (trust authentication on loopback and the socket only)


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when PostgreSQL is absent."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    lib = Path("/usr/lib/postgresql")
    if lib.is_dir():
        majors = sorted((p for p in lib.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
        candidates += [p / "bin" for p in majors]
    for d in candidates:
        if all((d / exe).exists() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _scratch_dir() -> str | None:
    """``/dev/shm`` when it is a writable folder with 1 GiB free (creating a database there takes 0.1 s
    instead of 1 s on a busy disk), else the default temporary folder."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= 2**30:
        return shm
    return None


class PgCluster:
    """One running PostgreSQL cluster; :meth:`start` raises ``RuntimeError`` with the server log on failure."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="cibscope-pg-", dir=_scratch_dir()))
        self.run_as = None
        if os.geteuid() == 0:
            import pwd
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run PostgreSQL as") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.run_as = "postgres"
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = 0
        self.version = ""

    def _run(self, *args: str) -> str:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr[-2000:]}\n{log}")
        return res.stdout

    def start(self) -> "PgCluster":
        """``initdb`` (UTF-8, C.UTF-8 locale) and ``pg_ctl start`` listening on 127.0.0.1 only."""
        self.version = self._run("postgres", "--version").strip()  # "postgres (PostgreSQL) 15.18 (...)"
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        self.port = free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            if self.port:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) of ``database`` on this cluster."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; return its URL."""
        return create_database(self.url(), f"t_{uuid.uuid4().hex[:16]}")


def _on_server(url: str, *statements: str) -> sa.engine.URL:
    """Run ``statements`` outside a transaction in the ``postgres`` database of ``url``'s server;
    return that server's URL."""
    server = sa.engine.make_url(url).set(database="postgres")
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
    finally:
        engine.dispose()
    return server


def create_database(url: str, name: str, template: str | None = None, replace: bool = False) -> str:
    """Create database ``name`` on the server of ``url`` (a copy of ``template``, which must have no
    open connection, when given; dropping an existing ``name`` first when ``replace``); return its URL.
    Needs PostgreSQL 15 or later (``STRATEGY FILE_COPY``: faster than WAL_LOG for a small template)."""
    clone = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
    drop = [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"] if replace else []
    server = _on_server(url, *drop, f"CREATE DATABASE {name}{clone}")
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database of ``url``, closing any connection still open to it."""
    _on_server(url, f"DROP DATABASE IF EXISTS {database_of(url)} WITH (FORCE)")


def database_of(url: str) -> str:
    """The database name in a SQLAlchemy URL."""
    return str(sa.engine.make_url(url).database)
