"""Pydantic models of the TAXII 2.1 resources (OASIS TAXII 2.1, sections 4-5), for the OpenAPI document."""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"


class Error(BaseModel):
    """TAXII error message (section 3.6.1); ``details.rule`` names a refusing policy rule."""

    title: str
    description: Optional[str] = None
    http_status: Optional[str] = None
    details: Optional[dict[str, Any]] = None


class Discovery(BaseModel):
    """Discovery resource (section 4.1.1)."""

    title: str
    description: Optional[str] = None
    default: Optional[str] = None
    api_roots: list[str] = []


class ApiRoot(BaseModel):
    """API root resource (section 4.2.1)."""

    title: str
    description: Optional[str] = None
    versions: list[str]
    max_content_length: int


class Collection(BaseModel):
    """Collection resource (section 5.2.1)."""

    id: str
    title: str
    description: Optional[str] = None
    can_read: bool
    can_write: bool
    media_types: list[str] = [STIX_MEDIA]


class Collections(BaseModel):
    """Collections resource (section 5.1.1)."""

    collections: list[Collection] = []


class Envelope(BaseModel):
    """Envelope (section 3.7): a page of STIX objects."""

    more: Optional[bool] = None
    next: Optional[str] = None
    objects: list[dict[str, Any]] = []


class ManifestRecord(BaseModel):
    """Manifest record (section 5.3.1)."""

    id: str
    date_added: str
    version: str
    media_type: str = STIX_MEDIA


class Manifest(BaseModel):
    """Manifest resource (section 5.3.1)."""

    more: Optional[bool] = None
    next: Optional[str] = None
    objects: list[ManifestRecord] = []


class Versions(BaseModel):
    """Versions resource (section 5.8.1)."""

    more: Optional[bool] = None
    next: Optional[str] = None
    versions: list[str] = []


class StatusDetail(BaseModel):
    """Status details (section 4.3.1)."""

    id: str
    version: Optional[str] = None
    message: Optional[str] = None


class Status(BaseModel):
    """Status resource (section 4.3.1)."""

    id: str
    status: str
    request_timestamp: Optional[str] = None
    total_count: int
    success_count: int
    successes: list[StatusDetail] = []
    failure_count: int
    failures: list[StatusDetail] = []
    pending_count: int
    pending: list[StatusDetail] = []


class EnvelopeIn(BaseModel):
    """Body of ``POST .../objects/``: an envelope whose ``objects`` are STIX 2.1 objects."""

    objects: list[dict[str, Any]] = Field(default_factory=list)
