"""``GET /{api_root}/collections/{id}/manifest/`` (TAXII 2.1 section 5.3)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..hub import Filters
from .deps import Context, readable
from .models import STIX_MEDIA, Manifest
from .query import Paging, envelope, filters, paging, read

router = APIRouter()


@router.get("/{api_root}/collections/{collection_id}/manifest/", response_model=Manifest, tags=["manifest"])
def get_manifest(collection_id: str, ctx: Context = Depends(readable), f: Filters = Depends(filters),
                 p: Paging = Depends(paging)) -> JSONResponse:
    """Id, version and ``date_added`` of the object versions the requester may receive."""
    page = read(ctx, collection_id, f, p)
    ctx.hub.audit_read(ctx.who, ctx.purpose, collection_id, "manifest", page)
    return envelope(page, "objects", [{"id": r["id"], "date_added": r["date_added"], "version": r["version"],
                                       "media_type": STIX_MEDIA} for r in page.rows])
