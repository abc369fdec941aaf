"""TAXII error responses and the exception handlers that produce them."""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..auth import AuthError
from ..hub import NotFound
from ..policy import Refusal
from .models import TAXII_MEDIA


class TaxiiError(Exception):
    """An HTTP error answered as a TAXII error message."""

    def __init__(self, status: int, title: str, description: str, headers: dict[str, str] | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(description)
        self.status, self.title, self.description = status, title, description
        self.headers, self.details = headers or {}, details


class SafeJSONResponse(JSONResponse):
    """Starlette's JSON response, with non-ASCII characters escaped when the body holds a lone UTF-16
    surrogate (a posted id such as ``"indicator--\\ud800"`` echoed in a status), which UTF-8 cannot encode:
    that was an HTTP 500 (issue #17 row 10)."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


_JSON = SafeJSONResponse


def taxii_response(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response with the TAXII 2.1 media type."""
    return _JSON(body, status_code=status, media_type=TAXII_MEDIA, headers=headers)


def error_body(status: int, title: str, description: str, details: dict[str, Any] | None = None) -> dict:
    """A TAXII error message (section 3.6.1)."""
    body: dict[str, Any] = {"title": title, "description": description, "http_status": str(status)}
    if details:
        body["details"] = details
    return body


def client_address(req: Request) -> str:
    """The peer address of a request (``unknown`` without one); behind a proxy, run Uvicorn with
    ``--proxy-headers`` so that this is the client's."""
    return req.client.host if req.client else "unknown"


def install_handlers(app: FastAPI) -> None:
    """Map hub exceptions to TAXII errors; audit refusals and authentication failures."""

    @app.exception_handler(TaxiiError)
    async def _taxii(_req: Request, exc: TaxiiError) -> JSONResponse:
        return taxii_response(exc.status, error_body(exc.status, exc.title, exc.description, exc.details),
                              exc.headers)

    @app.exception_handler(Refusal)
    def _refusal(req: Request, exc: Refusal) -> JSONResponse:
        hub = req.app.state.hub
        hub.refuse(getattr(req.state, "principal", None), getattr(req.state, "purpose", None),
                   req.path_params.get("collection_id"), exc, method=req.method, path=req.url.path)
        return taxii_response(403, error_body(403, "Forbidden", f"{exc.rule}: {exc.detail}",
                                              {"rule": exc.rule}))

    @app.exception_handler(AuthError)
    def _auth(req: Request, exc: AuthError) -> JSONResponse:
        # Counted, and written to the audit log at most once a minute per address (issue #17 row 4).
        req.app.state.auth_failures.failed(client_address(req), {
            "reason": str(exc)[:200], "method": req.method, "path": req.url.path[:200]})
        return taxii_response(401, error_body(401, "Unauthorized", str(exc)),
                              {"WWW-Authenticate": 'Bearer realm="cibscope", Basic realm="cibscope"'})

    @app.exception_handler(NotFound)
    async def _notfound(_req: Request, exc: NotFound) -> JSONResponse:
        return taxii_response(404, error_body(404, "Not Found", str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        msg = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return taxii_response(400, error_body(400, "Bad Request", msg))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return taxii_response(exc.status_code, error_body(exc.status_code, str(exc.detail), str(exc.detail)),
                              getattr(exc, "headers", None))
