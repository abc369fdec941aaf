"""``GET /taxii2/`` (discovery) and ``GET /{api_root}/`` (API root information)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .deps import Context, discovery_context, policy_context
from .errors import taxii_response
from .models import TAXII_MEDIA, ApiRoot, Discovery

router = APIRouter()


@router.get("/taxii2/", response_model=Discovery, tags=["discovery"])
def discovery(request: Request, ctx: Context = Depends(discovery_context)) -> JSONResponse:
    """Server information and the API roots (TAXII 2.1 section 4.1)."""
    base = str(request.base_url)
    roots = [f"{base}{name}/" for name in ctx.hub.api_root_names()]
    return taxii_response(200, {"title": "cibscope sharing hub",
                                "description": "TAXII 2.1 with TLP 2.0, purpose limitation and an audit log",
                                "default": roots[0] if roots else None, "api_roots": roots})


@router.get("/{api_root}/", response_model=ApiRoot, tags=["api-root"])
def api_root(ctx: Context = Depends(policy_context)) -> JSONResponse:
    """API root information (TAXII 2.1 section 4.2)."""
    r = ctx.api_root
    return taxii_response(200, {"title": r["title"], "description": r["description"] or "",
                                "versions": [TAXII_MEDIA], "max_content_length": r["max_content_length"]})
