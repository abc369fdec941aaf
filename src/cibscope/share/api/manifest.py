"""``GET /{api_root}/collections/{id}/manifest/`` (TAXII 2.1 section 5.3)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..hub import Filters
from .deps import Context, readable
from .errors import TaxiiError
from .models import STIX_MEDIA, Manifest
from .query import Paging, filters, page_response, paging

router = APIRouter()


@router.get("/{api_root}/collections/{collection_id}/manifest/", response_model=Manifest, tags=["manifest"])
def get_manifest(collection_id: str, ctx: Context = Depends(readable), f: Filters = Depends(filters),
                 p: Paging = Depends(paging)) -> JSONResponse:
    """Id, version and ``date_added`` of the object versions the requester may receive."""
    try:
        page = ctx.hub.read_page(collection_id, ctx.who, ctx.purpose, f, p.limit, p.next)
    except ValueError as exc:
        raise TaxiiError(400, "Bad Request", str(exc)) from None
    ctx.hub.audit_read(ctx.who, ctx.purpose, collection_id, "manifest", page)
    body: dict[str, Any] = {"more": page.more, "objects": [
        {"id": r["id"], "date_added": r["date_added"], "version": r["version"], "media_type": STIX_MEDIA}
        for r in page.rows]}
    if page.next:
        body["next"] = page.next
    return page_response(body, page)
