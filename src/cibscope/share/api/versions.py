"""``GET /{api_root}/collections/{id}/objects/{object_id}/versions/`` (TAXII 2.1 section 5.8)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..hub import Filters, NotFound
from ..policy import Refusal
from .deps import Context, readable
from .errors import TaxiiError
from .models import Versions
from .query import Paging, filters, page_response, paging

router = APIRouter()


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/", response_model=Versions,
            tags=["versions"])
def get_versions(collection_id: str, object_id: str, ctx: Context = Depends(readable),
                 f: Filters = Depends(filters), p: Paging = Depends(paging)) -> JSONResponse:
    """The versions of one object the requester may receive, oldest first."""
    f.ids, f.versions = [object_id], ["all"]
    try:
        page = ctx.hub.read_page(collection_id, ctx.who, ctx.purpose, f, p.limit, p.next)
    except ValueError as exc:
        raise TaxiiError(400, "Bad Request", str(exc)) from None
    if not page.rows:
        if page.withheld:
            raise Refusal(page.withheld[0]["rule"])
        raise NotFound(f"object {object_id!r} not found")
    ctx.hub.audit_read(ctx.who, ctx.purpose, collection_id, "versions", page)
    body: dict[str, Any] = {"more": page.more, "versions": [r["version"] for r in page.rows]}
    if page.next:
        body["next"] = page.next
    return page_response(body, page)
