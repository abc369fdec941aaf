"""Sign-in, sessions, roles and CSRF protection of the web app.

* Sessions: Starlette's ``SessionMiddleware`` keeps ``{"user", "sid", "csrf"}`` in a cookie
  signed with itsdangerous (HMAC-SHA1 over the JSON, timestamped; secret from
  :meth:`cibscope.web.state.WebState.secret`), ``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` when served over TLS (``--secure-cookies``), 8 hours. The role is read
  from the state file on every request, so a removed user is signed out at once; the session id ``sid``
  must name a live row of ``web_sessions``, which sign-out and a password change delete.
* Passwords: Argon2id (argon2-cffi) in :class:`cibscope.web.state.WebState`.
* CSRF: a per-session random token (synchroniser-token pattern, OWASP CSRF cheat sheet)
  required on every POST, as the form field ``csrf_token`` or the ``X-CSRF-Token``
  header (the pages' scripts send the header); compared in constant time. Together
  with ``SameSite=Strict`` this stops cross-site form posts and fetches.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request

#: Session lifetime in seconds.
SESSION_MAX_AGE = 8 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class User:
    """The signed-in user: ``name`` and ``role`` (analyst, reviewer, admin)."""

    name: str
    role: str


class NotSignedIn(Exception):
    """No valid session (pages redirect to /login, the API answers 401)."""


class Forbidden(Exception):
    """A signed-in user lacking the role, or a POST without a valid CSRF token (HTTP 403)."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    tok = request.session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(32)
        request.session["csrf"] = tok
    return tok


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong.

    Raises
    ------
    Forbidden
        On a POST/PUT/PATCH/DELETE without the session's token in ``X-CSRF-Token`` or the
        ``csrf_token`` form field.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token (reload the page and try again)")


def sign_in(request: Request, name: str, role: str) -> None:
    """Start a fresh session for ``name`` (new CSRF token: no session fixation).

    The cookie holds a random session id whose SHA-256 is stored server-side
    (:meth:`cibscope.web.state.WebState.new_session`), so that signing out, or a password change, ends the
    session even though the signed cookie itself stays valid for :data:`SESSION_MAX_AGE` (issue #17 row 9).
    """
    request.session.clear()
    request.session["user"] = name
    request.session["sid"] = request.app.state.web.state.new_session(name, SESSION_MAX_AGE)
    request.session["csrf"] = secrets.token_urlsafe(32)
    request.session["role_at_sign_in"] = role


def sign_out(request: Request) -> None:
    """End the session, server-side too: a copy of the cookie is no session any more."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        request.app.state.web.state.end_session(sid)
    request.session.clear()


def current_user(request: Request) -> User:
    """The signed-in user with the role stored now.

    Raises
    ------
    NotSignedIn
        No session, or its user was removed.
    """
    name, sid = request.session.get("user"), request.session.get("sid")
    state = request.app.state.web.state
    if not (isinstance(name, str) and isinstance(sid, str)) or state.session_user(sid) != name:
        raise NotSignedIn()
    role = state.role_of(name)
    if role is None:
        raise NotSignedIn()
    return User(name, role)


def require_role(user: User, *roles: str) -> None:
    """Raise :class:`Forbidden` unless ``user`` has one of ``roles``."""
    if user.role not in roles:
        raise Forbidden(f"{user.name} ({user.role}) may not do this; it needs the role {' or '.join(roles)}")
