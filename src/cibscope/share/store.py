"""The hub's data layer: SQLAlchemy Core over SQLite (default) or PostgreSQL (by URL).

Tables: ``api_roots``, ``collections``, ``orgs``, ``users``, ``tokens``, ``rights``,
``objects`` (one row per object version, with the policy attributes resolved at write
time), ``statuses`` and ``audit``. Writers are serialised and a POST is committed whole
or not at all: on SQLite the file runs in WAL mode and every write transaction starts
with ``BEGIN IMMEDIATE``; on PostgreSQL (READ COMMITTED) it first takes a
``SHARE ROW EXCLUSIVE`` lock on ``audit``, which conflicts with itself and not with
readers. ``date_added`` is assigned inside that lock and is strictly increasing, which
makes incremental pulls by ``added_after`` lossless.

Timestamps are stored as STIX timestamp strings normalised to microseconds
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``, UTC), which sort lexicographically in time order.
"""
from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from . import DEFAULT_HUB_DB  # noqa: F401 - the hub's default database, re-exported

metadata = sa.MetaData()

api_roots = sa.Table(
    "api_roots", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("max_content_length", sa.Integer, nullable=False),
)
collections = sa.Table(
    "collections", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("api_root", sa.Text, sa.ForeignKey("api_roots.name"), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
)
orgs = sa.Table(
    "orgs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, unique=True, nullable=False),
    sa.Column("sector", sa.Text, nullable=False),
)
users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, unique=True, nullable=False),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("password_hash", sa.Text),
)
tokens = sa.Table(
    "tokens", metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("label", sa.Text),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)
rights = sa.Table(
    "rights", metadata,
    sa.Column("collection_id", sa.Text, sa.ForeignKey("collections.id"), primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("can_read", sa.Boolean, nullable=False),
    sa.Column("can_write", sa.Boolean, nullable=False),
)
objects = sa.Table(
    "objects", metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("collection_id", sa.Text, sa.ForeignKey("collections.id"), nullable=False),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("spec_version", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("date_added", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("tlp", sa.Text),
    sa.Column("purposes", sa.Text),           # JSON list, NULL for marking/extension definitions
    sa.Column("recipient_orgs", sa.Text),     # JSON list
    sa.Column("recipient_users", sa.Text),    # JSON list
    sa.Column("expires_at", sa.Text),
    sa.Column("producer_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("producer_org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.UniqueConstraint("collection_id", "id", "version", name="uq_object_version"),
    sa.Index("ix_objects_added", "collection_id", "date_added", "pk"),
    sa.Index("ix_objects_id", "collection_id", "id", "version"),
)
statuses = sa.Table(
    "statuses", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("api_root", sa.Text, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)
#: Organisations that posted an identical copy of a marking-definition another organisation stored first
#: (they may then reference it without sending it again; docs/sharing.md, "Ownership and immutability").
marking_endorsements = sa.Table(
    "marking_endorsements", metadata,
    sa.Column("collection_id", sa.Text, sa.ForeignKey("collections.id"), primary_key=True),
    sa.Column("marking_id", sa.Text, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True),
)
#: Server secrets (``next_key``: the AES-256-GCM key that makes ``next`` tokens opaque), created on first use.
hub_secrets = sa.Table(
    "hub_secrets", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
audit = sa.Table(
    "audit", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("org", sa.Text),
    sa.Column("sector", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text),
    sa.Column("collection_id", sa.Text),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)

#: DDL making ``audit`` append-only, per dialect (PostgreSQL: 14 or later, for CREATE OR REPLACE TRIGGER).
_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
)
_POSTGRESQL_APPEND_ONLY = (
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$",
    "CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE OR REPLACE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
)
#: Key of the PostgreSQL advisory lock that serialises schema creation between processes.
_SCHEMA_LOCK = 0x63696273  # "cibs"


def db_url(db: str | Path) -> str:
    """Turn a file path or a database URL into a SQLAlchemy URL (paths become SQLite files)."""
    s = str(db)
    return s if "://" in s else f"sqlite:///{Path(s).expanduser().resolve()}"


def make_engine(db: str | Path) -> Engine:
    """Create the engine and the schema.

    Parameters
    ----------
    db : str or Path
        A SQLite file path, or a SQLAlchemy URL such as ``postgresql+psycopg://user@host:5432/hub``
        (PostgreSQL 14 or later, driver ``psycopg``: ``pip install cibscope[postgres]``).

    Notes
    -----
    Both backends make ``audit`` append-only with triggers (UPDATE, DELETE; on PostgreSQL also
    TRUNCATE). Strings are ``TEXT`` everywhere: SQLite ignores declared lengths, PostgreSQL would
    fail the whole request on an over-long value (a declared purpose, a collection id in a path).
    """
    url = db_url(db)
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("cibscope_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # several server processes may start at once
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
        metadata.create_all(conn)
        for ddl in {"sqlite": _SQLITE_APPEND_ONLY, "postgresql": _POSTGRESQL_APPEND_ONLY}.get(engine.dialect.name, ()):
            conn.exec_driver_sql(ddl)
    return engine


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One serialised write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: audit table lock)."""
    with engine.connect() as conn:
        conn = conn.execution_options(cibscope_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE")
            yield conn


def now_ts() -> str:
    """The current UTC time as a normalised STIX timestamp (microseconds)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def norm_ts(value: str) -> str:
    """Normalise a STIX/RFC 3339 timestamp to ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC).

    Raises
    ------
    ValueError
        If ``value`` is not an RFC 3339 timestamp.
    """
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    frac = ""
    if "." in s:  # Python < 3.11 and >6 fractional digits: trim to microseconds
        head, rest = s.split(".", 1)
        n = 0
        while n < len(rest) and rest[n].isdigit():
            n += 1
        digits = rest[:n]
        tz = rest[len(digits):]
        frac, s = digits[:6], head + tz
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {value!r}")
    try:
        t = t.astimezone(dt.timezone.utc).replace(microsecond=int(frac.ljust(6, "0")) if frac else 0)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"timestamp out of range in UTC: {value!r}") from None
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def add_seconds(ts: str, seconds: float) -> str:
    """``ts`` (normalised) plus ``seconds``, normalised."""
    t = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_date_added(conn: Connection) -> str:
    """A ``date_added`` strictly after every stored one (call inside a write transaction)."""
    last = conn.execute(sa.select(sa.func.max(objects.c.date_added))).scalar()
    now = now_ts()
    return now if last is None or now > last else add_seconds(last, 1e-6)


def loads(text: str | None) -> Any:
    """``json.loads`` that maps NULL to None."""
    return None if text is None else json.loads(text)
