"""``GET /{api_root}/collections/{id}/objects/{object_id}/versions/`` (TAXII 2.1 section 5.8)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..hub import Filters
from .deps import Context, readable
from .models import Versions
from .query import Paging, envelope, filters, paging, read_one

router = APIRouter()


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/", response_model=Versions,
            tags=["versions"])
def get_versions(collection_id: str, object_id: str, ctx: Context = Depends(readable),
                 f: Filters = Depends(filters), p: Paging = Depends(paging)) -> JSONResponse:
    """The versions of one object the requester may receive, oldest first."""
    f.versions = ["all"]
    page = read_one(ctx, collection_id, object_id, f, p, "versions")
    return envelope(page, "versions", [r["version"] for r in page.rows])
