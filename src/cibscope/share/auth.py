"""Organisations, users, API tokens and passwords (the hub's identities).

API tokens are 256-bit random strings shown once at creation; only their SHA-256
is stored (a fast hash is right for high-entropy secrets). Passwords for HTTP Basic
are hashed with Argon2id (``argon2-cffi``, RFC 9106 parameters). Rights are granted
per collection to an organisation (all its users).
"""
from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.engine import Connection

from .markings import SECTORS
from .store import orgs, rights, tokens, users, now_ts

_hasher = PasswordHasher()
TOKEN_PREFIX = "cbs_"


class AuthError(Exception):
    """Bad or missing credentials (HTTP 401)."""


class AdminError(ValueError):
    """An admin request naming an unknown or duplicate entity, or an invalid sector."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user: ``user_id``, ``user`` name, ``org_id``, ``org`` name and ``sector``."""

    user_id: int
    user: str
    org_id: int
    org: str
    sector: str


def hash_token(token: str) -> str:
    """SHA-256 hex digest of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh API token (``cbs_`` + 43 URL-safe characters, 256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


#: Fewest characters (Unicode code points) a password may have. NIST SP 800-63B (rev. 4, section 3.1.1.2)
#: requires 15 for a password used as the only sign-in factor, as here (revision 3 asked for 8).
MIN_PASSWORD_LENGTH = 15


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be set, or None: nothing but white space, or fewer than
    :data:`MIN_PASSWORD_LENGTH` code points (NIST SP 800-63B rev. 4, section 3.1.1.2; no composition
    rules, which the same section advises against). Used by the hub and the web app."""
    if not password.strip():
        return "password is only white space"
    if len(password) < MIN_PASSWORD_LENGTH:
        return (f"password too short: {len(password)} characters, at least {MIN_PASSWORD_LENGTH} "
                "are needed (a passphrase of a few words is easy to remember)")
    return None


@functools.cache
def _dummy_hash() -> str:
    """An Argon2id hash of a random secret, verified against when a user is unknown or has no password."""
    return _hasher.hash(secrets.token_urlsafe(32))


def dummy_verify(password: str) -> None:
    """Spend the Argon2 work of a password check on a dummy hash (unknown users: same time as a wrong password)."""
    try:
        _hasher.verify(_dummy_hash(), password)
    except (VerifyMismatchError, InvalidHashError):
        pass


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(password)


def _principal(conn: Connection, where: sa.ColumnElement) -> Principal | None:
    row = conn.execute(sa.select(users.c.id, users.c.name, orgs.c.id.label("org_id"), orgs.c.name.label("org"),
                                 orgs.c.sector).join(orgs, users.c.org_id == orgs.c.id).where(where)).first()
    return Principal(row.id, row.name, row.org_id, row.org, row.sector) if row else None


def authenticate_token(conn: Connection, token: str) -> Principal:
    """The user owning a non-revoked token.

    Raises
    ------
    AuthError
        If the token is unknown or revoked.
    """
    row = conn.execute(sa.select(tokens.c.user_id).where(tokens.c.token_hash == hash_token(token),
                                                         tokens.c.revoked.is_(False))).first()
    p = _principal(conn, users.c.id == row.user_id) if row else None
    if p is None:
        raise AuthError("unknown or revoked token")
    return p


def authenticate_password(conn: Connection, name: str, password: str) -> Principal:
    """The user ``name`` if ``password`` matches its Argon2 hash.

    Raises
    ------
    AuthError
        If the user is unknown, has no password, or the password is wrong.
    """
    row = None
    if "\x00" not in name:  # no user name holds NUL; PostgreSQL text cannot even be compared with it
        row = conn.execute(sa.select(users.c.password_hash).where(users.c.name == name)).first()
    if row is None or not row.password_hash:
        # The same Argon2 work as for a known user, so the answer time does not tell which names exist
        # (issue #17 row 7: 11 ms vs 498 ms).
        dummy_verify(password)
        raise AuthError("unknown user or password")
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise AuthError("unknown user or password") from None
    p = _principal(conn, users.c.name == name)
    assert p is not None
    return p


def collection_rights(conn: Connection, collection_id: str, org_id: int) -> tuple[bool, bool]:
    """``(can_read, can_write)`` of an organisation on a collection."""
    row = conn.execute(sa.select(rights.c.can_read, rights.c.can_write).where(
        rights.c.collection_id == collection_id, rights.c.org_id == org_id)).first()
    return (bool(row.can_read), bool(row.can_write)) if row else (False, False)


def check_sector(sector: str) -> str:
    """Return ``sector`` if it is one of :data:`~cibscope.share.markings.SECTORS`.

    Raises
    ------
    AdminError
        Otherwise.
    """
    if sector not in SECTORS:
        raise AdminError(f"unknown sector {sector!r} (allowed: {', '.join(SECTORS)})")
    return sector


def token_row(user_id: int, token: str, label: str | None) -> dict:
    """The ``tokens`` row for a new token (hash only)."""
    return {"token_hash": hash_token(token), "user_id": user_id, "label": label, "created": now_ts(),
            "revoked": False}
