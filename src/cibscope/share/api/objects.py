"""``/{api_root}/collections/{id}/objects/`` GET and POST, and ``.../objects/{object_id}/`` GET and DELETE.

TAXII 2.1 sections 5.4-5.7. Every returned object version has passed
:func:`~cibscope.share.policy.check_read`; the audit log records which versions were
served, withheld (with the rule) and redacted.
"""
from __future__ import annotations

import json
from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..hub import Filters
from .deps import Context, _media_ok, readable, writable
from .errors import TaxiiError, taxii_response
from .models import TAXII_MEDIA, Envelope, EnvelopeIn, Status
from .query import Paging, envelope, filters, paging, read, read_one

router = APIRouter()

_POST_BODY = {"requestBody": {"required": True, "content": {
    TAXII_MEDIA: {"schema": EnvelopeIn.model_json_schema()}}}}


@router.get("/{api_root}/collections/{collection_id}/objects/", response_model=Envelope, tags=["objects"])
def get_objects(collection_id: str, ctx: Context = Depends(readable), f: Filters = Depends(filters),
                p: Paging = Depends(paging)) -> JSONResponse:
    """A page of objects (latest version by default) the requester may receive."""
    page = read(ctx, collection_id, f, p)
    ctx.hub.audit_read(ctx.who, ctx.purpose, collection_id, "objects", page)
    return envelope(page, "objects", [r["obj"] for r in page.rows])


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TaxiiError(413, "Payload Too Large", f"body of {declared} bytes exceeds max_content_length {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TaxiiError(413, "Payload Too Large", f"body exceeds max_content_length {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/{api_root}/collections/{collection_id}/objects/", response_model=Status, status_code=202,
             tags=["objects"], openapi_extra=_POST_BODY)
async def post_objects(request: Request, collection_id: str, ctx: Context = Depends(writable),
                       content_type: str = Header("", alias="Content-Type")) -> JSONResponse:
    """Add objects; each is validated and policy-checked, rejected ones are listed in the status."""
    if not _media_ok(content_type):
        raise TaxiiError(415, "Unsupported Media Type", "Content-Type must be application/taxii+json;version=2.1")
    raw = await _read_limited(request, int(ctx.api_root["max_content_length"]))
    try:
        env = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TaxiiError(400, "Bad Request", f"body is not JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (Python's int conversion limit)
        raise TaxiiError(400, "Bad Request", f"body is not JSON this server accepts: {str(exc)[:200]}") from None
    except RecursionError:
        raise TaxiiError(400, "Bad Request", "body is not JSON this server accepts: nested too deeply") from None
    if not isinstance(env, dict) or not isinstance(env.get("objects"), list):
        raise TaxiiError(400, "Bad Request", "body must be a TAXII envelope: an object with an 'objects' list")
    status = await run_in_threadpool(ctx.hub.post_objects, ctx.api_root["name"], collection_id, ctx.who,
                                     ctx.purpose, env["objects"])
    return taxii_response(202, status)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/", response_model=Envelope,
            tags=["objects"])
def get_object(collection_id: str, object_id: str, ctx: Context = Depends(readable),
               f: Filters = Depends(filters), p: Paging = Depends(paging)) -> JSONResponse:
    """Versions of one object (latest by default); 403 naming the rule if every version is refused."""
    page = read_one(ctx, collection_id, object_id, f, p, "object")
    return envelope(page, "objects", [r["obj"] for r in page.rows])


@router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/", tags=["objects"])
def delete_object(collection_id: str, object_id: str, ctx: Context = Depends(writable),
                  f: Filters = Depends(filters)) -> JSONResponse:
    """Delete an object's versions (all, or those selected by ``match[version]``/``match[spec_version]``)."""
    ctx.hub.delete_object(collection_id, object_id, ctx.who, ctx.purpose, f)
    return taxii_response(200, {})
