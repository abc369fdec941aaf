"""``GET /{api_root}/status/{status_id}/`` (TAXII 2.1 section 4.3)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from .deps import Context, policy_context
from .errors import taxii_response
from .models import Status

router = APIRouter()


@router.get("/{api_root}/status/{status_id}/", response_model=Status, tags=["status"])
def get_status(status_id: str, ctx: Context = Depends(policy_context)) -> JSONResponse:
    """The status of a POST made by the requester's organisation, with per-object failure reasons."""
    return taxii_response(200, ctx.hub.status(ctx.api_root["name"], status_id, ctx.who))
