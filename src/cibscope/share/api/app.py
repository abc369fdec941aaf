"""The FastAPI application factory."""
from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI

from ..hub import Hub
from ..http_limits import RequestLimits
from ..throttle import FailureLog, Throttle
from . import collections, discovery, manifest, objects, status, versions
from .deps import no_nul_characters
from .errors import install_handlers
from .models import TAXII_MEDIA


def create_app(db: str | Path | Hub) -> FastAPI:
    """Build the TAXII 2.1 app over a hub database (SQLite path, SQLAlchemy URL or a :class:`Hub`)."""
    app = FastAPI(title="cibscope sharing hub", version="2.1",
                  description="TAXII 2.1 server with TLP 2.0, purpose limitation and a hash-chained audit log.",
                  dependencies=[Depends(no_nul_characters)])
    hub = app.state.hub = db if isinstance(db, Hub) else Hub(db)
    app.state.user_throttle, app.state.address_throttle = Throttle(free=5), Throttle(free=20)
    app.state.auth_failures = FailureLog(lambda detail: hub.record(None, "refusal", None, None, detail))
    install_handlers(app)
    app.add_middleware(RequestLimits, media_type=TAXII_MEDIA)
    # Order matters: the collection routes must be matched before the generic API root route.
    for r in (collections, objects, versions, manifest, status, discovery):
        app.include_router(r.router)
    return app
