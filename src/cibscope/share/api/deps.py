"""Dependencies shared by every route: media type, authentication, declared purpose and policy context.

``policy_context`` is the one dependency every TAXII route uses; it runs, in order,
the Accept check (406), authentication (401), the declared-purpose rules (403) and
the API root lookup (404). ``readable``/``writable`` add the collection rights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from ..auth import AuthError, Principal, authenticate_password, authenticate_token
from ..hub import Hub
from ..policy import PURPOSE_HEADER, Refusal, check_declared_purpose
from .errors import TaxiiError, client_address

_bearer = HTTPBearer(auto_error=False, description="API token created with `cibscope admin add-token`.")
_basic = HTTPBasic(auto_error=False, description="User name and password (Argon2-hashed on the server).")


def _media_ok(value: str, kind: str = "application/taxii+json") -> bool:
    """True if a media type (or one of an Accept list) is ``kind`` with version 2.1 or no version."""
    for part in value.split(","):
        fields = [p.strip() for p in part.split(";")]
        if fields[0].lower() != kind:
            continue
        params = dict(p.split("=", 1) for p in fields[1:] if "=" in p)
        if params.get("version", "2.1").strip() == "2.1":
            return True
    return False


def no_nul_characters(request: Request) -> None:
    """400 when the path or a query parameter holds a NUL character (``%00``).

    PostgreSQL text cannot hold NUL, so such a value reaching a query fails the whole request
    (a 500); SQLite would merely find nothing. Every route depends on this check (app-wide).
    """
    if "\x00" in request.scope.get("path", "") or any(
            "\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
        raise TaxiiError(400, "Bad Request", "NUL character (%00) in the path or query")


def hub_of(request: Request) -> Hub:
    """The :class:`~cibscope.share.hub.Hub` the app serves."""
    return request.app.state.hub


def accept_taxii(accept: Optional[str] = Header(None)) -> None:
    """406 unless the Accept header allows ``application/taxii+json;version=2.1``."""
    if not accept or not _media_ok(accept):
        raise TaxiiError(406, "Not Acceptable", "Accept must include application/taxii+json;version=2.1")


def principal(request: Request, bearer: Optional[HTTPAuthorizationCredentials] = Security(_bearer),
              basic: Optional[HTTPBasicCredentials] = Security(_basic)) -> Principal:
    """The authenticated user (Bearer token, ``Token`` token or HTTP Basic); :class:`AuthError` (401) otherwise.

    ``Authorization: Token <token>`` is what taxii2-client's own ``TokenAuth`` sends; it is the
    same API token as ``Bearer <token>``.
    """
    hub = hub_of(request)
    if basic is not None and bearer is None:
        return _password_principal(request, hub, basic)
    scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
    with hub.engine.connect() as conn:
        if bearer is not None:
            who = authenticate_token(conn, bearer.credentials)
        elif scheme.lower() == "token" and token.strip():
            who = authenticate_token(conn, token.strip())
        else:
            raise AuthError("missing credentials (Bearer or Token token, or HTTP Basic)")
    request.state.principal = who
    return who


def _password_principal(request: Request, hub: Hub, basic: HTTPBasicCredentials) -> Principal:
    """HTTP Basic with backoff per user name and per client address (:mod:`cibscope.share.throttle`).

    A locked name or address is answered 429 with ``Retry-After`` before any password check; the start of
    each lock is audited. The lock applies to any name, so it does not tell which users exist.
    """
    users, addrs = request.app.state.user_throttle, request.app.state.address_throttle
    addr = client_address(request)
    name = basic.username[:256]
    wait = max(users.wait(name), addrs.wait(addr))
    if wait > 0:
        request.app.state.auth_failures.failed(addr, {"reason": "throttled", "user": name[:64]})
        raise TaxiiError(429, "Too Many Requests", "too many failed sign-ins; try again later",
                         {"Retry-After": str(max(1, math.ceil(wait)))})
    try:
        with hub.engine.connect() as conn:
            who = authenticate_password(conn, basic.username, basic.password)
    except AuthError:
        lock = max(users.failure(name), addrs.failure(addr))
        if lock:
            request.app.state.auth_failures.failed(addr, {"reason": "lockout", "user": name[:64],
                                                          "locked_seconds": lock}, force=True)
        raise
    users.success(name)
    request.state.principal = who
    return who


@dataclass
class Context:
    """What a route knows after the policy dependency: hub, user, declared purpose and API root."""

    hub: Hub
    who: Principal
    purpose: str
    api_root: dict[str, Any]


def policy_context(request: Request, api_root: str, _a: None = Depends(accept_taxii),
                   who: Principal = Depends(principal),
                   purpose: Optional[str] = Header(None, alias=PURPOSE_HEADER,
                                                   description="Declared purpose of the request.")) -> Context:
    """The policy dependency of every API-root route (406, 401, 403 purpose rules, 404 root)."""
    request.state.purpose = purpose
    check_declared_purpose(who, purpose)
    assert purpose is not None
    hub = hub_of(request)
    return Context(hub, who, purpose, hub.api_root(api_root))


def readable(collection_id: str, ctx: Context = Depends(policy_context)) -> Context:
    """``policy_context`` plus an existing collection the user's organisation may read (403 otherwise)."""
    col = ctx.hub.collection(ctx.api_root["name"], collection_id, ctx.who)
    if not col["can_read"]:
        raise Refusal("collection-read")
    return ctx


def writable(collection_id: str, ctx: Context = Depends(policy_context)) -> Context:
    """``policy_context`` plus an existing collection the user's organisation may write (403 otherwise)."""
    col = ctx.hub.collection(ctx.api_root["name"], collection_id, ctx.who)
    if not col["can_write"]:
        raise Refusal("collection-write")
    return ctx


def discovery_context(request: Request, _a: None = Depends(accept_taxii), who: Principal = Depends(principal),
                      purpose: Optional[str] = Header(None, alias=PURPOSE_HEADER)) -> Context:
    """The policy dependency of the discovery route (no API root yet)."""
    request.state.purpose = purpose
    check_declared_purpose(who, purpose)
    assert purpose is not None
    return Context(hub_of(request), who, purpose, {})
