"""The FastAPI application of ``cibscope serve``: pages, JSON API, vendored static files, security headers.

Nothing is loaded from another origin: scripts (the app's ``app.js`` and the vendored
cytoscape.js 3.35.0, MIT licence beside it) and styles come from ``/static/``, and the
Content-Security-Policy header allows scripts from ``'self'`` only (no inline script,
no ``eval``). Inline styles are allowed (the TLP badge's colours, the sizes cytoscape.js
sets on its canvas); they cannot run code. FastAPI's Swagger/ReDoc pages are off (they load from a CDN);
the OpenAPI document is at ``/api/openapi.json``.

Errors: routes under ``/api/`` answer JSON (FastAPI's ``{"detail": ...}``; a bad parameter gives 422
with the list of problems); pages answer the HTML error page (``error.html.j2``), which for a bad query
parameter, address part or form field names it, says why and shows the value sent.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from urllib.parse import quote

from ..share.http_limits import RequestLimits
from .auth import SESSION_MAX_AGE, Forbidden, NotSignedIn
from .core import Settings, WebContext

#: Headers on every response.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",   # pages and API answers; /static/ files get "no-cache" (revalidated)
}


def create_app(settings: Settings) -> FastAPI:
    """Build the app over ``settings.db`` (DuckDB store) and ``settings.web_db`` (users, outbox, audit).

    The store is opened when the app starts and closed when it stops (the job worker is
    drained first).

    Raises
    ------
    duckdb.IOException
        The store is locked by another process (DuckDB allows one writer).
    """
    web = WebContext(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        web.close()

    app = FastAPI(title="cibscope investigator API", version="1", lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  description="JSON API of the cibscope web app: data sets, runs, clusters, evidence, jobs, "
                              "the share outbox and the audit log. Sign in at /login; send the session's "
                              "CSRF token (GET /api/me) as X-CSRF-Token on every POST.")
    app.state.web = web
    app.add_middleware(SessionMiddleware, secret_key=web.state.secret(), session_cookie="cibscope_session",
                       max_age=SESSION_MAX_AGE, same_site="strict", https_only=settings.secure_cookies)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        if request.url.path.startswith("/static/"):
            # The app's own script, style sheet and vendored cytoscape.js hold no user data: the browser may keep
            # them if it asks first (ETag, 304), so it neither downloads nor compiles 0.4 MB of script per page.
            response.headers.setdefault("Cache-Control", "no-cache")
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    from . import api, pages

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return pages.error_page(request, 403, str(exc), title="Forbidden")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        # The API keeps FastAPI's JSON (``detail``: a list of {loc, msg, type, input}); a page says it in words.
        if request.url.path.startswith("/api/"):  # FastAPI's body, ASCII-escaped when the input echoed in it
            from fastapi.encoders import jsonable_encoder  # holds a lone surrogate (that render was a 500)
            from ..share.api.errors import SafeJSONResponse
            return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        problems = pages.describe_validation(exc.errors())
        return pages.error_page(request, 422, "The address or form has a value this page cannot use; fix it and "
                                "try again.", title="Bad request", problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith(("/api/", "/static/")):
            return await http_exception_handler(request, exc)
        message = f"No page at {request.url.path}." if exc.status_code == 404 else str(exc.detail)
        return pages.error_page(request, exc.status_code, message,
                                title="Not found" if exc.status_code == 404 else f"Error {exc.status_code}")

    app.add_middleware(RequestLimits)  # outermost: before sessions and routes (issue #17 row 11)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(resources.files("cibscope.web") / "static")), name="static")
    return app


__all__ = ["Settings", "create_app"]
