"""Query parameters shared by the objects, manifest and versions routes (TAXII 2.1 section 3.4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fastapi import Query
from fastapi.responses import JSONResponse

from ..hub import Filters, NotFound, Page, parse_filter_list
from ..policy import Refusal
from ..store import norm_ts
from .errors import TaxiiError, taxii_response

MAX_PAGE = 1000
DEFAULT_PAGE = 100


@dataclass
class Paging:
    """Parsed ``limit`` and ``next``."""

    limit: int
    next: Optional[str]


def _ts(value: str, what: str) -> str:
    try:
        return norm_ts(value)
    except ValueError:
        raise TaxiiError(400, "Bad Request", f"{what}: not a timestamp: {value!r}") from None


def filters(added_after: Optional[str] = Query(None, description="Only versions added after this time."),
            match_id: Optional[str] = Query(None, alias="match[id]"),
            match_type: Optional[str] = Query(None, alias="match[type]"),
            match_version: Optional[str] = Query(None, alias="match[version]",
                                                 description="last (default), first, all or timestamps"),
            match_spec_version: Optional[str] = Query(None, alias="match[spec_version]")) -> Filters:
    """The filters of a request; 400 on a malformed timestamp."""
    versions = parse_filter_list(match_version) or ["last"]
    versions = [v if v in ("first", "last", "all") else _ts(v, "match[version]") for v in versions]
    return Filters(added_after=_ts(added_after, "added_after") if added_after else None,
                   ids=parse_filter_list(match_id), types=parse_filter_list(match_type), versions=versions,
                   spec_versions=parse_filter_list(match_spec_version))


def paging(limit: Optional[int] = Query(None, ge=1, description=f"Page size (at most {MAX_PAGE})."),
           next: Optional[str] = Query(None, description="Opaque value from a previous page.")) -> Paging:
    """``limit`` (capped at :data:`MAX_PAGE`) and ``next``."""
    return Paging(min(limit or DEFAULT_PAGE, MAX_PAGE), next)


def page_response(body: dict, page: Page) -> JSONResponse:
    """A 200 response with ``X-TAXII-Date-Added-First/Last`` set from the page."""
    headers = {}
    if page.rows:
        headers = {"X-TAXII-Date-Added-First": page.rows[0]["date_added"],
                   "X-TAXII-Date-Added-Last": page.rows[-1]["date_added"]}
    return taxii_response(200, body, headers)


def read(ctx, collection_id: str, f: Filters, p: Paging) -> Page:
    """One policy-filtered page for ``ctx`` (a :class:`~.deps.Context`); 400 on a bad ``next``."""
    try:
        return ctx.hub.read_page(collection_id, ctx.who, ctx.purpose, f, p.limit, p.next)
    except ValueError as exc:
        raise TaxiiError(400, "Bad Request", str(exc)) from None


def read_one(ctx, collection_id: str, object_id: str, f: Filters, p: Paging, endpoint: str) -> Page:
    """Versions of one object; audited (served and withheld versions, with the rules).

    An object whose versions are all refused answers exactly like a missing one (404, same body), so a
    reader cannot learn that an object it may not receive exists (issue #17, row 8); the audit entry
    still names the refusing rule.

    Raises
    ------
    NotFound
        No version exists, or none may be served to the requester.
    """
    f.ids = [object_id]
    page = read(ctx, collection_id, f, p)
    if not page.rows:
        # Audited either way (a refusal naming the rule, or a read that found nothing), so that a forbidden
        # object costs what a missing one does: one audit write, then the same 404.
        if page.withheld:
            ctx.hub.refuse(ctx.who, ctx.purpose, collection_id, Refusal(page.withheld[0]["rule"]),
                           endpoint=endpoint, withheld=[[w["id"], w["version"], w["rule"]] for w in page.withheld],
                           answered=404)
        else:
            ctx.hub.record(ctx.who, "read", ctx.purpose, collection_id,
                           {"endpoint": endpoint, "served": [], "not_found": object_id[:200]})
        raise NotFound("object not found")
    ctx.hub.audit_read(ctx.who, ctx.purpose, collection_id, endpoint, page)
    return page


def envelope(page: Page, key: str, items: list) -> JSONResponse:
    """A paged TAXII body ``{more, next?, <key>: items}`` with the date-added headers."""
    body: dict = {"more": page.more, key: items}
    if page.next:
        body["next"] = page.next
    return page_response(body, page)
