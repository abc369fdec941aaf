"""``GET /{api_root}/collections/`` and ``GET /{api_root}/collections/{id}/`` (TAXII 2.1 section 5.1-5.2)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..hub import NotFound
from .deps import Context, policy_context
from .errors import taxii_response
from .models import STIX_MEDIA, Collection, Collections

router = APIRouter()


def _resource(c: dict[str, Any]) -> dict[str, Any]:
    return {"id": c["id"], "title": c["title"], "description": c["description"] or "",
            "can_read": bool(c["can_read"]), "can_write": bool(c["can_write"]), "media_types": [STIX_MEDIA]}


@router.get("/{api_root}/collections/", response_model=Collections, tags=["collections"])
def list_collections(ctx: Context = Depends(policy_context)) -> JSONResponse:
    """Collections the requester's organisation may read or write."""
    cols = ctx.hub.collections_for(ctx.api_root["name"], ctx.who)
    return taxii_response(200, {"collections": [_resource(c) for c in cols]})


@router.get("/{api_root}/collections/{collection_id}/", response_model=Collection, tags=["collections"])
def get_collection(collection_id: str, ctx: Context = Depends(policy_context)) -> JSONResponse:
    """One collection with the requester's rights (404 if it has none)."""
    c = ctx.hub.collection(ctx.api_root["name"], collection_id, ctx.who)
    if not (c["can_read"] or c["can_write"]):
        raise NotFound(f"collection {collection_id!r} not found")
    return taxii_response(200, _resource(c))
